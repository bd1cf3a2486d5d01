package torture

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
	amqp "github.com/rabbitmq/amqp091-go"
)

// workload runs one broker lifetime: workers until the kill -9 after life.
func (r *run) workload(cycle int, life time.Duration) {
	r.stop = make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < *amqpWorkers; i++ {
		w := &amqpWorker{r: r, id: i, cycle: cycle, rng: r.cycleRand(cycle, 10+i), url: r.proc.amqpURL}
		wg.Add(1)
		go func() { defer wg.Done(); w.run() }()
	}
	sw := &stompWorker{r: r, cycle: cycle, rng: r.cycleRand(cycle, 5), addr: r.proc.stompAddr}
	wg.Add(2)
	go func() { defer wg.Done(); sw.run() }()
	go func() { defer wg.Done(); r.barrier() }()
	time.Sleep(life)
	if !r.proc.alive() {
		r.m.mu.Lock()
		r.m.failf("L%d: the broker exited by itself (%v); see %s", cycle, r.proc.cmd.ProcessState, r.logPath)
		r.m.mu.Unlock()
	}
	r.m.log.addf("=== lifetime %d: kill -9 after %v", cycle, life)
	r.proc.kill()
	close(r.stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		r.m.mu.Lock()
		r.m.failf("L%d: workers did not stop within 60 s of the kill", cycle)
		r.m.mu.Unlock()
		<-done
	}
	r.m.crashed()
}

func (r *run) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// barrier publishes to t.barrier with confirms, so that lazy records
// (settles, delivered marks) appended before it are known to be on disk.
func (r *run) barrier() {
	m := r.m
	for !r.stopped() {
		conn, err := amqp.Dial(r.proc.amqpURL)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		ch, err := conn.Channel()
		if err != nil || ch.Confirm(false) != nil {
			conn.Close()
			continue
		}
		confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 4))
		for !r.stopped() {
			select {
			case <-r.stop:
			case <-time.After(150 * time.Millisecond):
			}
			m.mu.Lock()
			issue, wall := m.tick(), time.Now()
			m.mu.Unlock()
			if err := ch.PublishWithContext(context.Background(), "", "t.barrier", false, false,
				amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("barrier")}); err != nil {
				break
			}
			c, ok := <-confirms
			if !ok {
				break
			}
			if c.Ack {
				m.mu.Lock()
				if issue > m.durableClock {
					m.durableClock, m.durableWall = issue, wall
				}
				m.mu.Unlock()
			}
		}
		conn.Close()
	}
}

// amqpWorker is one AMQP connection doing random operations.
type amqpWorker struct {
	r     *run
	id    int
	cycle int
	rng   *rand.Rand
	url   string
	conn  *amqp.Connection
	pub   *pubChan
	tx    *pubChan
	get   *holdChan
	cons  []*holdChan
	chans int
}

// pubChan is a channel in confirm or tx mode.
type pubChan struct {
	ch       *amqp.Channel
	key      string
	seq      int64
	confirms chan amqp.Confirmation
	returns  chan amqp.Return
}

// holdChan is a channel that receives messages (a consumer's or basic.get's)
// and the copies it holds unacked.
type holdChan struct {
	ch         *amqp.Channel
	token      int64
	queue      string
	prefetch   int
	deliveries <-chan amqp.Delivery
	held       map[uint64]held
}

type held struct {
	c   *cpy
	li  int
	loc string
}

func (w *amqpWorker) logf(format string, args ...any) {
	w.r.m.log.addf("L%d w%d "+format, append([]any{w.cycle, w.id}, args...)...)
}

func (w *amqpWorker) run() {
	for !w.r.stopped() {
		if w.conn == nil || w.conn.IsClosed() {
			w.reset()
			c, err := amqp.Dial(w.url)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			w.conn = c
		}
		w.r.m.mu.Lock()
		w.r.m.stats.ops++
		w.r.m.mu.Unlock()
		switch p := w.rng.Intn(1000); {
		case p < 330:
			w.publishConfirm()
		case p < 430:
			w.publishTx()
		case p < 480:
			w.startConsumer()
		case p < 760:
			if len(w.cons) > 0 {
				w.consumeStep(w.cons[w.rng.Intn(len(w.cons))])
			}
		case p < 880:
			w.basicGet()
		case p < 900:
			if len(w.cons) > 0 {
				i := w.rng.Intn(len(w.cons))
				w.closeHolder(w.cons[i], "consumer dies")
				w.cons = append(w.cons[:i], w.cons[i+1:]...)
			}
		case p < 910:
			if w.get != nil {
				w.closeHolder(w.get, "get channel dies")
				w.get = nil
			}
		case p < 915:
			w.logf("connection dies with %d consumers", len(w.cons))
			w.releaseAll()
			w.conn.Close()
		case p < 920:
			w.purge()
		case p < 923:
			w.deleteRedeclare()
		default:
			if len(w.cons) > 0 {
				w.consumeStep(w.cons[w.rng.Intn(len(w.cons))])
			} else {
				w.publishConfirm()
			}
		}
	}
}

// reset forgets the channels of a dead connection.
func (w *amqpWorker) reset() {
	w.releaseAll()
	w.pub, w.tx, w.get, w.cons = nil, nil, nil, nil
}

// releaseAll: every copy this connection holds goes back (the broker
// requeues them when the connection closes).
func (w *amqpWorker) releaseAll() {
	hs := append([]*holdChan{w.get}, w.cons...)
	m := w.r.m
	m.mu.Lock()
	for _, h := range hs {
		if h == nil {
			continue
		}
		for _, it := range h.held {
			if it.c != nil && it.c.holder == h.token {
				it.c.holder = 0
			}
		}
		h.held = map[uint64]held{}
	}
	m.mu.Unlock()
}

func (w *amqpWorker) closeHolder(h *holdChan, why string) {
	w.logf("%s on %s with %d unacked", why, h.queue, len(h.held))
	m := w.r.m
	m.mu.Lock()
	for _, it := range h.held {
		if it.c != nil && it.c.holder == h.token {
			it.c.holder = 0
		}
	}
	h.held = map[uint64]held{}
	m.mu.Unlock()
	_ = h.ch.Close()
}

func (w *amqpWorker) openPub(tx bool) *pubChan {
	ch, err := w.conn.Channel()
	if err != nil {
		return nil
	}
	if tx {
		err = ch.Tx()
	} else {
		err = ch.Confirm(false)
	}
	if err != nil {
		ch.Close()
		return nil
	}
	w.chans++
	pc := &pubChan{ch: ch, key: fmt.Sprintf("L%d.w%d.c%d", w.cycle, w.id, w.chans),
		returns: ch.NotifyReturn(make(chan amqp.Return, 512))}
	if !tx {
		pc.confirms = ch.NotifyPublish(make(chan amqp.Confirmation, 512))
	}
	return pc
}

// pickTarget draws where a publish goes.
func pickTarget(rng *rand.Rand) (exchange, key string) {
	switch p := rng.Intn(100); {
	case p < 18:
		return "", "t.plain1"
	case p < 26:
		return "", "t.plain2"
	case p < 34:
		return "t.direct", key255
	case p < 38:
		return "t.direct", "k"
	case p < 48:
		return "t.fanout", "f"
	case p < 58:
		return "", "t.ttl"
	case p < 68:
		return "", "t.delay"
	case p < 84:
		return "", "t.dlsrc"
	default:
		return "", "t.dedup"
	}
}

// newMsg draws a message for (exchange, key) and adds it to the model.
func (r *run) newMsg(rng *rand.Rand, pubKey string, seq int64, exchange, key string) *msg {
	g := &msg{pubKey: pubKey, seq: seq, exchange: exchange, key: key, persistent: rng.Intn(100) < 80, size: bodySize(rng)}
	if rng.Intn(100) < 12 {
		g.longProps = true
	}
	if rng.Intn(100) < 8 {
		g.bigHeaders = 50 + rng.Intn(200)
		g.bigStr = 1<<10 + rng.Intn(20<<10)
	}
	switch key {
	case "t.plain1":
		if rng.Intn(10) == 0 {
			g.expiration = []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second, time.Minute}[rng.Intn(4)]
			g.ttl = g.expiration
		}
	case "t.ttl":
		g.ttl = 8 * time.Second // the queue's x-message-ttl
		if rng.Intn(10) < 3 {
			g.expiration = []time.Duration{300 * time.Millisecond, time.Minute}[rng.Intn(2)]
			g.ttl = min(g.ttl, g.expiration)
		}
	case "t.delay":
		g.delay = 200 * time.Millisecond // the queue's x-delivery-delay
		if rng.Intn(10) < 7 {
			// x-delay replaces the queue's delay
			g.delay, g.xDelay = time.Duration(1+rng.Intn(1500))*time.Millisecond, true
		}
	case "t.dedup":
		g.persistent = true
	}
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if key == "t.dedup" {
		if n := len(m.dedupUsed); n > 0 && rng.Intn(100) < 30 {
			g.dedupID = "d-" + strconv.Itoa(n-1-rng.Intn(min(n, 300))) // a recent id
		} else {
			g.dedupID = "d-" + strconv.Itoa(n)
		}
	}
	m.add(g)
	return g
}

// drainReturns takes the basic.returns that arrived: those messages were
// routed nowhere.
func (r *run) drainReturns(pc *pubChan) {
	for {
		select {
		case ret, ok := <-pc.returns:
			if !ok {
				return
			}
			tid, _ := ret.Headers["t-id"].(string)
			id, _ := strconv.ParseInt(tid, 10, 64)
			r.m.mu.Lock()
			if g := r.m.msgs[id]; g != nil {
				for _, c := range g.copies {
					c.gone = goneUnroutable
				}
				r.m.log.addf("basic.return of msg %d (%s): %s", id, ret.ReplyText, g.describe())
			}
			r.m.mu.Unlock()
		default:
			return
		}
	}
}

func (r *run) settle(g *msg, st pubStatus) {
	r.m.mu.Lock()
	r.m.settle(g, st)
	r.m.mu.Unlock()
}

func (w *amqpWorker) publishConfirm() {
	if w.pub == nil {
		if w.pub = w.openPub(false); w.pub == nil {
			return
		}
	}
	pc := w.pub
	n := 1 + w.rng.Intn(8)
	pending := map[uint64]*msg{}
	var ids []int64
	for i := 0; i < n; i++ {
		x, k := pickTarget(w.rng)
		pc.seq++
		g := w.r.newMsg(w.rng, pc.key, pc.seq, x, k)
		ids = append(ids, g.id)
		tag := pc.ch.GetNextPublishSeqNo()
		if err := pc.ch.PublishWithContext(context.Background(), x, k, true, false, amqpPublishing(g)); err != nil {
			w.r.settle(g, stUncertain)
			for _, g := range pending {
				w.r.settle(g, stUncertain)
			}
			w.pub = nil
			return
		}
		pending[tag] = g
	}
	w.logf("publish %s on %s", mids(ids), pc.key)
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for len(pending) > 0 {
		select {
		case c, ok := <-pc.confirms:
			if !ok {
				for _, g := range pending {
					w.r.settle(g, stUncertain)
				}
				w.pub = nil
				return
			}
			w.r.drainReturns(pc)
			if g := pending[c.DeliveryTag]; g != nil {
				delete(pending, c.DeliveryTag)
				if c.Ack {
					w.r.settle(g, stConfirmed)
				} else {
					w.logf("basic.nack of msg %d: %s", g.id, g.describe())
					w.r.settle(g, stNacked)
				}
			}
		case <-w.r.stop:
			return // the kill: pending outcomes become uncertain
		case <-timeout.C:
			w.r.m.mu.Lock()
			w.r.m.failf("L%d: no publisher confirm within 20 s for %d messages on %s while the broker ran", w.cycle, len(pending), pc.key)
			w.r.m.mu.Unlock()
			for _, g := range pending {
				w.r.settle(g, stUncertain)
			}
			w.pub = nil
			return
		}
	}
}

func (w *amqpWorker) publishTx() {
	if w.tx == nil {
		if w.tx = w.openPub(true); w.tx == nil {
			return
		}
	}
	pc := w.tx
	n := 1 + w.rng.Intn(5)
	var gs []*msg
	var ids []int64
	for i := 0; i < n; i++ {
		x, k := pickTarget(w.rng)
		pc.seq++
		g := w.r.newMsg(w.rng, pc.key, pc.seq, x, k)
		gs = append(gs, g)
		ids = append(ids, g.id)
		if err := pc.ch.PublishWithContext(context.Background(), x, k, true, false, amqpPublishing(g)); err != nil {
			// Never committed: the broker discards an open transaction
			// with its channel.
			for _, g := range gs {
				w.r.settle(g, stRefused)
			}
			w.tx = nil
			return
		}
	}
	if w.rng.Intn(5) == 0 {
		err := pc.ch.TxRollback()
		w.logf("tx rollback %s on %s: %v", mids(ids), pc.key, err)
		for _, g := range gs {
			w.r.settle(g, stRefused)
		}
		if err != nil {
			w.tx = nil
		}
		return
	}
	err := pc.ch.TxCommit()
	w.r.drainReturns(pc)
	w.logf("tx commit %s on %s: %v", mids(ids), pc.key, err)
	st := stConfirmed
	if err != nil {
		st = stUncertain
		w.tx = nil
	}
	for _, g := range gs {
		w.r.settle(g, st)
	}
}

func pickQueue(rng *rand.Rand) string {
	qs := []string{"t.plain1", "t.plain1", "t.plain2", "t.fan.a", "t.fan.b", "t.ttl", "t.delay", "t.dlsrc", "t.dlsrc", "t.dlsrc", "t.dead", "t.dead", "t.dedup"}
	return qs[rng.Intn(len(qs))]
}

func (w *amqpWorker) newHolder(queue string) *holdChan {
	ch, err := w.conn.Channel()
	if err != nil {
		return nil
	}
	return &holdChan{ch: ch, token: w.r.m.token(), queue: queue, held: map[uint64]held{}}
}

func (w *amqpWorker) startConsumer() {
	if len(w.cons) >= 2 {
		return
	}
	q := pickQueue(w.rng)
	h := w.newHolder(q)
	if h == nil {
		return
	}
	h.prefetch = 1 + w.rng.Intn(20)
	if err := h.ch.Qos(h.prefetch, 0, false); err != nil {
		return
	}
	ds, err := h.ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		return
	}
	h.deliveries = ds
	w.cons = append(w.cons, h)
	w.logf("consume %s prefetch %d (channel %d)", q, h.prefetch, h.token)
}

func (w *amqpWorker) consumeStep(h *holdChan) {
	n := 1 + w.rng.Intn(8)
	for i := 0; i < n; i++ {
		select {
		case d, ok := <-h.deliveries:
			if !ok {
				w.logf("consumer on %s ended", h.queue)
				w.closeHolder(h, "consumer ended")
				for j, x := range w.cons {
					if x == h {
						w.cons = append(w.cons[:j], w.cons[j+1:]...)
						break
					}
				}
				return
			}
			c, li := w.r.m.observe(h.queue, &d, h.token, false)
			h.held[d.DeliveryTag] = held{c: c, li: li, loc: h.queue}
		case <-time.After(20 * time.Millisecond):
			i = n
		case <-w.r.stop:
			return
		}
	}
	w.settleHeld(h)
}

func (w *amqpWorker) basicGet() {
	if w.get == nil {
		if w.get = w.newHolder(""); w.get == nil {
			return
		}
	}
	h := w.get
	q := pickQueue(w.rng)
	d, ok, err := h.ch.Get(q, false)
	if err != nil {
		w.closeHolder(h, "get failed: "+err.Error())
		w.get = nil
		return
	}
	if ok {
		c, li := w.r.m.observe(q, &d, h.token, false)
		h.held[d.DeliveryTag] = held{c: c, li: li, loc: q}
	}
	w.settleHeld(h)
}

// settleHeld decides for each held message: ack, nack or reject with or
// without requeue, or keep holding. Then a basic.qos round trip tells that
// the broker handled them.
func (w *amqpWorker) settleHeld(h *holdChan) {
	tags := make([]uint64, 0, len(h.held))
	for t := range h.held {
		tags = append(tags, t)
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
	type act struct {
		tag     uint64
		kind    int // 0 ack, 1 nack, 2 reject
		requeue bool
		id      int64
	}
	var acts []act
	var acked []*cpy
	m := w.r.m
	m.mu.Lock()
	for _, t := range tags {
		it := h.held[t]
		var a act
		switch p := w.rng.Intn(100); {
		case p < 55 || it.c == nil:
			a = act{tag: t, kind: 0, requeue: false}
		case p < 67:
			a = act{tag: t, kind: 1, requeue: true}
		case p < 72:
			a = act{tag: t, kind: 2, requeue: true}
		case p < 78:
			a = act{tag: t, kind: 2, requeue: false}
		case p < 82:
			a = act{tag: t, kind: 1, requeue: false}
		default:
			continue // keep holding
		}
		delete(h.held, t)
		c := it.c
		if c == nil {
			acts = append(acts, a)
			continue
		}
		a.id = c.m.id
		acts = append(acts, a)
		if c.holder == h.token {
			c.holder = 0
		}
		switch {
		case a.kind == 0:
			c.gone, c.ackLifetime, c.ackSync, c.ackDurable, c.ackLoc = goneAcked, m.lifetime, 0, false, it.li
			m.ackedNow = append(m.ackedNow, c)
			acked = append(acked, c)
		case !a.requeue && !(it.li == 0 && m.queues[it.loc].deadTo != ""):
			c.gone, c.ackLifetime, c.ackSync, c.ackDurable, c.ackLoc = goneDropped, m.lifetime, 0, false, it.li
			m.ackedNow = append(m.ackedNow, c)
			acked = append(acked, c)
		}
	}
	m.mu.Unlock()
	if len(acts) == 0 {
		return
	}
	var desc []string
	for _, a := range acts {
		var err error
		switch a.kind {
		case 0:
			err = h.ch.Ack(a.tag, false)
			desc = append(desc, fmt.Sprintf("ack %d(m%d)", a.tag, a.id))
		case 1:
			err = h.ch.Nack(a.tag, false, a.requeue)
			desc = append(desc, fmt.Sprintf("nack %d(m%d) requeue=%v", a.tag, a.id, a.requeue))
		case 2:
			err = h.ch.Reject(a.tag, a.requeue)
			desc = append(desc, fmt.Sprintf("reject %d(m%d) requeue=%v", a.tag, a.id, a.requeue))
		}
		if err != nil {
			w.logf("channel %d: %s: %v", h.token, strings.Join(desc, ", "), err)
			return
		}
	}
	if err := h.ch.Qos(max(h.prefetch, 1), 0, false); err != nil {
		w.logf("channel %d: %s: qos: %v", h.token, strings.Join(desc, ", "), err)
		return
	}
	m.mu.Lock()
	tk := m.tick()
	for _, c := range acked {
		if (c.gone == goneAcked || c.gone == goneDropped) && c.ackLifetime == m.lifetime {
			c.ackSync = tk
		}
	}
	m.mu.Unlock()
	w.logf("channel %d: %s", h.token, strings.Join(desc, ", "))
}

func (w *amqpWorker) misc() *amqp.Channel {
	ch, err := w.conn.Channel()
	if err != nil {
		return nil
	}
	return ch
}

func (w *amqpWorker) purge() {
	q := []string{"t.plain1", "t.ttl", "t.fan.a"}[w.rng.Intn(3)]
	ch := w.misc()
	if ch == nil {
		return
	}
	defer ch.Close()
	w.r.m.wipeStart(q)
	n, err := ch.QueuePurge(q, false)
	w.logf("purge %s: %d, %v", q, n, err)
	if err == nil {
		w.r.m.wipeEnd(q)
	}
}

func (w *amqpWorker) deleteRedeclare() {
	q := []string{"t.plain1", "t.ttl", "t.fan.b"}[w.rng.Intn(3)]
	ch := w.misc()
	if ch == nil {
		return
	}
	defer ch.Close()
	w.r.m.wipeStart(q)
	n, err := ch.QueueDelete(q, false, false, false)
	w.logf("delete %s: %d, %v", q, n, err)
	if err != nil {
		return
	}
	if err := declareQueue(ch, w.r.m.queues[q]); err != nil {
		w.logf("redeclare %s: %v", q, err)
		return
	}
	w.r.m.wipeEnd(q)
}

type stompFrame = frame.Frame

// stompWorker publishes and consumes over STOMP.
type stompWorker struct {
	r     *run
	cycle int
	rng   *rand.Rand
	addr  string
	conn  *stomp.Conn
	key   string
	seq   int64
	conns int
}

func (s *stompWorker) logf(format string, args ...any) {
	s.r.m.log.addf("L%d stomp "+format, append([]any{s.cycle}, args...)...)
}

func (s *stompWorker) dial() (*stomp.Conn, error) {
	return stomp.Dial("tcp", s.addr, stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"), stomp.ConnOpt.Logger(quietLog{}),
		stomp.ConnOpt.HeartBeat(0, 0), stomp.ConnOpt.RcvReceiptTimeout(30*time.Second))
}

func (s *stompWorker) run() {
	for !s.r.stopped() {
		if s.conn == nil {
			c, err := s.dial()
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			s.conn = c
			s.conns++
			s.key = fmt.Sprintf("L%d.stomp%d", s.cycle, s.conns)
		}
		s.r.m.mu.Lock()
		s.r.m.stats.ops++
		s.r.m.mu.Unlock()
		switch p := s.rng.Intn(100); {
		case p < 60:
			s.send()
		case p < 65 && *overLimit:
			s.overLimit()
		default:
			s.consume()
		}
		time.Sleep(time.Duration(s.rng.Intn(5)) * time.Millisecond)
	}
	if s.conn != nil {
		go s.conn.MustDisconnect()
	}
}

func (s *stompWorker) send() {
	dest, x, k := "/amq/queue/t.plain1", "", "t.plain1"
	if s.rng.Intn(2) == 0 {
		dest, x, k = "/exchange/t.direct/"+key255, "t.direct", key255
	}
	s.seq++
	g := &msg{pubKey: s.key, seq: s.seq, exchange: x, key: k, persistent: s.rng.Intn(100) < 80,
		size: min(bodySize(s.rng), 40<<10), viaStomp: true}
	s.r.m.mu.Lock()
	s.r.m.add(g)
	s.r.m.mu.Unlock()
	opts := []func(*stompFrame) error{stomp.SendOpt.Receipt, stomp.SendOpt.Header("t-id", strconv.FormatInt(g.id, 10))}
	if g.persistent {
		opts = append(opts, stomp.SendOpt.Header("persistent", "true"))
	}
	err := s.conn.Send(dest, "application/octet-stream", body(g.id, g.size), opts...)
	if err != nil {
		s.logf("send m%d: %v", g.id, err)
		s.r.settle(g, stUncertain)
		s.drop()
		return
	}
	s.r.settle(g, stConfirmed)
	s.logf("sent m%d to %.40s persistent=%v", g.id, dest, g.persistent)
}

// overLimit sends, on a connection of its own, a message with a 256-byte
// routing key or short-string property: the broker must refuse it.
func (s *stompWorker) overLimit() {
	c, err := s.dial()
	if err != nil {
		return
	}
	defer func() { go c.MustDisconnect() }()
	dest, x, k := "/amq/queue/t.plain1", "", "t.plain1"
	var hdr [2]string
	switch s.rng.Intn(5) {
	case 0:
		dest, x, k = "/exchange/t.direct/"+key255+"x", "t.direct", key255+"x"
	case 1:
		hdr = [2]string{"correlation-id", prop255(0, "cid") + "x"}
	case 2:
		hdr = [2]string{"reply-to", prop255(0, "reply") + "x"}
	case 3:
		hdr = [2]string{"amqp-message-id", prop255(0, "mid") + "x"}
	default:
		hdr = [2]string{"type", prop255(0, "type") + "x"}
	}
	what := "routing key " + strconv.Itoa(len(k)) + " bytes"
	if hdr[0] != "" {
		what = hdr[0] + " " + strconv.Itoa(len(hdr[1])) + " bytes"
	}
	g := &msg{pubKey: "overlimit", exchange: x, key: k, persistent: true, size: 100, viaStomp: true, note: "over-limit " + what}
	s.r.m.mu.Lock()
	s.r.m.add(g)
	s.r.m.mu.Unlock()
	opts := []func(*stompFrame) error{stomp.SendOpt.Receipt, stomp.SendOpt.Header("t-id", strconv.FormatInt(g.id, 10)),
		stomp.SendOpt.Header("persistent", "true")}
	if hdr[0] != "" {
		opts = append(opts, stomp.SendOpt.Header(hdr[0], hdr[1]))
	}
	err = c.Send(dest, "application/octet-stream", body(g.id, g.size), opts...)
	s.logf("over-limit send m%d (%s): %v", g.id, what, err)
	if err == nil {
		s.r.m.mu.Lock()
		if !s.r.stopped() {
			s.r.m.failf("L%d: OVER-LIMIT accepted: STOMP SEND with a %s got its receipt (msg %d)", s.cycle, what, g.id)
		}
		s.r.m.settle(g, stUncertain)
		s.r.m.mu.Unlock()
		return
	}
	if s.r.stopped() {
		s.r.settle(g, stUncertain) // the error may be the kill's
		return
	}
	s.r.m.mu.Lock()
	s.r.m.settle(g, stRefused)
	s.r.m.stats.overLimitRefused++
	s.r.m.mu.Unlock()
}

func (s *stompWorker) drop() {
	if s.conn != nil {
		go s.conn.MustDisconnect()
	}
	s.conn = nil
}

func (s *stompWorker) consume() {
	q := []string{"t.plain1", "t.plain2", "t.dlsrc"}[s.rng.Intn(3)]
	token := s.r.m.token()
	sub, err := s.conn.Subscribe("/amq/queue/"+q, stomp.AckClientIndividual,
		stomp.SubscribeOpt.Header("prefetch-count", strconv.Itoa(1+s.rng.Intn(8))))
	if err != nil {
		s.drop()
		return
	}
	m := s.r.m
	var hs []*stomp.Message
	var cs []*cpy
	n := 1 + s.rng.Intn(6)
	for len(hs) < n {
		select {
		case sm, ok := <-sub.C:
			if !ok || sm.Err != nil {
				s.drop()
				s.release(token, cs)
				return
			}
			hdrs := amqp.Table{}
			if v, ok := sm.Header.Contains("t-id"); ok {
				hdrs["t-id"] = v
			}
			d := amqp.Delivery{Body: sm.Body, Headers: hdrs, Redelivered: sm.Header.Get("redelivered") == "true"}
			c, _ := m.observe(q, &d, token, true)
			hs = append(hs, sm)
			cs = append(cs, c)
		case <-time.After(100 * time.Millisecond):
			n = 0
		case <-s.r.stop:
			return
		}
	}
	var desc []string
	for i, sm := range hs {
		c := cs[i]
		ack := s.rng.Intn(10) < 7
		m.mu.Lock()
		if c != nil {
			if c.holder == token {
				c.holder = 0
			}
			if ack {
				c.gone, c.ackLifetime, c.ackSync, c.ackDurable, c.ackLoc = goneAcked, m.lifetime, 0, false, 0
				m.ackedNow = append(m.ackedNow, c)
			}
		}
		m.mu.Unlock()
		if ack {
			err = s.conn.Ack(sm)
		} else {
			err = s.conn.Nack(sm)
		}
		desc = append(desc, fmt.Sprintf("m%v:%v", sm.Header.Get("t-id"), ack))
		if err != nil {
			s.drop()
			return
		}
	}
	s.logf("consumed from %s (ack?): %s", q, strings.Join(desc, " "))
	if s.rng.Intn(10) == 0 {
		s.drop() // the connection dies with its subscription
		return
	}
	if err := sub.Unsubscribe(); err != nil {
		s.drop()
	}
}

func (s *stompWorker) release(token int64, cs []*cpy) {
	s.r.m.mu.Lock()
	defer s.r.m.mu.Unlock()
	for _, c := range cs {
		if c != nil && c.holder == token {
			c.holder = 0
		}
	}
}

// quietLog keeps go-stomp from logging every connection the kill breaks.
type quietLog struct{}

func (quietLog) Debugf(string, ...any)   {}
func (quietLog) Infof(string, ...any)    {}
func (quietLog) Warningf(string, ...any) {}
func (quietLog) Errorf(string, ...any)   {}
func (quietLog) Debug(string)            {}
func (quietLog) Info(string)             {}
func (quietLog) Warning(string)          {}
func (quietLog) Error(string)            {}

func mids(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "m%d", id)
	}
	return b.String()
}
