package broker

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// PublishResult says what became of a published message.
type PublishResult struct {
	// Routed is true when at least one queue was chosen by routing; a
	// mandatory message that is not routed is returned to its publisher.
	Routed bool
	// Rejected is true when a queue refused the message (x-overflow
	// reject-publish): a confirming publisher gets a nack.
	Rejected bool
	// Pending is true when storage must make the message durable first:
	// the outcome then reaches PublishOptions.Confirm later.
	Pending bool
	// Flow, when set, asks the publisher to stop reading more publishes
	// until it opens (FlowGate.Wait): a queue the message went to is
	// congested. See flow.go.
	Flow *FlowGate
	// Duplicate is true when a queue's de-duplication recognised the
	// message (it is confirmed, not kept); DuplicateAnswer is the
	// DedupAnswer its original was published with, if any.
	Duplicate       bool
	DuplicateAnswer string
}

// Confirmer learns the outcome of a publish whose confirm had to wait for
// storage. Confirmed is called from a storage goroutine and must not block.
// ok is false when the message was not taken (storage failed, or a queue
// refused it).
type Confirmer interface {
	Confirmed(seq uint64, ok bool)
}

// PublishOptions are a publisher's wishes beyond routing.
type PublishOptions struct {
	// Confirm, when set, is told the outcome of a Pending publish.
	Confirm Confirmer
	Seq     uint64
	// Now, when not zero, is when the message arrived (unix nanos), e.g.
	// the time of the read that brought it: a protocol adapter that knows
	// it saves a clock read per message. Zero: the time of the call.
	Now int64
	// Mandatory says the publisher gets an unroutable message back (AMQP's
	// mandatory flag); it only decides which counter counts it
	// (ReturnUnroutable or DropUnroutable): returning it is the adapter's.
	Mandatory bool
	// DedupAnswer is kept, durably with a durable queue, with the
	// message's de-duplication id: a later duplicate's PublishResult
	// carries it (the SQS adapter's original MessageId and SequenceNumber
	// for a duplicate send, across restarts). Opaque to the core.
	DedupAnswer string
}

// pendingConfirm sends a confirm once both the fsync covering the message
// and the enqueueing into every queue are done, whichever finishes last.
type pendingConfirm struct {
	c        Confirmer
	seq      uint64
	left     atomic.Int32
	failed   atomic.Bool
	rejected atomic.Bool
}

func (p *pendingConfirm) done() {
	if p.left.Add(-1) == 0 {
		p.c.Confirmed(p.seq, !p.failed.Load() && !p.rejected.Load())
	}
}

// publish routes msg and enqueues it, counting it in the exchange and the
// session s. rs is s's routing scratch.
func (v *VHost) publish(s *Session, exchange, key string, msg *message.Message, rs *routeState, opt PublishOptions) (PublishResult, error) {
	v.mu.RLock()
	x, ok := v.exchanges[exchange]
	v.mu.RUnlock()
	if !ok {
		return PublishResult{}, errNoExchange(exchange, v.name)
	}
	if x.internal {
		return PublishResult{}, errorf(CodeAccessRefused, "cannot publish to internal exchange '%s' in vhost '%s'", exchange, v.name)
	}
	for _, h := range [...]string{"CC", "BCC"} {
		if v, ok := msg.Properties.Headers[h]; ok {
			if _, isArray := v.([]any); !isArray {
				return PublishResult{}, errorf(CodePreconditionFailed, "invalid message: {unacceptable_type_in_header,\"%s\",%s}", h, message.TypeName(v))
			}
		}
	}
	msg.Exchange, msg.RoutingKey = exchange, key
	now := opt.Now
	if now == 0 {
		now = time.Now().UnixNano()
	}
	if x.delayed != nil {
		if res, held := v.holdDelayed(x, msg, now, opt); held {
			s.countPublish(x, res, opt)
			return res, nil
		}
	}
	dup, remember := x.seenBefore(msg, now)
	if dup {
		// A duplicate for a de-duplication exchange: confirmed, not routed.
		x.counts.duplicate.Add(1)
		res := PublishResult{Routed: true}
		s.countPublish(x, res, opt)
		return res, nil
	}
	res, err := v.routeAndEnqueue(x, key, msg, rs, opt, now)
	if remember != nil && err == nil && res.Routed && !res.Rejected {
		remember()
	}
	if err == nil {
		s.countPublish(x, res, opt)
	}
	return res, err
}

// routeAndEnqueue routes msg from x and hands it to every queue chosen.
func (v *VHost) routeAndEnqueue(x *Exchange, key string, msg *message.Message, rs *routeState, opt PublishOptions, now int64) (PublishResult, error) {
	qs := v.route(x, key, &msg.Properties, rs)
	if len(qs) == 0 {
		return PublishResult{}, nil
	}
	if _, hasBCC := msg.Properties.Headers["BCC"]; hasBCC {
		// Blind copies: the BCC header never reaches consumers.
		stripped := *msg
		stripped.Properties.Headers = msg.Properties.Headers.Clone()
		delete(stripped.Properties.Headers, "BCC")
		msg = &stripped
	}
	for _, q := range qs {
		if max := q.config().maxMsgSize; max > 0 && int64(len(msg.Body)) > max {
			clear(qs)
			return PublishResult{}, errorf(CodePreconditionFailed, "message size %d is larger than max size %d of queue '%s' in vhost '%s'",
				len(msg.Body), max, q.name, v.name)
		}
	}
	res := PublishResult{Routed: true}
	x.counts.publishOut.Add(uint64(len(qs)))
	pid, pc := v.logMessage(qs, msg, now, opt)
	if pc != nil {
		res.Pending = true
	}
	for i, q := range qs {
		qpid := uint64(0)
		if q.durable {
			qpid = pid
		}
		switch st, orig := q.enqueueAnswered(msg, now, qpid, true, opt.DedupAnswer); st {
		case rejected:
			res.Rejected = true
		case duplicate:
			res.Duplicate, res.DuplicateAnswer = true, orig
		}
		if g := q.flowGate(); g != nil {
			res.Flow = g
		}
		qs[i] = nil // do not keep queues alive through the scratch slice
	}
	if pc != nil {
		pc.rejected.Store(res.Rejected)
		pc.done()
	}
	return res, nil
}

// logMessage writes a persistent message bound for durable queues to
// storage before any queue can hand it out. It returns the message's
// storage id (0 when nothing was logged) and, when the publisher wants a
// confirm, the tracker that sends it.
func (v *VHost) logMessage(qs []*Queue, msg *message.Message, now int64, opt PublishOptions) (uint64, *pendingConfirm) {
	if v.b.store == nil || !msg.Persistent() {
		return 0, nil
	}
	var pc *pendingConfirm
	var done func(error)
	if opt.Confirm != nil {
		pc = &pendingConfirm{c: opt.Confirm, seq: opt.Seq}
		pc.left.Store(2)
		done = func(err error) {
			if err != nil {
				pc.failed.Store(true)
			}
			pc.done()
		}
	}
	pid, refused := v.logDurable(qs, msg, now, false, done)
	switch {
	case refused:
		return 0, pc // done has run: the confirm will be a nack
	case pid == 0:
		return 0, nil
	}
	return pid, pc
}

// logDurable logs persistent msg for the durable queues among qs and
// returns its storage id, or 0 when nothing was logged: nothing to log
// (done is not called), or refused at once (refused; done has been called
// with the error). done, when set, runs once the record is durable or
// failed. A refused message stays in its queues' memory, unlogged. isCopy
// says msg is a copy of a message already accepted (Persister.LogCopy).
func (v *VHost) logDurable(qs []*Queue, msg *message.Message, now int64, isCopy bool, done func(error)) (pid uint64, refused bool) {
	st := v.b.store
	if st == nil || !msg.Persistent() {
		return 0, false
	}
	var refs []QueueRef
	for _, q := range qs {
		if q.durable {
			refs = append(refs, QueueRef{VHost: v.name, Queue: q.name})
		}
	}
	if len(refs) == 0 {
		return 0, false
	}
	pid = v.b.nextMsgID.Add(1)
	logf := st.LogMessage
	if isCopy {
		logf = st.LogCopy
	}
	if err := logf(pid, now, refs, msg, done); err != nil {
		return 0, true
	}
	return pid, false
}

// routingKeys is the key plus the sender-selected CC and BCC keys.
func routingKeys(key string, headers message.Table) []string {
	keys := []string{key}
	for _, h := range [...]string{"CC", "BCC"} {
		if l, ok := headers[h].([]any); ok {
			for _, k := range l {
				if s, ok := message.String(k); ok {
					keys = append(keys, s)
				}
			}
		}
	}
	return keys
}

// routeState collects one routing's results. A session keeps one for its
// publishes, so routing allocates nothing in the steady state.
type routeState struct {
	queues  []*Queue
	seen    map[*Queue]struct{} // for large fan-outs only
	visited []*Exchange
	work    []*Exchange
	words   []string
	matched bool
	// props are the routed message's properties, for routers that hash
	// on one (exchange_hash.go); nil when there is no message.
	props *message.Properties
	// hashSeen is the topic router's memo (exchange_topic.go), kept
	// between publishes so that it is allocated once.
	hashSeen map[hashVisit]struct{}
}

// add takes one matching binding.
func (rs *routeState) add(b *binding) {
	rs.matched = true
	if q := b.queue; q != nil {
		rs.addQueue(q)
		return
	}
	if !slices.Contains(rs.visited, b.exch) {
		rs.visited = append(rs.visited, b.exch)
		rs.work = append(rs.work, b.exch)
	}
}

// addQueue adds q once: a linear check for the usual few queues, a set
// past that so a fan-out to thousands stays linear.
func (rs *routeState) addQueue(q *Queue) {
	const linear = 16
	if len(rs.queues) < linear {
		if !slices.Contains(rs.queues, q) {
			rs.queues = append(rs.queues, q)
		}
		return
	}
	if rs.seen == nil {
		rs.seen = map[*Queue]struct{}{}
	}
	if len(rs.seen) == 0 {
		for _, x := range rs.queues {
			rs.seen[x] = struct{}{}
		}
	}
	if _, ok := rs.seen[q]; !ok {
		rs.seen[q] = struct{}{}
		rs.queues = append(rs.queues, q)
	}
}

func (rs *routeState) reset() {
	clear(rs.queues)
	rs.queues = rs.queues[:0]
	clear(rs.visited)
	rs.visited = rs.visited[:0]
	rs.work = rs.work[:0]
	if len(rs.seen) > 0 {
		clear(rs.seen)
	}
}

// route finds the queues a message goes to, following exchange-to-exchange
// bindings and alternate exchanges, each exchange visited once. The result
// lives in rs until its next use.
func (v *VHost) route(x *Exchange, key string, props *message.Properties, rs *routeState) []*Queue {
	rs.reset()
	var headers message.Table
	if props != nil {
		headers = props.Headers
	}
	rs.props = props // cleared below: a kept routeState must not pin the message
	var keys []string
	if headers != nil {
		_, cc := headers["CC"]
		_, bcc := headers["BCC"]
		if cc || bcc {
			keys = routingKeys(key, headers)
		}
	}
	rs.visited = append(rs.visited, x)
	for cur := x; cur != nil; {
		rs.matched = false
		if cur.name == "" {
			v.mu.RLock()
			if keys == nil {
				if q, ok := v.queues[key]; ok {
					rs.matched = true
					rs.addQueue(q)
				}
			} else {
				for _, k := range keys {
					if q, ok := v.queues[k]; ok {
						rs.matched = true
						rs.addQueue(q)
					}
				}
			}
			v.mu.RUnlock()
		} else {
			cur.mu.RLock()
			if keys == nil {
				cur.router.route(key, headers, rs)
			} else {
				_, once := cur.router.(routesOnce)
				for _, k := range keys {
					cur.router.route(k, headers, rs)
					if once {
						break
					}
				}
			}
			ae := cur.alternate
			cur.mu.RUnlock()
			if !rs.matched && ae != "" {
				v.mu.RLock()
				alt, ok := v.exchanges[ae]
				v.mu.RUnlock()
				if ok && !slices.Contains(rs.visited, alt) {
					rs.visited = append(rs.visited, alt)
					rs.work = append(rs.work, alt)
				}
			}
		}
		cur = nil
		if len(rs.work) > 0 {
			cur = rs.work[0]
			rs.work = rs.work[1:]
		}
	}
	rs.props = nil
	return rs.queues
}

// deadLetter republishes messages that left q through its dead-letter
// exchange, with an x-death history as RabbitMQ writes it, and then settles
// them in q's storage. Dead-lettering is at-least-once: a message's settle
// in q is logged only once its copy is durable in every durable queue it
// went to, so a crash in between leaves the message in q (and perhaps its
// copy too), never in neither. A copy that storage failed to take leaves
// the original unsettled: it comes back in q after a restart. Called with
// no queue lock held; it waits for the copies' fsync.
func (v *VHost) deadLetter(q *Queue, dead []deadLetter) {
	if len(dead) == 0 {
		return
	}
	settle := make([]uint64, 0, len(dead))
	st := v.b.store
	defer func() {
		for _, d := range dead {
			if d.e.spilled {
				st.Unspill(d.e.pid) // after its body was read back below
			}
		}
		if st != nil && len(settle) > 0 {
			st.LogSettled(QueueRef{VHost: v.name, Queue: q.name}, settle...)
		}
	}()
	// One configuration for the whole batch: a policy may change it.
	c := q.config()
	x, ok := (*Exchange)(nil), false
	if c.hasDLX {
		v.mu.RLock()
		x, ok = v.exchanges[c.dlx]
		v.mu.RUnlock()
	}
	if !ok {
		// RabbitMQ drops silently when the DLX does not exist.
		for _, d := range dead {
			if d.e.logged() {
				settle = append(settle, d.e.pid)
			}
		}
		return
	}
	now := time.Now()
	var rs routeState
	var copies sync.WaitGroup
	failed := make([]atomic.Bool, len(dead))
	for i, d := range dead {
		body := d.e.msg
		if body == nil {
			// Paged out. The entry is gone from the queue, so nobody else
			// touches it: read it here, off every lock.
			var err error
			if body, err = st.ReadMessage(d.e.pid); err != nil {
				q.countUnreadable(d.e, err)
				failed[i].Store(true) // never settle what was not read
				continue
			}
		}
		m := deadLettered(body, q, d.reason, now)
		key := body.RoutingKey
		if c.hasDLRK {
			key = c.dlrk
		}
		m.Exchange, m.RoutingKey = c.dlx, key
		routes := v.route(x, key, &m.Properties, &rs)
		kept := make([]*Queue, 0, len(routes))
		for _, target := range routes {
			if !deathCycle(m, target.name) {
				kept = append(kept, target)
			}
		}
		copies.Add(1)
		pid, refused := v.logDurable(kept, m, now.UnixNano(), true, func(err error) {
			if err != nil {
				failed[i].Store(true)
			}
			copies.Done()
		})
		if pid == 0 && !refused {
			copies.Done() // nothing durable to wait for
		}
		for _, target := range kept {
			qpid := uint64(0)
			if target.durable {
				qpid = pid
			}
			target.enqueue(m, now.UnixNano(), qpid, false)
		}
	}
	copies.Wait()
	for i, d := range dead {
		if d.e.logged() && !failed[i].Load() {
			settle = append(settle, d.e.pid)
		}
	}
}

// deadLettered copies m with its x-death history updated for leaving q.
func deadLettered(orig *message.Message, q *Queue, reason string, now time.Time) *message.Message {
	m := *orig
	m.Properties.Headers = orig.Properties.Headers.Clone()
	if m.Properties.Headers == nil {
		m.Properties.Headers = message.Table{}
	}
	m.Properties.Flags |= message.FlagHeaders
	h := m.Properties.Headers
	keys := []any{orig.RoutingKey}
	if cc, ok := h["CC"].([]any); ok {
		keys = append(keys, cc...)
	}
	var deaths []any
	if l, ok := h["x-death"].([]any); ok {
		deaths = l
	}
	// One entry per (queue, reason): a repeat bumps its count and moves it
	// to the front.
	var cur message.Table
	for i, d := range deaths {
		t, ok := d.(message.Table)
		if !ok {
			continue
		}
		if qn, _ := message.String(t["queue"]); qn == q.name {
			if r, _ := message.String(t["reason"]); r == reason {
				cur = t
				deaths = slices.Delete(slices.Clone(deaths), i, i+1)
				break
			}
		}
	}
	if cur == nil {
		cur = message.Table{"count": int64(0), "reason": reason, "queue": q.name,
			"exchange": orig.Exchange, "routing-keys": keys}
		if orig.Properties.Has(message.FlagExpiration) {
			cur["original-expiration"] = orig.Properties.Expiration
		}
	}
	n, _ := message.Int(cur["count"])
	cur["count"] = n + 1
	cur["time"] = now.Truncate(time.Second)
	h["x-death"] = append([]any{cur}, deaths...)
	if _, ok := h["x-first-death-reason"]; !ok {
		h["x-first-death-reason"] = reason
		h["x-first-death-queue"] = q.name
		h["x-first-death-exchange"] = orig.Exchange
	}
	if q.config().hasDLRK {
		// The message now travels under the dead-letter routing key alone.
		delete(h, "CC")
		delete(h, "BCC")
	}
	// The per-message TTL does not follow the message, so it cannot expire
	// again in the dead-letter queue.
	m.Properties.Flags &^= message.FlagExpiration
	m.Properties.Expiration = ""
	return &m
}

// deathCycle reports whether delivering m to queue would close a cycle of
// automatic dead-lettering: RabbitMQ drops such a message unless a client
// rejected it somewhere on the way.
func deathCycle(m *message.Message, queue string) bool {
	deaths, _ := m.Properties.Headers["x-death"].([]any)
	seen := false
	for _, d := range deaths {
		t, ok := d.(message.Table)
		if !ok {
			continue
		}
		if r, _ := message.String(t["reason"]); r == "rejected" {
			return false
		}
		if qn, _ := message.String(t["queue"]); qn == queue {
			seen = true
		}
	}
	return seen
}
