package server

import (
	"sync"
	"time"
)

// Counters the management API shows with rates, sampled every
// ioSampleEvery by sampleIO:
//
//   - churn: connections, channels and queues opened, closed, declared,
//     created and deleted since the start (the overview's churn_rates and
//     the node's connection_created and so on; /metrics has the same
//     counters as rabbitmq_*_opened_total and so on);
//   - the node's disk I/O, what RabbitMQ counts for its message store:
//     the write-ahead log's writes (one pwrite per batch), bytes written
//     and fdatasyncs, with the average fdatasync time.

// churnNames are churn_rates' keys, and the node's.
var churnNames = [...]string{"channel_closed", "channel_created", "connection_closed", "connection_created",
	"queue_created", "queue_declared", "queue_deleted"}

// ioNames are the node's I/O counters; io_sync_avg_time is derived from
// the last two (total fdatasync time in nanoseconds, fdatasyncs).
var ioNames = [...]string{"io_write_count", "io_write_bytes", "io_sync_count"}

// churnCounts reads the churn counters now.
func (s *Server) churnCounts() []uint64 {
	c := make([]uint64, len(churnNames))
	if s.tls.limits != nil {
		t := s.tls.limits.Opened.Totals()
		c[0], c[1], c[2], c[3] = t.ChannelsClosed, t.ChannelsOpened, t.ConnectionsClosed, t.ConnectionsOpened
	}
	q := s.Broker.QueueChurn()
	c[4], c[5], c[6] = q.Created, q.Declared, q.Deleted
	return c
}

// ioCounts reads the I/O counters now: ioNames, then the total fdatasync
// nanoseconds. All 0 without storage.
func (s *Server) ioCounts() []uint64 {
	c := make([]uint64, len(ioNames)+1)
	if s.store != nil {
		st := s.store.Metrics().Log
		c[0], c[1], c[2] = st.Batches, st.Bytes, st.Syncs
	}
	c[3] = s.syncNanos.Load()
	return c
}

// counterRates keeps the last sample of some counters and the rates per
// second the sample before it gave.
type counterRates struct {
	mu    sync.Mutex
	at    time.Time
	last  []uint64
	delta []uint64 // growth over the last interval
	dt    float64  // its seconds
}

func (cr *counterRates) sample(c []uint64, now time.Time) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if !cr.at.IsZero() && len(cr.last) == len(c) {
		if dt := now.Sub(cr.at).Seconds(); dt > 0 {
			cr.delta, cr.dt = make([]uint64, len(c)), dt
			for i := range c {
				if c[i] >= cr.last[i] {
					cr.delta[i] = c[i] - cr.last[i]
				}
			}
		}
	}
	cr.at, cr.last = now, c
}

// rate is counter i's rate over the last interval, 0 before two samples.
func (cr *counterRates) rate(i int) float64 {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.dt == 0 || i >= len(cr.delta) {
		return 0
	}
	return round1(float64(cr.delta[i]) / cr.dt)
}

// growth is counter i's growth over the last interval.
func (cr *counterRates) growth(i int) uint64 {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if i >= len(cr.delta) {
		return 0
	}
	return cr.delta[i]
}

// churnRates is the overview's churn_rates object: each count now, with
// its rate over the last sample.
func (s *Server) churnRates() map[string]any {
	out := make(map[string]any, 2*len(churnNames))
	s.addCounters(out, churnNames[:], s.churnCounts(), &s.churn)
	return out
}

// addCounters sets each name's count and NAME_details rate in out.
func (s *Server) addCounters(out map[string]any, names []string, counts []uint64, cr *counterRates) {
	for i, name := range names {
		out[name] = counts[i]
		out[name+"_details"] = rateJSON{cr.rate(i)}
	}
}

// nodeCounters adds the node's churn and I/O figures to a node object.
func (s *Server) nodeCounters(out map[string]any) {
	s.addCounters(out, churnNames[:], s.churnCounts(), &s.churn)
	io := s.ioCounts()
	s.addCounters(out, ioNames[:], io, &s.io)
	// Milliseconds per fdatasync over the last interval, as RabbitMQ's
	// io_sync_avg_time.
	avg := 0.0
	if n := s.io.growth(2); n > 0 {
		avg = round1(float64(s.io.growth(3)) / float64(n) / 1e6)
	}
	out["io_sync_avg_time"] = avg
	out["io_sync_avg_time_details"] = rateJSON{0}
}
