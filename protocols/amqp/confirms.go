package amqp

import "sync"

// confirmTracker hands out publish sequence numbers in confirm mode and
// emits basic.ack / basic.nack strictly in sequence order, whatever order
// the outcomes arrive in (a transient publish is settled at once, a
// persistent one after its fsync). Emitting in order is what lets a run of
// outcomes travel as one multiple ack, here and in the writer.
type confirmTracker struct {
	out *output
	ch  uint16

	mu     sync.Mutex
	next   uint64  // the lowest sequence number not yet confirmed
	states []uint8 // outcome of next, next+1, ...: pending, ack or nack
	closed bool    // the channel is gone: late outcomes must not reach a reused channel id
}

// stop is called when the channel closes.
func (t *confirmTracker) stop() {
	t.mu.Lock()
	t.closed = true
	t.states = nil
	t.mu.Unlock()
}

const (
	confirmPending uint8 = iota
	confirmAck
	confirmNack
)

func newConfirmTracker(out *output, ch uint16) *confirmTracker {
	return &confirmTracker{out: out, ch: ch, next: 1}
}

// add registers the next publish and returns its sequence number.
func (t *confirmTracker) add() uint64 {
	t.mu.Lock()
	seq := t.next + uint64(len(t.states))
	t.states = append(t.states, confirmPending)
	t.mu.Unlock()
	return seq
}

// Confirmed implements broker.Confirmer; it is also called directly for
// publishes settled at once.
func (t *confirmTracker) Confirmed(seq uint64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	i := int(seq - t.next)
	if seq < t.next || i >= len(t.states) {
		return // not outstanding: never happens unless a bug settles twice
	}
	t.states[i] = confirmAck
	if !ok {
		t.states[i] = confirmNack
	}
	done := 0
	for done < len(t.states) && t.states[done] != confirmPending {
		kind := t.states[done]
		end := done + 1
		for end < len(t.states) && t.states[end] == kind {
			end++
		}
		t.out.push(outItem{kind: outConfirm, ch: t.ch, tag: t.next + uint64(end) - 1,
			multiple: end-done > 1, nack: kind == confirmNack})
		done = end
	}
	t.next += uint64(done)
	t.states = t.states[done:]
}
