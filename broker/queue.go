package broker

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// ConnID identifies a client connection; exclusive queues belong to one.
// Zero is no connection.
type ConnID uint64

// QueueDecl is a queue.declare: what the client asked for.
type QueueDecl struct {
	Name       string // "" asks for a server-named queue
	Passive    bool
	Durable    bool
	Exclusive  bool
	AutoDelete bool
	Args       message.Table
	Owner      ConnID // the declaring connection
	// Admit, when set, runs on a declare that is not passive, with the
	// queue's final name (a server-named queue's too): isNew says the
	// queue does not exist yet, queues how many the vhost holds then. Its
	// error refuses the declare. It is how an adapter checks permissions
	// and limits that depend on those (RabbitMQ checks configure on
	// amq.gen-... names, the dead-letter exchange and max-queues only for
	// new queues). For a new queue it runs under the vhost's lock: it must
	// not call into the broker.
	Admit func(name string, isNew bool, queues int) error
}

// durable is whether the queue is made durable: an exclusive queue never
// is, whatever the declare says, as RabbitMQ's channel declares it
// (durable andalso not exclusive) and compares a redeclare with it. It
// belongs to one connection and goes with it, so there is nothing to keep
// across a restart, and its messages are not logged.
func (d QueueDecl) durable() bool { return d.Durable && !d.Exclusive }

// QueueInfo answers a declare, purge or delete.
type QueueInfo struct {
	Name      string
	Messages  int // ready messages, as RabbitMQ counts them
	Consumers int
}

// Queue holds messages until consumers take them. All of its state below mu
// is owned by whoever holds mu; it is held briefly and never across I/O.
type Queue struct {
	vh         *VHost
	name       string
	durable    bool
	exclusive  bool
	autoDelete bool
	owner      ConnID
	args       message.Table // replaced whole under mu (SetQueueArguments)
	// cfg is the configuration in force: arguments, policy and operator
	// policy together (policy_apply.go). It is replaced whole, never
	// changed in place; read it once per operation through config().
	cfg atomic.Pointer[queueConfig]

	// bindings where this queue is the destination; guarded by vh.mu.
	bindings []*binding

	mu      sync.Mutex
	ready   readyList
	unacked int
	// unackedBytes is the body bytes of the unacked messages (the
	// management API's message_bytes_unacknowledged).
	unackedBytes int64
	// persistent and persistentBytes count the messages the queue holds
	// in the log for its own sake (entry.logged: persistent messages of a
	// durable queue), ready, unacked or delayed, and their body bytes (the
	// management API's messages_persistent). Counted where an entry is
	// made and where it is gone (forgetLocked, setAsideLocked, dropLocked).
	persistent      int
	persistentBytes int64
	consumers       []*Consumer // by priority, highest first; then by arrival
	rr              int         // round-robin position within the top group
	exclusiveC      bool        // a consumer holds exclusive access
	hadConsumer     bool        // auto-delete waits for a first consumer
	seq             uint64
	deleted         bool
	expiryTimer     *time.Timer
	expiryAt        int64
	idleTimer       *time.Timer
	lastUsed        int64

	delayed      timeHeap // delayed messages by due time
	delayedBytes int64
	// delayedResident is the bytes of delayed messages whose body is in
	// memory (see paging.go).
	delayedResident int64
	delayTimer      *time.Timer
	delayAt         int64
	leases          timeHeap // visibility leases by deadline
	staleLeases     int      // items in leases whose lease ended or was extended
	leaseTimer      *time.Timer
	leaseAt         int64
	pollers         []chan struct{} // long-polling getters waiting for a message
	busy            map[string]int  // message groups with a message in flight
	dedup           *dedupCache
	flow            flowState // publisher flow control, see flow.go

	// Work gathered under mu and done by release once it is unlocked:
	// dead letters to republish and storage records to log.
	dead      []deadLetter
	settled   []uint64
	delivered []uint64
	returned  []uint64
	dedupLog  []dedupItem
	unspilled []uint64
	spills    []uint64 // spilled messages whose records are still to write
	// deadDraining: some release is publishing dead letters.
	deadDraining bool
	// deadRoundHook, set by a test before the queue is used, runs after
	// each round of dead letters drained (background: by the hand-off).
	deadRoundHook func(background bool)
	// Paging: a read-ahead goroutine is loading paged-out messages, and
	// how many were read by it and how many inline (under the lock).
	loading     bool
	wanted      *entry // a paged-out message a dispatch stopped at
	readsAhead  int64
	readsInline int64
	unreadable  int64 // messages set aside because their body could not be read

	counts queueCounts // message counters (counters.go)

	capacity capacityMeter // consumer capacity (consumer_capacity.go)
}

// release unlocks q and then does the work gathered under the lock, so that
// no storage call or republish ever happens while a queue lock is held.
func (q *Queue) release() {
	settled, delivered, returned, dedupLog, unspilled, spills := q.settled, q.delivered, q.returned, q.dedupLog, q.unspilled, q.spills
	q.settled, q.delivered, q.returned, q.dedupLog, q.unspilled, q.spills = nil, nil, nil, nil, nil, nil
	// Dead letters leave in the order the queue dropped them: one caller
	// at a time drains them, the others only add to the outbox.
	var dead []deadLetter
	if len(q.dead) > 0 && !q.deadDraining {
		dead, q.dead = q.dead, nil
		q.deadDraining = true
	}
	q.mu.Unlock()
	if st := q.vh.b.store; st != nil && len(spills) > 0 {
		st.WriteSpills(spills)
	}
	if st := q.vh.b.store; st != nil && (len(settled) > 0 || len(delivered) > 0 || len(returned) > 0 || len(dedupLog) > 0 || len(unspilled) > 0) {
		for _, id := range unspilled {
			st.Unspill(id)
		}
		ref := QueueRef{VHost: q.vh.name, Queue: q.name}
		for _, id := range returned {
			st.LogReturned(id, ref)
		}
		for _, d := range dedupLog {
			st.LogDedup(ref, d.key, d.exp, d.answer)
		}
		st.LogDelivered(ref, delivered...)
		st.LogSettled(ref, settled...)
	}
	if len(dead) > 0 {
		q.drainDeadLetters(dead, false)
	}
}

// drainDeadLetters republishes dead letters, then those the queue dropped
// meanwhile, until none are left; q.deadDraining is set on entry and
// cleared when it returns with none left. A caller (background false) that
// has drained maxDeadLetterRounds rounds while others kept adding hands
// the rest to a background task, so that no publisher or acker is held
// doing the work of others for as long as they keep it coming.
func (q *Queue) drainDeadLetters(dead []deadLetter, background bool) {
	for rounds := 1; len(dead) > 0; rounds++ {
		q.vh.deadLetter(q, dead)
		if q.deadRoundHook != nil {
			q.deadRoundHook(background)
		}
		q.mu.Lock()
		dead, q.dead = q.dead, nil
		q.deadDraining = len(dead) > 0
		q.mu.Unlock()
		if len(dead) > 0 && !background && rounds >= maxDeadLetterRounds {
			q.handOffDeadLetters(dead)
			return
		}
	}
}

// handOffDeadLetters drains dead, and what follows it, on a background
// task. A separate function, so that the goroutine's closure does not
// move drainDeadLetters's arguments to the heap on every call.
func (q *Queue) handOffDeadLetters(dead []deadLetter) {
	if !q.vh.b.tasks.begin() {
		// The broker is closing: the rest stay unsettled in the log and
		// come back in q after the restart.
		return
	}
	go func() {
		defer q.vh.b.tasks.end()
		q.drainDeadLetters(dead, true)
	}()
}

// maxDeadLetterRounds bounds how many rounds of a queue's dead letters one
// caller drains before handing the rest to a background task.
const maxDeadLetterRounds = 4

// forgetLocked notes that e left the queue for good: its storage record is
// settled. q.mu held.
func (q *Queue) forgetLocked(e *entry) {
	q.leftLocked(e)
	switch {
	case e.spilled:
		q.unspilled = append(q.unspilled, e.pid)
	case e.pid != 0:
		q.settled = append(q.settled, e.pid)
	}
}

// setAsideLocked takes e, whose body could not be read back, out of the
// queue's reckoning without settling it: a message is never discarded
// because it could not be read. Its record stays live in the log (and
// keeps its segment), so a restart offers it again, after an operator has
// put back the key or the disk that was missing; deleting the queue lets
// it go. The caller has taken e off the ready list. q.mu held.
func (q *Queue) setAsideLocked(e *entry) {
	q.leftLocked(e)
}

// tookLocked counts e, just made, among the queue's messages. q.mu held.
func (q *Queue) tookLocked(e *entry) {
	if e.logged() {
		q.persistent++
		q.persistentBytes += e.size()
	}
}

// leftLocked marks e gone and uncounts it. q.mu held.
func (q *Queue) leftLocked(e *entry) {
	if e.gone {
		return
	}
	e.gone = true
	if e.logged() {
		q.persistent--
		q.persistentBytes -= e.size()
	}
}

// logged reports whether e's message is in storage for this queue's sake
// (not merely spilled).
func (e *entry) logged() bool { return e.pid != 0 && !e.spilled }

// dropLocked removes e for reason, dead-lettering it when the queue has a
// dead-letter exchange. q.mu held.
func (q *Queue) dropLocked(e *entry, reason string) {
	// A paged-out message is read back before its storage copy goes.
	if c := q.config(); !c.hasDLX || (reason == "expired" && c.keepExpired) {
		q.forgetLocked(e)
		return
	}
	// deadLetter settles its storage record once the copy is durable
	// (at-least-once), and reads a paged-out body back first, off the
	// lock; a spilled one is unspilled after that read.
	q.leftLocked(e)
	q.dead = append(q.dead, deadLetter{e, reason})
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// config is the queue's configuration in force.
func (q *Queue) config() *queueConfig { return q.cfg.Load() }

// Durable reports whether the queue survives a restart.
func (q *Queue) Durable() bool { return q.durable }

// Info returns the queue's counts now.
func (q *Queue) Info() QueueInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueInfo{Name: q.name, Messages: q.ready.count, Consumers: len(q.consumers)}
}

// Unacked is the number of messages delivered and not yet settled.
func (q *Queue) Unacked() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.unacked
}

func (q *Queue) accessibleBy(owner ConnID) bool { return !q.exclusive || q.owner == owner }

// deadLetter is a message leaving a queue for its dead-letter exchange.
type deadLetter struct {
	e      *entry
	reason string
}

// enqueueResult says what one queue did with a published message.
type enqueueResult uint8

const (
	enqueued  enqueueResult = iota
	rejected                // x-overflow reject-publish refused it
	dropped                 // the queue is gone
	duplicate               // de-duplication recognised it: confirmed, not kept
)

// enqueue takes a published message; pid is its storage id when this queue's
// copy was logged. published says it comes from a publisher (counted as
// RabbitMQ counts a queue's publishes), not from dead-lettering.
func (q *Queue) enqueue(m *message.Message, now int64, pid uint64, published bool) enqueueResult {
	res, _ := q.enqueueAnswered(m, now, pid, published, "")
	return res
}

// enqueueAnswered is enqueue for a publisher that gives an answer to keep
// with the message's de-duplication id (PublishOptions.DedupAnswer); for
// a duplicate it returns the answer kept with the original.
func (q *Queue) enqueueAnswered(m *message.Message, now int64, pid uint64, published bool, answer string) (enqueueResult, string) {
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return dropped, ""
	}
	if published {
		q.counts.publish++
	}
	var dedupKey string
	var dedupExp int64
	if q.dedup != nil {
		var dup bool
		dup, dedupKey, dedupExp = q.dedup.lookup(m, now)
		if dup {
			// A duplicate inside the window: taken (and confirmed), not kept.
			q.counts.duplicate++
			if pid != 0 {
				q.settled = append(q.settled, pid)
			}
			orig := q.dedup.answerFor(dedupKey)
			q.release()
			return duplicate, orig
		}
	}
	c := q.config() // one configuration for the whole enqueue
	q.seq++
	e := newEntry(m, q.seq, pid)
	q.tookLocked(e)
	e.publishedAt = now
	e.expiresAt = expiryFor(c, m, now)
	if c.maxPriority > 0 && m.Properties.Has(message.FlagPriority) {
		e.priority = min(m.Properties.Priority, c.maxPriority)
	}
	if c.groups {
		if g, _ := message.String(m.Header(groupHeader)); g != "" {
			e.ext().group = g
		}
	}
	at := delayFor(c, m, now)
	if q.full(c, e.size()) && (at <= now || c.overflow != OverflowDropHead) {
		switch c.overflow {
		case OverflowRejectPublish:
			q.forgetLocked(e)
			q.release()
			return rejected, ""
		case OverflowRejectPublishDLX:
			q.dropLocked(e, "maxlen")
			q.release()
			return rejected, ""
		}
	}
	if dedupKey != "" {
		// Remembered only now that the message is taken.
		q.dedup.remember(dedupKey, dedupExp, now, answer)
		if q.durable {
			q.dedupLog = append(q.dedupLog, dedupItem{dedupKey, dedupExp, answer})
		}
	}
	if at > now {
		e.ext().notBefore = at
		q.delayLocked(e, now)
		q.release()
		return enqueued, ""
	}
	q.ready.push(e)
	q.dispatchLocked(now)
	q.maybePageOutLocked(e)
	if c.overflow == OverflowDropHead {
		for q.overLimit(c) {
			q.dropLocked(q.ready.popOldest(), "maxlen")
		}
	}
	q.wakePollerLocked()
	if c.hasTTL && c.messageTTL == 0 {
		// A zero TTL means "deliver now or never": what no consumer took at
		// once expires at once.
		for q.ready.count > 0 {
			q.dropLocked(q.ready.pop(), "expired")
		}
	}
	q.armExpiryLocked(now)
	q.release()
	return enqueued, ""
}

// restore puts a recovered message back, in id order, before any traffic.
//
// It reports false when it dropped the message as a duplicate: a message is
// logged before its queue's de-duplication check, and a duplicate's settle
// is lazy, so a crash can leave a duplicate's record live. Messages come
// back in publish order, so the window is applied again here; the caller
// settles what was dropped.
//
// A de-duplication id it learns from the message is logged again: the id's
// own record is lazy and a crash may have lost it, and without a record the
// id would be forgotten once the message is consumed, inside its window.
func (q *Queue) restore(rm *RecoveredMessage, delivered bool, returns uint32) bool {
	q.mu.Lock()
	defer q.release()
	if q.dedup != nil {
		dup, key, exp := q.dedup.check(rm.Msg, rm.PublishedAt)
		if dup {
			return false
		}
		if key != "" && exp > time.Now().UnixNano() {
			q.dedupLog = append(q.dedupLog, dedupItem{key: key, exp: exp})
		}
	}
	c := q.config()
	q.seq++
	e := newEntry(rm.Msg, q.seq, rm.ID)
	q.tookLocked(e)
	e.publishedAt = rm.PublishedAt
	e.expiresAt = expiryFor(c, rm.Msg, rm.PublishedAt)
	e.redelivered, e.returns = delivered, returns
	if delivered {
		e.deliveries = 1
	}
	if c.maxPriority > 0 && rm.Msg.Properties.Has(message.FlagPriority) {
		e.priority = min(rm.Msg.Properties.Priority, c.maxPriority)
	}
	if c.groups {
		if g, _ := message.String(rm.Msg.Header(groupHeader)); g != "" {
			e.ext().group = g
		}
	}
	now := time.Now().UnixNano()
	if at := delayFor(c, rm.Msg, rm.PublishedAt); at > now {
		e.ext().notBefore = at
		q.delayLocked(e, now)
		return true
	}
	q.ready.push(e)
	q.maybePageOutLocked(e)
	q.armExpiryLocked(now)
	return true
}

// groupHeader carries a message's group id on queues with x-message-groups
// (SQS's MessageGroupId).
const groupHeader = "x-group-id"

// expired reports whether e is past its deadline. A message expires only
// strictly after it, so a zero TTL still lets a waiting consumer take a
// message in the instant it arrives, as RabbitMQ does.
func expired(e *entry, now int64) bool { return e.expiresAt != 0 && e.expiresAt < now }

// full reports whether a new message of size n would cross a length limit.
// With a reject-publish overflow, delayed messages count too: they cannot
// be refused any more once they become ready.
func (q *Queue) full(c *queueConfig, n int64) bool {
	count, bytes := int64(q.ready.count), q.ready.bytes
	if c.overflow != OverflowDropHead {
		count += int64(len(q.delayed))
		bytes += q.delayedBytes
	}
	return (c.maxLength >= 0 && count+1 > c.maxLength) ||
		(c.maxLengthBytes >= 0 && bytes+n > c.maxLengthBytes)
}

// overLimit reports whether the ready messages exceed c's length limits.
func (q *Queue) overLimit(c *queueConfig) bool {
	return q.ready.count > 0 &&
		((c.maxLength >= 0 && int64(q.ready.count) > c.maxLength) ||
			(c.maxLengthBytes >= 0 && q.ready.bytes > c.maxLengthBytes))
}

// expiryFor is the earlier of the queue's TTL (in c) and the message's
// expiration, counted from when the message was published.
func expiryFor(c *queueConfig, m *message.Message, published int64) int64 {
	var at int64
	if c.hasTTL {
		at = published + int64(c.messageTTL)
	}
	if m.Properties.Has(message.FlagExpiration) {
		if ms, err := strconv.ParseInt(m.Properties.Expiration, 10, 64); err == nil && ms >= 0 {
			ms = clampMillis(ms)
			if t := published + ms*int64(time.Millisecond); at == 0 || t < at {
				at = t
			}
		}
	}
	return at
}

// dispatchLocked hands ready messages to consumers with credit, expiring
// messages that reach the head past their deadline. q.mu must be held.
func (q *Queue) dispatchLocked(now int64) {
	blocked, known := false, true // for the capacity meter
	for len(q.consumers) > 0 {
		e := q.nextLocked(now)
		if e == nil {
			break
		}
		if e.msg == nil {
			// Paged out: the read-ahead loads it off the lock and
			// dispatches again.
			q.wanted = e
			q.readAheadLocked()
			known = false
			break
		}
		c, ok := q.offerLocked(e)
		if !ok {
			blocked = true // a message waits; no consumer has credit
			break
		}
		q.takeLocked(e)
		q.deliveredLocked(e, c.noAck)
		q.flow.lastDelivery = now
	}
	if len(q.consumers) > 0 {
		q.readAheadLocked()
	}
	if known {
		q.capacity.note(now, len(q.consumers) > 0, blocked)
	}
	q.updateFlowLocked(now)
}

// nextLocked returns the message to hand out next, expiring heads that are
// past their deadline: the head, or with message groups the first message
// whose group has nothing in flight. nil when there is none. q.mu held.
func (q *Queue) nextLocked(now int64) *entry {
	q.dropExpiredHeadsLocked(now)
	if !q.config().groups || len(q.busy) == 0 {
		return q.ready.peek()
	}
	// Strict FIFO within a group and one message in flight per group: the
	// first message of a free group goes. The scan is linear in the
	// messages of busy groups ahead of it.
	for i := len(q.ready.levels) - 1; i >= 0; i-- {
		d := &q.ready.levels[i]
		for k := 0; k < d.len(); k++ {
			if e := d.at(k); q.busy[e.group()] == 0 {
				return e
			}
		}
	}
	return nil
}

// takeLocked removes e, returned by nextLocked, from the ready list.
func (q *Queue) takeLocked(e *entry) {
	if q.ready.peek() == e {
		q.ready.pop()
		return
	}
	q.ready.remove(e)
}

// groupDoneLocked ends e's turn in flight for its message group.
func (q *Queue) groupDoneLocked(e *entry) {
	if q.config().groups {
		if q.busy[e.group()]--; q.busy[e.group()] <= 0 {
			delete(q.busy, e.group())
		}
	}
}

// deliveredLocked does the bookkeeping of one handed-out message.
func (q *Queue) deliveredLocked(e *entry, noAck bool) {
	if noAck {
		q.forgetLocked(e)
		return
	}
	q.unacked++
	q.unackedBytes += e.size()
	if q.config().groups {
		if q.busy == nil {
			q.busy = map[string]int{}
		}
		q.busy[e.group()]++
	}
	if e.logged() && e.deliveries == 1 {
		q.delivered = append(q.delivered, e.pid)
	}
}

// offerLocked gives e to the first consumer, in priority then round-robin
// order, that has credit for it. Lower-priority consumers get messages only
// while every higher one is out of credit, as RabbitMQ's consumer priorities.
func (q *Queue) offerLocked(e *entry) (*Consumer, bool) {
	if q.config().singleActive {
		c := q.consumers[0]
		return c, c.s.deliver(c, q, e)
	}
	n := len(q.consumers)
	for start := 0; start < n; {
		end := start + 1
		for end < n && q.consumers[end].priority == q.consumers[start].priority {
			end++
		}
		size := end - start
		off := 0
		if start == 0 {
			off = q.rr % size
		}
		for i := 0; i < size; i++ {
			k := (off + i) % size
			c := q.consumers[start+k]
			if c.s.deliver(c, q, e) {
				if start == 0 {
					q.rr = k + 1
				}
				return c, true
			}
		}
		start = end
	}
	return nil, false
}

// kick retries delivery after credit was freed or a consumer arrived.
func (q *Queue) kick() {
	q.mu.Lock()
	now := time.Now().UnixNano()
	q.dispatchLocked(now)
	q.armExpiryLocked(now)
	q.release()
}

// settle records that deliveries were acked.
func (q *Queue) settle(es []*entry) {
	q.mu.Lock()
	q.unacked -= len(es)
	q.counts.ack += uint64(len(es))
	for _, e := range es {
		q.unackedBytes -= e.size()
		q.endLeaseLocked(e)
		q.groupDoneLocked(e)
		q.forgetLocked(e)
	}
	now := time.Now().UnixNano()
	if q.config().groups {
		q.dispatchLocked(now) // the group's next message may go now
		q.wakePollerLocked()  // or a long-polling getter may take it
	}
	q.release()
}

// requeue puts delivered messages back at their places, redelivered.
func (q *Queue) requeue(es []*entry) {
	q.mu.Lock()
	if q.deleted {
		// Nowhere to go back to; the copy in storage goes too.
		for _, e := range es {
			q.forgetLocked(e)
		}
		q.release()
		return
	}
	c := q.config()
	for _, e := range es {
		q.endLeaseLocked(e)
		q.groupDoneLocked(e)
		q.unacked--
		q.unackedBytes -= e.size()
		e.redelivered = true
		e.returns++
		if e.logged() && c.deliveryLimit >= 0 {
			q.returned = append(q.returned, e.pid)
		}
		if c.deliveryLimit >= 0 && int64(e.returns) > c.deliveryLimit {
			// A poison message: past its x-delivery-limit it leaves for
			// the dead-letter exchange, or is dropped.
			q.dropLocked(e, "delivery_limit")
			continue
		}
		q.ready.requeue(e)
	}
	now := time.Now().UnixNano()
	q.dispatchLocked(now)
	q.wakePollerLocked()
	q.armExpiryLocked(now)
	q.release()
}

// reject settles deliveries the client refused without requeue: they are
// dead-lettered when the queue has a dead-letter exchange.
func (q *Queue) reject(es []*entry) {
	q.mu.Lock()
	q.unacked -= len(es)
	for _, e := range es {
		q.unackedBytes -= e.size()
		q.endLeaseLocked(e)
		q.groupDoneLocked(e)
		if q.deleted {
			q.forgetLocked(e)
		} else {
			q.dropLocked(e, "rejected")
		}
	}
	q.release()
}

// get takes the next ready message for a basic.get.
func (q *Queue) get(s *Session, noAck bool) (Delivery, int, bool) {
	q.mu.Lock()
	now := time.Now().UnixNano()
	q.lastUsed = now
	defer q.release()
	e := q.nextLocked(now)
	for e != nil && e.msg == nil {
		q.fetchLocked(e) // releases the lock for the read
		now = time.Now().UnixNano()
		e = q.nextLocked(now)
	}
	if e != nil {
		d := q.handOutLocked(s, e, noAck)
		// The count RabbitMQ reports leaves out heads that have expired.
		q.dropExpiredHeadsLocked(now)
		q.armExpiryLocked(now)
		return d, q.ready.count, true
	}
	q.armExpiryLocked(now)
	return Delivery{}, 0, false
}

// handOutLocked takes e, found by nextLocked, off the ready list and hands
// it to s as a get. q.mu held.
func (q *Queue) handOutLocked(s *Session, e *entry, noAck bool) Delivery {
	q.takeLocked(e)
	q.readAheadLocked()
	d := s.recordGet(q, e, noAck)
	q.counts.handedOut(e, noAck, true)
	q.deliveredLocked(e, noAck)
	return d
}

// dropExpiredHeadsLocked drops the messages at the head that are past
// their deadline. q.mu held.
func (q *Queue) dropExpiredHeadsLocked(now int64) {
	for q.ready.count > 0 && expired(q.ready.peek(), now) {
		q.dropLocked(q.ready.pop(), "expired")
	}
}

// purge drops every ready message; delivered ones stay with their consumers.
func (q *Queue) purge() int {
	q.mu.Lock()
	n := q.ready.count
	for _, e := range q.ready.clear() {
		q.forgetLocked(e)
	}
	now := time.Now().UnixNano()
	q.armExpiryLocked(now)
	q.updateFlowLocked(now)
	q.release()
	return n
}

// armExpiryLocked points the queue's one expiry timer at the earliest
// deadline among the heads of its levels. Like RabbitMQ, a message expires
// when it reaches the head, so only heads are ever watched.
func (q *Queue) armExpiryLocked(now int64) {
	var at int64
	for i := range q.ready.levels {
		if e := q.ready.levels[i].peek(); e != nil && e.expiresAt != 0 && (at == 0 || e.expiresAt < at) {
			at = e.expiresAt
		}
	}
	if at == q.expiryAt {
		return
	}
	q.expiryAt = at
	if q.expiryTimer != nil {
		q.expiryTimer.Stop()
		q.expiryTimer = nil
	}
	if at != 0 && !q.deleted {
		q.expiryTimer = time.AfterFunc(time.Duration(at-now)+time.Millisecond, q.expireDue)
	}
}

// expireDue runs on the expiry timer and removes every head that is due.
func (q *Queue) expireDue() {
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
	for i := range q.ready.levels {
		d := &q.ready.levels[i]
		for d.len() > 0 && expired(d.peek(), now) {
			e := d.popFront()
			q.ready.sub(e)
			q.dropLocked(e, "expired")
		}
	}
	q.expiryAt = 0 // force a re-arm
	q.expiryTimer = nil
	q.armExpiryLocked(now)
	q.release()
}

// touchLocked records use of the queue for x-expires and re-arms its idle
// timer.
func (q *Queue) touchLocked(now int64) {
	q.lastUsed = now
	exp := q.config().expires
	if exp == 0 || q.deleted || len(q.consumers) > 0 {
		return
	}
	if q.idleTimer == nil {
		q.idleTimer = time.AfterFunc(exp, q.idleCheck)
	} else {
		q.idleTimer.Reset(exp)
	}
}

// idleCheck deletes a queue unused for its x-expires period.
func (q *Queue) idleCheck() {
	if !q.vh.b.tasks.begin() {
		return // the broker is closing
	}
	defer q.vh.b.tasks.end()
	q.mu.Lock()
	if q.deleted || len(q.consumers) > 0 {
		q.mu.Unlock()
		return
	}
	idle := time.Duration(time.Now().UnixNano() - q.lastUsed)
	if exp := q.config().expires; exp == 0 || idle < exp {
		// Not idle long enough, or a policy took the expiry away since
		// the timer was set (then it is not re-armed).
		if exp != 0 {
			q.idleTimer.Reset(exp - idle)
		}
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	q.vh.deleteQueue(q)
}

// addConsumer registers c, keeping consumers ordered by priority.
func (q *Queue) addConsumer(c *Consumer) error {
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return errNoQueue(q.name, q.vh.name)
	}
	if q.exclusiveC || (c.exclusive && len(q.consumers) > 0) {
		q.mu.Unlock()
		return errorf(CodeAccessRefused, "queue '%s' in vhost '%s' in exclusive use", q.name, q.vh.name)
	}
	if c.registered != nil {
		c.registered(c.tag)
	}
	i := len(q.consumers)
	for i > 0 && q.consumers[i-1].priority < c.priority {
		i--
	}
	q.consumers = slices.Insert(q.consumers, i, c)
	q.exclusiveC = c.exclusive
	q.hadConsumer = true
	q.mu.Unlock()
	q.kick()
	return nil
}

// removeConsumer unregisters c; an auto-delete queue goes with its last one.
func (q *Queue) removeConsumer(c *Consumer) {
	q.mu.Lock()
	i := slices.Index(q.consumers, c)
	if i < 0 {
		q.mu.Unlock()
		return
	}
	q.consumers = slices.Delete(q.consumers, i, i+1)
	if c.exclusive {
		q.exclusiveC = false
	}
	last := len(q.consumers) == 0
	autoDelete := last && q.autoDelete && !q.deleted
	if last {
		now := time.Now().UnixNano()
		q.touchLocked(now)
		q.endFlowLocked()
		q.capacity.note(now, false, false)
	}
	q.mu.Unlock()
	if autoDelete {
		q.vh.deleteQueue(q)
	} else if q.config().singleActive && i == 0 && !last {
		q.kick() // the next consumer becomes active
	}
}

// markDeleted stops the queue and returns its consumers for cancel notices.
// Its logged messages, ready or still unacked, are settled in storage.
func (q *Queue) markDeleted() (int, []*Consumer) {
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return 0, nil
	}
	q.deleted = true
	q.endFlowLocked()
	n := q.ready.count
	for _, e := range q.ready.clear() {
		q.forgetLocked(e)
	}
	cs := q.consumers
	q.consumers = nil
	if q.expiryTimer != nil {
		q.expiryTimer.Stop()
	}
	if q.idleTimer != nil {
		q.idleTimer.Stop()
	}
	if q.delayTimer != nil {
		q.delayTimer.Stop()
	}
	if q.leaseTimer != nil {
		q.leaseTimer.Stop()
	}
	for _, it := range q.delayed {
		q.forgetLocked(it.e)
	}
	q.delayed, q.delayedBytes, q.delayedResident = nil, 0, 0
	q.wakeAllPollersLocked()
	q.release()
	return n, cs
}
