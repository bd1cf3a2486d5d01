package conformance

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestSQSFIFODuplicateGetsOriginalID: a send that SQS de-duplicates is
// answered with the original message's MessageId and SequenceNumber, by
// MessageDeduplicationId and by content, in SendMessage and within and
// across batches; only the original is received.
func TestSQSFIFODuplicateGetsOriginalID(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "dups.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	send := func(body, dedup string) *sqs.SendMessageOutput {
		t.Helper()
		in := &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body), MessageGroupId: aws.String("g")}
		if dedup != "" {
			in.MessageDeduplicationId = aws.String(dedup)
		}
		out, err := c.SendMessage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := send("one", "d1")
	again := send("another body", "d1")
	if *again.MessageId != *first.MessageId || *again.SequenceNumber != *first.SequenceNumber {
		t.Fatalf("duplicate by id answered %s/%s, the original was %s/%s", *again.MessageId, *again.SequenceNumber, *first.MessageId, *first.SequenceNumber)
	}
	byContent := send("same content", "")
	if dup := send("same content", ""); *dup.MessageId != *byContent.MessageId || *dup.SequenceNumber != *byContent.SequenceNumber {
		t.Fatalf("duplicate by content answered %s, the original was %s", *dup.MessageId, *byContent.MessageId)
	}
	if other := send("other content", ""); *other.MessageId == *byContent.MessageId {
		t.Fatal("a different body got the MessageId of another message")
	}
	batch, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("b1"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d2")},
		{Id: aws.String("b"), MessageBody: aws.String("b2"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d2")},
		{Id: aws.String("c"), MessageBody: aws.String("b3"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d1")},
	}})
	if err != nil || len(batch.Successful) != 3 {
		t.Fatalf("batch: %v %v", batch, err)
	}
	ids := map[string]types.SendMessageBatchResultEntry{}
	for _, e := range batch.Successful {
		ids[*e.Id] = e
	}
	if *ids["a"].MessageId != *ids["b"].MessageId || *ids["a"].SequenceNumber != *ids["b"].SequenceNumber {
		t.Fatalf("duplicates within a batch: %s and %s", *ids["a"].MessageId, *ids["b"].MessageId)
	}
	if *ids["c"].MessageId != *first.MessageId {
		t.Fatalf("a batch entry duplicating an earlier send got %s, the original was %s", *ids["c"].MessageId, *first.MessageId)
	}
	// Only the originals arrive, with the ids their sends were answered.
	want := []string{*first.MessageId, *byContent.MessageId}
	var got []string
	for {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			got = append(got, *m.MessageId)
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[3] != *ids["a"].MessageId {
		t.Fatalf("received %v; want %s, %s, then other content's and the batch's %s", got, want[0], want[1], *ids["a"].MessageId)
	}
}

// TestSQSFIFODuplicateAfterRestartGetsOriginalID: the original's MessageId
// and SequenceNumber are kept with the core's durable de-duplication id,
// so a duplicate sent after a restart (the original received and deleted
// before it) is still answered with them, and not delivered.
func TestSQSFIFODuplicateAfterRestartGetsOriginalID(t *testing.T) {
	dir := t.TempDir()
	b := qsBrokerOn(t, dir)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "restart.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	first, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("once"),
		MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	byContent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("by content"), MessageGroupId: aws.String("g")})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10}) {
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	b.Stop(t)
	b = qsBrokerOn(t, dir)
	c = sqsGuest(t, b)
	url = b.SQSURL() + "/000000000000/restart.fifo"
	again, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("twice"),
		MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	if *again.MessageId != *first.MessageId || *again.SequenceNumber != *first.SequenceNumber {
		t.Fatalf("after a restart the duplicate got %s/%s, the original was %s/%s", *again.MessageId, *again.SequenceNumber, *first.MessageId, *first.SequenceNumber)
	}
	dup, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("by content"), MessageGroupId: aws.String("g")})
	if err != nil || *dup.MessageId != *byContent.MessageId {
		t.Fatalf("content duplicate after a restart: %v %v, the original was %s", dup, err, *byContent.MessageId)
	}
	if got := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10}); len(got) != 0 {
		t.Fatalf("a duplicate was delivered after the restart: %q", *got[0].Body)
	}
}
