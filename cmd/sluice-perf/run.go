package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// latRec is one consumer's latency record: the whole run and the interval
// since the last progress line.
type latRec struct {
	mu       sync.Mutex
	total    hist
	interval hist
}

// runner carries one run's shared state.
type runner struct {
	cfg  config
	base time.Time // monotonic epoch of body timestamps
	rt   router
	tr   *tracker

	sentPer   []atomic.Uint64 // per producer: sequence numbers 0..n-1 went out
	sent      atomic.Int64
	confirmed atomic.Int64
	nacked    atomic.Int64
	consumed  atomic.Int64 // deliveries, duplicates included
	claimed   atomic.Int64 // count mode: messages claimed by producers
	lastRecv  atomic.Int64 // ns since base of the latest delivery
	warmupNS  int64

	recMu sync.Mutex
	recs  []*latRec
	crecs []*latRec // publish-to-confirm (or receipt) latency, per producer

	errMu sync.Mutex
	errs  []string

	stopPub  chan struct{} // closed when producers should stop
	progress io.Writer
}

func (r *runner) fail(format string, args ...any) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

func (r *runner) failures() []string {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return append([]string(nil), r.errs...)
}

func (r *runner) newLatRec() *latRec {
	l := &latRec{}
	r.recMu.Lock()
	r.recs = append(r.recs, l)
	r.recMu.Unlock()
	return l
}

func (r *runner) newConfirmRec() *latRec {
	l := &latRec{}
	r.recMu.Lock()
	r.crecs = append(r.crecs, l)
	r.recMu.Unlock()
	return l
}

// confirmRing remembers the send times of a producer's unconfirmed
// messages: at most window are outstanding, so slot seq%window is free again
// by the time seq+window is sent.
type confirmRing struct {
	r   *runner
	ts  []int64
	rec *latRec
}

func (r *runner) newConfirmRing(window int) *confirmRing {
	return &confirmRing{r: r, ts: make([]int64, window), rec: r.newConfirmRec()}
}

func (c *confirmRing) sent(seq uint64, ts int64) { c.ts[seq%uint64(len(c.ts))] = ts }

func (c *confirmRing) confirmed(seq uint64) {
	ts := c.ts[seq%uint64(len(c.ts))]
	if ts < c.r.warmupNS {
		return
	}
	d := time.Duration(c.r.now() - ts)
	c.rec.mu.Lock()
	c.rec.total.record(d)
	c.rec.mu.Unlock()
}

func (r *runner) now() int64 { return int64(time.Since(r.base)) }

// onMessage accounts for one delivery from queue q.
func (r *runner) onMessage(q int, body []byte, rec *latRec) {
	now := r.now()
	r.consumed.Add(1)
	p, seq, ts, err := decodeHeader(body)
	if err != nil {
		r.tr.bogus.Add(1)
		return
	}
	r.tr.record(q, p, seq)
	r.lastRecv.Store(now)
	if ts >= r.warmupNS {
		d := time.Duration(now - ts)
		rec.mu.Lock()
		rec.total.record(d)
		rec.interval.record(d)
		rec.mu.Unlock()
	}
}

// pacer spaces one producer's messages at a fixed rate. It catches up at
// most 100 ms of schedule after a stall, so a stall does not become a burst.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func newPacer(rate float64, offset float64) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	iv := time.Duration(float64(time.Second) / rate)
	return &pacer{interval: iv, next: time.Now().Add(time.Duration(offset * float64(iv)))}
}

// wait blocks until the next message is due; false when stop closed first.
func (pc *pacer) wait(stop <-chan struct{}) bool {
	if pc.interval == 0 {
		return true
	}
	for {
		d := time.Until(pc.next)
		if d <= 0 {
			break
		}
		if d > 50*time.Millisecond {
			d = 50 * time.Millisecond
		}
		select {
		case <-stop:
			return false
		default:
		}
		time.Sleep(d)
	}
	if behind := time.Since(pc.next); behind > 100*time.Millisecond {
		pc.next = time.Now().Add(-100 * time.Millisecond)
	}
	pc.next = pc.next.Add(pc.interval)
	return true
}

// claim reports whether a producer may publish one more message: in count
// mode the total is shared by all producers; otherwise until stopPub closes.
func (r *runner) claim(ctx context.Context) bool {
	select {
	case <-r.stopPub:
		return false
	case <-ctx.Done():
		return false
	default:
	}
	if r.cfg.Count > 0 {
		return r.claimed.Add(1) <= r.cfg.Count
	}
	return true
}

func (r *runner) queueName(q int) string { return fmt.Sprintf("%s-%d", r.cfg.Prefix, q) }

// runUniquePrefix is prefix with a suffix no other run has: the start time
// in base 36 and 32 random bits.
func runUniquePrefix(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s", prefix, strconv.FormatInt(time.Now().UnixNano(), 36), hex.EncodeToString(b[:]))
}

// consumerQueues are the queues consumer c reads: queue c%queues when there
// are at least as many consumers as queues, else every q with q%consumers==c.
func consumerQueues(c, consumers, queues int) []int {
	if consumers >= queues {
		return []int{c % queues}
	}
	var qs []int
	for q := c; q < queues; q += consumers {
		qs = append(qs, q)
	}
	return qs
}

// driver is a protocol: it prepares the queues, runs producers and
// consumers, and removes what it made.
type driver interface {
	setup(ctx context.Context) error
	// startConsumers connects every consumer and returns once each has
	// subscribed.
	startConsumers(ctx context.Context) error
	produce(ctx context.Context, p int) error
	stopConsumers()
	teardown() error
	idle(ctx context.Context, n int) (closeAll func(), err error)
}

func newDriver(r *runner) driver {
	switch {
	case r.cfg.Protocol == "sqs":
		return newSQSDriver(r)
	case r.cfg.Protocol == "stomp" && r.cfg.Client == "fast":
		return newFastStompDriver(r)
	case r.cfg.Protocol == "stomp":
		return &stompDriver{r: r}
	case r.cfg.Client == "fast":
		return newFastDriver(r)
	}
	return &amqpDriver{r: r}
}

// execute runs cfg and returns its report. A report with OK false carries
// the reasons; its numbers are not results.
func execute(ctx context.Context, cfg config, progress io.Writer) *report {
	return executeWith(ctx, cfg, progress, nil)
}

// executeWith is execute with a hook that may wrap the protocol driver
// (tests use it to break routing on purpose).
func executeWith(ctx context.Context, cfg config, progress io.Writer, wrap func(driver) driver) *report {
	if cfg.NoAMQPSetup && cfg.IdleConns == 0 {
		// Nothing can purge or delete the queues: fresh ones, named for
		// this run, are empty when it starts (the report keeps the name).
		cfg.Prefix = runUniquePrefix(cfg.Prefix)
	}
	r := &runner{
		cfg:      cfg,
		base:     time.Now(),
		rt:       router{mode: cfg.Routing, producers: cfg.Producers, queues: cfg.Queues},
		stopPub:  make(chan struct{}),
		progress: progress,
		warmupNS: int64(cfg.Warmup),
	}
	rep := &report{Scenario: cfg.Scenario, Label: cfg.Label, Protocol: cfg.Protocol, Config: cfg, Started: time.Now().UTC().Format(time.RFC3339)}
	mon := newMonitor(cfg.PID)
	if cfg.IdleConns > 0 {
		r.runIdle(ctx, rep, mon)
		return rep
	}
	if cfg.Handshake {
		r.runHandshake(ctx, rep, mon)
		return rep
	}
	r.tr = newTracker(r.rt)
	r.sentPer = make([]atomic.Uint64, cfg.Producers)
	d := newDriver(r)
	if wrap != nil {
		d = wrap(d)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := d.setup(ctx); err != nil {
		rep.fail("setup: %v", err)
		return rep
	}
	defer func() {
		if err := d.teardown(); err != nil {
			rep.Warnings = append(rep.Warnings, "teardown: "+err.Error())
		}
	}()
	mon.start()
	if !cfg.Backlog {
		if err := d.startConsumers(ctx); err != nil {
			d.stopConsumers()
			rep.fail("consumers: %v", err)
			return rep
		}
	}
	stopProgress := r.startProgress(mon)

	// Publish. The first producer to fail stops the others: the run has
	// failed, and waiting for each of them to time out proves nothing.
	pubStart := time.Now()
	pubCtx, pubCancel := context.WithCancel(ctx)
	defer pubCancel()
	var wg sync.WaitGroup
	for p := 0; p < cfg.Producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			if err := d.produce(pubCtx, p); err != nil {
				if pubCtx.Err() == nil || !errors.Is(err, context.Canceled) {
					r.fail("producer %d: %v", p, err)
				}
				pubCancel()
			}
		}(p)
	}
	var timer *time.Timer
	if cfg.Count <= 0 {
		timer = time.AfterFunc(cfg.Duration, func() { close(r.stopPub) })
	}
	wg.Wait()
	if timer != nil && timer.Stop() {
		close(r.stopPub)
	}
	pubEnd := time.Now()

	// Consume.
	drainStart := time.Now()
	if cfg.Backlog {
		rep.PeakRSSPublishKiB = mon.peak()
		if err := d.startConsumers(ctx); err != nil {
			r.fail("consumers: %v", err)
		}
	}
	published := make([]uint64, cfg.Producers)
	for p := range published {
		published[p] = r.sentPer[p].Load()
	}
	want := int64(r.tr.expectedTotal(published))
	lastUnique, lastChange := r.tr.unique.Load(), time.Now()
	for r.tr.unique.Load() < want {
		time.Sleep(20 * time.Millisecond)
		if u := r.tr.unique.Load(); u != lastUnique {
			lastUnique, lastChange = u, time.Now()
		}
		if time.Since(lastChange) > cfg.DrainTimeout {
			r.fail("drain timeout: nothing delivered for %v with %d of %d deliveries outstanding", cfg.DrainTimeout, want-r.tr.unique.Load(), want)
			break
		}
		if len(r.failures()) > 0 && time.Since(lastChange) > 2*time.Second {
			break
		}
		if ctx.Err() != nil {
			r.fail("interrupted")
			break
		}
	}
	// A short grace period catches duplicates that arrive after the last
	// expected delivery.
	if cfg.AutoAck || cfg.Protocol == "amqp" {
		time.Sleep(200 * time.Millisecond)
	}
	d.stopConsumers()
	stopProgress()
	mon.stop()
	lastRecv := r.base.Add(time.Duration(r.lastRecv.Load()))

	acc := r.tr.check(published)
	rep.Accounting = acc
	if !acc.ok() {
		rep.fail("accounting: expected %d deliveries, got %d unique; lost %d, duplicates %d, misrouted/foreign %d, never published %d",
			acc.Expected, acc.Received, acc.Lost, acc.Duplicates, acc.Misrouted, acc.Phantom)
		for _, e := range acc.Examples {
			rep.fail("  %s", e)
		}
	}
	if n := r.nacked.Load(); n > 0 {
		rep.fail("%d publishes were nacked (or answered with a STOMP ERROR)", n)
	}
	for _, e := range r.failures() {
		rep.fail("%s", e)
	}

	rep.Published = r.sent.Load()
	rep.Confirmed = r.confirmed.Load()
	rep.Consumed = r.consumed.Load()
	rep.PublishSeconds = pubEnd.Sub(pubStart).Seconds()
	if rep.PublishSeconds > 0 {
		rep.PublishRate = float64(rep.Published) / rep.PublishSeconds
	}
	from := pubStart
	if cfg.Backlog {
		from = drainStart
	}
	if lastRecv.After(from) {
		rep.ConsumeSeconds = lastRecv.Sub(from).Seconds()
		rep.ConsumeRate = float64(acc.Received) / rep.ConsumeSeconds
	}
	var all hist
	r.recMu.Lock()
	for _, l := range r.recs {
		l.mu.Lock()
		all.merge(&l.total)
		l.mu.Unlock()
	}
	r.recMu.Unlock()
	rep.Latency = latencyOf(&all)
	var conf hist
	r.recMu.Lock()
	for _, l := range r.crecs {
		l.mu.Lock()
		conf.merge(&l.total)
		l.mu.Unlock()
	}
	r.recMu.Unlock()
	if conf.n > 0 {
		cl := latencyOf(&conf)
		rep.ConfirmLatency = &cl
	}
	mon.fill(rep)
	return rep
}

// startProgress prints a line a second: rates, latency, outstanding
// deliveries and the broker's RSS.
func (r *runner) startProgress(mon *monitor) (stop func()) {
	if r.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		var lastSent, lastCons int64
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				sent, cons := r.sent.Load(), r.consumed.Load()
				dt := now.Sub(last).Seconds()
				var iv hist
				r.recMu.Lock()
				for _, l := range r.recs {
					l.mu.Lock()
					iv.merge(&l.interval)
					l.interval.reset()
					l.mu.Unlock()
				}
				r.recMu.Unlock()
				out := sent*int64(r.rt.copies()) - r.tr.unique.Load()
				line := fmt.Sprintf("%-22s %5.0fs  pub %9.0f/s  cons %9.0f/s  lat p50 %8s p99 %8s  outstanding %8d",
					r.cfg.Scenario+" "+r.cfg.Label, now.Sub(start).Seconds(), float64(sent-lastSent)/dt, float64(cons-lastCons)/dt,
					fmtDur(iv.quantile(0.5)), fmtDur(iv.quantile(0.99)), out)
				if m := mon.last(); m.RSSKiB > 0 {
					line += fmt.Sprintf("  rss %6.1f MiB", float64(m.RSSKiB)/1024)
				}
				fmt.Fprintln(r.progress, line)
				lastSent, lastCons, last = sent, cons, now
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// runIdle opens n idle connections and reports the broker's RSS per
// connection.
func (r *runner) runIdle(ctx context.Context, rep *report, mon *monitor) {
	n := r.cfg.IdleConns
	if r.cfg.PID <= 0 {
		rep.fail("an idle-connection run measures the broker's memory: give --pid")
		return
	}
	d := newDriver(r)
	time.Sleep(r.cfg.IdleSettle / 3)
	before, err := readProcMem(r.cfg.PID)
	if err != nil {
		rep.fail("reading broker memory: %v", err)
		return
	}
	start := time.Now()
	closeAll, err := d.idle(ctx, n)
	if err != nil {
		rep.fail("opening %d idle %s connections: %v", n, r.cfg.Protocol, err)
		if closeAll != nil {
			closeAll()
		}
		return
	}
	rep.PublishSeconds = time.Since(start).Seconds()
	// Let the broker settle, then take the larger of two readings.
	time.Sleep(r.cfg.IdleSettle)
	after, _ := readProcMem(r.cfg.PID)
	time.Sleep(r.cfg.IdleSettle / 3)
	if a2, err := readProcMem(r.cfg.PID); err == nil && a2.RSSKiB > after.RSSKiB {
		after = a2
	}
	closeAll()
	rep.IdleConns = n
	rep.RSSStartKiB = before.RSSKiB
	rep.RSSEndKiB = after.RSSKiB
	rep.PeakRSSKiB = after.HWMKiB
	rep.RSSPerConnKiB = float64(after.RSSKiB-before.RSSKiB) / float64(n)
	if fs := r.failures(); len(fs) > 0 {
		for _, f := range fs {
			rep.fail("%s", f)
		}
	}
}

// monitor samples the broker's RSS and CPU while a run lasts.
type monitor struct {
	pid      int
	mu       sync.Mutex
	first    procMem
	cur      procMem
	max      int64
	cpu0     int64
	cpu1     int64
	self0    int64 // this process's CPU ticks
	self1    int64
	t0, t1   time.Time
	hwmReset bool
	done     chan struct{}
	wg       sync.WaitGroup
}

func newMonitor(pid int) *monitor { return &monitor{pid: pid, done: make(chan struct{})} }

func (m *monitor) start() {
	if m.pid <= 0 {
		return
	}
	m.hwmReset = resetHWM(m.pid) == nil
	m.first, _ = readProcMem(m.pid)
	m.cur, m.max = m.first, m.first.RSSKiB
	m.cpu0, _ = procCPUTicks(m.pid)
	m.self0, _ = procCPUTicks(os.Getpid())
	m.t0 = time.Now()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				pm, err := readProcMem(m.pid)
				if err != nil {
					continue
				}
				m.mu.Lock()
				m.cur = pm
				if pm.RSSKiB > m.max {
					m.max = pm.RSSKiB
				}
				m.mu.Unlock()
			}
		}
	}()
}

func (m *monitor) last() procMem {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

func (m *monitor) peak() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.max
	if m.hwmReset && m.cur.HWMKiB > p {
		p = m.cur.HWMKiB
	}
	return p
}

func (m *monitor) stop() {
	if m.pid <= 0 {
		return
	}
	close(m.done)
	m.wg.Wait()
	m.cpu1, _ = procCPUTicks(m.pid)
	m.self1, _ = procCPUTicks(os.Getpid())
	m.t1 = time.Now()
	if pm, err := readProcMem(m.pid); err == nil {
		m.mu.Lock()
		m.cur = pm
		if pm.RSSKiB > m.max {
			m.max = pm.RSSKiB
		}
		m.mu.Unlock()
	}
}

func (m *monitor) fill(rep *report) {
	if m.pid <= 0 {
		return
	}
	rep.RSSStartKiB = m.first.RSSKiB
	rep.RSSEndKiB = m.cur.RSSKiB
	rep.PeakRSSKiB = m.peak()
	rep.HWMReset = m.hwmReset
	rep.BrokerCPUSeconds = float64(m.cpu1-m.cpu0) / clockTicks
	rep.LoadGenCPUSeconds = float64(m.self1-m.self0) / clockTicks
	if s := m.t1.Sub(m.t0).Seconds(); s > 0 {
		rep.BrokerCPUPercent = 100 * rep.BrokerCPUSeconds / s
		rep.LoadGenCPUPercent = 100 * rep.LoadGenCPUSeconds / s
	}
}
