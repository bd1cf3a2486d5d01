package amqp

import (
	"testing"

	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// TestStackAddrSeesGrowth checks what the reader's hand-off rests on:
// stackAddr called twice from one frame gives the same address until the
// goroutine's stack grows.
func TestStackAddrSeesGrowth(t *testing.T) {
	type result struct{ same, moved bool }
	done := make(chan result)
	go func() {
		a := stackAddr()
		same := stackAddr() == a
		deep(64) // some 20 KiB of frames: more than a new goroutine's stack
		done <- result{same, stackAddr() != a}
	}()
	if r := <-done; !r.same || !r.moved {
		t.Fatalf("same address without growth: %v; another after growth: %v", r.same, r.moved)
	}
}

//go:noinline
func deep(n int) byte {
	var buf [256]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		return buf[0]
	}
	return deep(n-1) + buf[(n*7)%len(buf)]
}

func TestAfterFrame(t *testing.T) {
	method := func(class, id byte) wire.Frame {
		return wire.Frame{Type: wire.FrameMethod, Channel: 1, Payload: []byte{0, class, 0, id, 0}}
	}
	tests := []struct {
		name             string
		f                wire.Frame
		release, handOff bool
	}{
		{"heartbeat", wire.Frame{Type: wire.FrameHeartbeat}, true, true},
		{"queue.declare", method(50, 10), true, true},
		{"basic.consume", method(60, 20), true, true},
		{"basic.publish", method(60, 40), false, false},
		{"content header", wire.Frame{Type: wire.FrameHeader, Channel: 1, Payload: make([]byte, 14)}, false, false},
		{"content body", wire.Frame{Type: wire.FrameBody, Channel: 1, Payload: []byte("x")}, false, false},
		{"basic.ack", method(60, 80), true, false},
		{"basic.reject", method(60, 90), true, false},
		{"basic.nack", method(60, 120), true, false},
		{"short method", wire.Frame{Type: wire.FrameMethod, Payload: []byte{0}}, true, true},
	}
	for _, tt := range tests {
		if release, handOff := afterFrame(tt.f); release != tt.release || handOff != tt.handOff {
			t.Errorf("%s: release %v, hand off %v; want %v, %v", tt.name, release, handOff, tt.release, tt.handOff)
		}
	}
}
