package broker

import (
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// recorder is a Sink that keeps what it was given.
type recorder struct {
	mu        sync.Mutex
	got       []Delivery
	cancelled []string
}

func (r *recorder) Deliver(d Delivery) {
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
}

func (r *recorder) Cancelled(tag string) {
	r.mu.Lock()
	r.cancelled = append(r.cancelled, tag)
	r.mu.Unlock()
}

func (r *recorder) Full() bool { return false }

func (r *recorder) deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

func (r *recorder) bodies() []string {
	var out []string
	for _, d := range r.deliveries() {
		out = append(out, string(d.Msg.Body))
	}
	return out
}

func newTestVHost(t *testing.T) *VHost {
	t.Helper()
	b := New(Config{})
	v, _ := b.VHost("/")
	return v
}

func msg(body string) *message.Message { return &message.Message{Body: []byte(body)} }

func msgWith(body string, headers message.Table) *message.Message {
	return &message.Message{Body: []byte(body), Properties: message.Properties{Flags: message.FlagHeaders, Headers: headers}}
}

func mustDeclareQueue(t *testing.T, v *VHost, name string, args message.Table) {
	t.Helper()
	if _, err := v.DeclareQueue(QueueDecl{Name: name, Args: args}); err != nil {
		t.Fatalf("declare %s: %v", name, err)
	}
}

func mustPublish(t *testing.T, s *Session, exchange, key string, m *message.Message) PublishResult {
	t.Helper()
	r, err := s.Publish(exchange, key, m, PublishOptions{})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return r
}

func readyCount(t *testing.T, v *VHost, name string) int {
	t.Helper()
	q, ok := v.Queue(name)
	if !ok {
		t.Fatalf("no queue %s", name)
	}
	return q.Info().Messages
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func codeOf(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return 0
}
