package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
)

func sqsSend(t testing.TB, c *sqs.Client, url, body string) *sqs.SendMessageOutput {
	t.Helper()
	out, err := c.SendMessage(sqsCtx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return out
}

func sqsReceive(t testing.TB, c *sqs.Client, in *sqs.ReceiveMessageInput) []types.Message {
	t.Helper()
	if in.MessageSystemAttributeNames == nil {
		in.MessageSystemAttributeNames = []types.MessageSystemAttributeName{"All"}
	}
	out, err := c.ReceiveMessage(sqsCtx(t), in)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func TestSQSSendMessageBatchPartialFailure(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "batch", nil)
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("ok1"), MessageBody: aws.String("one")},
		{Id: aws.String("bad"), MessageBody: aws.String("two"), DelaySeconds: 901},
		{Id: aws.String("ok2"), MessageBody: aws.String("three"), MessageAttributes: map[string]types.MessageAttributeValue{
			"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}},
		{Id: aws.String("ctl"), MessageBody: aws.String("bad \x01 char")},
	}})
	if err != nil {
		t.Fatalf("SendMessageBatch: %v", err)
	}
	if len(out.Successful) != 2 || out.Successful[0].Id == nil || *out.Successful[0].Id != "ok1" || *out.Successful[1].Id != "ok2" {
		t.Fatalf("successful: %+v", out.Successful)
	}
	if out.Successful[1].MD5OfMessageAttributes == nil {
		t.Fatal("no MD5OfMessageAttributes for the entry with attributes")
	}
	if len(out.Failed) != 2 || *out.Failed[0].Id != "bad" || *out.Failed[0].Code != "InvalidParameterValue" || !out.Failed[0].SenderFault ||
		*out.Failed[1].Code != "InvalidMessageContents" {
		t.Fatalf("failed: %+v", out.Failed)
	}
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if len(msgs) != 2 {
		t.Fatalf("received %d, want the 2 that succeeded", len(msgs))
	}
	// Whole-batch errors.
	cases := []struct {
		entries []types.SendMessageBatchRequestEntry
		code    string
	}{
		{[]types.SendMessageBatchRequestEntry{}, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{[]types.SendMessageBatchRequestEntry{{Id: aws.String("a"), MessageBody: aws.String("x")}, {Id: aws.String("a"), MessageBody: aws.String("y")}}, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{[]types.SendMessageBatchRequestEntry{{Id: aws.String("no spaces"), MessageBody: aws.String("x")}}, "AWS.SimpleQueueService.InvalidBatchEntryId"},
		{[]types.SendMessageBatchRequestEntry{{Id: aws.String("big1"), MessageBody: aws.String(strings.Repeat("x", 600<<10))}, {Id: aws.String("big2"), MessageBody: aws.String(strings.Repeat("x", 600<<10))}}, "AWS.SimpleQueueService.BatchRequestTooLong"},
	}
	var eleven []types.SendMessageBatchRequestEntry
	for i := 0; i < 11; i++ {
		eleven = append(eleven, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String("x")})
	}
	cases = append(cases, struct {
		entries []types.SendMessageBatchRequestEntry
		code    string
	}{eleven, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"})
	for _, tc := range cases {
		_, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: tc.entries})
		sqsAPIError(t, err, tc.code)
	}
}

func TestSQSLargestBatch(t *testing.T) {
	// SQS's largest request: messages totalling 1 MiB in one batch.
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "big", nil)
	var entries []types.SendMessageBatchRequestEntry
	for i := 0; i < 10; i++ {
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(strings.Repeat(string(rune('a'+i)), 100<<10))})
	}
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil || len(out.Successful) != 10 {
		t.Fatalf("10 x 100 KiB: %v %+v", err, out)
	}
	one := strings.Repeat("z", 1<<20)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &one}); err != nil {
		t.Fatalf("a 1 MiB message: %v", err)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(one + "z")})
	sqsAPIError(t, err, "InvalidParameterValue")
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if len(msgs) != 10 || len(*msgs[0].Body) != 100<<10 {
		t.Fatalf("received %d", len(msgs))
	}
}

func TestSQSLongPolling(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	url := sqsCreate(t, c, "poll", nil)
	// Nothing comes: the call waits its WaitTimeSeconds, then answers empty.
	start := time.Now()
	if msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1}); len(msgs) != 0 {
		t.Fatalf("received %d from an empty queue", len(msgs))
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("an empty long poll of 1 s took %v", d)
	}
	// A message sent while a receive waits ends the wait at once.
	sent := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("wake")})
		sent <- err
	}()
	defer func() {
		if err := <-sent; err != nil {
			t.Errorf("SendMessage: %v", err)
		}
	}()
	start = time.Now()
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 10})
	if len(msgs) != 1 || *msgs[0].Body != "wake" {
		t.Fatalf("long poll got %v", msgs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the long poll returned after %v, not when the message came", d)
	}
	_, err := c.ReceiveMessage(sqsCtx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 21})
	sqsAPIError(t, err, "InvalidParameterValue")
	_, err = c.ReceiveMessage(sqsCtx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 11})
	sqsAPIError(t, err, "InvalidParameterValue")
}

func TestSQSVisibilityAndReceiptHandles(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "vis", map[string]string{"VisibilityTimeout": "1"})
	sqsSend(t, c, url, "m")
	first := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if len(first) != 1 {
		t.Fatal("nothing received")
	}
	if again := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url}); len(again) != 0 {
		t.Fatal("a message in flight was received again")
	}
	// The lease runs out: received again, with a new handle and count 2.
	var second []types.Message
	deadline := time.Now().Add(10 * time.Second)
	for len(second) == 0 && time.Now().Before(deadline) {
		second = sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1, VisibilityTimeout: 30})
	}
	if len(second) != 1 || second[0].Attributes["ApproximateReceiveCount"] != "2" || *second[0].ReceiptHandle == *first[0].ReceiptHandle {
		t.Fatalf("second receive: %+v", second)
	}
	// The old handle is accepted and deletes nothing.
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage with an old handle: %v", err)
	}
	attrs, _ := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessagesNotVisible"}})
	if attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Fatalf("the old handle deleted the message: %v", attrs.Attributes)
	}
	_, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 5})
	var notInflight *types.MessageNotInflight
	if !errors.As(err, &notInflight) {
		t.Fatalf("ChangeMessageVisibility with an old handle: %v, want MessageNotInflight", err)
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 0})
	if !errors.As(err, &notInflight) {
		t.Fatalf("ChangeMessageVisibility 0 with an old handle: %v, want MessageNotInflight", err)
	}
	// Visibility 0 releases it at once.
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatalf("ChangeMessageVisibility 0: %v", err)
	}
	third := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: 2})
	if len(third) != 1 || third[0].Attributes["ApproximateReceiveCount"] != "3" {
		t.Fatalf("after visibility 0: %+v", third)
	}
	// Extended: it stays invisible past its 2 s.
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle, VisibilityTimeout: 30}); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if got := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 3}); len(got) != 0 {
		t.Fatal("an extended message came back before its new visibility timeout")
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle, VisibilityTimeout: 43200})
	sqsAPIError(t, err, "InvalidParameterValue") // past 12 hours from the receive
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	attrs, _ = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" || attrs.Attributes["ApproximateNumberOfMessages"] != "0" {
		t.Fatalf("after delete: %v", attrs.Attributes)
	}
	// Malformed handles, and a handle of another queue.
	other := sqsCreate(t, c, "vis-other", nil)
	for _, h := range []string{"garbage", "", strings.Repeat("A", 40)} {
		_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String(h)})
		if h == "" {
			sqsAPIError(t, err, "MissingParameter")
			continue
		}
		var invalid *types.ReceiptHandleIsInvalid
		if !errors.As(err, &invalid) {
			t.Fatalf("DeleteMessage(%q): %v, want ReceiptHandleIsInvalid", h, err)
		}
	}
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &other, ReceiptHandle: third[0].ReceiptHandle})
	sqsAPIError(t, err, "ReceiptHandleIsInvalid")
}

func TestSQSReceiptHandleAcrossClients(t *testing.T) {
	// One client receives, another (its own connection) deletes.
	b := brokertest.New(t)
	c1, c2 := sqsGuest(t, b), sqsGuest(t, b)
	url := sqsCreate(t, c1, "shared", nil)
	sqsSend(t, c1, url, "x")
	msgs := sqsReceive(t, c1, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if len(msgs) != 1 {
		t.Fatal("nothing received")
	}
	if _, err := c2.DeleteMessage(sqsCtx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	attrs, _ := c2.GetQueueAttributes(sqsCtx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("not deleted: %v", attrs.Attributes)
	}
}

func TestSQSBatchDeleteAndVisibility(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "bd", nil)
	for i := 0; i < 4; i++ {
		sqsSend(t, c, url, fmt.Sprint(i))
	}
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if len(msgs) != 4 {
		t.Fatalf("received %d", len(msgs))
	}
	ch, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &url, Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0},
		{Id: aws.String("b"), ReceiptHandle: aws.String("nonsense"), VisibilityTimeout: 10},
	}})
	if err != nil || len(ch.Successful) != 1 || len(ch.Failed) != 1 || *ch.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("ChangeMessageVisibilityBatch: %v %+v", err, ch)
	}
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("1"), ReceiptHandle: msgs[1].ReceiptHandle},
		{Id: aws.String("2"), ReceiptHandle: msgs[2].ReceiptHandle},
		{Id: aws.String("3"), ReceiptHandle: aws.String("%%%")},
	}})
	if err != nil || len(del.Successful) != 2 || len(del.Failed) != 1 || *del.Failed[0].Id != "3" {
		t.Fatalf("DeleteMessageBatch: %v %+v", err, del)
	}
	attrs, _ := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if attrs.Attributes["ApproximateNumberOfMessages"] != "1" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "1" {
		t.Fatalf("after the batches: %v", attrs.Attributes)
	}
}

func TestSQSRedriveAfterMaxReceiveCount(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	dlq := sqsCreate(t, c, "rd-dlq", nil)
	src := sqsCreate(t, c, "rd", map[string]string{"VisibilityTimeout": "1",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:rd-dlq","maxReceiveCount":2}`})
	sqsSend(t, c, src, "poison")
	receives := 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &src, WaitTimeSeconds: 1})
		receives += len(msgs)
		if len(msgs) == 1 && msgs[0].Attributes["ApproximateReceiveCount"] != fmt.Sprint(receives) {
			t.Fatalf("receive %d has ApproximateReceiveCount %s", receives, msgs[0].Attributes["ApproximateReceiveCount"])
		}
		if dead := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &dlq}); len(dead) == 1 {
			if *dead[0].Body != "poison" || dead[0].Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:000000000000:rd" {
				t.Fatalf("dead letter: %+v", dead[0])
			}
			if receives != 2 {
				t.Fatalf("moved to the dead-letter queue after %d receives, want maxReceiveCount 2", receives)
			}
			return
		}
	}
	t.Fatalf("not dead-lettered after %d receives", receives)
}

func TestSQSFIFOOrderAndDeduplication(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "f.fifo", map[string]string{"FifoQueue": "true"})
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
	sqsAPIError(t, err, "InvalidParameterValue") // no dedup id, no content-based de-duplication
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
	sqsAPIError(t, err, "MissingParameter") // no group
	seqs := map[string]string{}
	lastSeq := ""
	for i, g := range []string{"a", "a", "b", "a"} {
		body := fmt.Sprintf("%s%d", g, i)
		out, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body),
			MessageGroupId: aws.String(g), MessageDeduplicationId: aws.String(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		if out.SequenceNumber == nil || len(*out.SequenceNumber) != 20 || *out.SequenceNumber <= lastSeq {
			t.Fatalf("SequenceNumber %v after %s: want 20 digits, increasing", out.SequenceNumber, lastSeq)
		}
		lastSeq = *out.SequenceNumber
		seqs[body] = lastSeq
	}
	// A duplicate inside the window is accepted and not delivered.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("dup"),
		MessageGroupId: aws.String("a"), MessageDeduplicationId: aws.String("0")}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for {
		msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			order = append(order, *m.Body)
			if m.Attributes["SequenceNumber"] != seqs[*m.Body] {
				t.Fatalf("%s received with SequenceNumber %q, sent with %q", *m.Body, m.Attributes["SequenceNumber"], seqs[*m.Body])
			}
			if m.Attributes["MessageGroupId"] == "" || m.Attributes["MessageDeduplicationId"] == "" {
				t.Fatalf("FIFO system attributes missing: %v", m.Attributes)
			}
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var a []string
	for _, o := range order {
		if o[0] == 'a' {
			a = append(a, o)
		}
	}
	if strings.Join(a, ",") != "a0,a1,a3" || len(order) != 4 {
		t.Fatalf("delivered %v; group a must come in order a0,a1,a3 and the duplicate not at all", order)
	}
}

// TestSQSFIFOLongPollBusyGroup: while a group's message is in flight, a
// long poll finds nothing of that group and ends at its WaitTimeSeconds;
// once the message is deleted the next of the group comes.
func TestSQSFIFOLongPollBusyGroup(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "busy.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	for _, body := range []string{"1", "2"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body), MessageGroupId: aws.String("g")}); err != nil {
			t.Fatal(err)
		}
	}
	first := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if len(first) != 1 || *first[0].Body != "1" {
		t.Fatalf("first receive %+v", first)
	}
	start := time.Now()
	if got := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1}); len(got) != 0 {
		t.Fatalf("received %q while its group had a message in flight", *got[0].Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a 1 s long poll took %v", d)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if got := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1}); len(got) != 1 || *got[0].Body != "2" {
		t.Fatalf("after the delete: %+v", got)
	}
}

// TestSQSConcurrentBatches: many batches at once (a confirm can then
// arrive inside the publish that asked for it; the adapter once
// deadlocked there) are all answered and all delivered.
func TestSQSConcurrentBatches(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	url := sqsCreate(t, c, "conc", nil)
	const workers, batches = 8, 25
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			for i := 0; i < batches; i++ {
				var entries []types.SendMessageBatchRequestEntry
				for k := 0; k < 10; k++ {
					entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(k)), MessageBody: aws.String(fmt.Sprintf("%d-%d-%d", w, i, k))})
				}
				out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
				if err == nil && len(out.Failed) > 0 {
					err = fmt.Errorf("failed entries %+v", out.Failed)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	timeout := time.After(60 * time.Second)
	for w := 0; w < workers; w++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("concurrent SendMessageBatch calls did not all finish within 60 s")
		}
	}
	attrs, err := c.GetQueueAttributes(sqsCtx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessages"] != fmt.Sprint(workers*batches*10) {
		t.Fatalf("queue holds %v (%v), want %d", attrs.Attributes, err, workers*batches*10)
	}
}

// TestSQSPerMessageDelay: DelaySeconds on a message of a queue without a
// delay holds that message only.
func TestSQSPerMessageDelay(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	url := sqsCreate(t, c, "pmd", nil)
	start := time.Now()
	if _, err := c.SendMessage(sqsCtx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("later"), DelaySeconds: 1}); err != nil {
		t.Fatal(err)
	}
	sqsSend(t, c, url, "now")
	first := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	if len(first) != 1 || *first[0].Body != "now" {
		t.Fatalf("first receive %+v", first)
	}
	var later []types.Message
	for len(later) == 0 && time.Since(start) < 10*time.Second {
		later = sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 2})
	}
	if len(later) != 1 || *later[0].Body != "later" || time.Since(start) < time.Second {
		t.Fatalf("the delayed message came after %v: %+v", time.Since(start), later)
	}
}
