package broker

import (
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

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
// Paged-out messages are read back ahead of need, off the queue's lock: when
// a dispatch leaves a paged-out message within readAheadWindow of the head,
// a read-ahead goroutine (one per queue, while needed) collects the next
// paged-out entries under the lock, reads them without it, and attaches
// them under it again. No read ever happens under the queue's lock: a
// dispatch that meets a paged-out message stops and leaves it to the
// read-ahead, which dispatches after each pass; basic.get reads its message
// with the lock released (counted as an inline read); dead-lettering reads
// a paged-out message after the queue lock is gone. Delivered messages
// keep their bodies until settled; prefetch bounds them.

// DefaultResidentBytes is the default of Config.ResidentBytes.
const DefaultResidentBytes = 8 << 20

// readAheadWindow is how far behind the head a paged-out message starts a
// read-ahead, and readAheadBatch how many messages one pass reads.
const (
	readAheadWindow = 128
	readAheadBatch  = 256
)

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
	if e.msg == nil || !q.storeBodyLocked(e) {
		return false
	}
	q.ready.resident--
	q.ready.residentBytes -= e.size()
	e.msg = nil
	return true
}

// storeBodyLocked makes sure storage holds e's message, so that its body
// can leave memory: a logged message already is there; a transient one is
// spilled, but only under memory pressure. q.mu held.
func (q *Queue) storeBodyLocked(e *entry) bool {
	st := q.vh.b.store
	switch {
	case st == nil:
		return false
	case e.pid != 0:
		return true // logged before it was enqueued (or spilled already)
	case q.vh.b.pressure.Load():
		id := q.vh.b.nextMsgID.Add(1)
		if err := st.Spill(id, e.msg); err != nil {
			return false
		}
		e.pid, e.spilled = id, true
		q.spills = append(q.spills, id) // written by release, off the lock
		return true
	}
	return false
}

// pageOutDelayedLocked pages out delayed message e, just parked, when the
// queue's resident bodies (ready and delayed) pass its limit; otherwise it
// counts e as resident. A delayed backlog thus waits on disk too, and comes
// back through the read-ahead once due. q.mu held.
func (q *Queue) pageOutDelayedLocked(e *entry) {
	if e.msg == nil {
		return
	}
	limit := q.residentLimit()
	if limit >= 0 && q.ready.residentBytes+q.delayedResident+e.size() > limit && q.storeBodyLocked(e) {
		e.msg = nil
		return
	}
	q.delayedResident += e.size()
}

// attachLocked gives ready entry e its body m, read back off the lock. q.mu
// held.
func (q *Queue) attachLocked(e *entry, m *message.Message) {
	e.msg = m
	q.ready.resident++
	q.ready.residentBytes += e.size()
}

// unreadableLocked sets aside ready entry e, whose body storage could not
// read back (a read error, a key gone from the keyring): it leaves the
// queue unsettled, is logged and counted (see setAsideLocked). q.mu held.
func (q *Queue) unreadableLocked(e *entry, err error) {
	q.takeLocked(e)
	q.setAsideLocked(e)
	q.unreadable++
	q.logUnreadable(e, err)
}

// countUnreadable is unreadableLocked for an entry that already left the
// queue (a dead letter), called without q.mu.
func (q *Queue) countUnreadable(e *entry, err error) {
	q.mu.Lock()
	q.unreadable++
	q.mu.Unlock()
	q.logUnreadable(e, err)
}

func (q *Queue) logUnreadable(e *entry, err error) {
	q.vh.b.unreadable.Add(1)
	q.vh.b.log.Error().Err(err).Str("vhost", q.vh.name).Str("queue", q.name).Uint64("message", e.pid).
		Msg("cannot read a paged-out message back; it stays in the log, unsettled, and is offered again after a restart")
}

// fetchLocked reads ready entry e's body back for a caller that cannot
// wait for the read-ahead (basic.get): it releases q.mu for the read and
// takes it again, so the queue may have changed meanwhile; the caller
// looks for its next message afresh. No I/O happens under the queue's
// lock. q.mu held.
func (q *Queue) fetchLocked(e *entry) {
	pid := e.pid
	q.readsInline++
	q.mu.Unlock()
	m, err := q.vh.b.store.ReadMessage(pid)
	q.mu.Lock()
	if e.gone || e.msg != nil {
		return // taken, settled or loaded by someone else meanwhile
	}
	if err != nil {
		q.unreadableLocked(e, err)
		return
	}
	q.attachLocked(e, m)
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
		q.release() // writes the spills it registered
		if done {
			return
		}
	}
}

// readAheadLocked starts the read-ahead when it is needed and not running.
// q.mu held.
func (q *Queue) readAheadLocked() {
	if !q.loading && q.needReadAheadLocked() && q.vh.b.tasks.begin() {
		q.loading = true
		go func() {
			defer q.vh.b.tasks.end()
			q.readAhead()
		}()
	}
}

// needReadAheadLocked reports whether a dispatch waits for a paged-out
// message, or the head of the top priority level, or the message
// readAheadWindow behind it, is paged out. q.mu held.
func (q *Queue) needReadAheadLocked() bool {
	if q.deleted || q.ready.resident == q.ready.count || q.vh.b.store == nil {
		return false
	}
	if w := q.wanted; w != nil && !w.gone && w.msg == nil {
		return true
	}
	for i := len(q.ready.levels) - 1; i >= 0; i-- {
		if d := &q.ready.levels[i]; d.len() > 0 {
			return d.peek().msg == nil || d.at(min(readAheadWindow, d.len()-1)).msg == nil
		}
	}
	return false
}

// readAhead loads paged-out messages off the lock — first the one a
// dispatch waits for (q.wanted), then from the head on: up to
// readAheadBatch messages and a quarter of the resident limit (at least
// 1 MiB) per pass, passes until the head is covered again. After each
// pass it dispatches what it loaded: dispatch itself never reads, so a
// consumer that outran the read-ahead waits for it here.
func (q *Queue) readAhead() {
	type job struct {
		e   *entry
		pid uint64
		m   *message.Message
		err error
	}
	jobs := make([]job, 0, readAheadBatch+1)
	budget := max(q.residentLimit()/4, 1<<20)
	for {
		q.mu.Lock()
		if !q.needReadAheadLocked() {
			q.loading = false
			q.mu.Unlock()
			return
		}
		jobs = jobs[:0]
		if w := q.wanted; w != nil && !w.gone && w.msg == nil {
			jobs = append(jobs, job{e: w, pid: w.pid})
		}
		q.wanted = nil
		var bytes int64
		scanned := 0
	levels:
		for i := len(q.ready.levels) - 1; i >= 0; i-- {
			d := &q.ready.levels[i]
			for k := 0; k < d.len(); k++ {
				if len(jobs) >= readAheadBatch || bytes >= budget || scanned == 4*readAheadBatch {
					break levels
				}
				scanned++
				if e := d.at(k); e.msg == nil && (len(jobs) == 0 || jobs[0].e != e) {
					jobs = append(jobs, job{e: e, pid: e.pid})
					bytes += e.size()
				}
			}
		}
		q.mu.Unlock()
		st := q.vh.b.store
		for i := range jobs {
			jobs[i].m, jobs[i].err = st.ReadMessage(jobs[i].pid)
		}
		q.mu.Lock()
		for _, j := range jobs {
			e := j.e
			if e.gone || e.msg != nil {
				continue // taken or settled meanwhile
			}
			if j.err != nil {
				q.unreadableLocked(e, j.err)
				continue
			}
			q.attachLocked(e, j.m)
			q.readsAhead++
		}
		if len(q.consumers) > 0 {
			q.dispatchLocked(time.Now().UnixNano())
		}
		q.release()
	}
}

// Memory describes a queue's use of memory for its ready messages.
type Memory struct {
	Resident      int   // ready messages whose body is in memory
	ResidentBytes int64 // their body bytes
	PagedOut      int   // ready messages whose body is in storage only
	// DelayedResidentBytes is the body bytes of delayed messages in memory.
	DelayedResidentBytes int64
	// Paged-out messages read back by the read-ahead, and inline (under
	// the queue's lock, when consumers outran the read-ahead).
	ReadsAhead, ReadsInline int64
	// Unreadable counts messages whose body could not be read back; each
	// was set aside, never discarded (see setAsideLocked).
	Unreadable int64
}

// Memory reports the queue's resident and paged-out ready messages.
func (q *Queue) Memory() Memory {
	q.mu.Lock()
	defer q.mu.Unlock()
	// Counted afresh rather than taken from the counter paging decides by,
	// so that the figure checks the bookkeeping; an admin call can afford
	// a walk over the delayed messages.
	var delayed int64
	for _, it := range q.delayed {
		if it.e.msg != nil {
			delayed += it.e.size()
		}
	}
	return Memory{Unreadable: q.unreadable, Resident: q.ready.resident, ResidentBytes: q.ready.residentBytes,
		PagedOut: q.ready.count - q.ready.resident, ReadsAhead: q.readsAhead, ReadsInline: q.readsInline,
		DelayedResidentBytes: delayed}
}
