package broker

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// nopConfirmer takes confirms and forgets them.
type nopConfirmer struct{}

func (nopConfirmer) Confirmed(uint64, bool) {}

func wantCounts(t *testing.T, what string, got, want MessageCounts) {
	t.Helper()
	if got != want {
		t.Fatalf("%s counts:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestCountersPublishDeliverAck(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "q", nil)
	mustDeclareQueue(t, v, "other", nil)
	for _, q := range []string{"q", "other"} {
		if err := v.Bind(BindSpec{Source: "amq.fanout", Destination: q}); err != nil {
			t.Fatal(err)
		}
	}
	pub := v.NewSession(1, &recorder{})
	// One publish to the fanout is one message received, two queue copies.
	if _, err := pub.Publish("amq.fanout", "", msg("a"), PublishOptions{Confirm: nopConfirmer{}, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, pub, "", "q", msg("b"))
	mustPublish(t, pub, "", "nowhere", msg("c"))
	if _, err := pub.Publish("", "nowhere", msg("d"), PublishOptions{Mandatory: true}); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{}
	cons := v.NewSession(2, rec)
	if _, err := cons.Consume("q", ConsumeSpec{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "two deliveries", func() bool { return len(rec.deliveries()) == 2 })
	// One back unacked: its second delivery is a redelivery.
	if err := cons.Nack(rec.deliveries()[0].Tag, false, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the redelivery", func() bool { return len(rec.deliveries()) == 3 })
	if err := cons.Ack(0, true); err != nil {
		t.Fatal(err)
	}

	getter := v.NewSession(3, &recorder{})
	if _, _, ok, err := getter.Get("other", true); err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if _, _, ok, _ := getter.Get("other", false); ok {
		t.Fatal("get from an empty queue")
	}

	q, _ := v.Queue("q")
	wantCounts(t, "queue q", q.MessageCounts(), MessageCounts{Publish: 2, Deliver: 3, Ack: 2, Redeliver: 1})
	o, _ := v.Queue("other")
	wantCounts(t, "queue other", o.MessageCounts(), MessageCounts{Publish: 1, GetNoAck: 1, GetEmpty: 1})
	fan, _ := v.Exchange("amq.fanout")
	wantCounts(t, "amq.fanout", fan.MessageCounts(), MessageCounts{Publish: 1, PublishOut: 2, Confirm: 1})
	def, _ := v.Exchange("")
	wantCounts(t, "default exchange", def.MessageCounts(), MessageCounts{Publish: 3, PublishOut: 1, ReturnUnroutable: 1, DropUnroutable: 1})
	wantCounts(t, "publisher", pub.MessageCounts(), MessageCounts{Publish: 4, Confirm: 1, ReturnUnroutable: 1, DropUnroutable: 1})
	wantCounts(t, "consumer", cons.MessageCounts(), MessageCounts{Deliver: 3, Ack: 2, Redeliver: 1})
	wantCounts(t, "getter", getter.MessageCounts(), MessageCounts{GetNoAck: 1, GetEmpty: 1})

	vhost := MessageCounts{Publish: 4, Confirm: 1, ReturnUnroutable: 1, DropUnroutable: 1,
		Deliver: 3, GetNoAck: 1, GetEmpty: 1, Ack: 2, Redeliver: 1}
	wantCounts(t, "vhost", v.MessageCounts(), vhost)
	wantCounts(t, "broker", b.MessageCounts(), vhost)
	if got := v.MessageCounts().DeliverGet(); got != 4 {
		t.Fatalf("deliver_get %d, want 4", got)
	}
}

// A vhost's and the broker's totals keep what deleted queues, exchanges
// and vhosts counted: they are counters, and never fall.
func TestCountersSurviveDeletes(t *testing.T) {
	b := New(Config{})
	v := b.AddVHost("v")
	mustDeclareQueue(t, v, "q", nil)
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "x", Type: ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	if err := v.Bind(BindSpec{Source: "x", Destination: "q"}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, &recorder{})
	mustPublish(t, s, "x", "", msg("a"))
	mustPublish(t, s, "x", "", msg("b"))
	if _, _, ok, _ := s.Get("q", false); !ok {
		t.Fatal("no message")
	}
	if err := s.Ack(0, true); err != nil {
		t.Fatal(err)
	}
	before := v.MessageCounts()
	want := MessageCounts{Publish: 2, Get: 1, Ack: 1}
	wantCounts(t, "vhost", before, want)
	if _, err := v.DeleteQueue("q", false, false, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteExchange("x", false); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "vhost after deletes", v.MessageCounts(), want)
	wantCounts(t, "broker", b.MessageCounts(), want)
	if _, err := b.DeleteVHost("v"); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "broker after the vhost went", b.MessageCounts(), want)
}

// Dead-lettered copies are not publishes into their target, as in
// RabbitMQ, where only channels count publishes.
func TestCountersDeadLetterIsNotPublish(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "dlq", nil)
	mustDeclareQueue(t, v, "src", message.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
	s := v.NewSession(1, &recorder{})
	mustPublish(t, s, "", "src", msg("a"))
	d, _, ok, _ := s.Get("src", false)
	if !ok {
		t.Fatal("no message")
	}
	if err := s.Nack(d.Tag, false, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the dead letter", func() bool { return readyCount(t, v, "dlq") == 1 })
	dlq, _ := v.Queue("dlq")
	wantCounts(t, "dlq", dlq.MessageCounts(), MessageCounts{})
}

// A long poll that ends empty counts one empty get, however often it
// looked.
func TestCountersGetWaitEmpty(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	s := v.NewSession(1, &recorder{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, ok, err := s.GetWait(ctx, "q", false); ok || err != nil {
		t.Fatalf("GetWait: %v %v", ok, err)
	}
	q, _ := v.Queue("q")
	wantCounts(t, "queue", q.MessageCounts(), MessageCounts{GetEmpty: 1})
}

// The counters cost the data path no allocation.
func TestCountersNoAllocs(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	s := v.NewSession(1, nopSink{})
	if _, err := s.Consume("q", ConsumeSpec{NoAck: true}); err != nil {
		t.Fatal(err)
	}
	m := msg("x")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.Publish("", "q", m, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	// newEntry is the one allocation a publish makes.
	if allocs > 1 {
		t.Fatalf("%v allocations per publish and delivery", allocs)
	}
}

// Duplicates a de-duplicating queue drops are counted, and so are queue
// declarations, creations and deletions.
func TestCountersDuplicatesAndChurn(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "q", message.Table{"x-message-deduplication": true})
	mustDeclareQueue(t, v, "q", message.Table{"x-message-deduplication": true})
	s := v.NewSession(1, &recorder{})
	for i := 0; i < 3; i++ {
		mustPublish(t, s, "", "q", msgWith("x", message.Table{"x-deduplication-header": "same"}))
	}
	if got := b.MessageCounts().Duplicate; got != 2 {
		t.Fatalf("duplicates %d, want 2", got)
	}
	if _, err := v.DeleteQueue("q", false, false, 0); err != nil {
		t.Fatal(err)
	}
	if got := b.QueueChurn(); got != (QueueChurn{Declared: 2, Created: 1, Deleted: 1}) {
		t.Fatalf("churn %+v", got)
	}
}

// BenchmarkCountersPerMessage is what the counters add to one message's
// publish, delivery and ack, in isolation: the same increments, on the
// same structures, without the locks the real paths already hold.
func BenchmarkCountersPerMessage(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	q, _ := v.Queue("q")
	x, _ := v.Exchange("")
	s := v.NewSession(1, nopSink{})
	e := newEntry(msg("x"), 1, 0)
	res := PublishResult{Routed: true}
	for i := 0; i < b.N; i++ {
		s.countPublish(x, res, PublishOptions{})
		x.counts.publishOut.Add(1)
		q.counts.publish++
		s.countHandedOutLocked(e, false, false)
		q.counts.handedOut(e, false, false)
		s.counts.ack++
		q.counts.ack++
	}
}
