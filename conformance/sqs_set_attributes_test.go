package conformance

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestSQSSetQueueAttributesLive: MaximumMessageSize and RedrivePolicy
// change on an existing queue, as in SQS, and take effect at once: a
// message over the new size is refused, and a message received more often
// than the new maxReceiveCount moves to the new dead-letter queue.
// ContentBasedDeduplication stays fixed (sluice decides it at creation).
func TestSQSSetQueueAttributesLive(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	dlq := sqsCreate(t, c, "live-dlq", nil)
	url := sqsCreate(t, c, "live", map[string]string{"VisibilityTimeout": "1"})

	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{
		"MaximumMessageSize": "1024",
		"RedrivePolicy":      `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:live-dlq","maxReceiveCount":1}`,
	}}); err != nil {
		t.Fatalf("SetQueueAttributes: %v", err)
	}
	got, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil || got.Attributes["MaximumMessageSize"] != "1024" || !strings.Contains(got.Attributes["RedrivePolicy"], "live-dlq") {
		t.Fatalf("attributes after the change: %v %v", got, err)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(strings.Repeat("x", 1500))})
	sqsAPIError(t, err, "InvalidParameterValue")

	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("dies once")}); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 2})
	if err != nil || len(r.Messages) != 1 {
		t.Fatalf("first receive: %v %v", r, err)
	}
	// The lease runs out; the second receive is over maxReceiveCount 1, so
	// the message goes to the dead-letter queue instead.
	var moved []types.Message
	for i := 0; i < 10 && len(moved) == 0; i++ {
		if _, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1}); err != nil {
			t.Fatal(err)
		}
		d, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlq, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		moved = d.Messages
	}
	if len(moved) != 1 || *moved[0].Body != "dies once" {
		t.Fatalf("the dead-letter queue holds %v", moved)
	}

	// Unsetting the policy works too.
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"RedrivePolicy": ""}}); err != nil {
		t.Fatalf("clearing RedrivePolicy: %v", err)
	}
	got, err = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"RedrivePolicy"}})
	if err != nil || got.Attributes["RedrivePolicy"] != "" {
		t.Fatalf("RedrivePolicy after clearing: %v %v", got.Attributes, err)
	}

	fifo := sqsCreate(t, c, "live.fifo", map[string]string{"FifoQueue": "true"})
	// ContentBasedDeduplication changes on a live FIFO queue (it was
	// fixed at creation until the core let it change): see
	// TestSQSFIFODeduplicationScopeAndContent.
	if _, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &fifo, Attributes: map[string]string{"ContentBasedDeduplication": "true"}}); err != nil {
		t.Fatal(err)
	}
}
