package broker

import "time"

// capacityMeter measures a queue's consumer capacity, what RabbitMQ's
// management API calls consumer_capacity (and, before 3.10, consumer
// utilisation): the share of recent time in which the queue could hand a
// message to a consumer at once. Time in which messages wait while every
// consumer is out of credit (prefetch, byte credit) counts against it;
// time with no message waiting, or with a consumer that could take one,
// counts for it. A value below 1 says that consumers, not the queue,
// hold messages back: more consumers or a larger prefetch would help.
//
// The state is judged where it changes, at the end of each dispatch
// (dispatchLocked), so the meter costs a comparison per dispatch and a
// few additions per change. Time is summed into two windows of
// capacityWindow each, the current and the one before, so the value
// speaks of the last five to ten seconds (and of the current state
// however long it has lasted). All under the queue's lock.
type capacityMeter struct {
	on       bool  // the queue has consumers: the meter runs
	blocked  bool  // messages wait and no consumer can take one
	since    int64 // when the current state began (ns)
	cur, old capacitySpan
}

// capacitySpan sums time from start: all of it, and the part in which
// consumers could take messages.
type capacitySpan struct {
	start, total, free int64
}

const capacityWindow = int64(5 * time.Second)

// note records the state at now: whether the queue has consumers and
// whether they are blocked.
func (m *capacityMeter) note(now int64, consumers bool, blocked bool) {
	if !consumers {
		*m = capacityMeter{}
		return
	}
	if !m.on {
		*m = capacityMeter{on: true, blocked: blocked, since: now, cur: capacitySpan{start: now}}
		return
	}
	if blocked == m.blocked {
		return
	}
	m.account(now)
	m.blocked = blocked
}

// account adds the time since the state began to the current span, and
// starts a new span once the current one is a window old. A state that
// lasted a window or more is the whole of the recent past by itself.
func (m *capacityMeter) account(now int64) {
	d := now - m.since
	free := d
	if m.blocked {
		free = 0
	}
	m.since = now
	if d >= capacityWindow {
		m.old, m.cur = capacitySpan{start: now - d, total: d, free: free}, capacitySpan{start: now}
		return
	}
	if d > 0 {
		m.cur.total += d
		m.cur.free += free
	}
	if now-m.cur.start >= capacityWindow {
		m.old, m.cur = m.cur, capacitySpan{start: now}
	}
}

// value is the capacity at now, from 0 to 1; 0 without consumers, as
// RabbitMQ reports a queue no one consumes from.
func (m *capacityMeter) value(now int64) float64 {
	if !m.on {
		return 0
	}
	total, free := m.cur.total+m.old.total, m.cur.free+m.old.free
	if d := now - m.since; d > 0 {
		total += d
		if !m.blocked {
			free += d
		}
	}
	if total <= 0 {
		if m.blocked {
			return 0
		}
		return 1
	}
	return float64(free) / float64(total)
}
