package amqp_test

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
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// FuzzAMQPSession sends arbitrary bytes to a real AMQP connection of the
// adapter, after a valid handshake when handshake is set, so that the
// fuzzer explores the connection and channel state machines (methods in
// any order, content assembly, transactions, confirms, flow) rather than
// the frame codec alone, which wire.FuzzFrameReader covers. A connection
// recovers its own panics and logs them: any such log line fails the
// target, and a panic through the core crashes the process, which fails
// it too.
func FuzzAMQPSession(f *testing.F) {
	addSessionSeeds(f)
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte, handshake bool) {
		if len(data) > 64<<10 {
			return
		}
		var in bytes.Buffer
		if handshake {
			in.Write(handshakeBytes())
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
	srv      *amqp.Server
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
	b.AddVHost("vh") // the recorded client session's
	s.srv = amqp.NewServer(amqp.Config{HandshakeTimeout: time.Second, WriteTimeout: time.Second, Heartbeat: -1,
		MaxMessageSize: 64 << 10, OutputHighWater: 64 << 10}, b, auth.DefaultStore(), log)
	s.ln = &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	go s.srv.Serve(s.ln)
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

// handshakeBytes is what a client sends to open a connection as guest
// (from loopback: see serverConn) on vhost "/", all at once.
func handshakeBytes() []byte {
	var b bytes.Buffer
	b.WriteString("AMQP\x00\x00\x09\x01")
	fw := wire.NewFrameWriter(&b)
	fw.WriteMethod(0, &wire.ConnectionStartOk{ClientProperties: message.Table{"product": "fuzz"},
		Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	fw.WriteMethod(0, &wire.ConnectionTuneOk{ChannelMax: 16, FrameMax: 131072})
	fw.WriteMethod(0, &wire.ConnectionOpen{VirtualHost: "/"})
	fw.Flush()
	return b.Bytes()
}

// addSessionSeeds adds sessions after the handshake that reach most
// methods, and the real client's recorded session (with its own
// handshake) from wire's corpus.
func addSessionSeeds(f *testing.F) {
	props := message.Properties{Flags: message.FlagDeliveryMode | message.FlagHeaders | message.FlagExpiration,
		DeliveryMode: 2, Headers: message.Table{"x-delay": int32(5)}, Expiration: "60000"}
	var b bytes.Buffer
	fw := wire.NewFrameWriter(&b)
	fw.WriteMethod(1, &wire.ChannelOpen{})
	fw.WriteMethod(1, &wire.ConfirmSelect{})
	fw.WriteMethod(1, &wire.QueueDeclare{Queue: "q", Arguments: message.Table{"x-max-length": int32(2), "x-message-ttl": int32(1000)}})
	fw.WriteMethod(1, &wire.ExchangeDeclare{Exchange: "t", Type: "topic"})
	fw.WriteMethod(1, &wire.QueueBind{Queue: "q", Exchange: "t", RoutingKey: "a.#"})
	for i := 0; i < 3; i++ {
		fw.WriteMethod(1, &wire.BasicPublish{Exchange: "t", RoutingKey: "a.b"})
		fw.WriteContent(1, wire.ClassBasic, &props, []byte("body "+strconv.Itoa(i)), 4096)
	}
	fw.WriteMethod(1, &wire.BasicQos{PrefetchCount: 1})
	fw.WriteMethod(1, &wire.BasicConsume{Queue: "q", ConsumerTag: "c"})
	fw.WriteMethod(1, &wire.BasicAck{DeliveryTag: 1})
	fw.WriteMethod(1, &wire.BasicNack{DeliveryTag: 2, Requeue: true})
	fw.WriteMethod(1, &wire.BasicGet{Queue: "q"})
	fw.WriteMethod(1, &wire.TxSelect{})
	fw.WriteMethod(1, &wire.BasicPublish{RoutingKey: "q"})
	fw.WriteContent(1, wire.ClassBasic, &props, []byte("in a transaction"), 4096)
	fw.WriteMethod(1, &wire.TxCommit{})
	fw.WriteMethod(1, &wire.QueuePurge{Queue: "q"})
	fw.WriteMethod(1, &wire.QueueDelete{Queue: "q"})
	fw.WriteMethod(1, &wire.ChannelClose{ReplyCode: 200})
	fw.WriteMethod(0, &wire.ConnectionClose{ReplyCode: 200})
	fw.Flush()
	f.Add(b.Bytes(), true)
	f.Add([]byte{}, true)
	f.Add([]byte("AMQP\x00\x00\x09\x01"), false)
	f.Add([]byte("AMQP\x01\x01\x00\x09"), false)
	files, _ := filepath.Glob(filepath.Join("wire", "testdata", "fuzz", "FuzzFrameReader", "*"))
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		// "go test fuzz v1\n[]byte(...)\nuint8(...)\n": the first value.
		_, lit, _ := strings.Cut(string(text), "[]byte(")
		lit, _, _ = strings.Cut(lit, ")\n")
		if data, err := strconv.Unquote(lit); err == nil {
			f.Add(append([]byte("AMQP\x00\x00\x09\x01"), data...), false)
		}
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

var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5672}

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
