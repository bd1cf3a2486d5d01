package broker

import "github.com/sluice-mq/sluice/broker/message"

// entry is a queue's own record of one message: what differs per queue while
// the *message.Message itself is shared by every queue it was routed to.
// It is kept small (64 bytes) because a backlog holds one per message even
// when the bodies are paged out: the rarely used state lives in x.
type entry struct {
	// msg is nil while the message is paged out: then storage holds it
	// under pid (see paging.go).
	msg *message.Message
	// seq orders the queue: a requeued message goes back to its place by seq.
	seq uint64
	// pid is the message's id in storage when this durable queue's copy
	// is logged, or when a transient message was spilled (spilled set);
	// 0 for a message that lives in memory only.
	pid uint64
	// expiresAt is the unix-nano deadline from x-message-ttl or the message's
	// expiration, whichever is sooner; 0 means never.
	expiresAt int64
	// publishedAt is when the message reached this queue (unix nanos; the
	// publish's time as logged, after a restart): SQS's SentTimestamp for a
	// message an AMQP or STOMP client sent. It fits the entry's size class.
	publishedAt int64
	// bytes is the body size, known while the body is paged out.
	bytes uint32
	// deliveries counts how often the message was handed out; its first
	// redelivery sets redelivered.
	deliveries uint32
	// returns counts how often the message came back unacked (nack with
	// requeue, a closed session, an expired lease): the x-delivery-limit
	// counter, shown to consumers as x-delivery-count.
	returns     uint32
	priority    uint8
	redelivered bool
	spilled     bool
	gone        bool // left the queue for good (for the read-ahead)
	x           *entryExt
}

// entryExt is the state only delayed, leased or grouped messages need.
type entryExt struct {
	// notBefore is the unix-nano time a delayed message becomes ready.
	notBefore int64
	// While delivered with a visibility lease: who holds it, under which
	// tag, and until when. leaseGen tells a current heap item from a stale
	// one after an ack or an extension.
	holder     *Session
	tag        uint64
	leaseUntil int64
	leaseGen   uint32
	// firstLeased is the unix-nano time of the first lease: the first
	// delivery of a message on a queue with a visibility lease (SQS's
	// ApproximateFirstReceiveTimestamp). In memory only.
	firstLeased int64
	// group is the message group on queues with x-message-groups.
	group string
}

func newEntry(m *message.Message, seq, pid uint64) *entry {
	return &entry{msg: m, seq: seq, pid: pid, bytes: uint32(len(m.Body))}
}

func (e *entry) size() int64 { return int64(e.bytes) }

// ext returns e's extension, creating it.
func (e *entry) ext() *entryExt {
	if e.x == nil {
		e.x = &entryExt{}
	}
	return e.x
}

func (e *entry) group() string {
	if e.x == nil {
		return ""
	}
	return e.x.group
}

// firstLeased is when e was first delivered under a lease, or 0.
func (e *entry) firstLeased() int64 {
	if e.x == nil {
		return 0
	}
	return e.x.firstLeased
}

// holder is the session holding e's visibility lease, or nil.
func (e *entry) holder() *Session {
	if e.x == nil {
		return nil
	}
	return e.x.holder
}

// deque is a ring buffer of entries ordered by seq.
type deque struct {
	buf        []*entry
	head, size int
}

func (d *deque) len() int { return d.size }

func (d *deque) at(i int) *entry { return d.buf[(d.head+i)%len(d.buf)] }

func (d *deque) grow() {
	n := len(d.buf) * 2
	if n == 0 {
		n = 16
	}
	nb := make([]*entry, n)
	for i := 0; i < d.size; i++ {
		nb[i] = d.at(i)
	}
	d.buf, d.head = nb, 0
}

func (d *deque) pushBack(e *entry) {
	if d.size == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.size)%len(d.buf)] = e
	d.size++
}

func (d *deque) peek() *entry {
	if d.size == 0 {
		return nil
	}
	return d.buf[d.head]
}

func (d *deque) popFront() *entry {
	e := d.buf[d.head]
	d.buf[d.head] = nil
	d.head = (d.head + 1) % len(d.buf)
	d.size--
	if d.size == 0 {
		d.head = 0
		if len(d.buf) > 1024 {
			// Give back the memory of a long backlog once it has drained.
			d.buf = nil
		}
	}
	return e
}

func (d *deque) popBack() *entry {
	i := (d.head + d.size - 1) % len(d.buf)
	e := d.buf[i]
	d.buf[i] = nil
	d.size--
	return e
}

// insert puts a requeued entry back at its place by seq. Requeued entries are
// almost always older than everything ready, so the search starts at the front.
func (d *deque) insert(e *entry) {
	if d.size == len(d.buf) {
		d.grow()
	}
	pos := 0
	for pos < d.size && d.at(pos).seq < e.seq {
		pos++
	}
	// Shift the tail one slot right to open pos.
	for i := d.size; i > pos; i-- {
		d.buf[(d.head+i)%len(d.buf)] = d.buf[(d.head+i-1)%len(d.buf)]
	}
	d.buf[(d.head+pos)%len(d.buf)] = e
	d.size++
}

// readyList holds a queue's ready messages: one deque per priority level,
// highest level served first. A queue without x-max-priority has one level.
type readyList struct {
	levels []deque
	count  int
	bytes  int64
	// resident and residentBytes count the ready entries whose message is
	// in memory (not paged out).
	resident      int
	residentBytes int64
}

// add and sub keep the counts as e enters or leaves the list.
func (r *readyList) add(e *entry) {
	r.count++
	r.bytes += e.size()
	if e.msg != nil {
		r.resident++
		r.residentBytes += e.size()
	}
}

func (r *readyList) sub(e *entry) {
	r.count--
	r.bytes -= e.size()
	if e.msg != nil {
		r.resident--
		r.residentBytes -= e.size()
	}
}

func newReadyList(maxPriority uint8) readyList {
	return readyList{levels: make([]deque, int(maxPriority)+1)}
}

func (r *readyList) level(p uint8) *deque {
	if int(p) >= len(r.levels) {
		p = uint8(len(r.levels) - 1)
	}
	return &r.levels[p]
}

func (r *readyList) push(e *entry) {
	r.level(e.priority).pushBack(e)
	r.add(e)
}

func (r *readyList) requeue(e *entry) {
	r.level(e.priority).insert(e)
	r.add(e)
}

// peek returns the next entry to deliver: the head of the highest non-empty level.
func (r *readyList) peek() *entry {
	for i := len(r.levels) - 1; i >= 0; i-- {
		if e := r.levels[i].peek(); e != nil {
			return e
		}
	}
	return nil
}

func (r *readyList) pop() *entry {
	for i := len(r.levels) - 1; i >= 0; i-- {
		if r.levels[i].len() > 0 {
			e := r.levels[i].popFront()
			r.sub(e)
			return e
		}
	}
	return nil
}

// popOldest removes the message x-overflow drop-head drops: the head of the
// lowest non-empty priority level, as RabbitMQ's priority queues do.
func (r *readyList) popOldest() *entry {
	for i := range r.levels {
		if r.levels[i].len() > 0 {
			e := r.levels[i].popFront()
			r.sub(e)
			return e
		}
	}
	return nil
}

// popNewest removes the most recently pushed entry.
func (r *readyList) popNewest(e *entry) {
	d := r.level(e.priority)
	if d.len() > 0 && d.at(d.len()-1) == e {
		d.popBack()
		r.sub(e)
	}
}

// remove takes e out of the middle of its level (message groups).
func (r *readyList) remove(e *entry) {
	d := r.level(e.priority)
	for k := 0; k < d.len(); k++ {
		if d.at(k) != e {
			continue
		}
		for i := k; i > 0; i-- {
			d.buf[(d.head+i)%len(d.buf)] = d.buf[(d.head+i-1)%len(d.buf)]
		}
		d.buf[d.head] = nil
		d.head = (d.head + 1) % len(d.buf)
		d.size--
		r.sub(e)
		return
	}
}

func (r *readyList) clear() []*entry {
	var all []*entry
	for i := range r.levels {
		for r.levels[i].len() > 0 {
			all = append(all, r.levels[i].popFront())
		}
	}
	r.count, r.bytes, r.resident, r.residentBytes = 0, 0, 0, 0
	return all
}
