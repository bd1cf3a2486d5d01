package broker

import (
	"sync"
	"time"
)

// The broker's own work — queue timers (TTL expiry, x-expires, delays,
// visibility leases), delayed-exchange timers and paging read-aheads —
// runs on goroutines no client call owns. Broker.Close is their owner: it
// stops every timer, refuses new work and waits for what is running, so
// that nothing of the broker runs once it returns and storage can close
// after it. Shutdown goes adapters (which join their connections' readers
// and writers, and with them every client call into the broker) ->
// Broker.Close -> storage's Close (compaction, the log's writer).

// tasks counts the broker's own work in flight.
type tasks struct {
	mu     sync.Mutex
	cond   sync.Cond
	n      int
	closed bool
}

// begin registers a piece of work about to run; false once the broker is
// closing, when the work must not run.
func (t *tasks) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.n++
	return true
}

// end ends a piece of work begin let run.
func (t *tasks) end() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.closed {
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

// closeAndWait refuses new work and waits for the running work to end.
func (t *tasks) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	if t.cond.L == nil {
		t.cond.L = &t.mu
	}
	for t.n > 0 {
		t.cond.Wait()
	}
	t.mu.Unlock()
}

// Close stops the broker's own goroutines and timers and waits for the
// ones running: after it returns no broker code runs unless a client calls
// it, which the adapters, closed first, no longer do. Messages stay where
// they are (storage keeps the durable ones); Close is for shutdown.
func (b *Broker) Close() {
	for _, v := range snapshot(&b.mu, b.vhosts) {
		for _, q := range v.Queues() {
			q.mu.Lock()
			q.stopTimersLocked()
			q.mu.Unlock()
		}
		for _, x := range snapshot(&v.mu, v.exchanges) {
			if h := x.delayed; h != nil {
				h.mu.Lock()
				if h.timer != nil {
					h.timer.Stop()
				}
				h.mu.Unlock()
			}
		}
	}
	// A timer that fired before it was stopped finds the broker closing
	// and does nothing; one already running is waited for.
	b.tasks.closeAndWait()
}

// stopTimersLocked stops the queue's timers. q.mu held.
func (q *Queue) stopTimersLocked() {
	for _, t := range [...]*time.Timer{q.expiryTimer, q.idleTimer, q.delayTimer, q.leaseTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// snapshot copies the values of m, which mu guards, so that the caller can
// work on them without holding mu.
func snapshot[K comparable, V any](mu *sync.RWMutex, m map[K]V) []V {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
