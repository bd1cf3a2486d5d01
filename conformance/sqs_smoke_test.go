package conformance

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
)

func TestSQSSendReceiveDelete(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "smoke", nil)
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("hello ü"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"s": {DataType: aws.String("String"), StringValue: aws.String("v")},
			"n": {DataType: aws.String("Number.int"), StringValue: aws.String("42")},
			"b": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		}})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(got.Messages) != 1 {
		t.Fatalf("received %d messages, want 1", len(got.Messages))
	}
	m := got.Messages[0]
	if *m.Body != "hello ü" || *m.MessageId != *sent.MessageId {
		t.Fatalf("got body %q id %q; sent id %q", *m.Body, *m.MessageId, *sent.MessageId)
	}
	if *m.MD5OfMessageAttributes != *sent.MD5OfMessageAttributes {
		t.Fatalf("MD5OfMessageAttributes %s on receive, %s on send", *m.MD5OfMessageAttributes, *sent.MD5OfMessageAttributes)
	}
	if a := m.MessageAttributes["n"]; *a.DataType != "Number.int" || *a.StringValue != "42" {
		t.Fatalf("attribute n = %+v", a)
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" || m.Attributes["SenderId"] != "guest" {
		t.Fatalf("system attributes %v", m.Attributes)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	if attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("attributes after delete: %v", attrs.Attributes)
	}
}
