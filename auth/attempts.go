package auth

import (
	"slices"
	"sync/atomic"
)

// The protocols authentication attempts are counted under: RabbitMQ's
// names for the ones it has, and sqs for sluice's SQS API.
const (
	ProtocolAMQP  = "amqp091"
	ProtocolSTOMP = "stomp"
	ProtocolHTTP  = "http" // the management API (and the web UI behind it)
	ProtocolSQS   = "sqs"
)

var attemptProtocols = [...]string{ProtocolAMQP, ProtocolSTOMP, ProtocolHTTP, ProtocolSQS}

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
// One fixed row per protocol, atomics only: every SQS and API request
// counts, so no lock on that path.
type Attempts struct {
	rows [len(attemptProtocols)]attemptRow
	seq  atomic.Int64 // orders the rows by their first attempt, as RabbitMQ lists them
}

type attemptRow struct {
	succeeded, failed atomic.Uint64
	first             atomic.Int64 // 0 until the first attempt after the start or a reset
}

// Record counts one attempt of protocol (one of the Protocol constants;
// others are not counted), failed or not.
func (a *Attempts) Record(protocol string, ok bool) {
	i := slices.Index(attemptProtocols[:], protocol)
	if i < 0 {
		return
	}
	r := &a.rows[i]
	if r.first.Load() == 0 {
		r.first.CompareAndSwap(0, a.seq.Add(1))
	}
	if ok {
		r.succeeded.Add(1)
	} else {
		r.failed.Add(1)
	}
}

// Snapshot returns the counts of the protocols tried, in the order they
// were first tried.
func (a *Attempts) Snapshot() []AttemptCounts {
	var out []AttemptCounts
	var firsts []int64
	for i := range a.rows {
		r := &a.rows[i]
		f := r.first.Load()
		if f == 0 {
			continue
		}
		ok, failed := r.succeeded.Load(), r.failed.Load()
		out = append(out, AttemptCounts{Protocol: attemptProtocols[i], Total: ok + failed, Succeeded: ok, Failed: failed})
		firsts = append(firsts, f)
	}
	// Insertion sort by first attempt: four rows at most.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && firsts[j] < firsts[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
			firsts[j], firsts[j-1] = firsts[j-1], firsts[j]
		}
	}
	return out
}

// Reset forgets every count (DELETE /api/auth/attempts/NODE). An attempt
// counted while it runs may survive it.
func (a *Attempts) Reset() {
	for i := range a.rows {
		r := &a.rows[i]
		r.first.Store(0)
		r.succeeded.Store(0)
		r.failed.Store(0)
	}
}
