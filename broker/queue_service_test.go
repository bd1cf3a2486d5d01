package broker

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

func TestDeliveryLimitDeadLettersPoisonMessages(t *testing.T) {
	v := newTestVHost(t)
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dlx", Type: ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "dead", nil)
	if err := v.Bind(BindSpec{Source: "dlx", Destination: "dead"}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "work", message.Table{"x-delivery-limit": int32(2), "x-dead-letter-exchange": "dlx"})
	s := v.NewSession(1, &recorder{})
	mustPublish(t, s, "", "work", msg("poison"))
	var counts []string
	for i := 0; i < 3; i++ {
		d, _, ok, _ := s.Get("work", false)
		if !ok {
			t.Fatalf("attempt %d: no message", i)
		}
		counts = append(counts, fmt.Sprintf("%d:%v", d.Returns, d.CountHeader))
		if err := s.Nack(d.Tag, false, true); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(counts) != "[0:false 1:true 2:true]" {
		t.Fatalf("delivery counts %v", counts)
	}
	if n := readyCount(t, v, "work"); n != 0 {
		t.Fatalf("poison message still in work: %d", n)
	}
	d, _, ok, _ := s.Get("dead", true)
	if !ok {
		t.Fatal("not dead-lettered")
	}
	if r := d.Msg.Properties.Headers["x-death"].([]any)[0].(message.Table)["reason"]; r != "delivery_limit" {
		t.Fatalf("reason %v", r)
	}
}

func TestQuorumQueueRules(t *testing.T) {
	v := newTestVHost(t)
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Args: message.Table{"x-queue-type": "quorum"}}); err == nil ||
		err.Error() != "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'q' in vhost '/'" {
		t.Fatalf("non-durable quorum: %v", err)
	}
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Durable: true, Args: message.Table{"x-queue-type": "quorum"}}); err != nil {
		t.Fatal(err)
	}
	q, _ := v.Queue("q")
	if q.config().deliveryLimit != 20 {
		t.Fatalf("quorum default delivery limit %d", q.config().deliveryLimit)
	}
}

func TestDelayedDelivery(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "d", message.Table{"x-delivery-delay": int32(0)})
	rec := &recorder{}
	s := v.NewSession(1, rec)
	if _, err := s.Consume("d", ConsumeSpec{NoAck: true}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, s, "", "d", msgWith("late", message.Table{"x-delay": int32(80)}))
	mustPublish(t, s, "", "d", msgWith("at", message.Table{"x-deliver-at": time.Now().Add(40 * time.Millisecond).UnixMilli()}))
	mustPublish(t, s, "", "d", msg("now"))
	if got := fmt.Sprint(rec.bodies()); got != "[now]" {
		t.Fatalf("before the delays: %s", got)
	}
	eventually(t, 3*time.Second, "delayed messages", func() bool { return len(rec.bodies()) == 3 })
	if got := fmt.Sprint(rec.bodies()); got != "[now at late]" {
		t.Fatalf("order: %s", got)
	}
}

func TestDelayedMessageExchange(t *testing.T) {
	v := newTestVHost(t)
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "bad", Type: ExchangeDelayed}); codeOf(err) != CodePreconditionFailed {
		t.Fatalf("missing x-delayed-type: %v", err)
	}
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dx", Type: ExchangeDelayed, Args: message.Table{"x-delayed-type": "direct"}}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "q", nil)
	if err := v.Bind(BindSpec{Source: "dx", Destination: "q", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, &recorder{})
	r := mustPublish(t, s, "dx", "k", msgWith("later", message.Table{"x-delay": int32(50)}))
	if !r.Routed {
		t.Fatal("delayed publish not accepted")
	}
	mustPublish(t, s, "dx", "k", msg("now"))
	if n := readyCount(t, v, "q"); n != 1 {
		t.Fatalf("ready before the delay: %d", n)
	}
	eventually(t, 3*time.Second, "delayed routing", func() bool { return readyCount(t, v, "q") == 2 })
}

func TestVisibilityLeaseReturnsOnlyThatMessage(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", message.Table{"x-visibility-timeout": int32(60)})
	rec := &recorder{}
	s := v.NewSession(1, rec)
	mustPublish(t, s, "", "q", msg("a"))
	mustPublish(t, s, "", "q", msg("b"))
	da, _, _, _ := s.Get("q", false)
	db, _, _, _ := s.Get("q", false)
	if _, err := s.ExtendLease(db.Tag, time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "lease expiry", func() bool { return readyCount(t, v, "q") == 1 })
	// The late ack of the expired delivery is ignored, not an error.
	if err := s.Ack(da.Tag, false); err != nil {
		t.Fatalf("late ack: %v", err)
	}
	if err := s.Ack(db.Tag, false); err != nil {
		t.Fatalf("ack of the extended one: %v", err)
	}
	d, _, ok, _ := s.Get("q", true)
	if !ok || string(d.Msg.Body) != "a" || !d.Redelivered || d.Returns != 1 {
		t.Fatalf("returned message: %v %s %v %d", ok, d.Msg.Body, d.Redelivered, d.Returns)
	}

	// A consumer's own lease (x-consumer-timeout).
	mustDeclareQueue(t, v, "c", nil)
	r2 := &recorder{}
	s2 := v.NewSession(2, r2)
	if _, err := s2.Consume("c", ConsumeSpec{Args: message.Table{"x-consumer-timeout": int32(50)}}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, s2, "", "c", msg("x"))
	eventually(t, 3*time.Second, "redelivery after the consumer's lease", func() bool { return len(r2.deliveries()) >= 2 })
	if ds := r2.deliveries(); !ds[1].Redelivered {
		t.Fatal("second delivery not marked redelivered")
	}
}

func TestDeduplication(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", message.Table{"x-message-deduplication": true, "x-cache-ttl": int32(100)})
	s := v.NewSession(1, &recorder{})
	id := message.Table{"x-deduplication-header": "order-1"}
	mustPublish(t, s, "", "q", msgWith("1", id))
	if r := mustPublish(t, s, "", "q", msgWith("2", id)); !r.Routed || r.Rejected {
		t.Fatalf("duplicate must be confirmed: %+v", r)
	}
	// Still a duplicate after the original was consumed.
	if _, _, ok, _ := s.Get("q", true); !ok {
		t.Fatal("original missing")
	}
	mustPublish(t, s, "", "q", msgWith("3", id))
	if n := readyCount(t, v, "q"); n != 0 {
		t.Fatalf("duplicate kept after consume: %d", n)
	}
	time.Sleep(150 * time.Millisecond) // past the window
	mustPublish(t, s, "", "q", msgWith("4", id))
	if n := readyCount(t, v, "q"); n != 1 {
		t.Fatalf("after the window: %d", n)
	}

	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dd", Type: ExchangeDedup, Args: message.Table{"x-cache-size": "5"}}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "fan", nil)
	if err := v.Bind(BindSpec{Source: "dd", Destination: "fan", Key: "ignored"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		mustPublish(t, s, "dd", "any", msgWith("x", message.Table{"x-deduplication-header": "same"}))
	}
	if n := readyCount(t, v, "fan"); n != 1 {
		t.Fatalf("exchange de-duplication let %d through", n)
	}
}

func TestMaxMessageSizePerQueue(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "small", message.Table{"x-max-message-size": int32(4)})
	s := v.NewSession(1, &recorder{})
	mustPublish(t, s, "", "small", msg("1234"))
	_, err := s.Publish("", "small", msg("12345"), PublishOptions{})
	if err == nil || err.Error() != "PRECONDITION_FAILED - message size 5 is larger than max size 4 of queue 'small' in vhost '/'" {
		t.Fatalf("got %v", err)
	}
}

func TestLongPollGet(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	s := v.NewSession(1, &recorder{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	_, _, ok, err := s.GetWait(ctx, "q", true)
	cancel()
	if ok || err != nil {
		t.Fatalf("empty wait: %v %v", ok, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = v.NewSession(2, &recorder{}).Publish("", "q", msg("hello"), PublishOptions{})
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, _, ok, err := s.GetWait(ctx, "q", true)
	if !ok || err != nil || string(d.Msg.Body) != "hello" {
		t.Fatalf("woken get: %v %v", ok, err)
	}
}

func TestRedrive(t *testing.T) {
	v := newTestVHost(t)
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dlx", Type: ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "dlq", nil)
	if err := v.Bind(BindSpec{Source: "dlx", Destination: "dlq"}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "src", message.Table{"x-dead-letter-exchange": "dlx"})
	s := v.NewSession(1, &recorder{})
	for i := 0; i < 3; i++ {
		mustPublish(t, s, "", "src", msg(fmt.Sprint(i)))
		d, _, _, _ := s.Get("src", false)
		if err := s.Nack(d.Tag, false, false); err != nil {
			t.Fatal(err)
		}
	}
	n, err := v.Redrive(context.Background(), "dlq", "", 0, 1000)
	if err != nil || n != 3 {
		t.Fatalf("redrive: %d %v", n, err)
	}
	if readyCount(t, v, "src") != 3 || readyCount(t, v, "dlq") != 0 {
		t.Fatalf("after redrive src=%d dlq=%d", readyCount(t, v, "src"), readyCount(t, v, "dlq"))
	}
}

func BenchmarkDelayedMessages(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Args: message.Table{"x-delivery-delay": int32(0)}}); err != nil {
		b.Fatal(err)
	}
	s := v.NewSession(1, nopSink{})
	msgs := make([]*message.Message, 1000)
	for i := range msgs {
		msgs[i] = &message.Message{Body: make([]byte, 16), Properties: message.Properties{Flags: message.FlagHeaders,
			Headers: message.Table{"x-delay": int64(1 + i%1000)}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := *msgs[i%len(msgs)]
		if _, err := s.Publish("", "q", &m, PublishOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMessageGroups(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "g", message.Table{"x-message-groups": true})
	r1, r2 := &recorder{}, &recorder{}
	s1, s2 := v.NewSession(1, r1), v.NewSession(2, r2)
	for _, s := range []*Session{s1, s2} {
		if _, err := s.Consume("g", ConsumeSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"a1", "a2", "b1", "a3", "b2"} {
		mustPublish(t, s1, "", "g", msgWith(m, message.Table{"x-group-id": m[:1]}))
	}
	// One message in flight per group: a1 and b1 go out, to different
	// consumers; a2 and b2 wait for their group's ack.
	all := func() []string { return append(r1.bodies(), r2.bodies()...) }
	if got := fmt.Sprint(all()); got != "[a1 b1]" {
		t.Fatalf("first round: %s", got)
	}
	if err := s1.Ack(1, false); err != nil { // a1
		t.Fatal(err)
	}
	if got := fmt.Sprint(all()); got != "[a1 a2 b1]" {
		t.Fatalf("after acking a1: %s", got)
	}
	// Returning b1 keeps it first in its group.
	if err := s2.Nack(1, false, true); err != nil {
		t.Fatal(err)
	}
	ds := r2.deliveries()
	if last := ds[len(ds)-1]; string(last.Msg.Body) != "b1" || !last.Redelivered {
		t.Fatalf("group order broken after a return: %s", last.Msg.Body)
	}
}

// BenchmarkDelayedScheduleAndFire schedules b.N delayed messages on one
// queue (a heap entry each, no timer or goroutine per message) and waits
// until all have fired into the ready list. Run with -benchtime=1000000x
// for the million-message figure.
func BenchmarkDelayedScheduleAndFire(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Args: message.Table{"x-delivery-delay": int32(0)}}); err != nil {
		b.Fatal(err)
	}
	s := v.NewSession(1, nopSink{})
	q, _ := v.Queue("q")
	body := make([]byte, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := &message.Message{Body: body, Properties: message.Properties{Flags: message.FlagHeaders,
			Headers: message.Table{"x-delay": int64(1 + i%200)}}}
		if _, err := s.Publish("", "q", m, PublishOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for q.Info().Messages < b.N {
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkDedupPublish publishes messages with distinct 36-byte ids into a
// de-duplicating queue with a 5-minute window (every id is remembered) and
// a consumer taking them, and reports the heap each remembered id costs.
func BenchmarkDedupPublish(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Args: message.Table{"x-message-deduplication": true,
		"x-cache-size": int64(b.N + 1)}}); err != nil {
		b.Fatal(err)
	}
	s := v.NewSession(1, nopSink{})
	if _, err := s.Consume("q", ConsumeSpec{NoAck: true}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
	}
	body := make([]byte, 16)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := &message.Message{Body: body, Properties: message.Properties{Flags: message.FlagHeaders,
			Headers: message.Table{"x-deduplication-header": ids[i]}}}
		if _, err := s.Publish("", "q", m, PublishOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	q, _ := v.Queue("q")
	if len(q.dedup.byKey) != b.N {
		b.Fatalf("remembered %d ids, want %d", len(q.dedup.byKey), b.N)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-bytes/id")
}

// ExtendLease reports the message's first lease time from the same lock
// hold that set it: a lease of 0 ends at once, and the message is back in
// its queue before anyone could look it up again.
func TestExtendLeaseReportsFirstLease(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil) // no visibility: deliveries carry no lease
	s := v.NewSession(1, &recorder{})
	mustPublish(t, s, "", "q", msg("a"))
	d, _, ok, _ := s.Get("q", false)
	if !ok {
		t.Fatal("no message")
	}
	before := time.Now().UnixNano()
	first, err := s.ExtendLease(d.Tag, 0)
	if err != nil || first < before || first > time.Now().UnixNano() {
		t.Fatalf("first lease %d (err %v), want the time of this call", first, err)
	}
	eventually(t, 3*time.Second, "the zero lease ended", func() bool { return readyCount(t, v, "q") == 1 })
	d2, _, _, _ := s.Get("q", false)
	if d2.FirstLeased != first {
		t.Fatalf("the next delivery says first leased %d, want %d", d2.FirstLeased, first)
	}
}
