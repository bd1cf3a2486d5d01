package broker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/sluice-mq/sluice/broker/message"
)

func TestRoundRobinAndAck(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	r1, r2 := &recorder{}, &recorder{}
	s1, s2 := v.NewSession(1, r1), v.NewSession(2, r2)
	for _, s := range []*Session{s1, s2} {
		if _, err := s.Consume("q", ConsumeSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 6; i++ {
		mustPublish(t, s1, "", "q", msg(fmt.Sprint(i)))
	}
	if got := fmt.Sprint(r1.bodies(), r2.bodies()); got != "[0 2 4] [1 3 5]" {
		t.Fatalf("round robin: %s", got)
	}
	if q, _ := v.Queue("q"); q.Unacked() != 6 {
		t.Fatalf("unacked = %d", q.Unacked())
	}
	if err := s1.Ack(2, true); err != nil {
		t.Fatal(err)
	}
	if err := s1.Ack(2, false); err == nil || err.Error() != "PRECONDITION_FAILED - unknown delivery tag 2" {
		t.Fatalf("double ack: %v", err)
	}
	if err := s2.Ack(0, true); err != nil {
		t.Fatal(err)
	}
	if q, _ := v.Queue("q"); q.Unacked() != 1 {
		t.Fatalf("unacked after acks = %d, want 1", q.Unacked())
	}
}

func TestPrefetchCountAndBytes(t *testing.T) {
	for _, global := range []bool{false, true} {
		t.Run(fmt.Sprintf("global=%v", global), func(t *testing.T) {
			v := newTestVHost(t)
			mustDeclareQueue(t, v, "q", nil)
			rec := &recorder{}
			s := v.NewSession(1, rec)
			s.Qos(2, 0, global)
			if _, err := s.Consume("q", ConsumeSpec{}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				mustPublish(t, s, "", "q", msg(fmt.Sprint(i)))
			}
			if n := len(rec.deliveries()); n != 2 {
				t.Fatalf("prefetch 2 delivered %d", n)
			}
			if err := s.Ack(1, false); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(rec.bodies()); got != "[0 1 2]" {
				t.Fatalf("after one ack: %s", got)
			}
			if readyCount(t, v, "q") != 2 {
				t.Fatalf("ready = %d", readyCount(t, v, "q"))
			}
		})
	}
	t.Run("bytes", func(t *testing.T) {
		v := newTestVHost(t)
		mustDeclareQueue(t, v, "q", nil)
		rec := &recorder{}
		s := v.NewSession(1, rec)
		s.Qos(0, 10, false)
		if _, err := s.Consume("q", ConsumeSpec{}); err != nil {
			t.Fatal(err)
		}
		mustPublish(t, s, "", "q", msg("0123456789ABCDEF")) // bigger than the window: still one admitted
		mustPublish(t, s, "", "q", msg("abcd"))
		if got := fmt.Sprint(rec.bodies()); got != "[0123456789ABCDEF]" {
			t.Fatalf("byte window: %s", got)
		}
		if err := s.Ack(1, false); err != nil {
			t.Fatal(err)
		}
		if len(rec.deliveries()) != 2 {
			t.Fatal("ack did not free byte credit")
		}
	})
}

func TestRequeueKeepsPlaceAndMarksRedelivered(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	rec := &recorder{}
	s := v.NewSession(1, rec)
	for i := 0; i < 4; i++ {
		mustPublish(t, s, "", "q", msg(fmt.Sprint(i)))
	}
	// Take 0 and 1 by get, reject 1 then 0 back: order must be 0 1 2 3.
	d0, _, _, _ := s.Get("q", false)
	d1, remaining, ok, _ := s.Get("q", false)
	if !ok || remaining != 2 || d0.Redelivered {
		t.Fatalf("get: ok=%v remaining=%d", ok, remaining)
	}
	if err := s.Nack(d1.Tag, false, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Nack(d0.Tag, false, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		d, _, ok, _ := s.Get("q", true)
		if !ok {
			break
		}
		got = append(got, fmt.Sprintf("%s:%v:%d", d.Msg.Body, d.Redelivered, d.DeliveryCount))
	}
	if want := "[0:true:2 1:true:2 2:false:1 3:false:1]"; fmt.Sprint(got) != want {
		t.Fatalf("got %v want %s", got, want)
	}
}

func TestSessionCloseRequeues(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	r1 := &recorder{}
	s1 := v.NewSession(1, r1)
	if _, err := s1.Consume("q", ConsumeSpec{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		mustPublish(t, s1, "", "q", msg(fmt.Sprint(i)))
	}
	if err := s1.Ack(2, false); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	if n := readyCount(t, v, "q"); n != 2 {
		t.Fatalf("ready after close = %d", n)
	}
	r2 := &recorder{}
	s2 := v.NewSession(2, r2)
	if _, err := s2.Consume("q", ConsumeSpec{NoAck: true}); err != nil {
		t.Fatal(err)
	}
	ds := r2.deliveries()
	if len(ds) != 2 || string(ds[0].Msg.Body) != "0" || string(ds[1].Msg.Body) != "2" || !ds[0].Redelivered {
		t.Fatalf("redelivery after close: %v", r2.bodies())
	}
}

func TestDeadLetteringTTLRejectAndMaxLength(t *testing.T) {
	v := newTestVHost(t)
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dlx", Type: ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "dead", nil)
	if err := v.Bind(BindSpec{Source: "dlx", Destination: "dead"}); err != nil {
		t.Fatal(err)
	}
	mustDeclareQueue(t, v, "work", message.Table{
		"x-dead-letter-exchange": "dlx", "x-message-ttl": int32(50), "x-max-length": int32(2)})
	s := v.NewSession(1, &recorder{})
	for i := 0; i < 3; i++ {
		mustPublish(t, s, "", "work", msg(fmt.Sprint(i)))
	}
	// One dropped by max-length at once, two expired after 50 ms.
	eventually(t, 2*time.Second, "expiry", func() bool { return readyCount(t, v, "dead") == 3 })
	var reasons []string
	for {
		d, _, ok, _ := s.Get("dead", true)
		if !ok {
			break
		}
		deaths := d.Msg.Properties.Headers["x-death"].([]any)
		first := deaths[0].(message.Table)
		reasons = append(reasons, fmt.Sprintf("%s:%s", d.Msg.Body, first["reason"]))
		if first["queue"] != "work" || first["count"] != int64(1) || d.Msg.Properties.Headers["x-first-death-queue"] != "work" {
			t.Errorf("x-death: %v", first)
		}
		if keys := first["routing-keys"].([]any); len(keys) != 1 || keys[0] != "work" {
			t.Errorf("routing-keys: %v", keys)
		}
	}
	if got := fmt.Sprint(reasons); got != "[0:maxlen 1:expired 2:expired]" {
		t.Fatalf("dead letters: %s", got)
	}

	// Rejection without requeue dead-letters with reason rejected.
	mustDeclareQueue(t, v, "rej", message.Table{"x-dead-letter-exchange": "dlx"})
	mustPublish(t, s, "", "rej", msg("r"))
	d, _, _, _ := s.Get("rej", false)
	if err := s.Nack(d.Tag, false, false); err != nil {
		t.Fatal(err)
	}
	d, _, ok, _ := s.Get("dead", true)
	if !ok || d.Msg.Properties.Headers["x-death"].([]any)[0].(message.Table)["reason"] != "rejected" {
		t.Fatalf("reject not dead-lettered: %v", ok)
	}
}

func TestOverflowRejectPublish(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", message.Table{"x-max-length": int64(1), "x-overflow": "reject-publish"})
	s := v.NewSession(1, &recorder{})
	if r := mustPublish(t, s, "", "q", msg("a")); r.Rejected || !r.Routed {
		t.Fatalf("first: %+v", r)
	}
	if r := mustPublish(t, s, "", "q", msg("b")); !r.Rejected {
		t.Fatalf("second not rejected: %+v", r)
	}
	d, _, _, _ := s.Get("q", true)
	if string(d.Msg.Body) != "a" {
		t.Fatalf("kept %q", d.Msg.Body)
	}
}

func TestPriorityQueue(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", message.Table{"x-max-priority": int32(5)})
	s := v.NewSession(1, &recorder{})
	for i, p := range []uint8{0, 9, 3, 5, 3} {
		m := msg(fmt.Sprintf("%d-p%d", i, p))
		m.Properties.Flags, m.Properties.Priority = message.FlagPriority, p
		mustPublish(t, s, "", "q", m)
	}
	var got []string
	for {
		d, _, ok, _ := s.Get("q", true)
		if !ok {
			break
		}
		got = append(got, string(d.Msg.Body))
	}
	// Priority 9 is capped to the maximum 5 and keeps its arrival order.
	if want := "[1-p9 3-p5 2-p3 4-p3 0-p0]"; fmt.Sprint(got) != want {
		t.Fatalf("got %v want %s", got, want)
	}
}

func TestConsumerPriorityAndSingleActive(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	low, high := &recorder{}, &recorder{}
	sl, sh := v.NewSession(1, low), v.NewSession(2, high)
	sh.Qos(1, 0, false)
	if _, err := sl.Consume("q", ConsumeSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Consume("q", ConsumeSpec{Args: message.Table{"x-priority": int32(10)}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		mustPublish(t, sl, "", "q", msg(fmt.Sprint(i)))
	}
	if fmt.Sprint(high.bodies(), low.bodies()) != "[0] [1 2]" {
		t.Fatalf("priority: %v %v", high.bodies(), low.bodies())
	}

	mustDeclareQueue(t, v, "sac", message.Table{"x-single-active-consumer": true})
	a, b := &recorder{}, &recorder{}
	sa, sb := v.NewSession(3, a), v.NewSession(4, b)
	tagA, _ := sa.Consume("sac", ConsumeSpec{NoAck: true})
	if _, err := sb.Consume("sac", ConsumeSpec{NoAck: true}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, sa, "", "sac", msg("1"))
	mustPublish(t, sa, "", "sac", msg("2"))
	sa.Cancel(tagA)
	mustPublish(t, sa, "", "sac", msg("3"))
	if fmt.Sprint(a.bodies(), b.bodies()) != "[1 2] [3]" {
		t.Fatalf("single active: %v %v", a.bodies(), b.bodies())
	}
}

func TestQueueDeclareRules(t *testing.T) {
	v := newTestVHost(t)
	info, err := v.DeclareQueue(QueueDecl{Owner: 1, Exclusive: true})
	if err != nil || !strings.HasPrefix(info.Name, "amq.gen-") {
		t.Fatalf("server-named: %v %v", info, err)
	}
	if _, err := v.DeclareQueue(QueueDecl{Name: info.Name, Passive: true, Owner: 2}); codeOf(err) != CodeResourceLocked {
		t.Errorf("other connection passive on exclusive: %v", err)
	}
	if _, err := v.queueFor(info.Name, 2); codeOf(err) != CodeResourceLocked {
		t.Errorf("other connection use of exclusive: %v", err)
	}
	v.b.ReleaseOwner(1)
	if _, ok := v.Queue(info.Name); ok {
		t.Error("exclusive queue outlived its connection")
	}

	mustDeclareQueue(t, v, "q", message.Table{"x-max-length": int32(10)})
	cases := []struct {
		d    QueueDecl
		want string
	}{
		{QueueDecl{Name: "q", Args: message.Table{"x-max-length": int64(10)}}, ""},
		{QueueDecl{Name: "q", Durable: true, Args: message.Table{"x-max-length": int32(10)}},
			"PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"},
		{QueueDecl{Name: "q", Args: message.Table{"x-max-length": int32(20)}},
			"PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '20' but current is '10'"},
		{QueueDecl{Name: "q"},
			"PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received none but current is the value '10' of type 'signedint'"},
		{QueueDecl{Name: "q", Passive: true}, ""},
		{QueueDecl{Name: "nope", Passive: true}, "NOT_FOUND - no queue 'nope' in vhost '/'"},
		{QueueDecl{Name: "amq.q"}, "ACCESS_REFUSED - queue name 'amq.q' contains reserved prefix 'amq.*'"},
		{QueueDecl{Name: "bad", Args: message.Table{"x-message-ttl": int32(-1)}},
			"PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'bad' in vhost '/': {value_negative,-1}"},
		{QueueDecl{Name: "bad", Args: message.Table{"x-expires": "soon"}},
			"PRECONDITION_FAILED - invalid arg 'x-expires' for queue 'bad' in vhost '/': \"expected integer, got longstr\""},
		{QueueDecl{Name: "bad", Args: message.Table{"x-queue-type": "stream"}},
			"PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'bad' in vhost '/': \"unsupported queue type 'stream'\": sluice has classic and quorum queues, no streams"},
		{QueueDecl{Name: "ok", Args: message.Table{"x-queue-type": "classic"}}, ""},
	}
	for i, c := range cases {
		_, err := v.DeclareQueue(c.d)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, c.want)
		}
	}
}

func TestDeleteQueueRulesAndCancelNotice(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	rec := &recorder{}
	s := v.NewSession(1, rec)
	tag, _ := s.Consume("q", ConsumeSpec{})
	mustPublish(t, s, "", "q", msg("x"))
	mustPublish(t, s, "", "q", msg("y"))
	if _, err := v.DeleteQueue("q", true, false, 1); codeOf(err) != CodePreconditionFailed {
		t.Errorf("if-unused: %v", err)
	}
	s.Cancel(tag)
	if err := s.Nack(1, false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeleteQueue("q", false, true, 1); err == nil || err.Error() != "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty" {
		t.Errorf("if-empty: %v", err)
	}
	tag2, _ := s.Consume("q", ConsumeSpec{})
	if n, err := v.DeleteQueue("q", false, false, 1); err != nil || n != 0 {
		t.Errorf("delete: %d %v", n, err)
	}
	if fmt.Sprint(rec.cancelled) != fmt.Sprint([]string{tag2}) || s.HasConsumer(tag2) {
		t.Errorf("cancel notice: %v", rec.cancelled)
	}
	// Acking a delivery of a deleted queue is harmless.
	if err := s.Ack(0, true); err != nil {
		t.Fatal(err)
	}
}

func TestAutoDeleteAndExpiringQueues(t *testing.T) {
	v := newTestVHost(t)
	if _, err := v.DeclareQueue(QueueDecl{Name: "ad", AutoDelete: true}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, &recorder{})
	tag, _ := s.Consume("ad", ConsumeSpec{})
	if _, ok := v.Queue("ad"); !ok {
		t.Fatal("auto-delete queue gone too early")
	}
	s.Cancel(tag)
	if _, ok := v.Queue("ad"); ok {
		t.Fatal("auto-delete queue outlived its last consumer")
	}
	mustDeclareQueue(t, v, "exp", message.Table{"x-expires": int32(30)})
	eventually(t, 2*time.Second, "x-expires", func() bool { _, ok := v.Queue("exp"); return !ok })
}

func TestConcurrentPublishConsume(t *testing.T) {
	v := newTestVHost(t)
	const queues, publishers, perPublisher = 4, 4, 500
	for i := 0; i < queues; i++ {
		mustDeclareQueue(t, v, fmt.Sprint("q", i), nil)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var consumers []*Session
	for i := 0; i < queues*2; i++ {
		sink := &ackingSink{wake: make(chan struct{}, 1), done: make(chan struct{})}
		s := v.NewSession(ConnID(100+i), sink)
		sink.s = s
		s.Qos(10, 0, false)
		if _, err := s.Consume(fmt.Sprint("q", i%queues), ConsumeSpec{}); err != nil {
			t.Fatal(err)
		}
		sink.onMsg = func(b string) { mu.Lock(); seen[b]++; mu.Unlock() }
		consumers = append(consumers, s)
		go sink.run()
		defer sink.stop()
	}
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			s := v.NewSession(ConnID(p+1), &recorder{})
			for i := 0; i < perPublisher; i++ {
				if _, err := s.Publish("", fmt.Sprint("q", i%queues), msg(fmt.Sprintf("%d-%d", p, i)), PublishOptions{}); err != nil {
					t.Error(err)
				}
			}
		}(p)
	}
	wg.Wait()
	eventually(t, 10*time.Second, "all delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == publishers*perPublisher
	})
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", k, n)
		}
	}
	_ = slices.Clone(consumers)
}

// ackingSink acks on its own goroutine, as an adapter's reader would.
type ackingSink struct {
	s     *Session
	onMsg func(string)
	mu    sync.Mutex
	queue []Delivery
	wake  chan struct{}
	done  chan struct{}
}

func (a *ackingSink) Deliver(d Delivery) {
	a.mu.Lock()
	a.queue = append(a.queue, d)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}
func (a *ackingSink) Cancelled(string) {}
func (a *ackingSink) Full() bool       { return false }
func (a *ackingSink) run() {
	for {
		select {
		case <-a.done:
			return
		case <-a.wake:
		case <-time.After(10 * time.Millisecond):
		}
		a.mu.Lock()
		batch := a.queue
		a.queue = nil
		a.mu.Unlock()
		for _, d := range batch {
			a.onMsg(string(d.Msg.Body))
			_ = a.s.Ack(d.Tag, false)
		}
	}
}
func (a *ackingSink) stop() { close(a.done) }

type nopSink struct{}

func (nopSink) Deliver(Delivery) {}
func (nopSink) Cancelled(string) {}
func (nopSink) Full() bool       { return false }

func BenchmarkPublishDeliverOneQueue(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	s := v.NewSession(1, nopSink{})
	if _, err := s.Consume("q", ConsumeSpec{NoAck: true}); err != nil {
		b.Fatal(err)
	}
	m := &message.Message{Body: make([]byte, 1024)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Publish("", "q", m, PublishOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishDeliverAck(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	s := v.NewSession(1, nopSink{})
	if _, err := s.Consume("q", ConsumeSpec{}); err != nil {
		b.Fatal(err)
	}
	m := &message.Message{Body: make([]byte, 1024)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Publish("", "q", m, PublishOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := s.Ack(uint64(i+1), false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFanoutTenQueues(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	s := v.NewSession(1, nopSink{})
	for i := 0; i < 10; i++ {
		name := fmt.Sprint("q", i)
		if _, err := v.DeclareQueue(QueueDecl{Name: name}); err != nil {
			b.Fatal(err)
		}
		if err := v.Bind(BindSpec{Source: "amq.fanout", Destination: name}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Consume(name, ConsumeSpec{NoAck: true}); err != nil {
			b.Fatal(err)
		}
	}
	m := &message.Message{Body: make([]byte, 1024)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Publish("amq.fanout", "", m, PublishOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEntrySize pins the per-message queue cost that docs/ARCHITECTURE.md
// states: a paged-out backlog keeps one entry per message.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 64 {
		t.Fatalf("entry is %d bytes, documented as 64", n)
	}
}
