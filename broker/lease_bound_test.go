package broker

import (
	"fmt"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// TestLeaseHeapForgetsSettledDeliveries: a settled delivery's lease item
// stayed in the lease heap, holding its message body, until it reached the
// top; one old unacked delivery at the top kept every later acked one (one
// unacked plus 2,000 acked held about 20 MB; issue #12, item 11).
func TestLeaseHeapForgetsSettledDeliveries(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", message.Table{"x-visibility-timeout": int32(3_600_000)})
	s := v.NewSession(1, &recorder{})
	for i := 0; i < 2001; i++ {
		mustPublish(t, s, "", "q", msg(fmt.Sprint(i)))
	}
	// The first delivery stays unacked; the rest are acked one by one.
	for i := 0; i < 2001; i++ {
		d, _, ok, err := s.Get("q", false)
		if err != nil || !ok {
			t.Fatalf("get %d: %v", i, err)
		}
		if i > 0 {
			if err := s.Ack(d.Tag, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	q, _ := v.Queue("q")
	q.mu.Lock()
	n := len(q.leases)
	q.mu.Unlock()
	if n > 256 {
		t.Fatalf("one unacked delivery and 2,000 acked ones left %d items in the lease heap", n)
	}
}
