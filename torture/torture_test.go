package torture

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	tortureDuration = flag.Duration("torture.duration", 45*time.Second, "how long TestTorture runs (make torture DURATION=1h)")
	segmentSize     = flag.Int("torture.segment-size", 64<<10, "the broker's --segment-size")
	raceBroker      = flag.Bool("torture.race-broker", false, "build the broker with -race")
	keepData        = flag.Bool("torture.keep", false, "keep the data directory and broker log even when the run passes")
	buildFallback   = flag.Bool("torture.build-head", true, "when the working tree does not build for a minute, build HEAD (git archive) instead")
	buildRevision   = flag.String("torture.rev", "", "build the broker from this commit (git archive) instead of the working tree, e.g. to check that the test finds a fixed bug")
	overLimit       = flag.Bool("torture.overlimit", true, "send 256-byte routing keys and properties over STOMP (they must be refused)")
	keepGoing       = flag.Bool("torture.keep-going", false, "report failures and go on to the next lifetime instead of stopping at the first")
	amqpWorkers     = flag.Int("torture.workers", 3, "AMQP workers (one STOMP worker and one barrier publisher run besides)")
)

// run is one torture run: the model, the broker binary and the seed.
type run struct {
	t       *testing.T
	seed    int64
	m       *model
	bin     string
	dataDir string
	logPath string
	proc    *brokerProc
	stop    chan struct{}
	failed  int // failures reported with -torture.keep-going
}

// cycleRand is the RNG of part part of lifetime cycle: the workload is a
// function of the seed.
func (r *run) cycleRand(cycle, part int) *rand.Rand {
	return rand.New(rand.NewSource(r.seed*1_000_003 + int64(cycle)*1009 + int64(part)))
}

func newModel(log *opLog) *model {
	m := &model{queues: map[string]*queueSpec{}, msgs: map[int64]*msg{}, wipes: map[string]int{},
		dedupUsed: map[string]bool{}, dedupFirst: map[string]*msg{}, dedupSeen: map[string][]int64{}, dedupReported: map[[2]int64]bool{}, log: log}
	for _, q := range []*queueSpec{
		{name: "t.plain1", ordered: true, wipeable: true},
		{name: "t.plain2", ordered: true, bindX: "t.direct", bindKeys: []string{key255, "k"}},
		{name: "t.fan.a", ordered: true, bindX: "t.fanout", bindKeys: []string{""}},
		{name: "t.fan.b", ordered: true, bindX: "t.fanout", bindKeys: []string{""}, wipeable: true},
		{name: "t.ttl", ordered: true, ttl: 8 * time.Second, args: map[string]any{"x-message-ttl": int32(8000)}, wipeable: true},
		{name: "t.delay", delay: 200 * time.Millisecond, args: map[string]any{"x-delivery-delay": int32(200)}},
		{name: "t.dlsrc", ordered: true, deadTo: "t.dead", args: map[string]any{"x-delivery-limit": int32(2),
			"x-dead-letter-exchange": "t.dlx", "x-dead-letter-routing-key": "dead"}},
		{name: "t.dead", deadOf: "t.dlsrc", bindX: "t.dlx", bindKeys: []string{"dead"}},
		{name: "t.dedup", ordered: true, dedup: true, args: map[string]any{"x-message-deduplication": true,
			"x-cache-ttl": int32(dedupWindow / time.Millisecond)}},
	} {
		m.queues[q.name] = q
	}
	return m
}

// dedupWindow is t.dedup's x-cache-ttl. An id is held for this long from
// its first accepted publish; ids live in the log as long (a day-long
// window pinned every segment holding one).
const dedupWindow = 60 * time.Second

// inspectOrder reads t.dlsrc before t.dead: requeueing t.dlsrc may
// dead-letter into t.dead.
var inspectOrder = []string{"t.plain1", "t.plain2", "t.fan.a", "t.fan.b", "t.ttl", "t.delay", "t.dlsrc", "t.dead", "t.dedup"}

// declareAll declares the topology; it is idempotent.
func (r *run) declareAll(ch *amqp.Channel) error {
	for _, x := range [][2]string{{"t.direct", "direct"}, {"t.fanout", "fanout"}, {"t.dlx", "direct"}} {
		if err := ch.ExchangeDeclare(x[0], x[1], true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", x[0], err)
		}
	}
	if _, err := ch.QueueDeclare("t.barrier", true, false, false, false, nil); err != nil {
		return err
	}
	for _, q := range sortedQueues(r.m.queues) {
		if err := declareQueue(ch, q); err != nil {
			return err
		}
	}
	return nil
}

func declareQueue(ch *amqp.Channel, q *queueSpec) error {
	if _, err := ch.QueueDeclare(q.name, true, false, false, false, amqp.Table(q.args)); err != nil {
		return fmt.Errorf("declare queue %s: %w", q.name, err)
	}
	for _, k := range q.bindKeys {
		if err := ch.QueueBind(q.name, k, q.bindX, false, nil); err != nil {
			return fmt.Errorf("bind queue %s: %w", q.name, err)
		}
	}
	return nil
}

func TestTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("the torture test builds and runs the broker")
	}
	seed := time.Now().UnixNano() % 1_000_000_000
	if s := os.Getenv("TORTURE_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("TORTURE_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("torture seed %d (replay with TORTURE_SEED=%d), duration %v, segment size %d", seed, seed, *tortureDuration, *segmentSize)
	root, err := os.MkdirTemp("", "sluice-torture-")
	if err != nil {
		t.Fatal(err)
	}
	bin, note, err := buildBroker(root, *buildRevision, *raceBroker, *buildFallback)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("broker built from %s", note)
	log := newOpLog(200_000)
	r := &run{t: t, seed: seed, m: newModel(log), bin: bin, dataDir: filepath.Join(root, "data"), logPath: filepath.Join(root, "sluice.log")}
	passed := false
	defer func() {
		if r.proc != nil {
			r.proc.kill()
		}
		if passed && !*keepData {
			os.RemoveAll(root)
		} else {
			t.Logf("data directory and broker log kept in %s", root)
		}
	}()

	deadline := time.Now().Add(*tortureDuration)
	cycles := 0
	for cycle := 0; ; cycle++ {
		rng := r.cycleRand(cycle, 0)
		extra := []string{"--segment-size", strconv.Itoa(*segmentSize), "--sync", "always"}
		if rng.Intn(2) == 0 {
			extra = append(extra, "--queue-resident-bytes", "16384") // page out: reads come from the log
		}
		r.m.mu.Lock()
		r.m.lifetime = cycle
		r.m.mu.Unlock()
		log.addf("=== lifetime %d: start broker %v; write-ahead log %d KiB", cycle, extra, dirSize(filepath.Join(r.dataDir, "wal"))>>10)
		p, err := startBroker(r.bin, r.dataDir, r.logPath, extra...)
		if err != nil {
			r.fatal(fmt.Sprintf("lifetime %d: %v", cycle, err))
		}
		r.proc = p
		if err := r.inspect(cycle, rng); err != nil {
			r.fatal(fmt.Sprintf("lifetime %d: inspection: %v", cycle, err))
		}
		r.checkFailures(cycle)
		cycles++
		if cycle%20 == 19 {
			s := &r.m.stats
			t.Logf("lifetime %d, %v: %d operations, %d confirmed, %d lost; write-ahead log %d MiB", cycle,
				time.Since(log.start).Round(time.Second), s.ops, s.confirmed, s.lost, dirSize(filepath.Join(r.dataDir, "wal"))>>20)
		}
		if time.Now().After(deadline) {
			break
		}
		life := time.Duration(300+rng.Intn(2700)) * time.Millisecond
		if rng.Intn(8) == 0 {
			life += time.Duration(rng.Intn(5000)) * time.Millisecond
		}
		r.workload(cycle, life)
		r.checkFailures(cycle)
	}
	r.proc.kill()
	r.proc = nil
	s := &r.m.stats
	t.Logf("torture seed %d: %d broker lifetimes (%d kill -9), %d operations, %d messages published, %d confirmed, %d nacked, %d uncertain, %d refused; %d deliveries checked, %d copies found by inspections, %d allowed comebacks of acked copies; lost %d",
		seed, cycles, cycles-1, s.ops, s.published, s.confirmed, s.nacked, s.uncertain, s.refused, s.delivered, s.found, s.resurrectedAllowed, s.lost)
	t.Logf("assertions exercised: %d acks covered by a barrier at a kill, %d found copies that had to carry redelivered, %d dead letters seen, %d publishes reusing a de-duplication id, %d over-limit sends refused, %d copies wiped by purge/delete",
		s.durableAcks, s.redeliverChecked, s.deadSeen, s.dedupReuse, s.overLimitRefused, s.wiped)
	t.Logf("write-ahead log at the end: %d MiB", dirSize(filepath.Join(r.dataDir, "wal"))>>20)
	fmt.Printf("torture: cycles %d, operations %d, confirmed messages %d, lost %d, other failures %d (seed %d)\n", cycles, s.ops, s.confirmed, s.lost, r.failed, seed)
	passed = r.failed == 0
}

// fatal stops the run with the seed and the operation log.
func (r *run) fatal(s string) {
	r.t.Helper()
	var hist strings.Builder
	seen := map[string]bool{}
	for _, id := range msgRefs.FindAllStringSubmatch(s, 12) {
		if seen[id[1]] {
			continue
		}
		seen[id[1]] = true
		fmt.Fprintf(&hist, "--- operation log lines naming m%s:\n%s", id[1], r.m.log.grep("m"+id[1], 60))
	}
	r.t.Fatalf("torture seed %d (replay: TORTURE_SEED=%d go test -run TestTorture ./torture): %s\n%s--- operation log tail:\n%s",
		r.seed, r.seed, s, hist.String(), r.m.log.tail(120))
}

// msgRefs finds the message ids a failure names.
var msgRefs = regexp.MustCompile(`(?:msg|message) (\d+)`)

func (r *run) checkFailures(cycle int) {
	r.t.Helper()
	r.m.mu.Lock()
	fs := r.m.failures
	if *keepGoing {
		r.m.failures = nil
	}
	r.m.mu.Unlock()
	if len(fs) == 0 {
		return
	}
	if *keepGoing {
		r.failed += len(fs)
		var hist strings.Builder
		for _, id := range msgRefs.FindAllStringSubmatch(strings.Join(fs, "\n"), 6) {
			fmt.Fprintf(&hist, "--- operation log lines naming m%s:\n%s", id[1], r.m.log.grep("m"+id[1], 30))
		}
		r.t.Errorf("torture seed %d, lifetime %d: %d failures (going on):\n  %s\n%s", r.seed, cycle, len(fs), strings.Join(fs[:min(len(fs), 20)], "\n  "), hist.String())
		return
	}
	shown := fs
	if len(shown) > 40 {
		shown = shown[:40]
	}
	r.fatal(fmt.Sprintf("%d failures by lifetime %d (lost so far: %d):\n  %s", len(fs), cycle, r.m.stats.lost, strings.Join(shown, "\n  ")))
}

// observe checks one delivery from queue loc (in a lifetime's workload, or
// by an inspection) against the model and records it; holder is the
// token of the channel that now holds it. It returns the copy and its
// location index, or nil after recording a failure.
func (m *model) observe(loc string, d *amqp.Delivery, holder int64, stomp bool) (*cpy, int) {
	tid, _ := d.Headers["t-id"].(string)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.delivered++
	c, li, err := m.lookup(loc, tid)
	if err != nil {
		m.failf("L%d: %v", m.lifetime, err)
		return nil, 0
	}
	g := c.m
	now := time.Now()
	if g.viaStomp || stomp {
		if dmg := checkDelivery(&msg{id: g.id, size: g.size, viaStomp: true}, loc, d, li == 1); dmg != "" {
			m.failf("L%d: CORRUPT %s: %s", m.lifetime, c.describe(), dmg)
		}
	} else if dmg := checkDelivery(g, loc, d, li == 1); dmg != "" {
		m.failf("L%d: CORRUPT in %s: %s: %s", m.lifetime, loc, c.describe(), dmg)
	}
	if g.dedupID != "" {
		// Two distinct messages with one id may both be seen only if the
		// later was accepted after the earlier's window may have passed,
		// or the earlier's outcome was not known when the later was sent
		// (the broker may have taken them in either order, or dropped the
		// earlier: a nack or a lost outcome says nothing about its id).
		for _, prev := range m.dedupSeen[g.dedupID] {
			if prev == g.id || m.dedupReported[[2]int64{prev, g.id}] {
				continue
			}
			e, l := m.msgs[prev], g
			if l.sentAt.Before(e.sentAt) {
				e, l = l, e
			}
			if e.status == stConfirmed && !e.outcomeAt.IsZero() && e.outcomeAt.Before(l.sentAt) &&
				l.outcomeAt.Before(e.sentAt.Add(dedupWindow-100*time.Millisecond)) {
				m.dedupReported[[2]int64{prev, g.id}] = true
				var first []string
				for _, fc := range e.copies {
					first = append(first, fc.describe())
				}
				var later []string
				for _, lc := range l.copies {
					later = append(later, lc.describe())
				}
				m.failf("L%d: DEDUP: de-duplication id %s is carried by message %d and by message %d, published %v later, inside the %v window, and both were seen (in %s now; earlier: %s; later: %s)",
					m.lifetime, g.dedupID, e.id, l.id, l.sentAt.Sub(e.sentAt).Round(time.Millisecond), dedupWindow, loc,
					strings.Join(first, "; "), strings.Join(later, "; "))
			}
		}
		if !slices.Contains(m.dedupSeen[g.dedupID], g.id) {
			m.dedupSeen[g.dedupID] = append(m.dedupSeen[g.dedupID], g.id)
		}
	}
	if !g.persistent && g.lifetime < m.lifetime {
		m.failf("L%d: transient message survived a restart: %s in %s", m.lifetime, c.describe(), loc)
	}
	if c.absent {
		m.failf("L%d: REAPPEARED in %s: an inspection after an earlier restart did not find %s", m.lifetime, loc, c.describe())
		c.absent = false
	}
	if c.holder != 0 && c.holder != holder && !c.multiDead(li) && !(c.twoPlaces() && c.holderLoc != li) {
		m.failf("L%d: DOUBLE DELIVERY in %s: %s is held unacked by channel %d and was delivered to %d", m.lifetime, loc, c.describe(), c.holder, holder)
	}
	if (c.gone == goneAcked || c.gone == goneDropped) && !(c.twoPlaces() && c.ackLoc != li) {
		switch {
		case c.multiDead(li):
		case c.ackLifetime == m.lifetime && c.ackSync > 0:
			m.failf("L%d: %s delivered again in %s after its ack/drop was handled (qos-ok arrived after it) in this lifetime", m.lifetime, c.describe(), loc)
		case c.ackDurable:
			m.failf("L%d: RESURRECTED in %s: %s came back although a confirmed barrier publish followed its ack", m.lifetime, loc, c.describe())
		case c.ackLifetime == m.lifetime:
			// An ack not yet synchronised: the broker may not have
			// handled it yet; nothing to assert.
		default:
			m.stats.resurrectedAllowed++
		}
		c.gone, c.ackSync, c.ackDurable = goneNone, 0, false
	}
	if c.deliveredLifetime[li] == m.lifetime && !c.deliveredAt[li].IsZero() && !d.Redelivered && !c.multiDead(li) {
		m.failf("L%d: %s delivered again from %s in the same lifetime without the redelivered flag", m.lifetime, c.describe(), loc)
	}
	if c.mustRedeliver[li] {
		m.stats.redeliverChecked++
	}
	if li == 1 {
		m.stats.deadSeen++
	}
	if c.mustRedeliver[li] && !d.Redelivered && !c.multiDead(li) {
		m.failf("L%d: redelivered flag missing in %s: %s was delivered at least 1 s before a confirmed barrier publish in lifetime %d",
			m.lifetime, loc, c.describe(), c.deliveredLifetime[li])
		c.mustRedeliver[li] = false
	}
	if g.delay > 0 && li == 0 && now.Before(g.sentAt.Add(g.delay-2*time.Millisecond)) {
		m.failf("L%d: EARLY: %s delivered %v after its send, delay %v", m.lifetime, c.describe(), now.Sub(g.sentAt), g.delay)
	}
	if g.ttl > 0 && li == 0 {
		end := g.outcomeAt
		if end.IsZero() {
			end = now
		}
		if now.After(end.Add(g.ttl + 1500*time.Millisecond)) {
			m.failf("L%d: EXPIRED message delivered from %s %v after its outcome: %s", m.lifetime, loc, now.Sub(end), c.describe())
		}
	}
	if c.deliveredLifetime[li] != m.lifetime || c.deliveredAt[li].IsZero() {
		c.deliveredAt[li], c.deliveredLifetime[li] = now, m.lifetime
		m.deliveredNow = append(m.deliveredNow, c)
	}
	c.holder, c.holderLoc = holder, li
	m.log.addf("L%d %s -> channel %d: m%d tag %d redelivered=%v", m.lifetime, loc, holder, g.id, d.DeliveryTag, d.Redelivered)
	return c, li
}

// inspect reads every queue after a restart, before any other client
// connects, and compares it with the model (see model_test.go).
func (r *run) inspect(cycle int, rng *rand.Rand) error {
	m := r.m
	conn, err := amqp.Dial(r.proc.amqpURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := r.declareAll(ch); err != nil {
		return err
	}
	// Delayed messages are invisible until due: wait for the last one.
	m.mu.Lock()
	var due time.Time
	for _, g := range m.msgs {
		if g.delay == 0 {
			continue
		}
		for _, c := range g.copies {
			if c.gone == goneNone && !c.absent {
				at := g.outcomeAt
				if at.IsZero() {
					at = time.Now()
				}
				if at = at.Add(g.delay); at.After(due) {
					due = at
				}
			}
		}
	}
	m.mu.Unlock()
	if w := time.Until(due) + 300*time.Millisecond; w > 0 {
		time.Sleep(min(w, 5*time.Second))
	}
	token := m.token()
	start := time.Now()
	type at struct {
		c  *cpy
		li int
	}
	found := map[at]int{}
	drained := 0
	for _, qn := range inspectOrder {
		drain := rng.Intn(100) < 25
		var last uint64
		var got []at
		lastSeq := map[string]int64{}
		for {
			d, ok, err := ch.Get(qn, false)
			if err != nil {
				return fmt.Errorf("basic.get %s: %w", qn, err)
			}
			if !ok {
				break
			}
			last = d.DeliveryTag
			c, li := m.observe(qn, &d, token, false)
			if c == nil {
				continue
			}
			k := at{c, li}
			found[k]++
			got = append(got, k)
			m.mu.Lock()
			m.stats.found++
			if li == 0 && m.queues[qn].deadTo != "" && found[k] == 1 {
				c.srcRestarts++
			}
			if found[k] > 1 && !(li == 1 && found[k] <= 1+c.srcRestarts) {
				m.failf("L%d: DUPLICATE: %s found %d times in %s", cycle, c.describe(), found[k], qn)
			}
			if q := m.queues[qn]; q.ordered {
				if prev, ok := lastSeq[c.m.pubKey]; ok && c.m.seq <= prev {
					m.failf("L%d: ORDER in %s: %s found after #%d of the same publisher channel", cycle, qn, c.describe(), prev)
				}
				lastSeq[c.m.pubKey] = c.m.seq
			}
			m.mu.Unlock()
		}
		if last == 0 {
			continue
		}
		m.mu.Lock()
		for _, k := range got {
			k.c.holder = 0
			if drain {
				k.c.gone, k.c.ackLifetime, k.c.ackSync, k.c.ackDurable, k.c.ackLoc = goneAcked, cycle, 0, false, k.li
				m.ackedNow = append(m.ackedNow, k.c)
			}
		}
		m.mu.Unlock()
		if drain {
			err = ch.Ack(last, true)
			drained += len(got)
		} else {
			err = ch.Nack(last, true, true)
		}
		if err == nil {
			err = ch.Qos(0, 0, false)
		}
		if err != nil {
			return fmt.Errorf("settling %s: %w", qn, err)
		}
		m.mu.Lock()
		tk := m.tick()
		for _, k := range got {
			if drain && k.c.gone == goneAcked {
				k.c.ackSync = tk
			}
		}
		m.mu.Unlock()
		m.log.addf("inspect L%d %s: %d messages, drain=%v", cycle, qn, len(got), drain)
	}
	if _, err := ch.QueuePurge("t.barrier", false); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	lost := 0
	ids := make([]int64, 0, len(m.msgs))
	for id := range m.msgs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		g := m.msgs[id]
		for _, c := range g.copies {
			n := found[at{c, 0}] + found[at{c, 1}]
			if n > 0 {
				// Read back from the log: as good as confirmed from now on.
				c.wiped, c.dupMaybe = false, false
				if g.persistent && (g.status == stNacked || g.status == stUncertain) {
					g.status = stConfirmed
				}
				continue
			}
			if m.required(c, start) {
				lost++
				m.stats.lost++
				if lost <= 30 {
					m.failf("L%d: LOST: %s", cycle, c.describe())
				}
			}
			if c.gone == goneNone || c.gone == goneAcked || c.gone == goneDropped {
				c.absent = true
			}
		}
	}
	m.log.addf("inspect L%d done: %d copies found, %d drained, %d lost", cycle, len(found), drained, lost)
	// Forget messages that can never matter again, to keep the model small.
	for _, id := range ids {
		g := m.msgs[id]
		done := true
		for _, c := range g.copies {
			if !c.absent || g.dedupID != "" {
				done = false
			}
		}
		if done && g.status != stRefused {
			delete(m.msgs, id)
		}
	}
	return nil
}
