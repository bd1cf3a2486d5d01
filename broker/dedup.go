package broker

import (
	"crypto/sha256"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// De-duplication with the names of RabbitMQ's message-deduplication plugin:
// a message's id is its x-deduplication-header header (or, with our
// x-content-deduplication, a SHA-256 of its body); a second message with an
// id seen within the window (x-cache-ttl, overridable per message by an
// x-cache-ttl header; 5 minutes by default as in SQS) is confirmed to its
// publisher and dropped, even when the first was consumed long ago. At most
// x-cache-size ids are remembered, oldest forgotten first. With our
// x-deduplication-scope "message-group" an id (or a body) is a duplicate
// only within its x-group-id, as in an SQS FIFO queue whose
// DeduplicationScope is messageGroup.
//
// Memory: one map entry (the id string plus 16 bytes and map overhead,
// about 80 bytes for a 36-byte UUID) and one 24-byte ring slot per id.

type dedupCache struct {
	ttl     time.Duration
	size    int
	content bool
	byGroup bool             // ids are per message group (x-deduplication-scope)
	byKey   map[string]int64 // id -> unix-nano expiry
	// answers holds, for the ids that have one, what the first publisher
	// of the id asked to be told for a duplicate (PublishOptions.DedupAnswer:
	// the SQS adapter's original MessageId and SequenceNumber). Opaque here.
	answers map[string]string
	order   []dedupItem // insertion order, for eviction
	head    int
	// sweepAt is the length of order (past head) at which sweep runs
	// next: twice what the last sweep kept, so sweeping is amortised O(1)
	// per id.
	sweepAt int
}

// minSweep is the order length below which sweep never runs.
const minSweep = 1024

// maxIDBytes bounds what is remembered of one id: a longer one (an id is
// whatever a publisher puts in its header) is remembered by its SHA-256.
const maxIDBytes = 128

type dedupItem struct {
	key    string
	exp    int64
	answer string // for the log only (q.dedupLog); the cache keeps answers apart
}

func newDedupCache(ttl time.Duration, size int64, content bool) *dedupCache {
	return &dedupCache{ttl: ttl, size: int(size), content: content, byKey: map[string]int64{}}
}

// key is the de-duplication id of m and its window.
func (d *dedupCache) key(m *message.Message) (string, time.Duration) {
	ttl := d.ttl
	if ms, ok := headerMillis(m, "x-cache-ttl"); ok && ms > 0 {
		ttl = time.Duration(ms) * time.Millisecond
	}
	if d.byGroup {
		return d.groupKey(m), ttl
	}
	if v := m.Header("x-deduplication-header"); v != nil {
		id := valueString(v)
		if len(id) > maxIDBytes-2 {
			sum := sha256.Sum256([]byte(id))
			return "H:" + string(sum[:]), ttl
		}
		return "h:" + id, ttl
	}
	if d.content {
		sum := sha256.Sum256(m.Body)
		return "c:" + string(sum[:]), ttl
	}
	return "", 0
}

// groupKey is key for ids scoped by message group: the group and the id
// (or the body's hash), hashed together when long. The prefixes differ
// from the queue-scoped ones, so a change of scope forgets the ids seen.
func (d *dedupCache) groupKey(m *message.Message) string {
	group := valueString(m.Header("x-group-id"))
	if v := m.Header("x-deduplication-header"); v != nil {
		id := valueString(v)
		if len(group)+len(id) > maxIDBytes-4 {
			h := sha256.New()
			h.Write([]byte(group))
			h.Write([]byte{0})
			h.Write([]byte(id))
			return "GH:" + string(h.Sum(nil))
		}
		return "gh:" + group + "\x00" + id
	}
	if d.content {
		h := sha256.New()
		h.Write([]byte(group))
		h.Write([]byte{0})
		h.Write(m.Body)
		return "gc:" + string(h.Sum(nil))
	}
	return ""
}

// seen records m's id and reports whether it was already inside its window.
func (d *dedupCache) seen(m *message.Message, now int64) bool {
	dup, _, _ := d.check(m, now)
	return dup
}

// check is seen that also returns a newly remembered id and its expiry,
// for storage.
func (d *dedupCache) check(m *message.Message, now int64) (dup bool, key string, exp int64) {
	dup, key, exp = d.lookup(m, now)
	if !dup && key != "" {
		d.remember(key, exp, now, "")
	}
	return dup, key, exp
}

// lookup tells whether m is a duplicate without remembering it; when it is
// not, it returns the id and expiry to remember once the message is taken.
// A refused publish must not use up its id: the publisher will retry it.
func (d *dedupCache) lookup(m *message.Message, now int64) (dup bool, key string, exp int64) {
	key, ttl := d.key(m)
	if key == "" {
		return false, "", 0
	}
	d.evict(now)
	if e, ok := d.byKey[key]; ok && e > now {
		return true, key, 0
	}
	return false, key, now + int64(ttl)
}

// remember adds an id with its expiry (also used when restoring); now is
// the caller's clock, for sweeping. answer, when not empty, is kept for
// duplicates of the id (answerFor).
func (d *dedupCache) remember(key string, exp, now int64, answer string) {
	d.byKey[key] = exp
	if answer != "" {
		if d.answers == nil {
			d.answers = map[string]string{}
		}
		d.answers[key] = answer
	} else if d.answers != nil {
		delete(d.answers, key)
	}
	d.order = append(d.order, dedupItem{key: key, exp: exp})
	for len(d.byKey) > d.size {
		d.popOldest()
	}
	if n := len(d.order) - d.head; n >= max(d.sweepAt, minSweep) {
		d.sweep(now)
	}
}

// sweep drops the ids whose window has passed and the order slots that no
// longer name a remembered id, wherever they are. evict stops at the first
// live id, and windows differ per message, so without this one long window
// at the front would keep every shorter id behind it, and a slot for each
// re-published one, for as long as it lasts.
func (d *dedupCache) sweep(now int64) {
	kept := d.order[:0]
	for _, it := range d.order[d.head:] {
		exp, ok := d.byKey[it.key]
		switch {
		case !ok || exp != it.exp:
			// A slot of an id forgotten or remembered again later.
		case exp <= now:
			d.forget(it.key)
		default:
			kept = append(kept, it)
		}
	}
	clear(d.order[len(kept):])
	d.order, d.head = kept, 0
	d.sweepAt = 2 * len(kept)
}

// forget drops an id and its answer.
func (d *dedupCache) forget(key string) {
	delete(d.byKey, key)
	if d.answers != nil {
		delete(d.answers, key)
	}
}

// answerFor is the answer remembered with id key, or "".
func (d *dedupCache) answerFor(key string) string { return d.answers[key] }

func (d *dedupCache) popOldest() {
	it := d.order[d.head]
	d.order[d.head] = dedupItem{}
	d.head++
	if exp, ok := d.byKey[it.key]; ok && exp == it.exp {
		d.forget(it.key)
	}
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append([]dedupItem(nil), d.order[d.head:]...)
		d.head = 0
	}
}

// evict forgets ids whose window has passed, oldest first. Windows differ
// per message, so one long window at the front can hold back shorter ones
// behind it; they are still refused as duplicates only until they expire,
// because seen checks the expiry itself.
func (d *dedupCache) evict(now int64) {
	for d.head < len(d.order) && d.order[d.head].exp <= now {
		d.popOldest()
	}
}
