package broker

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// A long poll on a queue whose only ready message belongs to a group with
// a message in flight waits (without spinning) until its deadline, and a
// getter waiting there is woken when the group's message is settled.
func TestGetWaitWithBusyGroup(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "g", Args: message.Table{"x-message-groups": true}}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	for _, body := range []string{"1", "2"} {
		m := &message.Message{Body: []byte(body), Properties: message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"x-group-id": "a"}}}
		if _, err := s.Publish("", "g", m, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, _, ok, err := s.Get("g", false)
	if !ok || err != nil {
		t.Fatalf("get: %v %v", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	start := time.Now()
	_, _, ok, err = s.GetWait(ctx, "g", false)
	cancel()
	if ok || err != nil {
		t.Fatalf("GetWait on a busy group: ok=%v err=%v", ok, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("GetWait returned after %v, want its 200 ms deadline", d)
	}
	got := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, _, ok, _ := s.GetWait(ctx, "g", false)
		if ok {
			got <- string(d.Msg.Body)
		} else {
			got <- ""
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Ack(first.Tag, false); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-got:
		if body != "2" {
			t.Fatalf("woken getter got %q, want the group's next message", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting getter was not woken when the group's message was settled")
	}
}
