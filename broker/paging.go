package broker

// Paging keeps a backlog's bodies out of memory.
//
// A queue keeps the bodies of its ready messages in memory up to
// Config.ResidentBytes. Past that, a newly enqueued message that storage
// already holds (a persistent message in a durable queue, logged before it
// was enqueued) drops its body at once: the entry keeps only its storage id
// and size (entry is 64 bytes). Under memory pressure (SetMemoryPressure)
// transient messages go the same way: they are spilled to the log without
// an fsync and are never recovered after a restart.
//
// A paged-out message is read back when it is about to be handed out
// (delivery, get) or dead-lettered. That read happens under the queue's
// lock: it is a pread of a record the kernel usually still caches, and a
// queue drains its backlog in order, so reads are sequential. Delivered
// messages keep their bodies until settled; there are at most prefetch of
// them per consumer.

// DefaultResidentBytes is the default of Config.ResidentBytes.
const DefaultResidentBytes = 8 << 20

// spillBatch bounds how many entries a queue pages out per lock hold when
// memory pressure starts, so publishers and consumers get the lock between
// batches.
const spillBatch = 1024

// SetMemoryPressure turns paging of transient messages on or off. Turning
// it on also pages out the resident backlogs of every queue beyond their
// resident limit.
func (b *Broker) SetMemoryPressure(on bool) {
	if b.pressure.Swap(on) == on || !on || b.store == nil {
		return
	}
	for _, name := range b.VHosts() {
		v, ok := b.VHost(name)
		if !ok {
			continue
		}
		for _, q := range v.Queues() {
			q.pageOutBacklog()
		}
	}
}

// MemoryPressure reports whether transient messages are being paged out.
func (b *Broker) MemoryPressure() bool { return b.pressure.Load() }

// residentLimit is the bytes of ready bodies the queue keeps in memory, or
// -1 when it never pages.
func (q *Queue) residentLimit() int64 {
	if q.vh.b.store == nil {
		return -1
	}
	return q.vh.b.cfg.ResidentBytes
}

// maybePageOutLocked pages out e, just enqueued and still ready, when the
// queue holds more resident bodies than its limit. q.mu held.
func (q *Queue) maybePageOutLocked(e *entry) {
	if e.msg == nil || e.deliveries > 0 {
		return
	}
	if limit := q.residentLimit(); limit < 0 || q.ready.residentBytes <= limit {
		return
	}
	q.pageOutLocked(e)
}

// pageOutLocked drops the body of ready entry e when storage has (or now
// takes) a copy. q.mu held.
func (q *Queue) pageOutLocked(e *entry) bool {
	st := q.vh.b.store
	switch {
	case e.msg == nil || st == nil:
		return false
	case e.pid != 0:
		// Logged before it was enqueued (or spilled already).
	case q.vh.b.pressure.Load():
		id := q.vh.b.nextMsgID.Add(1)
		if err := st.Spill(id, e.msg); err != nil {
			return false
		}
		e.pid, e.spilled = id, true
	default:
		return false
	}
	q.ready.resident--
	q.ready.residentBytes -= e.size()
	e.msg = nil
	return true
}

// loadLocked reads a paged-out message back. inReady says whether e is in
// the ready list (for its resident counts). It reports false, after logging,
// when the message cannot be read: the caller drops the entry. q.mu held.
func (q *Queue) loadLocked(e *entry, inReady bool) bool {
	if e.msg != nil {
		return true
	}
	m, err := q.vh.b.store.ReadMessage(e.pid)
	if err != nil {
		q.vh.b.log.Error().Err(err).Str("vhost", q.vh.name).Str("queue", q.name).Uint64("message", e.pid).
			Msg("cannot read a paged-out message back; it is dropped")
		return false
	}
	e.msg = m
	if inReady {
		q.ready.resident++
		q.ready.residentBytes += e.size()
	}
	return true
}

// pageOutBacklog pages out ready messages beyond the resident limit,
// newest first, in batches of spillBatch per lock hold. Each batch goes on
// from where the last stopped (give or take what was taken from the head
// meanwhile), so a long queue is walked once.
func (q *Queue) pageOutBacklog() {
	limit := q.residentLimit()
	if limit < 0 {
		return
	}
	var from []int // per level: the index to go on from; -1 done
	for {
		q.mu.Lock()
		if from == nil {
			from = make([]int, len(q.ready.levels))
			for i := range from {
				from[i] = q.ready.levels[i].len() - 1
			}
		}
		n := 0
		for i := range q.ready.levels {
			d := &q.ready.levels[i]
			k := min(from[i], d.len()-1)
			for ; k >= 0 && n < spillBatch && q.ready.residentBytes > limit && !q.deleted; k-- {
				if e := d.at(k); e.msg != nil && q.pageOutLocked(e) {
					n++
				}
			}
			from[i] = k
			if n == spillBatch {
				break
			}
		}
		done := n < spillBatch || q.ready.residentBytes <= limit || q.deleted
		q.mu.Unlock()
		if done {
			return
		}
	}
}

// Memory describes a queue's use of memory for its ready messages.
type Memory struct {
	Resident      int   // ready messages whose body is in memory
	ResidentBytes int64 // their body bytes
	PagedOut      int   // ready messages whose body is in storage only
}

// Memory reports the queue's resident and paged-out ready messages.
func (q *Queue) Memory() Memory {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Memory{Resident: q.ready.resident, ResidentBytes: q.ready.residentBytes,
		PagedOut: q.ready.count - q.ready.resident}
}
