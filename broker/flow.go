package broker

import (
	"sync/atomic"
	"time"
)

// Publisher flow control.
//
// A queue whose consumers drain it more slowly than its publishers fill it
// grows without bound: persistent bodies page out to the log past the
// resident limit, but transient ones stay in memory until the memory monitor
// steps in, and every message waits behind the whole backlog. RabbitMQ's
// credit flow holds a publisher to the pace its queues take messages in;
// sluice takes them in far faster than a consumer takes them out, so the
// bound that matters is the backlog itself.
//
// A queue is congested while consumers are draining it (it handed a message
// out within flowActiveFor) and it holds at least Config.FlowMessages ready
// messages, or Config.ResidentBytes (at least DefaultResidentBytes) of
// ready bodies, in memory. Publishing
// into a congested queue hands the publisher a gate (PublishResult.Flow);
// the protocol adapter stops reading from that connection until the gate
// opens, when the backlog has halved, or FlowMaxWait has passed. The
// timeout means that a gate never holds a publisher for good, whatever
// happens to the consumers; a queue with no consumer, or whose consumers
// stopped taking messages, is never congested: its backlog is a backlog,
// not a race, and paging bounds its memory.

// DefaultFlowMessages is the default of Config.FlowMessages.
const DefaultFlowMessages = 20000

// FlowMaxWait is the longest a publisher waits at one gate.
const FlowMaxWait = 50 * time.Millisecond

// flowActiveFor is how recently a queue must have handed out a message for
// its consumers to count as draining it.
const flowActiveFor = int64(100 * time.Millisecond)

// FlowGate is closed when the congestion it was handed out for is over.
type FlowGate struct{ ch chan struct{} }

// Done is closed when the publisher may go on.
func (g *FlowGate) Done() <-chan struct{} { return g.ch }

// Wait blocks until the gate opens, FlowMaxWait passes or stop is closed.
func (g *FlowGate) Wait(stop <-chan struct{}) {
	select {
	case <-g.ch:
		return
	default:
	}
	t := time.NewTimer(FlowMaxWait)
	defer t.Stop()
	select {
	case <-g.ch:
	case <-t.C:
	case <-stop:
	}
}

// flowState is a queue's congestion: the open gate while congested.
type flowState struct {
	gate         atomic.Pointer[FlowGate]
	lastDelivery int64 // unix nanos of the last hand-out; q.mu
}

// flowGate returns the gate a publisher into q should wait at, or nil.
func (q *Queue) flowGate() *FlowGate { return q.flow.gate.Load() }

// updateFlowLocked starts or ends congestion after the ready messages or
// the consumers changed. q.mu held.
func (q *Queue) updateFlowLocked(now int64) {
	limit := q.vh.b.cfg.FlowMessages
	if limit <= 0 {
		return
	}
	draining := len(q.consumers) > 0 && !q.deleted && now-q.flow.lastDelivery < flowActiveFor
	// The paging limit, but never below its default: a small
	// queue-resident-bytes pages persistent bodies early, which is no
	// reason to throttle publishers early.
	bytesLimit := max(q.vh.b.cfg.ResidentBytes, DefaultResidentBytes)
	g := q.flow.gate.Load()
	if g == nil {
		if draining && (q.ready.resident >= limit || q.ready.residentBytes >= bytesLimit) {
			q.flow.gate.Store(&FlowGate{ch: make(chan struct{})})
		}
		return
	}
	if !draining || (q.ready.resident <= limit/2 && q.ready.residentBytes <= bytesLimit/2) {
		q.endFlowLocked()
	}
}

// endFlowLocked opens the gate: the backlog halved, or the queue is
// deleted or lost its consumers. q.mu held.
func (q *Queue) endFlowLocked() {
	if g := q.flow.gate.Load(); g != nil {
		q.flow.gate.Store(nil)
		close(g.ch)
	}
}
