package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
	"go.uber.org/goleak"
)

// TestSQSShutdownLeavesNoGoroutine: a broker stopped while an SQS long
// poll waits, a slow message move task runs and messages are in flight
// ends them all: the poll is answered, the task stops, nothing is left
// running.
func TestSQSShutdownLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	dlq := sqsCreate(t, c, "sd-dlq", nil)
	src := sqsCreate(t, c, "sd", map[string]string{"VisibilityTimeout": "1",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:sd-dlq","maxReceiveCount":1}`})
	for i := 0; i < 5; i++ {
		sqsSend(t, c, src, "m")
	}
	sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10})
	waitFor(t, 10*time.Second, "dead letters", func() bool {
		a, err := c.GetQueueAttributes(sqsCtx(t), &sqs.GetQueueAttributesInput{QueueUrl: &dlq, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
		return err == nil && a.Attributes["ApproximateNumberOfMessages"] == "5"
	})
	if _, err := c.StartMessageMoveTask(sqsCtx(t), &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:sd-dlq"),
		MaxNumberOfMessagesPerSecond: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	empty := sqsCreate(t, c, "sd-empty", nil)
	polled := make(chan error, 1)
	go func() {
		_, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &empty, WaitTimeSeconds: 20})
		polled <- err
	}()
	sqsSend(t, c, dlq, "in flight")
	sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &dlq, VisibilityTimeout: 600})
	time.Sleep(200 * time.Millisecond) // the poll is waiting
	start := time.Now()
	b.Stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a long poll waiting", d)
	}
	select {
	case <-polled:
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll was not answered at shutdown")
	}
	sqsHTTPClient.CloseIdleConnections()
	if err := goleak.Find(before); err != nil {
		t.Fatal(err)
	}
}
