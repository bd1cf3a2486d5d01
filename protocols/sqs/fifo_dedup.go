package sqs

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker"
)

// fifoSends remembers, for 5 minutes, the MessageId and SequenceNumber
// each FIFO send was answered with, by queue and de-duplication id (the
// MessageDeduplicationId, or the body's SHA-256 with
// ContentBasedDeduplication), so that a duplicate send is answered with
// the original's, as SQS does. Whether a message is a duplicate is still
// the core's decision: it drops the copy (x-message-deduplication, the
// same key and window). What this keeps is memory only: after a restart
// the core still drops a duplicate, but its send gets a MessageId of its
// own.
type fifoSends struct {
	mu    sync.Mutex
	m     map[fifoKey]fifoSent
	order []fifoKey // insertion order, for expiry
	head  int
}

// fifoKey is a de-duplication id in one queue: the *broker.Queue, so that
// a queue deleted and made again starts afresh, as in the core.
type fifoKey struct {
	q   *broker.Queue
	key string
}

type fifoSent struct {
	id, seq string
	exp     int64 // unix nanoseconds
}

// fifoWindow is SQS's de-duplication interval, the core's default.
const fifoWindow = 5 * time.Minute

// maxFIFOSends bounds the entries kept (about 150 bytes each); past it
// the oldest are forgotten first, as the core's cache forgets ids.
const maxFIFOSends = 1 << 18

// dedupKey is the key of a FIFO message: its MessageDeduplicationId, else
// its body's SHA-256 (content-based), as the core keys it.
func dedupKey(id *string, body []byte) string {
	if id != nil && *id != "" {
		return "h:" + *id
	}
	sum := sha256.Sum256(body)
	return "c:" + string(sum[:])
}

// claim returns the answer of an earlier send with k within the window
// (dup true), or records id and seq as k's answer.
func (f *fifoSends) claim(k fifoKey, id, seq string, now time.Time) (fifoSent, bool) {
	n := now.UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[fifoKey]fifoSent{}
	}
	f.expire(n)
	if e, ok := f.m[k]; ok && e.exp > n {
		return e, true
	}
	e := fifoSent{id: id, seq: seq, exp: n + int64(fifoWindow)}
	f.m[k] = e
	f.order = append(f.order, k)
	return e, false
}

// forget drops k's entry when it is still the one made for id: that send
// was not stored, so a retry is not a duplicate.
func (f *fifoSends) forget(k fifoKey, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.m[k]; ok && e.id == id {
		delete(f.m, k)
	}
}

// expire drops the entries past their window from the front of order
// (and the oldest beyond maxFIFOSends). Entries are appended in time
// order with one window, so the front expires first.
func (f *fifoSends) expire(now int64) {
	for f.head < len(f.order) {
		k := f.order[f.head]
		e, ok := f.m[k]
		if ok && e.exp > now && len(f.order)-f.head <= maxFIFOSends {
			break
		}
		if ok && (e.exp <= now || len(f.order)-f.head > maxFIFOSends) {
			delete(f.m, k)
		}
		f.order[f.head] = fifoKey{}
		f.head++
	}
	if f.head > 1024 && f.head*2 > len(f.order) {
		f.order = append(f.order[:0], f.order[f.head:]...)
		f.head = 0
	}
}
