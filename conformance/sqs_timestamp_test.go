package conformance

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestSQSSentTimestampMillis: SentTimestamp is the send's time in
// milliseconds, as SQS gives it, not whole seconds.
func TestSQSSentTimestampMillis(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "stamps", nil)
	var windows [][2]int64
	for i := 0; i < 5; i++ {
		// Not at a whole second, where seconds and milliseconds agree.
		for time.Now().UnixMilli()%1000 > 900 || time.Now().UnixMilli()%1000 < 50 {
			time.Sleep(10 * time.Millisecond)
		}
		before := time.Now().UnixMilli()
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
		windows = append(windows, [2]int64{before, time.Now().UnixMilli()})
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"SentTimestamp"}})
	if err != nil || len(out.Messages) != 5 {
		t.Fatalf("receive: %d messages, %v", len(out.Messages), err)
	}
	for i, m := range out.Messages {
		ts, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64)
		if err != nil || ts < windows[i][0] || ts > windows[i][1] {
			t.Fatalf("message %d: SentTimestamp %q, sent between %d and %d ms", i, m.Attributes["SentTimestamp"], windows[i][0], windows[i][1])
		}
	}
}

// TestSQSApproximateFirstReceiveTimestamp: the first receive's time, in
// milliseconds, the same on every later receive of the message; also on a
// queue whose VisibilityTimeout is 0 (its lease is set per receive).
func TestSQSApproximateFirstReceiveTimestamp(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	for _, vis := range []string{"1", "0"} {
		url := sqsCreate(t, c, "first-receive-"+vis, map[string]string{"VisibilityTimeout": vis})
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
		receive := func() types.Message {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Messages) == 1 {
					return out.Messages[0]
				}
			}
			t.Fatalf("visibility %s: the message did not come back", vis)
			return types.Message{}
		}
		before := time.Now().UnixMilli()
		first := receive()
		after := time.Now().UnixMilli()
		ts, err := strconv.ParseInt(first.Attributes["ApproximateFirstReceiveTimestamp"], 10, 64)
		if err != nil || ts < before || ts > after {
			t.Fatalf("visibility %s: ApproximateFirstReceiveTimestamp %q, received between %d and %d", vis, first.Attributes["ApproximateFirstReceiveTimestamp"], before, after)
		}
		time.Sleep(50 * time.Millisecond)
		second := receive()
		if second.Attributes["ApproximateReceiveCount"] != "2" || second.Attributes["ApproximateFirstReceiveTimestamp"] != first.Attributes["ApproximateFirstReceiveTimestamp"] {
			t.Fatalf("visibility %s: second receive %v, first %v", vis, second.Attributes, first.Attributes)
		}
	}
}

// On a queue whose VisibilityTimeout is 0 the receive's own lease ends at
// once, and the message may be back in the queue before the answer is
// written: the first receive's ApproximateFirstReceiveTimestamp must still
// be the one later receives report, not a second reading of the clock.
// (It differed under load: the adapter looked the first lease up after
// the lease had already ended.)
func TestSQSFirstReceiveTimestampVisibilityZero(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "first-receive-vis0", map[string]string{"VisibilityTimeout": "0"})
	// Ten messages, received ten at a time: with visibility 0 each comes
	// straight back, so every receive sees them again (a requeued message
	// goes back to the head, so more than one receive's worth would starve
	// the rest).
	for i := 0; i < 10; i++ {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	first, seen := map[string]string{}, map[string]int{}
	for round := 0; round < 30; round++ {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			body, ts := *m.Body, m.Attributes["ApproximateFirstReceiveTimestamp"]
			seen[body]++
			if want, ok := first[body]; !ok {
				first[body] = ts
			} else if ts != want {
				t.Fatalf("message %s: ApproximateFirstReceiveTimestamp %s, first receive said %s", body, ts, want)
			}
		}
	}
	for i := 0; i < 10; i++ {
		if n := seen[strconv.Itoa(i)]; n < 2 {
			t.Fatalf("message %d received %d times in 30 receives, want it again and again (seen %v)", i, n, seen)
		}
	}
}
