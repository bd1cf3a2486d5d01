package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestSQSFIFOSeveralOfAGroupPerReceive: one ReceiveMessage returns several
// messages of one group, in order, and SQS's preference for the group it
// started with ("as many messages with the same message group ID as
// possible"); while they are in flight no receive gets more of their
// groups; when their visibility runs out they come back in the same order.
func TestSQSFIFOSeveralOfAGroupPerReceive(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "batch.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	var entries []types.SendMessageBatchRequestEntry
	for i, g := range []string{"a", "b", "a", "a", "b", "c"} {
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)),
			MessageBody: aws.String(fmt.Sprintf("%s%d", g, i)), MessageGroupId: aws.String(g)})
	}
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil || len(out.Successful) != 6 {
		t.Fatalf("send: %v %+v", err, out)
	}
	bodiesOf := func(ms []types.Message) string {
		var s []string
		for _, m := range ms {
			s = append(s, *m.Body)
		}
		return strings.Join(s, ",")
	}
	first := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 4, VisibilityTimeout: 2})
	if got := bodiesOf(first); got != "a0,a2,a3,b1" {
		t.Fatalf("first receive of 4: %s, want a0,a2,a3,b1", got)
	}
	// a and b are in flight: only c is left to others.
	second := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if got := bodiesOf(second); got != "c5" {
		t.Fatalf("second receive: %s, want c5", got)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	// After the 2 s visibility the undeleted ones return, each group in
	// order and in one run, with the rest of the group behind them (which
	// group comes first SQS does not say: here b, whose b1 was sent
	// before a2).
	deadline := time.Now().Add(10 * time.Second)
	var again []types.Message
	for time.Now().Before(deadline) && len(again) == 0 {
		again = sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount"}})
	}
	if got := bodiesOf(again); got != "a2,a3,b1,b4" && got != "b1,b4,a2,a3" {
		t.Fatalf("after the visibility ran out: %s, want a2,a3 and b1,b4, each group in one run", got)
	}
	for _, m := range again {
		if *m.Body == "b4" {
			continue
		}
		if m.Attributes["ApproximateReceiveCount"] != "2" {
			t.Fatalf("%s: ApproximateReceiveCount %q, want 2", *m.Body, m.Attributes["ApproximateReceiveCount"])
		}
	}
}

// TestSQSReceiveRequestAttemptId: on a FIFO queue, a receive retried with
// the same ReceiveRequestAttemptId while its messages are in flight gets
// the same messages and receipt handles; once one was deleted the id
// starts a new receive; a malformed id is refused.
func TestSQSReceiveRequestAttemptId(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "attempt.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	for _, body := range []string{"m1", "m2", "m3"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body), MessageGroupId: aws.String("g")}); err != nil {
			t.Fatal(err)
		}
	}
	in := &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 2, ReceiveRequestAttemptId: aws.String("try-1")}
	first := sqsReceive(t, c, in)
	if len(first) != 2 || *first[0].Body != "m1" || *first[1].Body != "m2" {
		t.Fatalf("first receive: %d messages", len(first))
	}
	again := sqsReceive(t, c, in)
	if len(again) != 2 || *again[0].MessageId != *first[0].MessageId || *again[1].ReceiptHandle != *first[1].ReceiptHandle {
		t.Fatalf("retry with the same attempt id: %d messages, not the same ones", len(again))
	}
	if other := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10}); len(other) != 0 {
		t.Fatalf("another receive got %q while the group was in flight", *other[0].Body)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	// m1 is gone: the id starts a new receive (m2 is still in flight, so
	// the group gives nothing).
	if after := sqsReceive(t, c, in); len(after) != 0 {
		t.Fatalf("after a delete the attempt id replayed %d messages", len(after))
	}
	_, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, ReceiveRequestAttemptId: aws.String("no spaces")})
	sqsAPIError(t, err, "InvalidParameterValue")
}
