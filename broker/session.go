package broker

import (
	"crypto/rand"
	"encoding/base64"
	"sort"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// Delivery is one message handed to a session, by value so that handing it
// over allocates nothing.
type Delivery struct {
	Msg         *message.Message
	Tag         uint64 // the session's delivery tag
	ConsumerTag string // "" for a get
	Queue       string
	Redelivered bool
	// DeliveryCount is how many times this message has been delivered,
	// this time included.
	DeliveryCount uint32
	// Returns is how often the message came back unacked. CountHeader says
	// to show it as the x-delivery-count header, as RabbitMQ's quorum
	// queues do (queues with a delivery limit, once it is non-zero).
	Returns     uint32
	CountHeader bool
	// FirstLeased is when the message was first delivered under a
	// visibility lease (unix nanoseconds; 0: never, or not since the
	// broker started): SQS's ApproximateFirstReceiveTimestamp.
	FirstLeased int64
	// PublishedAt is when the message reached the queue (unix
	// nanoseconds; 0: unknown).
	PublishedAt int64
}

// Sink is the adapter side of a Session: its connection's bounded output.
//
// Both methods are called with queue and session locks held, so they must
// not block and must not call into the broker; they append to the
// connection's output and return.
type Sink interface {
	// Deliver hands over one delivery for a consumer.
	Deliver(d Delivery)
	// Cancelled says the server ended a consumer (its queue went away).
	Cancelled(consumerTag string)
	// Full reports that the connection's output is backed up: the session
	// then hands out nothing more until the adapter calls Resume.
	Full() bool
}

// ConsumeSpec is a basic.consume / SUBSCRIBE.
type ConsumeSpec struct {
	Tag       string // "" asks for a server-generated tag
	NoAck     bool
	Exclusive bool
	Args      message.Table // x-priority is honoured
	// Registered, when set, is called once the queue has accepted the
	// consumer and before its first delivery, so the adapter can send its
	// consume-ok ahead of any message. It runs under the queue's lock and
	// follows the Sink rules: no blocking, no calls into the broker.
	Registered func(tag string)
}

// Consumer is a session's subscription to one queue. Its credit fields are
// guarded by its session's mu.
type Consumer struct {
	tag       string
	q         *Queue
	s         *Session
	noAck     bool
	exclusive bool
	priority  int64

	prefetchCount int   // 0 = unlimited
	prefetchBytes int64 // 0 = unlimited
	inflight      int
	inflightBytes int64
	// starved is set when the queue skipped this consumer for lack of credit;
	// whoever frees credit kicks the queue.
	starved    bool
	cancelled  bool
	registered func(string)
	lease      time.Duration // x-consumer-timeout: visibility lease of its deliveries
	args       message.Table // the consume arguments, for the management API (nil: none)
}

// unacked is a delivery waiting for its ack, in tag order in the session.
type unacked struct {
	tag uint64
	q   *Queue
	e   *entry
	c   *Consumer // nil for a get
}

// Session is what one AMQP channel or one STOMP connection does with the
// core: it owns delivery tags, unacked deliveries and prefetch credit. Its
// topology calls and Publish are made by one goroutine at a time (the
// adapter's reader); deliveries arrive from any goroutine through Sink.
type Session struct {
	vh    *VHost
	owner ConnID
	sink  Sink

	// scratch for routing in Publish; used only by the publishing goroutine.
	rs routeState

	mu        sync.Mutex
	closed    bool
	paused    bool
	nextTag   uint64
	unacked   []unacked // sorted by tag; acked slots are tombstoned (q == nil)
	live      int       // non-tombstoned entries in unacked
	consumers map[string]*Consumer
	// Channel-wide prefetch (AMQP basic.qos global=true), shared by consumers.
	chanCount, chanInflight int
	chanBytes, chanInflBy   int64
	// Per-consumer prefetch given to consumers created from now on.
	consCount int
	consBytes int64
	// expired holds tags whose visibility lease ran out, so their late
	// acks are ignored instead of failing the channel.
	expired map[uint64]struct{}

	// Message counters (counters.go): delivery side under mu, publish
	// side written by the publishing goroutine.
	counts    sessionCounts
	pubCounts sessionPubCounts
}

// NewSession opens a session for the connection owner delivering to sink.
func (v *VHost) NewSession(owner ConnID, sink Sink) *Session {
	// consumers is made on the first consume: most channels never do.
	return &Session{vh: v, owner: owner, sink: sink}
}

// VHost is the virtual host the session works in.
func (s *Session) VHost() *VHost { return s.vh }

// Qos sets prefetch limits, by message count and by body bytes (0 means no
// limit). With global, the limits are shared by all the session's consumers
// (RabbitMQ's per-channel meaning); otherwise they apply to each consumer
// created afterwards.
func (s *Session) Qos(count int, bytes int64, global bool) {
	s.mu.Lock()
	if global {
		s.chanCount, s.chanBytes = count, bytes
	} else {
		s.consCount, s.consBytes = count, bytes
	}
	s.mu.Unlock()
	s.kickStarved()
}

// Consume subscribes to a queue and returns the consumer tag.
func (s *Session) Consume(queue string, spec ConsumeSpec) (string, error) {
	q, err := s.vh.queueFor(queue, s.owner)
	if err != nil {
		return "", err
	}
	var prio int64
	if v, ok := spec.Args["x-priority"]; ok {
		n, isInt := message.Int(v)
		if !isInt {
			return "", errorf(CodePreconditionFailed, "invalid arg 'x-priority' for queue '%s' in vhost '%s': {unacceptable_type,%s}", queue, s.vh.name, message.TypeName(v))
		}
		prio = n
	}
	var lease time.Duration
	if v, ok := spec.Args["x-consumer-timeout"]; ok {
		n, isInt := message.Int(v)
		if !isInt || n <= 0 {
			return "", errorf(CodePreconditionFailed, "invalid arg 'x-consumer-timeout' for queue '%s' in vhost '%s': must be a positive number of milliseconds", queue, s.vh.name)
		}
		lease = time.Duration(n) * time.Millisecond
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", errorf(CodeNotAllowed, "session closed")
	}
	tag := spec.Tag
	if tag == "" {
		tag = newName("amq.ctag-")
	}
	if _, dup := s.consumers[tag]; dup {
		s.mu.Unlock()
		return "", errorf(CodeNotAllowed, "attempt to reuse consumer tag '%s'", tag)
	}
	if max := s.vh.b.cfg.MaxConsumersPerSession; max > 0 && len(s.consumers) >= max {
		s.mu.Unlock()
		return "", errorf(CodeResourceError, "consumer limit of %d per channel reached", max)
	}
	c := &Consumer{tag: tag, q: q, s: s, noAck: spec.NoAck, exclusive: spec.Exclusive, priority: prio,
		prefetchCount: s.consCount, prefetchBytes: s.consBytes, registered: spec.Registered, lease: lease,
		args: nonEmpty(spec.Args)}
	if s.consumers == nil {
		s.consumers = map[string]*Consumer{}
	}
	s.consumers[tag] = c
	s.mu.Unlock()
	if err := q.addConsumer(c); err != nil {
		s.mu.Lock()
		delete(s.consumers, tag)
		s.mu.Unlock()
		return "", err
	}
	return tag, nil
}

// Cancel ends a consumer. Its unacked deliveries stay with the session until
// acked or the session closes, as AMQP requires.
func (s *Session) Cancel(tag string) bool {
	s.mu.Lock()
	c := s.consumers[tag]
	if c != nil {
		delete(s.consumers, tag)
		c.cancelled = true
	}
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.q.removeConsumer(c)
	return true
}

// HasConsumer reports whether tag is a live consumer of this session.
// Consuming reports whether the session has consumers or unacknowledged
// deliveries: a connection that must keep reading acks is not held back
// by publisher flow control.
func (s *Session) Consuming() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.consumers) > 0 || s.live > 0
}

func (s *Session) HasConsumer(tag string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consumers[tag] != nil
}

// consumerGone is the queue telling that it was deleted under c.
func (s *Session) consumerGone(c *Consumer) {
	s.mu.Lock()
	live := s.consumers[c.tag] == c
	if live {
		delete(s.consumers, c.tag)
		c.cancelled = true
		s.sink.Cancelled(c.tag)
	}
	s.mu.Unlock()
}

// deliver hands e to consumer c if c and the session have credit. Called by
// the queue with q.mu held; takes s.mu, so tags reach the sink in order.
func (s *Session) deliver(c *Consumer, q *Queue, e *entry) bool {
	size := e.size()
	s.mu.Lock()
	if s.closed || c.cancelled {
		s.mu.Unlock()
		return false
	}
	if s.paused || s.sink.Full() || (!c.noAck && !s.hasCredit(c, size)) {
		c.starved = true
		s.mu.Unlock()
		return false
	}
	s.nextTag++
	e.deliveries++
	if !c.noAck {
		s.unacked = append(s.unacked, unacked{tag: s.nextTag, q: q, e: e, c: c})
		s.live++
		c.inflight++
		c.inflightBytes += size
		s.chanInflight++
		s.chanInflBy += size
		if d := q.leaseFor(c); d > 0 {
			q.leaseLocked(e, s, s.nextTag, d, time.Now().UnixNano())
		}
	}
	s.sink.Deliver(q.delivery(e, s.nextTag, c.tag))
	s.countHandedOutLocked(e, c.noAck, false)
	q.counts.handedOut(e, c.noAck, false)
	s.mu.Unlock()
	return true
}

// delivery describes e's handing-out under tag. q.mu held.
func (q *Queue) delivery(e *entry, tag uint64, consumerTag string) Delivery {
	return Delivery{Msg: e.msg, Tag: tag, ConsumerTag: consumerTag, Queue: q.name, Redelivered: e.redelivered,
		DeliveryCount: e.deliveries, Returns: e.returns, CountHeader: q.config().deliveryLimit >= 0 && e.returns > 0,
		FirstLeased: e.firstLeased(), PublishedAt: e.publishedAt}
}

// hasCredit applies the count and byte windows of the consumer and the
// channel. A byte window always admits one message, however large, so a
// message bigger than the window cannot wedge the consumer. s.mu held.
func (s *Session) hasCredit(c *Consumer, size int64) bool {
	if c.prefetchCount > 0 && c.inflight >= c.prefetchCount {
		return false
	}
	if c.prefetchBytes > 0 && c.inflight > 0 && c.inflightBytes+size > c.prefetchBytes {
		return false
	}
	if s.chanCount > 0 && s.chanInflight >= s.chanCount {
		return false
	}
	if s.chanBytes > 0 && s.chanInflight > 0 && s.chanInflBy+size > s.chanBytes {
		return false
	}
	return true
}

// recordGet assigns a tag to a basic.get result. Called with q.mu held.
func (s *Session) recordGet(q *Queue, e *entry, noAck bool) Delivery {
	s.mu.Lock()
	s.nextTag++
	e.deliveries++
	if !noAck {
		s.unacked = append(s.unacked, unacked{tag: s.nextTag, q: q, e: e})
		s.live++
		if d := q.leaseFor(nil); d > 0 {
			q.leaseLocked(e, s, s.nextTag, d, time.Now().UnixNano())
		}
	}
	d := q.delivery(e, s.nextTag, "")
	s.countHandedOutLocked(e, noAck, true)
	s.mu.Unlock()
	return d
}

// findLocked returns the unacked delivery with tag. s.mu held.
func (s *Session) findLocked(tag uint64) (unacked, bool) {
	i := sort.Search(len(s.unacked), func(i int) bool { return s.unacked[i].tag >= tag })
	if i < len(s.unacked) && s.unacked[i].tag == tag && s.unacked[i].q != nil {
		return s.unacked[i], true
	}
	return unacked{}, false
}

// revoke takes back a delivery whose visibility lease ran out, if it is
// still unacked here. A later ack or nack of its tag is then ignored
// rather than an error: the client could not know.
func (s *Session) revoke(tag uint64, e *entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.unacked), func(i int) bool { return s.unacked[i].tag >= tag })
	if i >= len(s.unacked) || s.unacked[i].tag != tag || s.unacked[i].e != e {
		return false
	}
	u := &s.unacked[i]
	if u.c != nil {
		u.c.inflight--
		u.c.inflightBytes -= e.size()
		s.chanInflight--
		s.chanInflBy -= e.size()
	}
	u.q, u.e, u.c = nil, nil, nil
	s.live--
	s.compactLocked()
	if s.expired == nil {
		s.expired = map[uint64]struct{}{}
	}
	if len(s.expired) >= maxExpiredTags {
		clear(s.expired) // bounded: very late acks of very old leases may then error
	}
	s.expired[tag] = struct{}{}
	return true
}

// maxExpiredTags bounds the memory of revoked tags per session.
const maxExpiredTags = 65536

// Get takes one message from a queue (basic.get). ok is false when the
// queue is empty; remaining is the number of ready messages left.
func (s *Session) Get(queue string, noAck bool) (d Delivery, remaining int, ok bool, err error) {
	q, err := s.vh.queueFor(queue, s.owner)
	if err != nil {
		return Delivery{}, 0, false, err
	}
	d, remaining, ok = q.get(s, noAck)
	if !ok {
		s.countEmptyGet(q)
	}
	return d, remaining, ok, nil
}

// takeLocked removes and returns the unacked deliveries an ack, nack or
// reject names: tag alone, or with multiple every tag up to it (tag 0 with
// multiple means all). s.mu held.
func (s *Session) takeLocked(tag uint64, multiple bool) ([]unacked, error) {
	i := sort.Search(len(s.unacked), func(i int) bool { return s.unacked[i].tag >= tag })
	found := i < len(s.unacked) && s.unacked[i].tag == tag && s.unacked[i].q != nil
	if multiple && tag == 0 {
		i, found = len(s.unacked)-1, true
	}
	if !found {
		_, gone := s.expired[tag]
		if !gone {
			return nil, errorf(CodePreconditionFailed, "unknown delivery tag %d", tag)
		}
		// The tag's lease ran out and the message went back: its late ack
		// is ignored; with multiple, the tags below it are still acked.
		delete(s.expired, tag)
		if !multiple {
			return nil, nil
		}
		i-- // everything before the position tag would have had
		if i < 0 {
			return nil, nil
		}
	}
	var out []unacked
	from := i
	if multiple {
		from = 0
	}
	for k := from; k <= i; k++ {
		u := &s.unacked[k]
		if u.q == nil {
			continue
		}
		out = append(out, *u)
		if u.c != nil {
			u.c.inflight--
			u.c.inflightBytes -= u.e.size()
			s.chanInflight--
			s.chanInflBy -= u.e.size()
		}
		u.q, u.e, u.c = nil, nil, nil
		s.live--
	}
	s.compactLocked()
	return out, nil
}

// compactLocked drops tombstones at the front, and rebuilds the slice when
// most of it is tombstones, so random-order acks cost amortised O(1).
func (s *Session) compactLocked() {
	n := 0
	for n < len(s.unacked) && s.unacked[n].q == nil {
		n++
	}
	if n > 0 {
		s.unacked = s.unacked[n:]
	}
	if s.live == 0 {
		s.unacked = s.unacked[:0:0]
		return
	}
	if len(s.unacked) > 64 && s.live < len(s.unacked)/2 {
		kept := make([]unacked, 0, s.live*2)
		for _, u := range s.unacked {
			if u.q != nil {
				kept = append(kept, u)
			}
		}
		s.unacked = kept
	}
}

// Ack settles deliveries (basic.ack, STOMP ACK).
func (s *Session) Ack(tag uint64, multiple bool) error {
	s.mu.Lock()
	us, err := s.takeLocked(tag, multiple)
	s.counts.ack += uint64(len(us))
	s.mu.Unlock()
	if err != nil {
		return err
	}
	forEachQueue(us, func(q *Queue, es []*entry) { q.settle(es) })
	s.kickStarved()
	return nil
}

// Nack refuses deliveries (basic.nack / basic.reject, STOMP NACK): requeued
// to their places, or dead-lettered / dropped.
func (s *Session) Nack(tag uint64, multiple, requeue bool) error {
	s.mu.Lock()
	us, err := s.takeLocked(tag, multiple)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	forEachQueue(us, func(q *Queue, es []*entry) {
		if requeue {
			q.requeue(es)
		} else {
			q.reject(es)
		}
	})
	s.kickStarved()
	return nil
}

// Recover requeues every unacked delivery of the session (basic.recover).
func (s *Session) Recover() {
	s.mu.Lock()
	us := s.takeAllLocked()
	s.mu.Unlock()
	forEachQueue(us, func(q *Queue, es []*entry) { q.requeue(es) })
	s.kickStarved()
}

func (s *Session) takeAllLocked() []unacked {
	if s.live == 0 {
		return nil
	}
	us, _ := s.takeLocked(0, true)
	return us
}

// forEachQueue groups deliveries by queue, keeping tag order within each.
func forEachQueue(us []unacked, fn func(*Queue, []*entry)) {
	for len(us) > 0 {
		q := us[0].q
		var es []*entry
		var others []unacked
		for _, u := range us {
			if u.q == q {
				es = append(es, u.e)
			} else {
				others = append(others, u)
			}
		}
		fn(q, es)
		us = others
	}
}

// Pause stops deliveries to this session (its connection's output is full,
// or AMQP channel.flow asked); Resume starts them again.
func (s *Session) Pause() {
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
}

// Resume undoes Pause and lets starved consumers catch up.
func (s *Session) Resume() {
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
	s.kickStarved()
}

// kickStarved retries the queues of consumers that were refused for credit.
func (s *Session) kickStarved() {
	var qs []*Queue
	s.mu.Lock()
	if s.paused {
		s.mu.Unlock()
		return
	}
	for _, c := range s.consumers {
		if c.starved {
			c.starved = false
			qs = append(qs, c.q)
		}
	}
	s.mu.Unlock()
	for _, q := range qs {
		q.kick()
	}
}

// Close ends the session: consumers are cancelled and unacked deliveries
// go back to their queues, redelivered.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	cs := make([]*Consumer, 0, len(s.consumers))
	for _, c := range s.consumers {
		c.cancelled = true
		cs = append(cs, c)
	}
	s.consumers = nil
	us := s.takeAllLocked()
	s.mu.Unlock()
	for _, c := range cs {
		c.q.removeConsumer(c)
	}
	forEachQueue(us, func(q *Queue, es []*entry) { q.requeue(es) })
}

// Publish routes msg from exchange with key, recording both in msg, which
// belongs to the broker from then on and must not be changed. The session is the publisher's
// context: one goroutine publishes on a session at a time.
func (s *Session) Publish(exchange, key string, msg *message.Message, opt PublishOptions) (PublishResult, error) {
	return s.vh.publish(s, exchange, key, msg, &s.rs, opt)
}

// newName makes a server-generated name such as amq.gen-... or amq.ctag-...
func newName(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// CheckTag reports, without settling anything, the error an ack or nack of
// tag would get now: a transaction refuses an unknown tag when the ack
// arrives, not at commit, as RabbitMQ does.
func (s *Session) CheckTag(tag uint64, multiple bool) error {
	if multiple && tag == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.findLocked(tag); ok {
		return nil
	}
	if _, gone := s.expired[tag]; gone {
		return nil
	}
	return errorf(CodePreconditionFailed, "unknown delivery tag %d", tag)
}
