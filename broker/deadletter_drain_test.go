package broker

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// A caller that drains a queue's dead letters is not held there while
// others keep adding to them: after a few rounds the rest is handed to a
// background task. Before this, a publisher whose publish overflowed a
// queue drained every dead letter that other publishers' overflow added
// while it worked, for as long as they kept publishing.
func TestDeadLetterDrainHandsOffUnderLoad(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "dlq", nil)
	mustDeclareQueue(t, v, "work", message.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq",
		"x-max-length": int32(1)})
	work, _ := v.Queue("work")
	s := v.NewSession(1, &recorder{})
	other := v.NewSession(2, &recorder{})

	// Each drain round publishes one more message to the full queue, as
	// another publisher would, so that there is always another dead letter.
	const more = 200
	var added, foreground atomic.Int64
	work.deadRoundHook = func(background bool) {
		if !background {
			foreground.Add(1)
		}
		if n := added.Add(1); n <= more {
			if _, err := other.Publish("", "work", msg(fmt.Sprint("more ", n)), PublishOptions{}); err != nil {
				t.Errorf("publish: %v", err)
			}
		}
	}
	mustPublish(t, s, "", "work", msg("first"))
	mustPublish(t, s, "", "work", msg("overflow"))
	if n := foreground.Load(); n > maxDeadLetterRounds {
		t.Fatalf("the publisher drained %d rounds of dead letters, want at most %d", n, maxDeadLetterRounds)
	}
	eventually(t, 5*time.Second, "every dead letter delivered", func() bool { return readyCount(t, v, "dlq") == more+1 })
	if n := readyCount(t, v, "work"); n != 1 {
		t.Fatalf("work holds %d, want 1", n)
	}
}
