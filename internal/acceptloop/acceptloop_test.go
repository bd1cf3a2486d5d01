package acceptloop

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
)

// scriptedListener returns the errors it is given, then one connection,
// then net.ErrClosed.
type scriptedListener struct {
	mu   sync.Mutex
	errs []error
	conn net.Conn
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	return nil, net.ErrClosed
}
func (l *scriptedListener) Close() error   { return nil }
func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestResourceExhaustionIsRetried: running out of file descriptors (or
// kernel buffers) while accepting is temporary: connections end and free
// them. It used to end the accept loop, and with it the broker, which then
// exited with status 0 (found by the torture test when the log held
// 20,000 segment files open).
func TestResourceExhaustionIsRetried(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		l := &scriptedListener{errs: []error{&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}}, conn: c1}
		handled := 0
		err := Run(l, func() bool { return false }, func(net.Conn) { handled++ })
		if err != nil || handled != 1 {
			t.Errorf("%v: Run returned %v after %d connections; want the error retried and the connection served", errno, err, handled)
		}
	}
	// Anything else still ends the loop.
	l := &scriptedListener{errs: []error{fmt.Errorf("accept: %w", errors.New("broken"))}}
	if err := Run(l, func() bool { return false }, func(net.Conn) {}); err == nil {
		t.Error("a permanent error was retried")
	}
}
