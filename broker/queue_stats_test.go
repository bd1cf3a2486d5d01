package broker

import (
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

func TestQueueStatsCountsReadyUnackedDelayed(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "st", Args: message.Table{"x-delivery-delay": int64(0)}}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	pub := func(h message.Table) {
		t.Helper()
		m := &message.Message{Body: []byte("x"), Properties: message.Properties{Headers: h, Flags: message.FlagHeaders}}
		if _, err := s.Publish("", "st", m, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pub(nil)
	pub(nil)
	pub(message.Table{"x-delay": int64(60_000)})
	if _, _, ok, err := s.Get("st", false); !ok || err != nil {
		t.Fatalf("get: ok=%v err=%v", ok, err)
	}
	q, _ := v.Queue("st")
	got := q.Stats()
	want := QueueStats{Ready: 1, Unacked: 1, Delayed: 1}
	if got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	args := q.Arguments()
	args["x-delivery-delay"] = int64(5)
	if q.Arguments()["x-delivery-delay"] != int64(0) {
		t.Fatal("Arguments() returned the queue's own table, not a copy")
	}
}
