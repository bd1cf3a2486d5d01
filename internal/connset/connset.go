// Package connset keeps a protocol server's listeners and live
// connections: what every adapter needs to accept, enumerate and shut down
// its connections, written once.
package connset

import (
	"context"
	"net"
	"sync"
)

// Set tracks listeners and connections of type C. The zero value is ready.
type Set[C comparable] struct {
	mu        sync.Mutex
	conns     map[C]struct{}
	listeners []net.Listener
	closing   bool
	wg        sync.WaitGroup
}

// AddListener registers ln, so that Close closes it; false once closing.
func (s *Set[C]) AddListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.listeners = append(s.listeners, ln)
	return true
}

// Closing reports whether Close was called.
func (s *Set[C]) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Add registers a new connection; false once closing, and then the caller
// closes it. Every added connection must be Removed when it ends.
func (s *Set[C]) Add(c C) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.conns == nil {
		s.conns = map[C]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// Remove forgets a connection that ended.
func (s *Set[C]) Remove(c C) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Snapshot returns the live connections now.
func (s *Set[C]) Snapshot() []C {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]C, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Close stops accepting: it closes every listener, refuses new
// connections, and returns the live ones for the caller to end.
func (s *Set[C]) Close() []C {
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	return s.Snapshot()
}

// Wait waits until every connection was Removed, or ctx ends.
func (s *Set[C]) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
