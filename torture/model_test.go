package torture

// The model: what the broker promised, and what an inspection after a
// restart may and may not find.
//
// A message is one publish (msg). Each queue the model routes it to holds a
// copy of it (cpy), named by the queue it was routed to (its origin). A copy
// of a message routed to the delivery-limit queue t.dlsrc may be found in
// t.dlsrc or, dead-lettered, in t.dead (its two locations).
//
// A publish's outcome (msg.status):
//   - confirmed: basic.ack of its confirm, tx.commit-ok of its transaction,
//     or the STOMP RECEIPT of its SEND arrived. Only these count.
//   - nacked: basic.nack arrived (e.g. a record larger than a segment).
//     May be present or absent.
//   - uncertain: sent, no outcome before the channel or the broker died.
//     May be present or absent.
//   - refused: rolled back (tx.rollback-ok, or the channel died before
//     tx.commit was sent), or over a protocol limit (a 256-byte routing key
//     or short-string property, which must be answered with an error).
//     Must never be found, anywhere, ever.
//
// A copy is required after a restart (must be found in one of its
// locations; otherwise it is LOST) when its message is persistent and
// confirmed and the copy is in none of these states:
//   - acked or dropped: basic.ack, or nack/reject without requeue on a
//     queue without a dead-letter exchange, was sent for it (the STOMP ACK
//     too). It may come back after a crash: the broker logs settles lazily.
//     But an ack is covered by a barrier when, after the ack, a synchronous
//     method on the same channel completed (basic.qos-ok: the broker handled
//     the ack before answering) and after that a persistent publish to the
//     durable queue t.barrier was confirmed in the same broker lifetime: the
//     WAL writes lazy records in order, so the settle was on disk before
//     that confirm. A covered ack must never come back (RESURRECTED), and an
//     ack after which qos-ok arrived must never be followed by a delivery of
//     the same copy in the same lifetime.
//   - wiped: a purge or delete of its queue started while it was in the
//     queue or being published (purged, deleted and re-declared queues).
//   - duplicate candidate: it carries a de-duplication id used by an
//     earlier publish to t.dedup, or a later publish of its id was sent
//     before its own outcome arrived (publishers race: the broker may take
//     the later one first).
//   - expiring: it has a TTL and the inspection starts less than 2 s before
//     the earliest moment it could expire (send time + TTL).
//   - unroutable: basic.return arrived for it.
//
// Nack/reject without requeue and exceeding x-delivery-limit on t.dlsrc do
// not end a copy: t.dlsrc dead-letters into t.dead, and the model requires
// at-least-once dead-lettering (the copy is in t.dlsrc or t.dead, or both).
//
// What an inspection (every queue read with basic.get, then requeued with
// one nack, or drained with one ack) asserts besides LOST:
//   - every message found was published (t-id header known), to a queue it
//     was routed to, with its body, routing key, 255-byte properties and
//     header table intact (CORRUPT otherwise);
//   - a copy is found at most once per location (DUPLICATE); a dead-lettered
//     copy may be in both t.dlsrc and t.dead, and t.dead may hold one more
//     copy for every restart after which the copy was back in t.dlsrc (the
//     source's settle is lazy: a comeback is dead-lettered again);
//   - no transient message survives a restart, no refused message is ever
//     found;
//   - a copy that an inspection did not find never comes back later
//     (REAPPEARED): absence after a restart is final;
//   - a copy found after a restart is from then on as good as confirmed
//     (it was read back from the log, so the next restart must find it too);
//   - per queue, the copies of one publisher channel are in publish order
//     (RabbitMQ requeues to the original position and recovery restores in
//     log order), except in t.delay (due order) and t.dead (dead-letter
//     order);
//   - de-duplication holds across restarts: of two distinct messages with
//     one id, both seen (delivered or found), the later must have been
//     sent after the earlier's confirm (else the broker may have taken
//     them in either order) and confirmed at least the window
//     (dedupWindow) after the earlier was sent;
//   - no delayed message is delivered before send time + delay, and no
//     message with a TTL is delivered more than 1.5 s after confirm time +
//     TTL.
//
// The redelivered flag. The broker logs a delivered record lazily on first
// delivery, so after a crash a message delivered just before it may come
// back with redelivered=false. The model asserts redelivered only when the
// design promises it:
//   - within one broker lifetime, a copy delivered again after it was
//     delivered (and requeued) in that lifetime must carry redelivered=true;
//   - after a restart, a copy must carry redelivered=true if it was
//     delivered at least 1 s before the send of a t.barrier publish that was
//     confirmed in the same lifetime: the delivered record is appended right
//     after the delivery, and the barrier's record after that, so the
//     confirm covers it. (This is the one timing assumption: that the
//     broker appends the delivered record within 1 s of the delivery.)
// A redelivered flag on a copy the model never saw delivered is allowed
// (deliveries in flight when a channel closed or the broker died).
//
// Within a lifetime, a copy must not be delivered while another consumer
// holds it unacked and has not released it (DOUBLE DELIVERY).

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

type pubStatus uint8

const (
	stPending pubStatus = iota
	stConfirmed
	stNacked
	stUncertain
	stRefused
)

func (s pubStatus) String() string {
	return [...]string{"pending", "confirmed", "nacked", "uncertain", "refused"}[s]
}

type goneReason uint8

const (
	goneNone goneReason = iota
	goneAcked
	goneDropped
	goneUnroutable
)

// msg is one publish.
type msg struct {
	id         int64
	pubKey     string // publisher channel
	seq        int64  // order on pubKey
	lifetime   int    // broker lifetime it was published in
	persistent bool
	viaStomp   bool
	exchange   string
	key        string
	size       int
	longProps  bool // 255-byte short-string properties
	bigHeaders int  // extra header entries
	bigStr     int  // bytes of the long header value
	dedupID    string
	ttl        time.Duration // effective TTL: the smaller of the queue's and the expiration
	expiration time.Duration // per-message TTL property
	delay      time.Duration // the delay that applies
	xDelay     bool          // given as an x-delay header (it replaces the queue's)
	sentAt     time.Time
	outcomeAt  time.Time
	status     pubStatus
	copies     []*cpy
	note       string
}

// cpy is a message's copy in one queue.
type cpy struct {
	m      *msg
	origin string
	gone   goneReason
	// ack bookkeeping: the lifetime of the ack, the clock after its qos-ok
	// (0: never synchronised) and whether a barrier covered it.
	ackLifetime int
	ackSync     int64
	ackDurable  bool
	wiped       bool
	dupMaybe    bool
	absent      bool // an inspection after a restart did not find it
	// per location (0 origin, 1 dead-letter queue)
	deliveredAt       [2]time.Time
	deliveredLifetime [2]int
	mustRedeliver     [2]bool
	holder            int64 // token of the channel holding it unacked
	// srcRestarts counts inspections that found it in its origin queue
	// t.dlsrc: each such comeback may dead-letter it once more (the
	// source's settle is lazy), so t.dead may hold 1+srcRestarts copies.
	srcRestarts int
	// ackLoc and holderLoc: the location of the ack and of the holder.
	ackLoc, holderLoc int
}

// twoPlaces reports whether c may exist in t.dlsrc and t.dead at once (it
// came back to t.dlsrc after a restart while its dead letter was kept): an
// ack or a holder in one place says nothing about the other.
func (c *cpy) twoPlaces() bool { return c.srcRestarts > 0 }

// multiDead reports whether t.dead may legitimately hold more than one
// copy of c (see srcRestarts).
func (c *cpy) multiDead(li int) bool { return li == 1 && c.srcRestarts > 0 }

type queueSpec struct {
	name     string
	args     map[string]any
	ttl      time.Duration
	delay    time.Duration
	deadTo   string // dead-letter destination queue
	deadOf   string // this queue receives t.deadOf's dead letters
	ordered  bool
	dedup    bool
	bindX    string // exchange it is bound to
	bindKeys []string
	wipeable bool
}

// model is shared by every worker; mu guards everything.
type model struct {
	mu       sync.Mutex
	queues   map[string]*queueSpec
	msgs     map[int64]*msg
	nextID   int64
	lifetime int
	clock    int64
	// barrier state of the current lifetime
	durableClock  int64
	durableWall   time.Time
	wipes         map[string]int // wipes in progress per queue
	dedupUsed     map[string]bool
	dedupFirst    map[string]*msg
	dedupSeen     map[string][]int64 // distinct messages seen per id
	dedupReported map[[2]int64]bool
	ackedNow      []*cpy // copies acked in this lifetime
	deliveredNow  []*cpy // copies delivered in this lifetime
	nextToken     int64

	stats struct {
		ops, published, confirmed, nacked, uncertain, refused, lost int64
		found, delivered, resurrectedAllowed                        int64
		durableAcks, redeliverChecked, deadSeen, dedupReuse         int64
		overLimitRefused, wiped                                     int64
	}
	failures []string
	log      *opLog
}

func (m *model) tick() int64 { m.clock++; return m.clock }

func (m *model) failf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	m.failures = append(m.failures, s)
	m.log.add("FAIL " + s)
}

func (m *model) token() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextToken++
	return m.nextToken
}

// route is the queues a publish to (exchange, key) reaches in the model.
func (m *model) route(exchange, key string) []string {
	if exchange == "" {
		if _, ok := m.queues[key]; ok {
			return []string{key}
		}
		return nil
	}
	var out []string
	for _, q := range sortedQueues(m.queues) {
		if q.bindX != exchange {
			continue
		}
		if exchange == "t.fanout" {
			out = append(out, q.name)
			continue
		}
		for _, k := range q.bindKeys {
			if k == key {
				out = append(out, q.name)
				break
			}
		}
	}
	return out
}

func sortedQueues(qs map[string]*queueSpec) []*queueSpec {
	out := make([]*queueSpec, 0, len(qs))
	for _, q := range qs {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// add registers a publish about to be sent. m.mu held.
func (m *model) add(g *msg) {
	m.nextID++
	g.id = m.nextID
	g.lifetime = m.lifetime
	g.sentAt = time.Now()
	m.msgs[g.id] = g
	m.stats.published++
	for _, qn := range m.route(g.exchange, g.key) {
		c := &cpy{m: g, origin: qn}
		if m.wipes[qn] > 0 {
			c.wiped = true
		}
		if g.dedupID != "" && m.dedupUsed[g.dedupID] {
			c.dupMaybe = true
			m.stats.dedupReuse++
			// Publishers race: while the first publish of this id has
			// no outcome, the broker may take this one first and drop
			// that one as the duplicate.
			for _, f := range m.dedupFirst[g.dedupID].copies {
				if f.m.status == stPending {
					f.dupMaybe = true
				}
			}
		}
		g.copies = append(g.copies, c)
	}
	if g.dedupID != "" && !m.dedupUsed[g.dedupID] {
		m.dedupUsed[g.dedupID] = true
		m.dedupFirst[g.dedupID] = g
	}
}

// settle records a publish's outcome. m.mu held.
func (m *model) settle(g *msg, st pubStatus) {
	if g.status != stPending {
		return
	}
	g.status = st
	g.outcomeAt = time.Now()
	switch st {
	case stConfirmed:
		m.stats.confirmed++
	case stNacked:
		m.stats.nacked++
	case stUncertain:
		m.stats.uncertain++
	case stRefused:
		m.stats.refused++
	}
	for _, c := range g.copies {
		if m.wipes[c.origin] > 0 {
			c.wiped = true
		}
	}
}

// wipeStart marks every copy in q as possibly gone (purge or delete).
func (m *model) wipeStart(q string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wipes[q]++
	for _, g := range m.msgs {
		for _, c := range g.copies {
			if c.origin == q && !c.wiped {
				c.wiped = true
				m.stats.wiped++
			}
		}
	}
}

func (m *model) wipeEnd(q string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wipes[q]--
}

// lookup finds the copy a delivery from queue loc with t-id id is. m.mu held.
func (m *model) lookup(loc, tid string) (*cpy, int, error) {
	var id int64
	if _, err := fmt.Sscanf(tid, "%d", &id); err != nil || tid == "" {
		return nil, 0, fmt.Errorf("message with t-id %q in %s: never published", tid, loc)
	}
	g, ok := m.msgs[id]
	if !ok {
		return nil, 0, fmt.Errorf("message %d in %s: unknown to the model (never published, or absent at an earlier inspection and forgotten: REAPPEARED)", id, loc)
	}
	origin, li := loc, 0
	if q := m.queues[loc]; q != nil && q.deadOf != "" {
		origin, li = q.deadOf, 1
	}
	for _, c := range g.copies {
		if c.origin == origin {
			if g.status == stRefused {
				return c, li, fmt.Errorf("message %d (%s) in %s: it was refused (rolled back or over a limit) and must never be found", id, g.describe(), loc)
			}
			return c, li, nil
		}
	}
	return nil, 0, fmt.Errorf("message %d (%s) found in %s, where it was never routed (routed to %v)", id, g.describe(), loc, g.origins())
}

func (g *msg) origins() []string {
	var out []string
	for _, c := range g.copies {
		out = append(out, c.origin)
	}
	return out
}

func (g *msg) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pub %s#%d L%d %s", g.pubKey, g.seq, g.lifetime, g.status)
	if g.persistent {
		b.WriteString(" persistent")
	} else {
		b.WriteString(" transient")
	}
	if g.viaStomp {
		b.WriteString(" stomp")
	}
	fmt.Fprintf(&b, " x=%q key=%.20q size=%d", g.exchange, g.key, g.size)
	if g.ttl > 0 {
		fmt.Fprintf(&b, " ttl=%v", g.ttl)
	}
	if g.delay > 0 {
		fmt.Fprintf(&b, " delay=%v", g.delay)
	}
	if g.dedupID != "" {
		fmt.Fprintf(&b, " dedup=%s", g.dedupID)
	}
	if g.longProps {
		b.WriteString(" 255-byte-props")
	}
	if g.bigHeaders > 0 {
		fmt.Fprintf(&b, " headers=%d+%dB", g.bigHeaders, g.bigStr)
	}
	if g.note != "" {
		b.WriteString(" " + g.note)
	}
	if !g.outcomeAt.IsZero() {
		fmt.Fprintf(&b, " outcome %v after send", g.outcomeAt.Sub(g.sentAt).Round(time.Millisecond))
	}
	return b.String()
}

func (c *cpy) describe() string {
	s := fmt.Sprintf("copy in %s of msg %d (%s)", c.origin, c.m.id, c.m.describe())
	switch c.gone {
	case goneAcked:
		s += fmt.Sprintf(" acked in L%d sync=%d durable=%v", c.ackLifetime, c.ackSync, c.ackDurable)
	case goneDropped:
		s += " dropped"
	case goneUnroutable:
		s += " unroutable"
	}
	if c.wiped {
		s += " wiped"
	}
	if !c.deliveredAt[0].IsZero() {
		s += fmt.Sprintf(" delivered L%d", c.deliveredLifetime[0])
	}
	if !c.deliveredAt[1].IsZero() {
		s += fmt.Sprintf(" dead-lettered, delivered from there L%d", c.deliveredLifetime[1])
	}
	if c.absent {
		s += " absent"
	}
	return s
}

// required reports whether c must be found by an inspection starting at now.
func (m *model) required(c *cpy, now time.Time) bool {
	g := c.m
	if g.status != stConfirmed || !g.persistent || c.gone != goneNone || c.wiped || c.dupMaybe || c.absent {
		return false
	}
	if g.ttl > 0 && !now.Add(2*time.Second).Before(g.sentAt.Add(g.ttl)) {
		return false
	}
	return true
}

// crashed ends a lifetime: pending outcomes become uncertain, holders go,
// acks and deliveries covered by a barrier become durable facts.
func (m *model) crashed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range m.msgs {
		if g.status == stPending {
			m.settle(g, stUncertain)
		}
		for _, c := range g.copies {
			c.holder = 0
			if m.wipes[c.origin] > 0 {
				c.wiped = true
			}
		}
	}
	for _, c := range m.ackedNow {
		if c.gone == goneAcked && c.ackLifetime == m.lifetime && c.ackSync > 0 && c.ackSync < m.durableClock {
			c.ackDurable = true
			m.stats.durableAcks++
		}
	}
	for _, c := range m.deliveredNow {
		for li := range 2 {
			if c.deliveredLifetime[li] == m.lifetime && !c.deliveredAt[li].IsZero() &&
				!m.durableWall.IsZero() && c.deliveredAt[li].Add(time.Second).Before(m.durableWall) {
				c.mustRedeliver[li] = true
			}
		}
	}
	m.ackedNow, m.deliveredNow = nil, nil
	m.wipes = map[string]int{}
	m.durableClock, m.durableWall = 0, time.Time{}
}

// opLog keeps the tail of what happened, printed with a failure.
type opLog struct {
	mu    sync.Mutex
	start time.Time
	lines []string
	next  int
	n     int
}

func newOpLog(n int) *opLog { return &opLog{start: time.Now(), lines: make([]string, n)} }

func (l *opLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines[l.next] = fmt.Sprintf("%9.3fs %s", time.Since(l.start).Seconds(), s)
	l.next = (l.next + 1) % len(l.lines)
	l.n++
}

func (l *opLog) addf(format string, args ...any) { l.add(fmt.Sprintf(format, args...)) }

// grep returns up to k of the kept lines that name word (followed by a
// non-digit).
func (l *opLog) grep(word string, k int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.n, len(l.lines))
	var out []string
	for i := n; i > 0; i-- {
		line := l.lines[(l.next-i+len(l.lines))%len(l.lines)]
		for j := 0; ; {
			x := strings.Index(line[j:], word)
			if x < 0 {
				break
			}
			end := j + x + len(word)
			if end == len(line) || line[end] < '0' || line[end] > '9' {
				out = append(out, line)
				break
			}
			j = end
		}
	}
	if len(out) > k {
		out = append([]string{fmt.Sprintf("(%d earlier lines left out)", len(out)-k)}, out[len(out)-k:]...)
	}
	return strings.Join(out, "\n") + "\n"
}

func (l *opLog) tail(k int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	k = min(k, l.n, len(l.lines))
	var b strings.Builder
	for i := k; i > 0; i-- {
		b.WriteString(l.lines[(l.next-i+len(l.lines))%len(l.lines)])
		b.WriteByte('\n')
	}
	return b.String()
}
