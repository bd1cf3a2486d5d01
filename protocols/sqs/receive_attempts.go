package sqs

import (
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker"
)

// Receive request attempts (FIFO queues): a ReceiveMessage that carries a
// ReceiveRequestAttemptId and is retried with the same id within 5
// minutes, while every message it returned is still in flight from it,
// gets the same messages and receipt handles again and their visibility
// timeout starts over, as SQS documents: a client whose answer was lost
// on the network retries without the messages going to someone else or
// waiting out their visibility. Once one of them was deleted, changed or
// received again, the id starts a new receive.
//
// The answers are kept in memory, at most maxAttemptBytes of bodies and
// maxAttempts answers, the oldest forgotten first.

const (
	attemptWindow   = 5 * time.Minute
	maxAttempts     = 10000
	maxAttemptBytes = 16 << 20
	maxAttemptID    = 128
)

type attemptKey struct {
	q  *broker.Queue // a queue deleted and made again starts afresh
	id string
}

// attempt is one remembered answer: the messages as they were sent, the
// delivery tags they hold in the queue's session (of epoch), and the
// protocol they were written for.
type attempt struct {
	at    time.Time
	out   receiveOut
	tags  []uint64
	epoch uint64
	json  bool
	bytes int64
}

type receiveAttempts struct {
	mu    sync.Mutex
	m     map[attemptKey]*attempt
	order []attemptKey
	bytes int64
}

// get returns the answer remembered under k, if it is within its window.
func (r *receiveAttempts) get(k attemptKey, now time.Time) *attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.m[k]
	if a == nil || now.Sub(a.at) > attemptWindow {
		return nil
	}
	return a
}

// put remembers a under k. An answer that replaces an earlier one of the
// same id keeps that one's place in the eviction order.
func (r *receiveAttempts) put(k attemptKey, a *attempt) {
	for _, m := range a.out.Messages {
		a.bytes += int64(len(m.body) + len(m.Body) + len(m.ReceiptHandle) + 256)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[attemptKey]*attempt{}
	}
	if old := r.m[k]; old != nil {
		r.bytes -= old.bytes
	} else {
		r.order = append(r.order, k)
	}
	r.m[k] = a
	r.bytes += a.bytes
	for len(r.order) > 0 && (len(r.m) > maxAttempts || r.bytes > maxAttemptBytes || a.at.Sub(r.m[r.order[0]].at) > attemptWindow) {
		first := r.order[0]
		r.order[0] = attemptKey{}
		r.order = r.order[1:]
		r.bytes -= r.m[first].bytes
		delete(r.m, first)
	}
}

// validAttemptID: 1-128 characters, letters, digits and punctuation.
func validAttemptID(id string) bool {
	if len(id) == 0 || len(id) > maxAttemptID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
