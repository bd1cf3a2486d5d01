package server

import (
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker"
)

// RabbitMQ's message_stats for the management API: the core's message
// counters (broker/counters.go) with rates.
//
// For the API handlers (api_queues.go, api_exchanges.go, api_vhosts.go,
// api_overview.go, api_channels.go), one call:
//
//	func (s *Server) messageStats(obj any) map[string]any
//
// obj is a *broker.Queue, *broker.Exchange, *broker.VHost, *broker.Session
// (a channel) or *broker.Broker (the overview). The answer is the object's
// message_stats, with RabbitMQ's keys for that kind of object, each count
// followed by its NAME_details {"rate": per second}:
//
//	queue     publish; and ack, deliver, deliver_get, deliver_no_ack, get,
//	          get_empty, get_no_ack, redeliver
//	exchange  publish_in; publish_out
//	vhost, channel
//	          publish, confirm, return_unroutable, drop_unroutable; and the
//	          queue's delivery keys
//	overview  the vhost's keys and disk_reads, disk_writes
//
// A group of keys (after a ";" above) is there only once one of its
// counts is above zero, as RabbitMQ shows only the stats an object has
// had; nil means nothing was counted at all, and then the handler leaves
// message_stats out, as RabbitMQ does (the overview always has one).
//
// Rates come from one sampler goroutine (sampleMessageStats, started with
// the listeners and stopped with them) that reads every queue's,
// exchange's and vhost's counters every statsInterval and keeps the last
// two samples: a rate is the change between them over their distance,
// RabbitMQ's "basic" rates mode. The counts themselves are read live. A
// channel is sampled only once the API has asked for it, and forgotten
// when nobody has asked for it for statsForget.

// statsInterval is how often the sampler reads the counters (RabbitMQ's
// collect_statistics_interval, 5 s by default).
var statsInterval = 5 * time.Second

// statsForget is how long a channel nobody asks about keeps being sampled.
const statsForget = 2 * time.Minute

// statsSample is an object's counters at one moment (unix nanos).
type statsSample struct {
	at int64
	c  broker.MessageCounts
}

// statsHistory is an object's last two samples.
type statsHistory struct {
	prev, cur statsSample
	n         int    // samples taken, up to 2 of them kept
	pass      uint64 // the sampler pass that last saw the object
	asked     int64  // sessions: when the API last asked (unix nanos)
	// quietSince is the sample at which the counts last changed (the
	// first sample when they never did): a queue's idle_since.
	quietSince int64
}

func (h *statsHistory) add(at int64, c broker.MessageCounts) {
	if h.n == 0 || c != h.cur.c {
		h.quietSince = at
	}
	h.prev, h.cur = h.cur, statsSample{at, c}
	h.n++
}

// queueIdleSince reports since when q's counts have not moved, once they
// have stood still over a whole sample interval (RabbitMQ shows a queue's
// idle_since once it has been idle, consumers or not).
func (st *statsSampler) queueIdleSince(q *broker.Queue) (time.Time, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.queues[q].idleSince()
}

// sessionIdleSince is queueIdleSince for a channel, which is sampled once
// the API has asked for it (messageStats): idle_since shows from the
// second sample after the first request.
func (st *statsSampler) sessionIdleSince(sess *broker.Session) (time.Time, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sessions[sess].idleSince()
}

func (h *statsHistory) idleSince() (time.Time, bool) {
	if h == nil || h.n < 2 || h.cur.c != h.prev.c {
		return time.Time{}, false
	}
	return time.Unix(0, h.quietSince), true
}

// rate is the change of the field f picks per second between the last two
// samples; 0 before there are two.
func (h *statsHistory) rate(f func(broker.MessageCounts) uint64) float64 {
	if h == nil || h.n < 2 || h.cur.at <= h.prev.at {
		return 0
	}
	cur, prev := f(h.cur.c), f(h.prev.c)
	if cur < prev {
		return 0
	}
	return float64(cur-prev) / (float64(h.cur.at-h.prev.at) / float64(time.Second))
}

// statsSampler holds every object's history. Objects are keyed by pointer,
// so a queue deleted and declared again under its name starts afresh.
type statsSampler struct {
	mu        sync.Mutex
	pass      uint64
	queues    map[*broker.Queue]*statsHistory
	exchanges map[*broker.Exchange]*statsHistory
	vhosts    map[*broker.VHost]*statsHistory
	sessions  map[*broker.Session]*statsHistory
	total     statsHistory
}

// sampler returns the server's sampler, made on first use.
func (s *Server) sampler() *statsSampler {
	s.statsOnce.Do(func() {
		s.stats = &statsSampler{queues: map[*broker.Queue]*statsHistory{}, exchanges: map[*broker.Exchange]*statsHistory{},
			vhosts: map[*broker.VHost]*statsHistory{}, sessions: map[*broker.Session]*statsHistory{}}
	})
	return s.stats
}

// sampleMessageStats samples the counters every statsInterval until stop
// closes.
func (s *Server) sampleMessageStats(stop <-chan struct{}) {
	st := s.sampler()
	st.sample(s.Broker, time.Now())
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			st.sample(s.Broker, now)
		}
	}
}

// sample takes one pass over the broker. Objects that are gone are
// forgotten. It reads each queue's counters under the queue's lock, one
// queue at a time; the API waits for a pass (a few milliseconds for
// 10,000 queues), the data path does not.
func (st *statsSampler) sample(b *broker.Broker, now time.Time) {
	at := now.UnixNano()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pass++
	for _, name := range b.VHosts() {
		v, ok := b.VHost(name)
		if !ok {
			continue
		}
		for _, q := range v.Queues() {
			historyOf(st.queues, q, st.pass).add(at, q.MessageCounts())
		}
		for _, x := range v.Exchanges() {
			historyOf(st.exchanges, x, st.pass).add(at, x.MessageCounts())
		}
		historyOf(st.vhosts, v, st.pass).add(at, v.MessageCounts())
	}
	st.total.add(at, b.MessageCounts())
	forgetUnseen(st.queues, st.pass)
	forgetUnseen(st.exchanges, st.pass)
	forgetUnseen(st.vhosts, st.pass)
	for sess, h := range st.sessions {
		if at-h.asked > int64(statsForget) {
			delete(st.sessions, sess)
			continue
		}
		h.add(at, sess.MessageCounts())
	}
}

func historyOf[K comparable](m map[K]*statsHistory, k K, pass uint64) *statsHistory {
	h := m[k]
	if h == nil {
		h = &statsHistory{}
		m[k] = h
	}
	h.pass = pass
	return h
}

func forgetUnseen[K comparable](m map[K]*statsHistory, pass uint64) {
	for k, h := range m {
		if h.pass != pass {
			delete(m, k)
		}
	}
}

// messageStats answers obj's message_stats (see the top of this file).
func (s *Server) messageStats(obj any) map[string]any {
	st := s.sampler()
	var c broker.MessageCounts
	var kind statsKind
	st.mu.Lock()
	var h *statsHistory
	switch o := obj.(type) {
	case *broker.Queue:
		c, kind, h = o.MessageCounts(), kindQueue, copyHistory(st.queues[o])
	case *broker.Exchange:
		c, kind, h = o.MessageCounts(), kindExchange, copyHistory(st.exchanges[o])
	case *broker.VHost:
		st.mu.Unlock() // summing a vhost's queues takes a while: not under mu
		c, kind = o.MessageCounts(), kindVHost
		st.mu.Lock()
		h = copyHistory(st.vhosts[o])
	case *broker.Broker:
		st.mu.Unlock()
		c, kind = o.MessageCounts(), kindOverview
		st.mu.Lock()
		h = copyHistory(&st.total)
	case *broker.Session:
		c, kind = o.MessageCounts(), kindVHost
		sh := st.sessions[o]
		if sh == nil {
			// First asked: sampled from now on; its rates start at 0.
			sh = &statsHistory{}
			sh.add(time.Now().UnixNano(), c)
			st.sessions[o] = sh
		}
		sh.asked = time.Now().UnixNano()
		h = copyHistory(sh)
	default:
		st.mu.Unlock()
		return nil
	}
	st.mu.Unlock()
	return renderMessageStats(kind, c, h)
}

func copyHistory(h *statsHistory) *statsHistory {
	if h == nil {
		return nil
	}
	c := *h
	return &c
}

// statsKind is which of RabbitMQ's sets of message_stats keys an object has.
type statsKind int

const (
	kindQueue statsKind = iota
	kindExchange
	kindVHost // and channels
	kindOverview
)

// statsKey is one message_stats key and the counter it shows.
type statsKey struct {
	name string
	get  func(broker.MessageCounts) uint64
}

var (
	// publishKeys are RabbitMQ's fine_stats: what publishers did.
	publishKeys = []statsKey{
		{"publish", func(c broker.MessageCounts) uint64 { return c.Publish }},
		{"confirm", func(c broker.MessageCounts) uint64 { return c.Confirm }},
		{"return_unroutable", func(c broker.MessageCounts) uint64 { return c.ReturnUnroutable }},
		{"drop_unroutable", func(c broker.MessageCounts) uint64 { return c.DropUnroutable }},
	}
	// deliverKeys are RabbitMQ's deliver_stats: what consumers were handed.
	deliverKeys = []statsKey{
		{"get", func(c broker.MessageCounts) uint64 { return c.Get }},
		{"get_no_ack", func(c broker.MessageCounts) uint64 { return c.GetNoAck }},
		{"deliver", func(c broker.MessageCounts) uint64 { return c.Deliver }},
		{"deliver_no_ack", func(c broker.MessageCounts) uint64 { return c.DeliverNoAck }},
		{"redeliver", func(c broker.MessageCounts) uint64 { return c.Redeliver }},
		{"ack", func(c broker.MessageCounts) uint64 { return c.Ack }},
		{"deliver_get", broker.MessageCounts.DeliverGet},
		{"get_empty", func(c broker.MessageCounts) uint64 { return c.GetEmpty }},
	}
	queuePublishKeys = publishKeys[:1]
	publishInKeys    = []statsKey{{"publish_in", func(c broker.MessageCounts) uint64 { return c.Publish }}}
	publishOutKeys   = []statsKey{{"publish_out", func(c broker.MessageCounts) uint64 { return c.PublishOut }}}
)

// renderMessageStats builds the message_stats object of a kind of object
// from its counts now and its sampled history (nil: no rates yet).
func renderMessageStats(kind statsKind, c broker.MessageCounts, h *statsHistory) map[string]any {
	var groups [][]statsKey
	switch kind {
	case kindQueue:
		groups = [][]statsKey{queuePublishKeys, deliverKeys}
	case kindExchange:
		groups = [][]statsKey{publishInKeys, publishOutKeys}
	default:
		groups = [][]statsKey{publishKeys, deliverKeys}
	}
	var out map[string]any
	for _, g := range groups {
		if !anyCounted(g, c) {
			continue
		}
		if out == nil {
			out = make(map[string]any, 2*len(deliverKeys)+2*len(publishKeys)+4)
		}
		for _, k := range g {
			out[k.name] = k.get(c)
			out[k.name+"_details"] = map[string]any{"rate": h.rate(k.get)}
		}
	}
	if kind == kindOverview {
		if out == nil {
			out = map[string]any{}
		}
		// RabbitMQ's message store reads and writes. Sluice's log has no
		// per-message figure for them yet: paged-out reads and log
		// appends are in /metrics (sluice_*).
		for _, k := range []string{"disk_reads", "disk_writes"} {
			out[k] = 0
			out[k+"_details"] = map[string]any{"rate": 0.0}
		}
	}
	return out
}

func anyCounted(g []statsKey, c broker.MessageCounts) bool {
	for _, k := range g {
		if k.get(c) > 0 {
			return true
		}
	}
	return false
}
