package broker

import "time"

// QueueMetrics is what a metrics scrape reads of a queue: its counts, its
// paging state and its message counters, taken under one hold of its lock.
type QueueMetrics struct {
	Stats  QueueStats
	Memory Memory // DelayedResidentBytes is left at 0: it takes a walk
	Counts MessageCounts
	// ConsumerCapacity as QueueDetails has it (consumer_capacity.go).
	ConsumerCapacity float64
}

// Metrics returns the queue's figures for a scrape. Unlike Memory it does
// not walk the delayed messages, so that a scrape every few seconds holds
// the lock of a queue with a large delayed backlog no longer than of any
// other.
func (q *Queue) Metrics() QueueMetrics {
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueMetrics{
		Stats: QueueStats{Ready: q.ready.count, Unacked: q.unacked, Delayed: len(q.delayed), Consumers: len(q.consumers),
			ReadyBytes: q.ready.bytes, UnackedBytes: q.unackedBytes, Persistent: q.persistent, PersistentBytes: q.persistentBytes},
		Memory: Memory{Unreadable: q.unreadable, Resident: q.ready.resident, ResidentBytes: q.ready.residentBytes,
			PagedOut: q.ready.count - q.ready.resident, ReadsAhead: q.readsAhead, ReadsInline: q.readsInline},
		Counts:           q.counts.snapshot(),
		ConsumerCapacity: q.capacity.value(time.Now().UnixNano()),
	}
}
