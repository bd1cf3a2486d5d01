package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// One queue, two protocols: published over AMQP and received over SQS
// (with MD5s the SDK accepts: it fails the call on a mismatch), and back.

func TestSQSFromAMQP(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	url := sqsCreate(t, c, "mixed", nil)
	ch := qsConfirmChan(t, qsDial(t, b.AMQPURL()))
	publish := func(p amqp.Publishing) {
		t.Helper()
		dc, err := ch.PublishWithDeferredConfirmWithContext(sqsCtx(t), "", "mixed", false, false, p)
		if err != nil || !dc.Wait() {
			t.Fatalf("AMQP publish: %v", err)
		}
	}
	before := time.Now().UnixMilli()
	publish(amqp.Publishing{Body: []byte("over amqp"), MessageId: "m-1", Timestamp: time.Unix(1700000000, 0), Headers: amqp.Table{
		"str": "s", "num": int32(5), "big": int64(1) << 40, "ratio": 0.5, "bin": []byte{0, 1, 2}, "flag": true,
		"nested": amqp.Table{"a": "b"}, "x-group-id": "not an attribute",
	}})
	// A body that is not text: received with the bytes SQS cannot carry
	// replaced, and an MD5 over what is sent.
	publish(amqp.Publishing{Body: []byte{'o', 'k', 0xff, 0x00, 'z'}})
	after := time.Now().UnixMilli()
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
	if len(msgs) != 2 {
		t.Fatalf("received %d over SQS", len(msgs))
	}
	m := msgs[0]
	if *m.Body != "over amqp" || *m.MessageId != "m-1" || m.Attributes["SenderId"] != "" {
		t.Fatalf("message %+v attributes %v", m, m.Attributes)
	}
	// SentTimestamp is when the message reached the queue, in
	// milliseconds (the AMQP timestamp property is the publisher's, in
	// seconds), with or without the property.
	for _, m := range msgs {
		ts, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64)
		if err != nil || ts < before || ts > after {
			t.Fatalf("SentTimestamp %q, published between %d and %d", m.Attributes["SentTimestamp"], before, after)
		}
	}
	want := map[string][2]string{"str": {"String", "s"}, "num": {"Number", "5"}, "big": {"Number", "1099511627776"},
		"ratio": {"Number", "0.5"}, "flag": {"String", "true"}}
	for k, w := range want {
		a, ok := m.MessageAttributes[k]
		if !ok || *a.DataType != w[0] || *a.StringValue != w[1] {
			t.Errorf("attribute %s = %+v, want %v", k, a, w)
		}
	}
	if a := m.MessageAttributes["bin"]; a.DataType == nil || *a.DataType != "Binary" || string(a.BinaryValue) != "\x00\x01\x02" {
		t.Errorf("binary attribute %+v", a)
	}
	if _, ok := m.MessageAttributes["nested"]; ok || len(m.MessageAttributes) != 6 {
		t.Errorf("attributes %v: tables and the broker's x- headers are not attributes", m.MessageAttributes)
	}
	if m.MD5OfMessageAttributes == nil {
		t.Fatal("no MD5OfMessageAttributes")
	}
	if *msgs[1].Body != "ok\uFFFD\uFFFDz" || msgs[1].MD5OfMessageAttributes != nil {
		t.Fatalf("binary body received as %q", *msgs[1].Body)
	}
	for _, m := range msgs {
		if _, err := c.DeleteMessage(sqsCtx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSQSToAMQP(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	url := sqsCreate(t, c, "to-amqp", nil)
	sent, err := c.SendMessage(sqsCtx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("over sqs"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"color": {DataType: aws.String("String"), StringValue: aws.String("blue")},
			"count": {DataType: aws.String("Number"), StringValue: aws.String("3")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{9, 8}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	ch := qsChan(t, qsDial(t, b.AMQPURL()))
	d, ok, err := ch.Get("to-amqp", false)
	if err != nil || !ok {
		t.Fatalf("AMQP get: %v %v", ok, err)
	}
	if string(d.Body) != "over sqs" || d.MessageId != *sent.MessageId || d.DeliveryMode != amqp.Persistent || d.UserId != "guest" {
		t.Fatalf("AMQP delivery %+v", d)
	}
	if d.Headers["color"] != "blue" || d.Headers["count"] != "3" || string(d.Headers["blob"].([]byte)) != "\x09\x08" {
		t.Fatalf("headers %v", d.Headers)
	}
	// Declared over AMQP with queue-service arguments: SQS shows them.
	if _, err := ch.QueueDeclare("declared", true, false, false, false, amqp.Table{
		"x-visibility-timeout": int32(45000), "x-delivery-delay": int32(3000), "x-max-message-size": int32(4096)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetQueueUrl(sqsCtx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("declared")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := c.GetQueueAttributes(sqsCtx(t), &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "45" || attrs.Attributes["DelaySeconds"] != "3" || attrs.Attributes["MaximumMessageSize"] != "4096" {
		t.Fatalf("attributes of an AMQP-declared queue: %v %v", attrs, err)
	}
}

func TestSQSSendSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := qsBrokerOn(t, dir)
	c := sqsGuest(t, b)
	url := sqsCreate(t, c, "durable", map[string]string{"VisibilityTimeout": "7"})
	sent, err := c.SendMessage(sqsCtx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("keep me"),
		MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number.float"), StringValue: aws.String("1.5")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetQueueAttributes(sqsCtx(t), &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"VisibilityTimeout": "8"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagQueue(sqsCtx(t), &sqs.TagQueueInput{QueueUrl: &url, Tags: map[string]string{"kept": "yes"}}); err != nil {
		t.Fatal(err)
	}
	b.Stop(t)
	b = qsBrokerOn(t, dir)
	c = sqsGuest(t, b)
	url = b.SQSURL() + "/000000000000/durable"
	tags, err := c.ListQueueTags(sqsCtx(t), &sqs.ListQueueTagsInput{QueueUrl: &url})
	if err != nil || tags.Tags["kept"] != "yes" {
		t.Fatalf("tags after a restart: %v %v", tags, err)
	}
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"All"}})
	if len(msgs) != 1 || *msgs[0].Body != "keep me" || *msgs[0].MessageId != *sent.MessageId ||
		*msgs[0].MD5OfMessageAttributes != *sent.MD5OfMessageAttributes || *msgs[0].MessageAttributes["n"].DataType != "Number.float" {
		t.Fatalf("after a restart: %+v", msgs)
	}
	attrs, err := c.GetQueueAttributes(sqsCtx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"VisibilityTimeout"}})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "8" {
		t.Fatalf("attributes after a restart: %v %v", attrs, err)
	}
}

// TestSQSSendSurvivesKill: every SendMessage the broker answered is there
// after a kill -9 in the middle of sending (SendMessage answers after the
// fsync that covers the message).
func TestSQSSendSurvivesKill(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	port := freePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd, _ := startProcess(t, dataDir, "--sqs-addr", fmt.Sprintf("127.0.0.1:%d", port))
	client := func() *sqs.Client {
		return sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("guest", "guest", ""),
			Retryer: func() aws.Retryer { return aws.NopRetryer{} }}, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint); o.HTTPClient = sqsHTTPClient })
	}
	c := client()
	if _, err := c.CreateQueue(sqsCtx(t), &sqs.CreateQueueInput{QueueName: aws.String("kill")}); err != nil {
		t.Fatal(err)
	}
	url := endpoint + "/000000000000/kill"
	var mu sync.Mutex
	answered := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("w%d-%d", w, i)
				if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body}); err != nil {
					return // the broker is gone
				}
				mu.Lock()
				answered[body] = true
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(700 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if len(answered) == 0 {
		t.Fatal("no SendMessage was answered before the kill")
	}
	cmd, _ = startProcess(t, dataDir, "--sqs-addr", fmt.Sprintf("127.0.0.1:%d", port))
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _, _ = cmd.Process.Wait() }()
	c = client()
	got := map[string]bool{}
	for {
		out, err := c.ReceiveMessage(sqsCtx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, VisibilityTimeout: 600})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			got[*m.Body] = true
		}
	}
	for body := range answered {
		if !got[body] {
			t.Errorf("answered message %s lost in the kill", body)
		}
	}
	t.Logf("%d sends answered before kill -9, %d messages after the restart", len(answered), len(got))
}
