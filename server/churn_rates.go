package server

import (
	"sync"
	"time"
)

// The overview's churn_rates: how many connections, channels and queues
// were opened, closed, declared, created and deleted since the start, and
// how fast over the last sample, as RabbitMQ's management plugin reports
// them. The counters are the ones /metrics has (rabbitmq_*_opened_total
// and so on); sampleIO samples them every ioSampleEvery.

// churnNames are churn_rates' keys.
var churnNames = [...]string{"channel_closed", "channel_created", "connection_closed", "connection_created",
	"queue_created", "queue_declared", "queue_deleted"}

type churnCounts [len(churnNames)]uint64

// churnCounts reads the counters now.
func (s *Server) churnCounts() churnCounts {
	var c churnCounts
	if s.tls.limits != nil {
		t := s.tls.limits.Opened.Totals()
		c[0], c[1], c[2], c[3] = t.ChannelsClosed, t.ChannelsOpened, t.ConnectionsClosed, t.ConnectionsOpened
	}
	q := s.Broker.QueueChurn()
	c[4], c[5], c[6] = q.Created, q.Declared, q.Deleted
	return c
}

// churnSampler keeps the last sample and the rates it gave.
type churnSampler struct {
	mu    sync.Mutex
	at    time.Time
	last  churnCounts
	rates [len(churnNames)]float64
}

func (cs *churnSampler) sample(c churnCounts, now time.Time) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.at.IsZero() {
		if dt := now.Sub(cs.at).Seconds(); dt > 0 {
			for i := range c {
				cs.rates[i] = perSecond(cs.last[i], c[i], dt)
			}
		}
	}
	cs.at, cs.last = now, c
}

// churnRates is the overview's churn_rates object: each count now, with
// its rate over the last sample.
func (s *Server) churnRates() map[string]any {
	c := s.churnCounts()
	s.churn.mu.Lock()
	rates := s.churn.rates
	s.churn.mu.Unlock()
	out := make(map[string]any, 2*len(churnNames))
	for i, name := range churnNames {
		out[name] = c[i]
		out[name+"_details"] = rateJSON{rates[i]}
	}
	return out
}
