package broker

import (
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// x-deduplication-scope "message-group": an id is a duplicate only within
// its group; the scope and x-content-deduplication change on a live queue
// with x-message-deduplication, and not on one without.
func TestDedupScopeByGroup(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	args := message.Table{"x-message-groups": true, "x-message-deduplication": true, "x-deduplication-scope": "message-group"}
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Args: args}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	pub := func(group, id, body string) {
		t.Helper()
		h := message.Table{"x-group-id": group}
		if id != "" {
			h["x-deduplication-header"] = id
		}
		m := &message.Message{Body: []byte(body), Properties: message.Properties{Flags: message.FlagHeaders, Headers: h}}
		if _, err := s.Publish("", "q", m, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		q, _ := v.Queue("q")
		return q.Stats().Ready
	}
	pub("a", "1", "x")
	pub("b", "1", "x")
	pub("a", "1", "x")
	if n := count(); n != 2 {
		t.Fatalf("%d ready, want 2 (id 1 once per group)", n)
	}
	if err := v.SetQueueArguments("q", message.Table{"x-deduplication-scope": "queue", "x-content-deduplication": true}, nil); err != nil {
		t.Fatal(err)
	}
	pub("a", "2", "y")
	pub("b", "2", "y") // same id, another group: a duplicate now
	pub("c", "", "z")
	pub("d", "", "z") // same body
	if n := count(); n != 4 {
		t.Fatalf("%d ready, want 4", n)
	}
	if err := v.SetQueueArguments("q", message.Table{"x-deduplication-scope": "everywhere"}, nil); err == nil {
		t.Fatal("a bad scope was accepted")
	}
	if _, err := v.DeclareQueue(QueueDecl{Name: "plain", Args: message.Table{"x-content-deduplication": true}}); err != nil {
		t.Fatal(err)
	}
	if err := v.SetQueueArguments("plain", message.Table{"x-content-deduplication": false}, nil); err == nil {
		t.Fatal("x-content-deduplication changed on a queue without x-message-deduplication")
	}
}
