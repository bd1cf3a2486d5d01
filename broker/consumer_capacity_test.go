package broker

import (
	"math"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

func TestCapacityMeter(t *testing.T) {
	const s = int64(time.Second)
	var m capacityMeter
	if v := m.value(0); v != 0 {
		t.Fatalf("without consumers: %v, want 0", v)
	}
	m.note(0, true, false)
	if v := m.value(2 * s); v != 1 {
		t.Fatalf("free throughout: %v, want 1", v)
	}
	m.note(2*s, true, true) // blocked from 2 s
	if v := m.value(3 * s); math.Abs(v-2.0/3) > 1e-9 {
		t.Fatalf("2 s free, 1 s blocked: %v, want 2/3", v)
	}
	m.note(4*s, true, false) // free again from 4 s
	if v := m.value(4 * s); math.Abs(v-0.5) > 1e-9 {
		t.Fatalf("2 s free, 2 s blocked: %v, want 1/2", v)
	}
	// Windows roll: after long free time the old blockage weighs less.
	m.note(20*s, true, true)
	m.note(21*s, true, false)
	v := m.value(21 * s)
	if v < 0.9 || v >= 1 {
		t.Fatalf("after 16 s free and 1 s blocked: %v, want above 0.9 and below 1", v)
	}
	m.note(22*s, false, false)
	if v := m.value(30 * s); v != 0 {
		t.Fatalf("consumers gone: %v, want 0", v)
	}
	m.note(30*s, true, true)
	if v := m.value(30 * s); v != 0 {
		t.Fatalf("a new consumer blocked at once: %v, want 0", v)
	}
}

// A queue's consumer capacity through the core: 1 while its consumer
// keeps up, falling while messages wait behind a full prefetch.
func TestQueueConsumerCapacity(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "cap", message.Table{})
	q, _ := v.Queue("cap")
	s := v.NewSession(1, &recorder{})
	s.Qos(1, 0, false)
	if _, err := s.Consume("cap", ConsumeSpec{}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, s, "", "cap", msg("one"))
	time.Sleep(20 * time.Millisecond)
	if c := q.Details().ConsumerCapacity; c != 1 {
		t.Fatalf("capacity while the consumer keeps up: %v, want 1", c)
	}
	mustPublish(t, s, "", "cap", msg("two")) // waits: prefetch 1, one unacked
	time.Sleep(100 * time.Millisecond)
	c := q.Details().ConsumerCapacity
	if c <= 0 || c >= 0.5 {
		t.Fatalf("capacity while a message waits behind a full prefetch: %v, want between 0 and 0.5", c)
	}
}
