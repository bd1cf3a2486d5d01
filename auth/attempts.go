package auth

import "sync"

// The protocols authentication attempts are counted under: RabbitMQ's
// names for the ones it has, and sqs for sluice's SQS API.
const (
	ProtocolAMQP  = "amqp091"
	ProtocolSTOMP = "stomp"
	ProtocolHTTP  = "http" // the management API (and the web UI behind it)
	ProtocolSQS   = "sqs"
)

// AttemptCounts are one protocol's authentication attempts since the start
// (or the last reset): RabbitMQ's auth_attempt_metrics.
type AttemptCounts struct {
	Protocol                 string
	Total, Failed, Succeeded uint64
}

// Attempts counts authentication attempts per protocol, for the management
// API's /api/auth/attempts/NODE and the rabbitmq_auth_attempts_*_total
// metrics. Not per source: RabbitMQ keeps those only when told to, since
// they grow with every address and user name; sluice does not keep them.
// The protocols are a fixed few, so the table is bounded.
type Attempts struct {
	mu     sync.Mutex
	counts []AttemptCounts // in the order protocols first tried, as RabbitMQ lists them
}

// Record counts one attempt of protocol, failed or not.
func (a *Attempts) Record(protocol string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := 0
	for i < len(a.counts) && a.counts[i].Protocol != protocol {
		i++
	}
	if i == len(a.counts) {
		a.counts = append(a.counts, AttemptCounts{Protocol: protocol})
	}
	c := &a.counts[i]
	c.Total++
	if ok {
		c.Succeeded++
	} else {
		c.Failed++
	}
}

// Snapshot returns the counts per protocol.
func (a *Attempts) Snapshot() []AttemptCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AttemptCounts(nil), a.counts...)
}

// Reset forgets every count (DELETE /api/auth/attempts/NODE).
func (a *Attempts) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts = nil
}
