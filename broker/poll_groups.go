package broker

// Long polling on a queue with message groups (x-message-groups, SQS FIFO
// queues): a ready message whose group has a message in flight cannot be
// handed out, so "the queue has ready messages" is not "a getter would get
// one". A getter that only looked at the ready count spun on such a queue
// until the group was free, ignoring its deadline.

// deliverableLocked reports whether a get would find a message now:
// something ready and, with message groups, of a group with nothing in
// flight. It changes nothing (expired heads are left for the getter to
// drop). q.mu held.
func (q *Queue) deliverableLocked() bool {
	if q.ready.count == 0 {
		return false
	}
	if !q.config().groups || len(q.busy) == 0 {
		return true
	}
	for i := len(q.ready.levels) - 1; i >= 0; i-- {
		d := &q.ready.levels[i]
		for k := 0; k < d.len(); k++ {
			if q.busy[d.at(k).group()] == 0 {
				return true
			}
		}
	}
	return false
}
