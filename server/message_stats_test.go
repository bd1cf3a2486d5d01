package server

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

type nopSink struct{}

func (nopSink) Deliver(broker.Delivery) {}
func (nopSink) Cancelled(string)        {}
func (nopSink) Full() bool              { return false }

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The keys are RabbitMQ 3.10.8's, per kind of object, as its management
// API showed them for the same traffic; rates are the change between the
// sampler's last two passes.
func TestMessageStatsShapeAndRates(t *testing.T) {
	b := broker.New(broker.Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "idle"}); err != nil {
		t.Fatal(err)
	}
	s := &Server{Broker: b}
	st := s.sampler()
	t0 := time.Unix(1000, 0)
	st.sample(b, t0)

	pub := v.NewSession(1, nopSink{})
	for i := 0; i < 10; i++ {
		if _, err := pub.Publish("", "q", &message.Message{Body: []byte("x")}, broker.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st.sample(b, t0.Add(5*time.Second))

	q, _ := v.Queue("q")
	got := s.messageStats(q)
	if want := []string{"publish", "publish_details"}; !slices.Equal(keysOf(got), want) {
		t.Fatalf("queue with publishes only: keys %v, want %v", keysOf(got), want)
	}
	if got["publish"] != uint64(10) || got["publish_details"].(map[string]any)["rate"] != 2.0 {
		t.Fatalf("queue stats %v", got)
	}
	idle, _ := v.Queue("idle")
	if got := s.messageStats(idle); got != nil {
		t.Fatalf("an idle queue has message_stats %v; RabbitMQ leaves them out", got)
	}

	getter := v.NewSession(2, nopSink{})
	if _, _, ok, _ := getter.Get("q", false); !ok {
		t.Fatal("no message")
	}
	got = s.messageStats(q)
	want := []string{"ack", "ack_details", "deliver", "deliver_details", "deliver_get", "deliver_get_details",
		"deliver_no_ack", "deliver_no_ack_details", "get", "get_details", "get_empty", "get_empty_details",
		"get_no_ack", "get_no_ack_details", "publish", "publish_details", "redeliver", "redeliver_details"}
	if !slices.Equal(keysOf(got), want) {
		t.Fatalf("queue keys %v, want %v", keysOf(got), want)
	}
	if got["deliver_get"] != uint64(1) {
		t.Fatalf("deliver_get %v", got["deliver_get"])
	}

	x, _ := v.Exchange("")
	if got := keysOf(s.messageStats(x)); !slices.Equal(got, []string{"publish_in", "publish_in_details", "publish_out", "publish_out_details"}) {
		t.Fatalf("exchange keys %v", got)
	}
	vs := s.messageStats(v)
	if vs["publish"] != uint64(10) || vs["get"] != uint64(1) || vs["confirm"] != uint64(0) {
		t.Fatalf("vhost stats %v", vs)
	}
	if _, ok := vs["return_unroutable_details"]; !ok {
		t.Fatalf("vhost stats lack return_unroutable_details: %v", keysOf(vs))
	}
	ov := s.messageStats(b)
	if ov["publish"] != uint64(10) || ov["disk_reads"] != 0 {
		t.Fatalf("overview stats %v", ov)
	}
	if r := ov["publish_details"].(map[string]any)["rate"]; r != 2.0 {
		t.Fatalf("overview publish rate %v, want 2", r)
	}
	// A channel: only the publish side for a publisher.
	if got := keysOf(s.messageStats(pub)); !slices.Equal(got, []string{"confirm", "confirm_details", "drop_unroutable",
		"drop_unroutable_details", "publish", "publish_details", "return_unroutable", "return_unroutable_details"}) {
		t.Fatalf("publisher channel keys %v", got)
	}
	if _, err := json.Marshal(ov); err != nil {
		t.Fatal(err)
	}

	// Deleted objects are forgotten at the next pass.
	if _, err := v.DeleteQueue("q", false, false, 0); err != nil {
		t.Fatal(err)
	}
	st.sample(b, t0.Add(10*time.Second))
	st.mu.Lock()
	_, kept := st.queues[q]
	st.mu.Unlock()
	if kept {
		t.Fatal("the sampler kept a deleted queue")
	}
}

// A queue whose counts stood still over a sample interval is idle since
// the sample at which they last moved, consumers or not, as RabbitMQ shows
// idle_since; activity ends it.
func TestQueueIdleSinceFromSamples(t *testing.T) {
	b := broker.New(broker.Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	q, _ := v.Queue("q")
	s := &Server{Broker: b}
	st := s.sampler()
	t0 := time.Unix(1000, 0)
	st.sample(b, t0)
	if _, idle := st.queueIdleSince(q); idle {
		t.Fatal("idle after one sample")
	}
	pub := v.NewSession(1, nopSink{})
	publish := func() {
		if _, err := pub.Publish("", "q", &message.Message{Body: []byte("x")}, broker.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	publish()
	st.sample(b, t0.Add(5*time.Second))
	if _, idle := st.queueIdleSince(q); idle {
		t.Fatal("idle right after a publish")
	}
	st.sample(b, t0.Add(10*time.Second))
	if since, idle := st.queueIdleSince(q); !idle || !since.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("idle %v since %v, want since the sample that saw the publish", idle, since)
	}
	publish()
	st.sample(b, t0.Add(15*time.Second))
	if _, idle := st.queueIdleSince(q); idle {
		t.Fatal("still idle after another publish")
	}
}

// A channel's idle_since, once the API has asked for the channel: its
// counts stood still over a sample interval.
func TestSessionIdleSinceFromSamples(t *testing.T) {
	b := broker.New(broker.Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	s := &Server{Broker: b}
	st := s.sampler()
	sess := v.NewSession(1, nopSink{})
	if _, err := sess.Publish("", "q", &message.Message{Body: []byte("x")}, broker.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	s.messageStats(sess) // the API asks: a first sample, and sampled from now on
	if _, idle := st.sessionIdleSince(sess); idle {
		t.Fatal("idle after one sample")
	}
	st.sample(b, asked.Add(5*time.Second))
	if since, idle := st.sessionIdleSince(sess); !idle || since.Before(asked) || since.After(asked.Add(time.Second)) {
		t.Fatalf("idle %v since %v, want since the first sample, %v", idle, since, asked)
	}
	if _, err := sess.Publish("", "q", &message.Message{Body: []byte("y")}, broker.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	st.sample(b, asked.Add(10*time.Second))
	if _, idle := st.sessionIdleSince(sess); idle {
		t.Fatal("idle right after a publish")
	}
}
