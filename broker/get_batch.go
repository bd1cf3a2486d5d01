package broker

import (
	"context"
	"time"
)

// Batch gets: up to n messages in one call, under one hold of the queue's
// lock (the SQS API's ReceiveMessage with MaxNumberOfMessages). On a queue
// with message groups (x-message-groups, SQS FIFO queues) a batch is more
// than n single gets: a group that has a message in flight gives no
// message to anyone else, but the batch that took it may take the group's
// next messages too, in order, as SQS returns several messages of one group
// in one receive. And as SQS does ("first attempts to return as many
// messages with the same message group ID as possible"), a batch goes on
// with the group it took last before it starts another.

// sameGroupScan bounds the search for the next message of the group a
// batch took last: past it, the batch takes the first free group's message
// as a single get would. The search is linear in the ready messages ahead
// of that message; the bound keeps a batch on a deep queue cheap.
const sameGroupScan = 4096

// GetBatch takes up to n ready messages of queue, as Get does one at a
// time; none when the queue has nothing deliverable.
func (s *Session) GetBatch(queue string, n int, noAck bool) ([]Delivery, error) {
	q, err := s.vh.queueFor(queue, s.owner)
	if err != nil {
		return nil, err
	}
	ds := q.getBatch(s, n, noAck)
	if len(ds) == 0 {
		s.countEmptyGet(q)
	}
	return ds, nil
}

// GetBatchWait is GetBatch that waits, until ctx ends, for a deliverable
// message on a queue that has none, and then takes what is there (at least
// one). It returns nothing when ctx ended first.
func (s *Session) GetBatchWait(ctx context.Context, queue string, n int, noAck bool) ([]Delivery, error) {
	q, err := s.vh.queueFor(queue, s.owner)
	if err != nil {
		return nil, err
	}
	var ds []Delivery
	err = s.pollUntil(ctx, q, queue, func() bool {
		ds = q.getBatch(s, n, noAck)
		return len(ds) > 0
	})
	return ds, err
}

// getBatch hands out up to n messages to s.
func (q *Queue) getBatch(s *Session, n int, noAck bool) []Delivery {
	q.mu.Lock()
	now := time.Now().UnixNano()
	q.lastUsed = now
	defer q.release()
	var out []Delivery
	// taken counts this batch's messages in flight per group, so that a
	// group whose only messages in flight are this batch's stays open to
	// it; last is the group of the batch's latest message.
	var taken map[string]int
	last, haveLast := "", false
	groups := q.config().groups && !noAck
	for len(out) < n {
		e := q.nextInBatchLocked(now, taken, last, haveLast)
		for e != nil && e.msg == nil {
			q.fetchLocked(e) // releases the lock for the read
			now = time.Now().UnixNano()
			e = q.nextInBatchLocked(now, taken, last, haveLast)
		}
		if e == nil {
			break
		}
		out = append(out, q.handOutLocked(s, e, noAck))
		if groups {
			if taken == nil {
				taken = map[string]int{}
			}
			last, haveLast = e.group(), true
			taken[last]++
		}
	}
	q.dropExpiredHeadsLocked(now)
	q.armExpiryLocked(now)
	return out
}

// nextInBatchLocked is nextLocked for a batch that holds taken messages in
// flight per group and took group last most recently: the next message of
// that group if one is ready (within sameGroupScan), else the first
// message whose group has nothing in flight but this batch's. q.mu held.
func (q *Queue) nextInBatchLocked(now int64, taken map[string]int, last string, haveLast bool) *entry {
	if len(taken) == 0 {
		return q.nextLocked(now)
	}
	q.dropExpiredHeadsLocked(now)
	if haveLast && q.busy[last] == taken[last] {
		seen := 0
	scan:
		for i := len(q.ready.levels) - 1; i >= 0; i-- {
			d := &q.ready.levels[i]
			for k := 0; k < d.len(); k++ {
				if e := d.at(k); e.group() == last {
					return e
				}
				if seen++; seen >= sameGroupScan {
					break scan
				}
			}
		}
	}
	for i := len(q.ready.levels) - 1; i >= 0; i-- {
		d := &q.ready.levels[i]
		for k := 0; k < d.len(); k++ {
			if e := d.at(k); q.busy[e.group()] == taken[e.group()] {
				return e
			}
		}
	}
	return nil
}
