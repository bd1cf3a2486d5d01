package broker

import (
	"container/heap"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// Time-ordered work of a queue — delayed messages becoming ready and
// visibility leases running out — lives in two heaps, each driven by one
// timer per queue. A million delayed messages cost a million heap entries,
// not timers or goroutines, and Go timers have no 49-day ceiling.

// timeItem is a heap entry; gen lets a lease item go stale without a
// removal from the middle of the heap.
type timeItem struct {
	at  int64
	seq uint64
	gen uint32
	e   *entry
}

type timeHeap []timeItem

func (h timeHeap) Len() int { return len(h) }
func (h timeHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h timeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)   { *h = append(*h, x.(timeItem)) }
func (h *timeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = timeItem{}
	*h = old[:len(old)-1]
	return it
}

// delayFor is when a message entering a queue configured as c becomes
// ready: the x-deliver-at header (unix milliseconds), else the x-delay
// header (milliseconds), else the queue's x-delivery-delay, counted from
// publication. Only queues with x-delivery-delay (an argument or a
// policy's delivery-delay) honour per-message delays, so RabbitMQ's
// behaviour is unchanged unless asked for.
func delayFor(c *queueConfig, m *message.Message, published int64) int64 {
	if !c.hasDelay {
		return 0
	}
	if at, ok := headerMillis(m, "x-deliver-at"); ok {
		return at * int64(time.Millisecond)
	}
	if d, ok := headerMillis(m, "x-delay"); ok {
		if d <= 0 {
			return 0
		}
		return published + d*int64(time.Millisecond)
	}
	if c.delay > 0 {
		return published + int64(c.delay)
	}
	return 0
}

// headerMillis reads an integer header, also given as a decimal string
// (STOMP headers are strings), clamped to ±maxHeaderMillis.
func headerMillis(m *message.Message, name string) (int64, bool) {
	v := m.Header(name)
	if v == nil {
		return 0, false
	}
	if n, ok := message.Int(v); ok {
		return clampMillis(n), true
	}
	if s, ok := message.String(v); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return clampMillis(n), true
		}
	}
	return 0, false
}

// maxHeaderMillis bounds a time a message header gives in milliseconds
// (x-delay, x-deliver-at, x-cache-ttl; the expiration property): 2^42 ms
// is about 139 years, so a relative time added to now, or an absolute one
// up to 2109, converts to nanoseconds without overflowing; a larger value
// wrapped around and, for a delay, delivered at once.
const maxHeaderMillis = 1 << 42

func clampMillis(n int64) int64 { return max(-maxHeaderMillis, min(n, maxHeaderMillis)) }

// delayLocked parks e until e.notBefore. q.mu held.
func (q *Queue) delayLocked(e *entry, now int64) {
	q.delayedBytes += e.size()
	q.pageOutDelayedLocked(e)
	heap.Push(&q.delayed, timeItem{at: e.x.notBefore, seq: e.seq, e: e})
	q.armDelayLocked(now)
}

func (q *Queue) armDelayLocked(now int64) {
	if len(q.delayed) == 0 {
		if q.delayTimer != nil {
			q.delayTimer.Stop()
		}
		q.delayAt = 0
		return
	}
	at := q.delayed[0].at
	if at == q.delayAt && q.delayTimer != nil {
		return
	}
	q.delayAt = at
	if q.delayTimer == nil {
		q.delayTimer = time.AfterFunc(time.Duration(at-now), q.releaseDelayed)
	} else {
		q.delayTimer.Reset(time.Duration(at - now))
	}
}

// releaseDelayed moves every delayed message that is due to the ready list.
func (q *Queue) releaseDelayed() {
	if !q.vh.b.tasks.begin() {
		return // the broker is closing
	}
	defer q.vh.b.tasks.end()
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return
	}
	now := time.Now().UnixNano()
	moved := false
	for len(q.delayed) > 0 && q.delayed[0].at <= now {
		it := heap.Pop(&q.delayed).(timeItem)
		q.delayedBytes -= it.e.size()
		if it.e.msg != nil {
			q.delayedResident -= it.e.size()
		}
		it.e.x.notBefore = 0
		q.ready.push(it.e)
		moved = true
	}
	q.delayAt = 0
	q.armDelayLocked(now)
	if moved {
		q.afterReadyLocked(now)
	}
	q.release()
}

// afterReadyLocked runs once messages became ready: delivery, limits,
// waiting pollers. q.mu held.
func (q *Queue) afterReadyLocked(now int64) {
	q.dispatchLocked(now)
	if c := q.config(); c.overflow == OverflowDropHead {
		for q.overLimit(c) {
			q.dropLocked(q.ready.popOldest(), "maxlen")
		}
	}
	q.wakePollerLocked()
	q.armExpiryLocked(now)
}

// leaseFor is the visibility lease of a delivery to consumer c (nil for a
// get): the consumer's x-consumer-timeout, else the queue's
// x-visibility-timeout; 0 means no lease.
func (q *Queue) leaseFor(c *Consumer) time.Duration {
	if c != nil && c.lease > 0 {
		return c.lease
	}
	return q.config().visibility
}

// leaseLocked starts a lease on a delivered entry. q.mu held.
func (q *Queue) leaseLocked(e *entry, s *Session, tag uint64, d time.Duration, now int64) {
	x := e.ext()
	if x.holder != nil {
		q.staleLeases++ // its earlier item (an extended lease)
	}
	x.holder, x.tag = s, tag
	if x.firstLeased == 0 {
		x.firstLeased = now
	}
	x.leaseUntil = now + int64(d)
	x.leaseGen++
	heap.Push(&q.leases, timeItem{at: x.leaseUntil, seq: e.seq, gen: x.leaseGen, e: e})
	q.pruneLeasesLocked()
	q.armLeaseLocked(now)
}

// endLeaseLocked forgets the lease of a settled or returned entry.
func (q *Queue) endLeaseLocked(e *entry) {
	if x := e.x; x != nil && x.holder != nil {
		x.holder, x.leaseUntil = nil, 0
		x.leaseGen++
		q.staleLeases++
		q.pruneLeasesLocked()
	}
}

// pruneLeasesLocked rebuilds the lease heap without its stale items once
// they are more than half of it. A stale item holds its entry, and so the
// message body, until it reaches the top: behind one long lease at the top
// every settled delivery's body would stay in memory. Rebuilding when half
// is stale costs O(1) amortised per lease. q.mu held.
func (q *Queue) pruneLeasesLocked() {
	if q.staleLeases < 64 || q.staleLeases*2 < len(q.leases) {
		return
	}
	live := q.leases[:0]
	for _, it := range q.leases {
		if it.gen == it.e.x.leaseGen && it.e.x.holder != nil {
			live = append(live, it)
		}
	}
	clear(q.leases[len(live):])
	q.leases = live
	heap.Init(&q.leases)
	q.staleLeases = 0
}

func (q *Queue) armLeaseLocked(now int64) {
	// Drop stale tops so the timer aims at a live lease.
	for len(q.leases) > 0 && q.leases[0].gen != q.leases[0].e.x.leaseGen {
		heap.Pop(&q.leases)
		q.staleLeases--
	}
	if len(q.leases) == 0 {
		if q.leaseTimer != nil {
			q.leaseTimer.Stop()
		}
		q.leaseAt = 0
		return
	}
	at := q.leases[0].at
	if at == q.leaseAt && q.leaseTimer != nil {
		return
	}
	q.leaseAt = at
	if q.leaseTimer == nil {
		q.leaseTimer = time.AfterFunc(time.Duration(at-now), q.expireLeases)
	} else {
		q.leaseTimer.Reset(time.Duration(at - now))
	}
}

// expireLeases returns every message whose lease ran out — only those
// messages: the consumer and its channel carry on, unlike RabbitMQ's
// consumer_timeout, which closes the whole channel.
func (q *Queue) expireLeases() {
	if !q.vh.b.tasks.begin() {
		return // the broker is closing
	}
	defer q.vh.b.tasks.end()
	q.mu.Lock()
	now := time.Now().UnixNano()
	type due struct {
		s   *Session
		tag uint64
		e   *entry
	}
	var expired []due
	for len(q.leases) > 0 && q.leases[0].at <= now {
		it := heap.Pop(&q.leases).(timeItem)
		if x := it.e.x; it.gen != x.leaseGen || x.holder == nil {
			q.staleLeases--
			continue
		}
		expired = append(expired, due{it.e.x.holder, it.e.x.tag, it.e})
	}
	q.leaseAt = 0
	q.armLeaseLocked(now)
	q.mu.Unlock()
	// The session owns the delivery: take it back there first (an ack may
	// race and win), then return it to the queue.
	var back []*entry
	var sessions []*Session
	for _, d := range expired {
		if d.s.revoke(d.tag, d.e) {
			back = append(back, d.e)
			if !slices.Contains(sessions, d.s) {
				sessions = append(sessions, d.s)
			}
		}
	}
	if len(back) > 0 {
		q.requeue(back)
	}
	for _, s := range sessions {
		s.kickStarved() // the revoked deliveries freed their credit
	}
}

// Unacked reports whether every one of tags is a delivery of s still
// unacked (not acked, rejected, requeued or taken back by its lease).
func (s *Session) Unacked(tags []uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tag := range tags {
		if _, ok := s.findLocked(tag); !ok {
			return false
		}
	}
	return true
}

// ExtendLease gives a delivered, unacked message more time before it
// returns to its queue (SQS's ChangeMessageVisibility), or a lease of d
// to one delivered without a lease. It returns when the message was first
// leased (unix nanoseconds; 0 when it has no lease): read under the same
// lock hold, because a lease of 0 ends at once and the message may be
// back in its queue, and out of this session, before a later look.
func (s *Session) ExtendLease(tag uint64, d time.Duration) (firstLeased int64, err error) {
	s.mu.Lock()
	u, ok := s.findLocked(tag)
	s.mu.Unlock()
	if !ok {
		return 0, errorf(CodePreconditionFailed, "unknown delivery tag %d", tag)
	}
	q := u.q
	q.mu.Lock()
	defer q.mu.Unlock()
	switch h := u.e.holder(); {
	case h == s && u.e.x.tag == tag:
		q.leaseLocked(u.e, s, tag, d, time.Now().UnixNano())
	case h == nil:
		// Delivered without a lease (the queue has none: an SQS queue
		// whose VisibilityTimeout is 0 leases each receive itself): start
		// one, if the delivery is still unacked here.
		s.mu.Lock()
		_, still := s.findLocked(tag)
		s.mu.Unlock()
		if still {
			q.leaseLocked(u.e, s, tag, d, time.Now().UnixNano())
		}
	}
	return u.e.firstLeased(), nil
}
