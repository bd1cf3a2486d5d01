package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// TestCloseStopsTheBrokersOwnWork: after Close no timer of the broker's
// fires into storage — a TTL expiry, a delay, a lease, a delayed exchange —
// so storage can close after it (issue #12: every goroutine has an owner
// that stops and joins it).
func TestCloseStopsTheBrokersOwnWork(t *testing.T) {
	b := New(Config{})
	j := &journal{}
	b.SetPersister(j)
	v, _ := b.VHost("/")
	for name, args := range map[string]message.Table{
		"ttl":   {"x-message-ttl": int32(50)},
		"delay": {"x-delivery-delay": int32(50)},
		"lease": {"x-visibility-timeout": int32(50)},
	} {
		if _, err := v.DeclareQueue(QueueDecl{Name: name, Durable: true, Args: args}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dx", Type: ExchangeDelayed, Durable: true,
		Args: message.Table{"x-delayed-type": "direct"}}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, &recorder{})
	persistent := message.Properties{Flags: message.FlagDeliveryMode | message.FlagHeaders, DeliveryMode: message.Persistent,
		Headers: message.Table{"x-delay": int32(50)}}
	for _, q := range []string{"ttl", "delay", "lease"} {
		mustPublish(t, s, "", q, &message.Message{Body: []byte(q), Properties: persistent})
	}
	mustPublish(t, s, "dx", "k", &message.Message{Body: []byte("dx"), Properties: persistent})
	j.sync()
	if _, _, ok, err := s.Get("lease", false); !ok || err != nil {
		t.Fatalf("get: %v %v", ok, err)
	}
	b.Close()
	before := len(j.log())
	time.Sleep(200 * time.Millisecond)
	if after := j.log(); len(after) != before {
		t.Fatalf("the broker wrote to storage after Close: %s", strings.Join(after[before:], "; "))
	}
}
