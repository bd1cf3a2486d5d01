package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestSQSMessageMoveTask dead-letters messages, moves them back to their
// source with StartMessageMoveTask, and lists and cancels tasks.
func TestSQSMessageMoveTask(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	dlq := sqsCreate(t, c, "mv-dlq", nil)
	src := sqsCreate(t, c, "mv", map[string]string{"VisibilityTimeout": "1",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:mv-dlq","maxReceiveCount":1}`})
	const n = 3
	for i := 0; i < n; i++ {
		sqsSend(t, c, src, fmt.Sprint(i))
	}
	if got := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10}); len(got) != n {
		t.Fatalf("received %d", len(got))
	}
	count := func(url string) string {
		a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
		if err != nil {
			t.Fatal(err)
		}
		return a.Attributes["ApproximateNumberOfMessages"]
	}
	waitFor(t, 10*time.Second, "the dead-letter queue to fill", func() bool { return count(dlq) == fmt.Sprint(n) })
	_, err := c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv")})
	sqsAPIError(t, err, "InvalidParameterValue") // not a dead-letter queue
	_, err = c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:none")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("a missing source: %v", err)
	}
	task, err := c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv-dlq")})
	if err != nil || task.TaskHandle == nil {
		t.Fatalf("StartMessageMoveTask: %v", err)
	}
	waitFor(t, 10*time.Second, "the messages to move back", func() bool { return count(src) == fmt.Sprint(n) && count(dlq) == "0" })
	var list *sqs.ListMessageMoveTasksOutput
	waitFor(t, 10*time.Second, "the task to complete", func() bool {
		list, err = c.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv-dlq")})
		return err == nil && len(list.Results) == 1 && *list.Results[0].Status == "COMPLETED"
	})
	if r := list.Results[0]; r.ApproximateNumberOfMessagesMoved != n || r.ApproximateNumberOfMessagesToMove == nil || *r.ApproximateNumberOfMessagesToMove != n || r.TaskHandle != nil {
		t.Fatalf("task %+v", r)
	}
	// A slow task is cancelled.
	for i := 0; i < n; i++ {
		sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &src, MaxNumberOfMessages: 10})
	}
	waitFor(t, 10*time.Second, "the dead-letter queue to fill again", func() bool { return count(dlq) == fmt.Sprint(n) })
	task, err = c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv-dlq"),
		DestinationArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv"), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv-dlq")})
	sqsAPIError(t, err, "AWS.SimpleQueueService.UnsupportedOperation") // one task per source
	cancelled, err := c.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: task.TaskHandle})
	if err != nil || cancelled.ApproximateNumberOfMessagesMoved >= n {
		t.Fatalf("CancelMessageMoveTask: %v %+v", err, cancelled)
	}
	list, err = c.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:mv-dlq"), MaxResults: aws.Int32(10)})
	if err != nil || len(list.Results) != 2 || *list.Results[0].Status != "CANCELLED" {
		t.Fatalf("tasks after the cancel: %v %+v", err, list)
	}
}

func TestSQSSetQueueAttributesAndTags(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	sqsCreate(t, c, "set-dlq", nil)
	url := sqsCreate(t, c, "set", map[string]string{"VisibilityTimeout": "12",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:set-dlq","maxReceiveCount":5}`})
	get := func() map[string]string {
		a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		return a.Attributes
	}
	policy := `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:set-dlq","maxReceiveCount":2}`
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{
		"VisibilityTimeout": "1", "DelaySeconds": "0", "MessageRetentionPeriod": "120", "ReceiveMessageWaitTimeSeconds": "3",
		"RedrivePolicy": policy, "Policy": `{"v":1}`}}); err != nil {
		t.Fatalf("SetQueueAttributes: %v", err)
	}
	a := get()
	for k, v := range map[string]string{"VisibilityTimeout": "1", "MessageRetentionPeriod": "120", "ReceiveMessageWaitTimeSeconds": "3",
		"RedrivePolicy": policy, "Policy": `{"v":1}`} {
		if a[k] != v {
			t.Errorf("%s = %q after SetQueueAttributes, want %q", k, a[k], v)
		}
	}
	if a["LastModifiedTimestamp"] < a["CreatedTimestamp"] {
		t.Errorf("LastModifiedTimestamp %s before CreatedTimestamp %s", a["LastModifiedTimestamp"], a["CreatedTimestamp"])
	}
	// The new visibility timeout and receive count apply: two receives,
	// each lease of 1 s running out, and the message is dead-lettered.
	sqsSend(t, c, url, "m")
	receives := 0
	deadline := time.Now().Add(15 * time.Second)
	// One GetQueueAttributes per look: with two, the lease could run out
	// between them, and the message count as neither ready nor in flight.
	inQueue := func() bool {
		a := get()
		return a["ApproximateNumberOfMessages"]+a["ApproximateNumberOfMessagesNotVisible"] != "00"
	}
	for time.Now().Before(deadline) && inQueue() {
		receives += len(sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1}))
	}
	if receives != 2 {
		t.Fatalf("received %d times before the dead-letter queue, want the new maxReceiveCount 2", receives)
	}
	// A request with one bad attribute changes nothing, not even the good
	// ones beside it. (MaximumMessageSize and RedrivePolicy themselves
	// change on a live queue: TestSQSSetQueueAttributesLive.)
	for attr, v := range map[string]string{"MaximumMessageSize": "10",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:none","maxReceiveCount":2}`} {
		_, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{attr: v, "VisibilityTimeout": "9"}})
		sqsAPIError(t, err, "InvalidAttributeValue")
	}
	if get()["VisibilityTimeout"] != "1" {
		t.Fatal("a refused SetQueueAttributes changed VisibilityTimeout")
	}
	_, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"VisibilityTimeout": "-1"}})
	sqsAPIError(t, err, "InvalidAttributeValue")
	_, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"Nope": "1"}})
	sqsAPIError(t, err, "InvalidAttributeName")
	// Tags.
	if _, err := c.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: &url, Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: &url, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &url})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["b"] != "2" {
		t.Fatalf("tags %v %v", tags, err)
	}
}
