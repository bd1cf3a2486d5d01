package broker

import (
	"sync"
	"sync/atomic"
)

// Message counters: how many messages went through each queue, exchange,
// session, vhost and the broker since it started, for the management
// API's message_stats and for /metrics. They only ever grow; rates are
// computed by whoever samples them (server/message_stats.go).
//
// The data path pays as little as possible for them:
//   - A queue's counters are plain fields written under q.mu, which every
//     place that counts (enqueue, deliver, get, settle) already holds:
//     no atomic and no extra lock per message. Readers take q.mu briefly.
//   - A session's delivery-side counters are plain fields under s.mu, held
//     where they count; its publish-side counters are atomics written only
//     by its one publishing goroutine, so their cache line stays with it.
//   - An exchange's counters are atomics (a publish holds no lock that
//     would cover them): two adds on one cache line per publish.
//   - A vhost's totals are not counted at all on the data path: they are
//     summed at read time over its exchanges (publish side) and queues
//     (delivery side), plus what deleted ones had counted; the broker's
//     are summed over its vhosts. Reading is O(queues + exchanges), which
//     a sampler does once every few seconds.

// MessageCounts are cumulative message counters, with the meanings of
// RabbitMQ's message_stats. Not every field applies to every object: a
// queue has no Confirm or unroutable counts, an exchange no deliveries.
type MessageCounts struct {
	// Publish is, for a queue, messages routed into it from a publish;
	// for an exchange, messages published to it (RabbitMQ's publish_in);
	// for a session, vhost or the broker, messages received from
	// publishers.
	Publish uint64
	// PublishOut is, for an exchange, how many queue copies its publishes
	// were routed to (RabbitMQ's publish_out).
	PublishOut uint64
	// Confirm is publishes whose publisher asked to be told the outcome
	// (an AMQP confirm, a STOMP receipt, an SQS send) and that were
	// taken. Counted when the publish is handed to the queues, not when
	// the fsync lets the confirm go out.
	Confirm uint64
	// ReturnUnroutable and DropUnroutable count publishes that reached no
	// queue: returned to a mandatory publisher, or dropped.
	ReturnUnroutable uint64
	DropUnroutable   uint64
	// Deliveries to consumers, with and without manual acknowledgement.
	Deliver      uint64
	DeliverNoAck uint64
	// Gets (basic.get, STOMP-less pulls, SQS receives) that returned a
	// message, with and without acknowledgement, and those that found the
	// queue empty.
	Get      uint64
	GetNoAck uint64
	GetEmpty uint64
	// Ack is messages acknowledged by clients.
	Ack uint64
	// Redeliver is deliveries and gets of messages delivered before.
	Redeliver uint64
	// Duplicate is messages de-duplication recognised and dropped
	// (x-message-deduplication on a queue or an exchange).
	Duplicate uint64
	// FlowHeld is publishes after which the publisher was held back by
	// flow control (a congested queue; broker/flow.go).
	FlowHeld uint64
}

// DeliverGet is RabbitMQ's deliver_get: every message handed out.
func (c MessageCounts) DeliverGet() uint64 {
	return c.Deliver + c.DeliverNoAck + c.Get + c.GetNoAck
}

// add adds o to c, field by field.
func (c *MessageCounts) add(o MessageCounts) {
	c.Publish += o.Publish
	c.PublishOut += o.PublishOut
	c.Confirm += o.Confirm
	c.ReturnUnroutable += o.ReturnUnroutable
	c.DropUnroutable += o.DropUnroutable
	c.Deliver += o.Deliver
	c.DeliverNoAck += o.DeliverNoAck
	c.Get += o.Get
	c.GetNoAck += o.GetNoAck
	c.GetEmpty += o.GetEmpty
	c.Ack += o.Ack
	c.Redeliver += o.Redeliver
	c.Duplicate += o.Duplicate
	c.FlowHeld += o.FlowHeld
}

// atLeast raises each field of c to o's where o's is larger.
func (c *MessageCounts) atLeast(o MessageCounts) {
	f := func(a *uint64, b uint64) {
		if b > *a {
			*a = b
		}
	}
	f(&c.Publish, o.Publish)
	f(&c.PublishOut, o.PublishOut)
	f(&c.Confirm, o.Confirm)
	f(&c.ReturnUnroutable, o.ReturnUnroutable)
	f(&c.DropUnroutable, o.DropUnroutable)
	f(&c.Deliver, o.Deliver)
	f(&c.DeliverNoAck, o.DeliverNoAck)
	f(&c.Get, o.Get)
	f(&c.GetNoAck, o.GetNoAck)
	f(&c.GetEmpty, o.GetEmpty)
	f(&c.Ack, o.Ack)
	f(&c.Redeliver, o.Redeliver)
	f(&c.Duplicate, o.Duplicate)
	f(&c.FlowHeld, o.FlowHeld)
}

// monotonic keeps a sum over objects that come and go from ever going
// down: an increment that lands on a queue after its counts were folded
// into its vhost's total is lost to the total, and a reader that saw it
// before the fold would otherwise see the total fall. Prometheus reads a
// fall in a counter as a restart.
type monotonic struct {
	mu   sync.Mutex
	last MessageCounts
}

func (m *monotonic) clamp(c MessageCounts) MessageCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c.atLeast(m.last)
	m.last = c
	return c
}

// queueCounts are a queue's counters, guarded by its mu.
type queueCounts struct {
	publish, deliver, deliverNoAck, get, getNoAck, getEmpty, ack, redeliver uint64
	duplicate                                                               uint64
}

// handedOut counts e handed out to a consumer (get false) or a get.
// q.mu held.
func (c *queueCounts) handedOut(e *entry, noAck, get bool) {
	switch {
	case get && noAck:
		c.getNoAck++
	case get:
		c.get++
	case noAck:
		c.deliverNoAck++
	default:
		c.deliver++
	}
	if e.redelivered {
		c.redeliver++
	}
}

func (c *queueCounts) snapshot() MessageCounts {
	return MessageCounts{Publish: c.publish, Deliver: c.deliver, DeliverNoAck: c.deliverNoAck,
		Get: c.get, GetNoAck: c.getNoAck, GetEmpty: c.getEmpty, Ack: c.ack, Redeliver: c.redeliver, Duplicate: c.duplicate}
}

// MessageCounts returns the queue's counters: Publish, the deliveries,
// gets, acks and redeliveries.
func (q *Queue) MessageCounts() MessageCounts {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.counts.snapshot()
}

// exchangeCounts are an exchange's counters: atomics, since a publish
// holds no lock of the exchange's while it counts. The padding keeps
// them off the cache line of the fields routing reads.
type exchangeCounts struct {
	_                                [64]byte
	publishIn, publishOut, confirm   atomic.Uint64
	returnUnroutable, dropUnroutable atomic.Uint64
	duplicate, flowHeld              atomic.Uint64
	_                                [8]byte
}

func (c *exchangeCounts) snapshot() MessageCounts {
	return MessageCounts{Publish: c.publishIn.Load(), PublishOut: c.publishOut.Load(), Confirm: c.confirm.Load(),
		ReturnUnroutable: c.returnUnroutable.Load(), DropUnroutable: c.dropUnroutable.Load(),
		Duplicate: c.duplicate.Load(), FlowHeld: c.flowHeld.Load()}
}

// MessageCounts returns the exchange's counters: Publish (messages
// published to it), PublishOut (queue copies routed from those), Confirm,
// ReturnUnroutable and DropUnroutable.
func (x *Exchange) MessageCounts() MessageCounts { return x.counts.snapshot() }

// countPublish counts one publish to x with its outcome, from the
// publishing goroutine: into the exchange and into the session.
func (s *Session) countPublish(x *Exchange, res PublishResult, opt PublishOptions) {
	x.counts.publishIn.Add(1)
	sc := &s.pubCounts
	sc.publish.Add(1)
	switch {
	case !res.Routed && opt.Mandatory:
		x.counts.returnUnroutable.Add(1)
		sc.returnUnroutable.Add(1)
	case !res.Routed:
		x.counts.dropUnroutable.Add(1)
		sc.dropUnroutable.Add(1)
	}
	if opt.Confirm != nil && !res.Rejected {
		x.counts.confirm.Add(1)
		sc.confirm.Add(1)
	}
	if res.Flow != nil {
		x.counts.flowHeld.Add(1)
	}
}

// QueueChurn counts queue declarations, creations and deletions since the
// broker started (RabbitMQ's queues_declared_total, ...created_total,
// ...deleted_total).
type QueueChurn struct {
	Declared, Created, Deleted uint64
}

type queueChurn struct {
	declared, created, deleted atomic.Uint64
}

// QueueChurn returns the broker's queue churn counters.
func (b *Broker) QueueChurn() QueueChurn {
	return QueueChurn{Declared: b.churn.declared.Load(), Created: b.churn.created.Load(), Deleted: b.churn.deleted.Load()}
}

// countDeclare counts one queue.declare that was not passive.
func (b *Broker) countDeclare(d QueueDecl, created bool, err error) {
	if err != nil || d.Passive {
		return
	}
	b.churn.declared.Add(1)
	if created {
		b.churn.created.Add(1)
	}
}

// sessionPubCounts are a session's publish-side counters; only its
// publishing goroutine writes them.
type sessionPubCounts struct {
	publish, confirm, returnUnroutable, dropUnroutable, getEmpty atomic.Uint64
}

// sessionCounts are a session's delivery-side counters, under its mu.
type sessionCounts struct {
	deliver, deliverNoAck, get, getNoAck, ack, redeliver uint64
}

// MessageCounts returns what the session (an AMQP channel, a STOMP
// connection) published and was handed: RabbitMQ's channel message_stats.
func (s *Session) MessageCounts() MessageCounts {
	s.mu.Lock()
	c := MessageCounts{Deliver: s.counts.deliver, DeliverNoAck: s.counts.deliverNoAck, Get: s.counts.get,
		GetNoAck: s.counts.getNoAck, Ack: s.counts.ack, Redeliver: s.counts.redeliver}
	s.mu.Unlock()
	p := &s.pubCounts
	c.Publish, c.Confirm = p.publish.Load(), p.confirm.Load()
	c.ReturnUnroutable, c.DropUnroutable, c.GetEmpty = p.returnUnroutable.Load(), p.dropUnroutable.Load(), p.getEmpty.Load()
	return c
}

// countHandedOutLocked counts e handed to this session by a consumer's
// delivery or a get. s.mu held.
func (s *Session) countHandedOutLocked(e *entry, noAck, get bool) {
	c := &s.counts
	switch {
	case get && noAck:
		c.getNoAck++
	case get:
		c.get++
	case noAck:
		c.deliverNoAck++
	default:
		c.deliver++
	}
	if e.redelivered {
		c.redeliver++
	}
}

// countEmptyGet counts a get that found q empty, in q and the session.
func (s *Session) countEmptyGet(q *Queue) {
	q.mu.Lock()
	q.counts.getEmpty++
	q.mu.Unlock()
	s.pubCounts.getEmpty.Add(1)
}

// MessageCounts returns the vhost's totals: the publish side (Publish,
// Confirm, ReturnUnroutable, DropUnroutable) summed over its exchanges,
// the delivery side over its queues, each with what deleted ones counted.
// Publish counts messages received from publishers, not queue copies.
func (v *VHost) MessageCounts() MessageCounts {
	v.mu.RLock()
	total := v.retired
	xs := make([]*Exchange, 0, len(v.exchanges))
	for _, x := range v.exchanges {
		xs = append(xs, x)
	}
	qs := make([]*Queue, 0, len(v.queues))
	for _, q := range v.queues {
		qs = append(qs, q)
	}
	v.mu.RUnlock()
	for _, x := range xs {
		total.add(x.counts.snapshot())
	}
	for _, q := range qs {
		total.add(deliverySide(q.MessageCounts()))
	}
	total.PublishOut = 0 // an exchange's figure, not a vhost's
	return v.mono.clamp(total)
}

// deliverySide keeps the counts of a queue that add up to a vhost's: a
// queue's Publish counts copies, which the vhost counts at its exchanges.
func deliverySide(c MessageCounts) MessageCounts {
	c.Publish = 0
	return c
}

// retireExchangeLocked keeps a deleted exchange's counts in its vhost's
// totals. v.mu held.
func (v *VHost) retireExchangeLocked(x *Exchange) {
	v.retired.add(x.counts.snapshot())
}

// retireQueueLocked keeps a deleted queue's counts in its vhost's totals.
// v.mu held; takes q.mu.
func (v *VHost) retireQueueLocked(q *Queue) {
	v.retired.add(deliverySide(q.MessageCounts()))
}

// MessageCounts returns the broker's totals, summed over its vhosts with
// what deleted vhosts counted.
func (b *Broker) MessageCounts() MessageCounts {
	b.mu.RLock()
	total := b.retired
	vs := make([]*VHost, 0, len(b.vhosts))
	for _, v := range b.vhosts {
		vs = append(vs, v)
	}
	b.mu.RUnlock()
	for _, v := range vs {
		total.add(v.MessageCounts())
	}
	return b.mono.clamp(total)
}

// retireVHost keeps a deleted vhost's counts in the broker's totals.
func (b *Broker) retireVHost(v *VHost) {
	c := v.MessageCounts()
	b.mu.Lock()
	b.retired.add(c)
	b.mu.Unlock()
}
