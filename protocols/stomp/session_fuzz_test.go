package stomp_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/protocols/stomp"
)

// FuzzSTOMPSession sends arbitrary bytes to a real STOMP connection of
// the adapter, after a CONNECT as guest when connect is set, so that the
// fuzzer explores the session (subscriptions, acks in the three modes,
// transactions, receipts, temp and reply queues, the headers that become
// queue arguments and message properties) rather than the frame codec
// alone (frame.FuzzReadFrame). A connection recovers its own panics and
// logs them: any such log line fails the target, and a panic through the
// core crashes the process, which fails it too.
func FuzzSTOMPSession(f *testing.F) {
	f.Add([]byte("SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client-individual\nprefetch-count:1\nx-max-length:2\n\n\x00"+
		"SEND\ndestination:/queue/a\npersistent:true\npriority:3\nreceipt:r1\n\nhello\x00"+
		"SEND\ndestination:/topic/t.x\nreply-to:/temp-queue/r\ncontent-length:3\n\na\x00b\x00"+
		"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:/exchange/amq.direct/k\ntransaction:t\n\nin tx\x00"+
		"COMMIT\ntransaction:t\n\n\x00UNSUBSCRIBE\nid:0\n\n\x00DISCONNECT\nreceipt:bye\n\n\x00"), true)
	// Ack ids hold the session's random id, so no input can ack a real
	// message; these reach the refusals.
	f.Add([]byte("ACK\nid:1\n\n\x00"), true)
	f.Add([]byte("NACK\nid:T_0@@session-x@@1\n\n\x00"), true)
	f.Add([]byte("SUBSCRIBE\nid:s\ndestination:/amq/queue/missing\n\n\x00"), true)
	f.Add([]byte{}, true)
	f.Add([]byte("STOMP\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\x00"), false)
	files, _ := filepath.Glob(filepath.Join("frame", "testdata", "fuzz", "FuzzReadFrame", "*"))
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		_, lit, _ := strings.Cut(string(text), "[]byte(")
		lit, _, _ = strings.Cut(lit, ")\n")
		if data, err := strconv.Unquote(lit); err == nil {
			f.Add([]byte(data), false)
		}
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte, connect bool) {
		if len(data) > 64<<10 {
			return
		}
		var in bytes.Buffer
		if connect {
			in.WriteString("CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
		}
		in.Write(data)
		s.session(t, in.Bytes())
	})
}

// fuzzServer is an adapter on a broker in memory, reached through
// net.Pipe connections. It is replaced every so many sessions so that
// what the inputs declare does not pile up for a whole fuzzing run.
type fuzzServer struct {
	mu       sync.Mutex
	log      logBuffer
	ln       *pipeListener
	sessions int
}

func newFuzzServer(f *testing.F) *fuzzServer {
	s := &fuzzServer{}
	s.restart()
	f.Cleanup(func() { s.ln.Close() })
	return s
}

func (s *fuzzServer) restart() {
	if s.ln != nil {
		s.ln.Close()
	}
	log := zerolog.New(&s.log).Level(zerolog.ErrorLevel)
	b := broker.New(broker.Config{Logger: log})
	srv := stomp.NewServer(stomp.Config{HandshakeTimeout: time.Second, WriteTimeout: time.Second,
		MaxMessageSize: 64 << 10, OutputHighWater: 64 << 10}, b, auth.DefaultStore(), log)
	s.ln = &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	go srv.Serve(s.ln)
}

// session runs one connection with in as everything the client sends,
// and fails t if the server logged a panic.
func (s *fuzzServer) session(t *testing.T, in []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions++; s.sessions%1000 == 0 {
		s.restart()
	}
	client, server := net.Pipe()
	sc := &serverConn{Conn: server, closed: make(chan struct{})}
	select {
	case s.ln.conns <- sc:
	case <-time.After(5 * time.Second):
		t.Fatal("the server does not accept")
	}
	go io.Copy(io.Discard, client) // the server's replies
	client.SetWriteDeadline(time.Now().Add(time.Second))
	client.Write(in)
	// The input may leave the connection open, waiting for more: give it
	// a moment to answer what it has, then hang up.
	select {
	case <-sc.closed:
	case <-time.After(20 * time.Millisecond):
	}
	client.Close()
	select {
	case <-sc.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close a connection whose client hung up")
	}
	if log := s.log.take(); strings.Contains(log, `"panic"`) {
		t.Fatalf("the connection panicked:\n%s", log)
	}
}

// pipeListener hands the test's net.Pipe connections to Serve.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return loopback }

var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 61613}

// serverConn is the server's end of a pipe: it comes from loopback (so
// guest may log in) and tells the test when the server closed it.
type serverConn struct {
	net.Conn
	closed chan struct{}
	once   sync.Once
}

func (c *serverConn) RemoteAddr() net.Addr { return loopback }
func (c *serverConn) LocalAddr() net.Addr  { return loopback }

func (c *serverConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}
