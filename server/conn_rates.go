package server

import (
	"math"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/conninfo"
)

// The rates of the connections' byte counters (recv_oct_details,
// send_oct_details). One goroutine samples every connection's counters
// every ioSampleEvery, as RabbitMQ's collect_statistics_interval, and
// keeps the rate over the last interval; the data path only adds to its
// counters.

const ioSampleEvery = 5 * time.Second

type ioSample struct {
	at                 time.Time
	io                 conninfo.IO
	recvRate, sendRate float64
}

// ioRates holds the last sample of each open connection, by name, and
// of each vhost's message depth (the overview's queue_totals rates).
type ioRates struct {
	mu     sync.Mutex
	last   map[string]ioSample
	depth  map[string]depthSample
	qdepth map[broker.QueueRef]depthSample // each queue's, for its _details rates
}

type depthSample struct {
	at                   time.Time
	ready, unacked       int
	readyRate, unackRate float64
}

// depthRates returns how fast a vhost's ready and unacknowledged message
// counts changed over the last interval, per second.
func (r *ioRates) depthRates(vhost string) (ready, unacked float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.depth[vhost]
	return d.readyRate, d.unackRate
}

// queueDepthRates is depthRates for one queue.
func (r *ioRates) queueDepthRates(ref broker.QueueRef) (ready, unacked float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.qdepth[ref]
	return d.readyRate, d.unackRate
}

// sampleDepth samples every queue's and vhost's message depth at now.
func (r *ioRates) sampleDepth(b *broker.Broker, now time.Time) {
	next := map[string]depthSample{}
	qnext := make(map[broker.QueueRef]depthSample, len(r.qdepth))
	for _, name := range b.VHosts() {
		v, ok := b.VHost(name)
		if !ok {
			continue
		}
		vd := depthSample{at: now}
		for _, q := range v.Queues() {
			st := q.Stats()
			qnext[broker.QueueRef{VHost: name, Queue: q.Name()}] = depthSample{at: now, ready: st.Ready, unacked: st.Unacked}
			vd.ready += st.Ready
			vd.unacked += st.Unacked
		}
		next[name] = vd
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, d := range next {
		next[name] = d.withRates(r.depth[name])
	}
	for ref, d := range qnext {
		qnext[ref] = d.withRates(r.qdepth[ref])
	}
	r.depth, r.qdepth = next, qnext
}

// withRates sets d's rates from the sample before it (none: 0).
func (d depthSample) withRates(prev depthSample) depthSample {
	if prev.at.IsZero() {
		return d
	}
	if dt := d.at.Sub(prev.at).Seconds(); dt > 0 {
		d.readyRate = round1(float64(d.ready-prev.ready) / dt)
		d.unackRate = round1(float64(d.unacked-prev.unacked) / dt)
	}
	return d
}

// round1 rounds to one decimal, as RabbitMQ shows rates.
func round1(f float64) float64 { return math.Round(f*10) / 10 }

// rates returns a connection's bytes per second over the last interval:
// 0 until it has been sampled twice.
func (r *ioRates) rates(name string) (recv, send float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	smp := r.last[name]
	return smp.recvRate, smp.sendRate
}

// sample takes a sample of conns at now and forgets closed connections.
func (r *ioRates) sample(conns []conninfo.Conn, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make(map[string]ioSample, len(conns))
	for _, c := range conns {
		smp := ioSample{at: now, io: c.IO}
		if prev, ok := r.last[c.Name]; ok {
			if dt := now.Sub(prev.at).Seconds(); dt > 0 {
				smp.recvRate = perSecond(prev.io.RecvOct, c.IO.RecvOct, dt)
				smp.sendRate = perSecond(prev.io.SendOct, c.IO.SendOct, dt)
			}
		}
		next[c.Name] = smp
	}
	r.last = next
}

// perSecond is the growth from a to b over dt seconds, rounded to one
// decimal as RabbitMQ shows rates; never negative (a reused name).
func perSecond(a, b uint64, dt float64) float64 {
	if b < a {
		return 0
	}
	return round1(float64(b-a) / dt)
}

// sampleIO samples the connections' counters until stop is closed.
func (s *Server) sampleIO(stop <-chan struct{}) {
	t := time.NewTicker(ioSampleEvery)
	defer t.Stop()
	for {
		var conns []conninfo.Conn
		for _, a := range s.connAdmins() {
			conns = append(conns, a.ConnectionsIO()...)
		}
		now := time.Now()
		s.ioRates.sample(conns, now)
		s.ioRates.sampleDepth(s.Broker, now)
		s.churn.sample(s.churnCounts(), now)
		s.io.sample(s.ioCounts(), now)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
