package auth

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestThrottleSlowsRepeatedFailures(t *testing.T) {
	clock := time.Unix(1700000000, 0)
	th := NewThrottle()
	th.now = func() time.Time { return clock }
	peer := func(port int) net.Addr { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: port} }
	var got []time.Duration
	for i := 0; i < 8; i++ {
		got = append(got, th.Failed(peer(40000+i))) // a new port each time: same peer
	}
	want := []time.Duration{0, 0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	if d := th.Failed(&net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 1}); d != 0 {
		t.Errorf("another peer is slowed: %v", d)
	}
	th.Succeeded(peer(1))
	if d := th.Failed(peer(2)); d != 0 {
		t.Errorf("after a success: %v", d)
	}
	th.Failed(peer(3))
	clock = clock.Add(11 * time.Minute)
	if d := th.Failed(peer(4)); d != 0 {
		t.Errorf("after ten quiet minutes: %v", d)
	}
}

func TestThrottleIsBounded(t *testing.T) {
	th := NewThrottle()
	for i := 0; i < maxPeers+500; i++ {
		th.Failed(&net.TCPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)), Port: 1})
	}
	if n := len(th.peers); n > maxPeers {
		t.Fatalf("%d peers tracked, bound %d", n, maxPeers)
	}
}
