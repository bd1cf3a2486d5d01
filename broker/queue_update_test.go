package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

func TestSetQueueArguments(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "u", Args: message.Table{"x-visibility-timeout": int64(60_000), "x-max-message-size": int64(10)}}); err != nil {
		t.Fatal(err)
	}
	// A live argument and an adapter's own change.
	if err := v.SetQueueArguments("u", message.Table{"x-visibility-timeout": int64(50), "x-sqs-tags": message.Table{"a": "b"}}, nil); err != nil {
		t.Fatal(err)
	}
	q, _ := v.Queue("u")
	if a := q.Arguments(); a["x-visibility-timeout"] != int64(50) || a["x-sqs-tags"] == nil {
		t.Fatalf("arguments %v", a)
	}
	// The new lease applies to the next delivery: it runs out after 50 ms.
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	if _, err := s.Publish("", "u", &message.Message{Body: []byte("x")}, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := s.Get("u", false); !ok {
		t.Fatal("nothing to get")
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Stats().Ready != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the 50 ms lease set by SetQueueArguments did not run out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Structural arguments are fixed; bad values are refused; nothing changes.
	for _, tc := range []struct {
		set   message.Table
		unset []string
		want  string
	}{
		{message.Table{"x-max-priority": int64(20)}, nil, "cannot be changed"},
		{message.Table{"x-queue-type": "quorum"}, nil, "cannot be changed"},
		{message.Table{"x-message-groups": true}, nil, "cannot be changed"},
		{message.Table{"x-visibility-timeout": "soon"}, nil, "x-visibility-timeout"},
	} {
		err := v.SetQueueArguments("u", tc.set, tc.unset)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetQueueArguments(%v, %v) = %v, want an error with %q", tc.set, tc.unset, err, tc.want)
		}
	}
	if a := q.Arguments(); a["x-max-message-size"] != int64(10) || a["x-visibility-timeout"] != int64(50) || a["x-max-priority"] != nil {
		t.Fatalf("a refused change changed the arguments: %v", a)
	}
	// The maximum message size (SQS's MaximumMessageSize) and the
	// dead-letter arguments (its RedrivePolicy) are live now.
	if err := v.SetQueueArguments("u", message.Table{"x-max-message-size": int64(3), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq",
		"x-delivery-limit": int64(2)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish("", "u", &message.Message{Body: []byte("four")}, PublishOptions{}); err == nil || !strings.Contains(err.Error(), "max size 3") {
		t.Fatalf("a 4-byte message after x-max-message-size 3: %v", err)
	}
	if c := q.config(); !c.hasDLX || c.dlrk != "dlq" || c.deliveryLimit != 2 {
		t.Fatalf("dead-letter arguments not in force: %+v", c)
	}
	if err := v.SetQueueArguments("none", message.Table{"x-sqs-x": "y"}, nil); err == nil {
		t.Fatal("a missing queue")
	}
	// A redeclare compares with the current arguments.
	if _, err := v.DeclareQueue(QueueDecl{Name: "u", Args: message.Table{"x-visibility-timeout": int64(50), "x-max-message-size": int64(3),
		"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq", "x-delivery-limit": int64(2)}}); err != nil {
		t.Fatalf("redeclare with the new arguments: %v", err)
	}
}
