package broker

import (
	"sort"

	"github.com/sluice-mq/sluice/broker/message"
)

// What the management API shows of a session (RabbitMQ's channel
// objects) and of its consumers (/api/consumers). These are read by the
// API a few times a second at most: they take the session's lock and
// each consumer's queue lock briefly, one after the other (never both,
// so they keep the queue-then-session lock order of deliveries).

// SessionInfo is a session's state for a channel listing.
type SessionInfo struct {
	Consumers int
	// Unacked is deliveries and gets waiting for their ack.
	Unacked int
	// PrefetchCount is the per-consumer prefetch new consumers get
	// (basic.qos with global false); GlobalPrefetchCount the channel-wide
	// one (global true). 0 is no limit.
	PrefetchCount       int
	GlobalPrefetchCount int
}

// Info returns the session's consumer count, unacknowledged deliveries
// and prefetch settings.
func (s *Session) Info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionInfo{Consumers: len(s.consumers), Unacked: s.live,
		PrefetchCount: s.consCount, GlobalPrefetchCount: s.chanCount}
}

// ConsumerInfo describes one consumer.
type ConsumerInfo struct {
	Tag   string
	Queue string
	VHost string
	// AckRequired is false for a no-ack (auto-ack) consumer.
	AckRequired bool
	Exclusive   bool
	// PrefetchCount is the consumer's own prefetch (0: none).
	PrefetchCount int
	// Active is false for a consumer waiting behind the active one of a
	// single-active-consumer queue.
	Active bool
	// SingleActive says the queue has single active consumer on.
	SingleActive bool
	// Arguments are the consume arguments as the client gave them; never nil.
	Arguments message.Table
}

// Consumers lists the session's consumers, by tag.
func (s *Session) Consumers() []ConsumerInfo {
	type seen struct {
		c    *Consumer
		info ConsumerInfo
	}
	s.mu.Lock()
	cs := make([]seen, 0, len(s.consumers))
	for _, c := range s.consumers {
		args := c.args
		if args == nil {
			args = message.Table{}
		}
		cs = append(cs, seen{c, ConsumerInfo{Tag: c.tag, Queue: c.q.name, VHost: s.vh.name, AckRequired: !c.noAck,
			Exclusive: c.exclusive, PrefetchCount: c.prefetchCount, Arguments: args}})
	}
	s.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].info.Tag < cs[j].info.Tag })
	out := make([]ConsumerInfo, len(cs))
	for i, e := range cs {
		out[i] = e.info
		out[i].SingleActive = e.c.q.config().singleActive
		out[i].Active = e.c.q.consumerActive(e.c)
	}
	return out
}

// consumerActive reports whether c gets deliveries: every consumer does,
// except those behind the first of a single-active-consumer queue.
func (q *Queue) consumerActive(c *Consumer) bool {
	if !q.config().singleActive {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.consumers) > 0 && q.consumers[0] == c
}

// nonEmpty is t, or nil when t is empty: most consumers have no arguments,
// and an empty table kept per consumer would cost a map each.
func nonEmpty(t message.Table) message.Table {
	if len(t) == 0 {
		return nil
	}
	return t
}
