package broker

import (
	"fmt"
	"testing"
	"time"
)

// flowVHost is a vhost whose queues are congested from 10 ready messages.
func flowVHost(t *testing.T) *VHost {
	t.Helper()
	b := New(Config{FlowMessages: 10})
	v, _ := b.VHost("/")
	return v
}

// drainedQueue makes queue "q" on a broker with cfg, a consumer of it
// with prefetch 1 (session 1) and a publishing session (2).
func drainedQueue(t *testing.T, cfg Config) (v *VHost, cons, pub *Session) {
	t.Helper()
	b := New(cfg)
	v, _ = b.VHost("/")
	mustDeclareQueue(t, v, "q", nil)
	cons = v.NewSession(1, &recorder{})
	cons.Qos(1, 0, false)
	if _, err := cons.Consume("q", ConsumeSpec{}); err != nil {
		t.Fatal(err)
	}
	return v, cons, v.NewSession(2, &recorder{})
}

func gateOpen(g *FlowGate) bool {
	select {
	case <-g.Done():
		return true
	default:
		return false
	}
}

// TestFlowGateWhileConsumersDrain: a queue that a consumer drains slower
// than it is filled hands publishers a gate once 10 messages wait, and
// opens it when the backlog has halved.
func TestFlowGateWhileConsumersDrain(t *testing.T) {
	v, cons, pub := drainedQueue(t, Config{FlowMessages: 10})
	var gate *FlowGate
	for i := 0; i < 10; i++ {
		if r := mustPublish(t, pub, "", "q", msg(fmt.Sprint(i))); r.Flow != nil {
			t.Fatalf("publish %d (ready %d) was held back", i, readyCount(t, v, "q"))
		}
	}
	// One delivered, nine ready: the next makes ten.
	gate = mustPublish(t, pub, "", "q", msg("10")).Flow
	if gate == nil || gateOpen(gate) {
		t.Fatalf("10 ready messages with a draining consumer: gate %v", gate)
	}
	if g := mustPublish(t, pub, "", "q", msg("11")).Flow; g != gate {
		t.Fatalf("a second publish while congested got another gate")
	}
	// Acks let the consumer take messages one at a time; the gate opens at
	// 5 ready (half of 10), not before.
	for tag := uint64(1); readyCount(t, v, "q") > 5; tag++ {
		if gateOpen(gate) {
			t.Fatalf("gate opened with %d ready", readyCount(t, v, "q"))
		}
		if err := cons.Ack(tag, false); err != nil {
			t.Fatal(err)
		}
	}
	if !gateOpen(gate) {
		t.Fatalf("gate still closed with %d ready", readyCount(t, v, "q"))
	}
	if r := mustPublish(t, pub, "", "q", msg("12")); r.Flow != nil {
		t.Fatal("held back again below the limit")
	}
}

// TestFlowNeverWithoutDrainingConsumers: a backlog with no consumer, or
// with consumers that stopped taking messages, is not a race: publishers
// are never held back there. Cancelling the last consumer opens the gate.
func TestFlowNeverWithoutDrainingConsumers(t *testing.T) {
	v := flowVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	pub := v.NewSession(2, &recorder{})
	for i := 0; i < 100; i++ {
		if mustPublish(t, pub, "", "q", msg("x")).Flow != nil {
			t.Fatalf("publish %d into a queue with no consumer was held back", i)
		}
	}
	// A consumer that takes one message and then nothing: congested while
	// it counts as draining, not after.
	rec := &recorder{}
	cons := v.NewSession(1, rec)
	cons.Qos(1, 0, false)
	tag, err := cons.Consume("q", ConsumeSpec{})
	if err != nil {
		t.Fatal(err)
	}
	gate := mustPublish(t, pub, "", "q", msg("y")).Flow
	if gate == nil {
		t.Fatal("no gate right after the consumer took a message")
	}
	time.Sleep(time.Duration(flowActiveFor) + 20*time.Millisecond)
	if mustPublish(t, pub, "", "q", msg("z")).Flow != nil || !gateOpen(gate) {
		t.Fatal("still held back by a consumer that stopped taking messages")
	}

	// Congested again with a working consumer; cancelling it opens the gate.
	if err := cons.Ack(1, false); err != nil {
		t.Fatal(err)
	}
	gate = mustPublish(t, pub, "", "q", msg("w")).Flow
	if gate == nil {
		t.Fatal("no gate with a draining consumer")
	}
	cons.Cancel(tag)
	if !gateOpen(gate) {
		t.Fatal("gate still closed after the last consumer went")
	}
}

// TestFlowDisabled: FlowMessages < 0 turns flow control off.
func TestFlowDisabled(t *testing.T) {
	_, _, pub := drainedQueue(t, Config{FlowMessages: -1})
	for i := 0; i < DefaultFlowMessages+10; i++ {
		if mustPublish(t, pub, "", "q", msg("x")).Flow != nil {
			t.Fatalf("publish %d held back with flow control off", i)
		}
	}
}

// TestFlowGateWaitTimesOut: a gate never holds a publisher longer than
// FlowMaxWait.
func TestFlowGateWaitTimesOut(t *testing.T) {
	g := &FlowGate{ch: make(chan struct{})}
	start := time.Now()
	g.Wait(nil)
	if d := time.Since(start); d < FlowMaxWait {
		t.Fatalf("Wait returned after %v, before FlowMaxWait", d)
	}
	stop := make(chan struct{})
	close(stop)
	g.Wait(stop) // returns at once
}

// TestFlowGateOnBodyBytes: a few large messages congest a queue through
// their bytes (DefaultResidentBytes, even with a smaller paging limit)
// long before the message count does.
func TestFlowGateOnBodyBytes(t *testing.T) {
	_, _, pub := drainedQueue(t, Config{ResidentBytes: 16 << 10})
	big := string(make([]byte, 1<<20))
	for i := 0; i < 8; i++ { // one delivered, seven ready: 7 MiB
		if mustPublish(t, pub, "", "q", msg(big)).Flow != nil {
			t.Fatalf("held back at %d MiB ready", i)
		}
	}
	if mustPublish(t, pub, "", "q", msg(big)).Flow == nil {
		t.Fatal("8 MiB of ready bodies with a draining consumer: no gate")
	}
}
