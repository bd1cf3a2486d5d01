package conformance

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// TestSQSFIFODeduplicationScopeAndContent: a high-throughput FIFO queue
// (DeduplicationScope messageGroup, FifoThroughputLimit perMessageGroupId)
// de-duplicates per group, and SetQueueAttributes changes
// ContentBasedDeduplication and DeduplicationScope on the live queue.
func TestSQSFIFODeduplicationScopeAndContent(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "ht.fifo", map[string]string{"FifoQueue": "true",
		"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["DeduplicationScope"] != "messageGroup" || attrs.Attributes["FifoThroughputLimit"] != "perMessageGroupId" ||
		attrs.Attributes["ContentBasedDeduplication"] != "false" {
		t.Fatalf("attributes %v", attrs.Attributes)
	}
	// The same create again is idempotent.
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ht.fifo"), Attributes: map[string]string{"FifoQueue": "true",
		"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}}); err != nil {
		t.Fatal(err)
	}
	send := func(body, group, dedup string) string {
		t.Helper()
		in := &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body), MessageGroupId: aws.String(group)}
		if dedup != "" {
			in.MessageDeduplicationId = aws.String(dedup)
		}
		out, err := c.SendMessage(ctx, in)
		if err != nil {
			t.Fatalf("send %s: %v", body, err)
		}
		return *out.MessageId
	}
	first := send("a1", "a", "same")
	send("b1", "b", "same") // another group: not a duplicate
	if again := send("a2", "a", "same"); again != first {
		t.Fatalf("duplicate in group a got MessageId %s, the original %s", again, first)
	}
	got := map[string]bool{}
	for _, m := range sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10}) {
		got[*m.Body] = true
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || !got["a1"] || !got["b1"] {
		t.Fatalf("received %v, want a1 and b1", got)
	}

	// Content-based de-duplication switched on, on the live queue.
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("a")})
	sqsAPIError(t, err, "InvalidParameterValue")
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url,
		Attributes: map[string]string{"ContentBasedDeduplication": "true", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"}}); err != nil {
		t.Fatal(err)
	}
	x1 := send("x", "a", "")
	if x2 := send("x", "b", ""); x2 != x1 {
		t.Fatalf("the same body in another group, scope queue: MessageId %s, want the original %s", x2, x1)
	}
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if len(msgs) != 1 || *msgs[0].Body != "x" {
		t.Fatalf("received %d messages, want the one x", len(msgs))
	}
	attrs, _ = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if attrs.Attributes["DeduplicationScope"] != "queue" || attrs.Attributes["ContentBasedDeduplication"] != "true" {
		t.Fatalf("after SetQueueAttributes: %v", attrs.Attributes)
	}
	// A queue's type stays.
	_, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"FifoQueue": "false"}})
	if err == nil {
		t.Fatal("FifoQueue changed on a live queue")
	}
}

// TestSQSRetentionIsNotRedriven: a queue with a RedrivePolicy gets the
// core's x-dead-letter-expired false (SQS deletes messages past their
// retention period; only receives past maxReceiveCount go to the
// dead-letter queue), shown in the management API; removing the policy
// removes it.
func TestSQSRetentionIsNotRedriven(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	sqsCreate(t, c, "ret-dlq", nil)
	src := sqsCreate(t, c, "ret-src", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:ret-dlq","maxReceiveCount":"3"}`})
	api := newAPI(t, b)
	var q struct {
		Arguments map[string]any `json:"arguments"`
	}
	api.getJSON("/api/queues/%2F/ret-src", &q)
	if v, ok := q.Arguments["x-dead-letter-expired"]; !ok || v != false {
		t.Fatalf("arguments %v: want x-dead-letter-expired false", q.Arguments)
	}
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &src, Attributes: map[string]string{"RedrivePolicy": ""}}); err != nil {
		t.Fatal(err)
	}
	q.Arguments = nil
	api.getJSON("/api/queues/%2F/ret-src", &q)
	if _, ok := q.Arguments["x-dead-letter-expired"]; ok {
		t.Fatalf("arguments %v after the policy was removed", q.Arguments)
	}
}

// TestSQSListenerConnectionBound: --max-http-connections bounds the open
// sockets of the SQS listener; past it a new connection is closed at once,
// and a client that waits gets in when one closes.
func TestSQSListenerConnectionBound(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxHTTPConnections = 2 })
	addr := strings.TrimPrefix(b.SQSURL(), "http://")
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := third.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the third connection was not closed: %d %v", n, err)
	}
	held[0].Close()
	// An SDK call works again (its connection is the second of two).
	deadline := time.Now().Add(5 * time.Second)
	c := sqsGuest(t, b)
	for {
		_, err := c.ListQueues(sqsCtx(t), &sqs.ListQueuesInput{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call got through after a connection closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	held[1].Close()
}
