package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// deathNames are the header names and x-death fields dead-lettering reads.
var deathNames = []string{"x-death", "CC", "BCC", "queue", "reason", "count", "exchange", "routing-keys",
	"x-first-death-reason", "time", "original-expiration"}

// FuzzDeadLettered dead-letters messages whose headers a client made up
// (x-death, CC and BCC are the publisher's to set): deadLettered,
// deathCycle and firstDeathQueue never panic, the original message —
// shared by every queue it reached — is left exactly as it was, and the
// copy's newest x-death entry names the queue and reason.
func FuzzDeadLettered(f *testing.F) {
	f.Add([]byte{0, 16, 0, 0, 3, 13, 1, 'q', 4, 13, 8, 'r', 'e', 'j', 'e', 'c', 't', 'e', 'd'}, "q", "rejected", true)
	f.Add([]byte{0, 16, 1, 6, 0xff, 1, 16, 0}, "dlq", "expired", false)
	f.Add([]byte{1, 16, 1, 13, 1, 'a', 13, 1, 'b'}, "q", "maxlen", true)
	f.Fuzz(func(t *testing.T, data []byte, queue, reason string, dlrk bool) {
		headers, _ := tableOf(data, 0, deathNames)
		orig := &message.Message{Exchange: "ex", RoutingKey: "rk", Body: []byte("b"),
			Properties: message.Properties{Flags: message.FlagHeaders | message.FlagExpiration, Headers: headers, Expiration: "100"}}
		before := fmt.Sprintf("%#v", orig)
		q := &Queue{name: queue}
		q.cfg.Store(&queueConfig{hasDLRK: dlrk})
		_ = deathCycle(orig, queue)
		_ = firstDeathQueue(orig)
		m := deadLettered(orig, q, reason, time.Unix(1700000000, 0))
		if after := fmt.Sprintf("%#v", orig); after != before {
			t.Fatalf("dead-lettering changed the shared original:\n%s\n%s", before, after)
		}
		deaths, ok := m.Properties.Headers["x-death"].([]any)
		if !ok || len(deaths) == 0 {
			t.Fatalf("no x-death: %#v", m.Properties.Headers)
		}
		cur, ok := deaths[0].(message.Table)
		qn, _ := message.String(cur["queue"]) // a client's entry may hold bytes
		rn, _ := message.String(cur["reason"])
		if !ok || qn != queue || rn != reason {
			t.Fatalf("newest x-death %#v, want queue %q reason %q", deaths[0], queue, reason)
		}
		_ = deathCycle(m, queue)
		_ = firstDeathQueue(m)
	})
}
