package auth

import (
	"net"
	"sync"
	"time"
)

// Throttle slows password guessing: each failed login from a peer (its IP
// address, whatever the port or protocol) makes the next refusal to that
// peer wait longer, doubling from a quarter second after the second
// failure up to five seconds; a success, or ten quiet minutes, forgets
// the peer. The adapter waits before it answers, while the connection
// still counts against --max-handshaking-connections, so a guesser cannot
// go faster by opening more connections. The table is bounded: past
// maxPeers the stalest entry goes.
type Throttle struct {
	mu    sync.Mutex
	peers map[string]*failures
	now   func() time.Time // for tests
}

type failures struct {
	n    int
	last time.Time
}

const (
	throttleFree   = 2 // failures answered at once (a typo is not an attack)
	throttleBase   = 250 * time.Millisecond
	throttleMax    = 5 * time.Second
	throttleForget = 10 * time.Minute
	maxPeers       = 10000
)

// NewThrottle returns an empty throttle.
func NewThrottle() *Throttle {
	return &Throttle{peers: map[string]*failures{}, now: time.Now}
}

// peerKey is the peer's IP address: a guesser gets a new port for every
// connection.
func peerKey(remote net.Addr) string {
	if remote == nil {
		return ""
	}
	s := remote.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// Failed records a failed login from remote and returns how long to wait
// before refusing it.
func (t *Throttle) Failed(remote net.Addr) time.Duration {
	key := peerKey(remote)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.peers[key]
	if f != nil && now.Sub(f.last) > throttleForget {
		f = nil
	}
	if f == nil {
		if len(t.peers) >= maxPeers {
			t.evictLocked(now)
		}
		f = &failures{}
		t.peers[key] = f
	}
	f.n++
	f.last = now
	if f.n <= throttleFree {
		return 0
	}
	d := throttleBase << min(f.n-throttleFree-1, 10)
	return min(d, throttleMax)
}

// Succeeded forgets remote's failures.
func (t *Throttle) Succeeded(remote net.Addr) {
	key := peerKey(remote)
	t.mu.Lock()
	delete(t.peers, key)
	t.mu.Unlock()
}

// evictLocked drops forgotten peers, or, if none is, the stalest one.
func (t *Throttle) evictLocked(now time.Time) {
	var stalest string
	var oldest time.Time
	for k, f := range t.peers {
		if now.Sub(f.last) > throttleForget {
			delete(t.peers, k)
			continue
		}
		if stalest == "" || f.last.Before(oldest) {
			stalest, oldest = k, f.last
		}
	}
	if len(t.peers) >= maxPeers {
		delete(t.peers, stalest)
	}
}
