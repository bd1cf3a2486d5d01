// Package conninfo is what the protocol adapters tell the management API
// about their connections and channels, in one shape for every protocol:
// the API lists AMQP and STOMP connections side by side, as RabbitMQ does.
// It also holds the per-connection I/O counters the adapters keep.
package conninfo

import (
	"io"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/sluice-mq/sluice/broker"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// Counters are a connection's socket statistics, RabbitMQ's recv_oct,
// recv_cnt, send_oct and send_cnt: bytes, and read or write calls that
// moved any. They are added once per read or write call, never per frame
// or message, so a busy connection pays two atomic adds per system call.
type Counters struct {
	recvOct, recvCnt, sendOct, sendCnt atomic.Uint64
}

// Read counts a read call that returned n bytes.
func (c *Counters) Read(n int) {
	if n > 0 {
		c.recvOct.Add(uint64(n))
		c.recvCnt.Add(1)
	}
}

// Wrote counts a write call that wrote n bytes.
func (c *Counters) Wrote(n int) {
	if n > 0 {
		c.sendOct.Add(uint64(n))
		c.sendCnt.Add(1)
	}
}

// IO is a reading of Counters.
type IO struct {
	RecvOct, RecvCnt, SendOct, SendCnt uint64
}

// Load reads the counters.
func (c *Counters) Load() IO {
	return IO{RecvOct: c.recvOct.Load(), RecvCnt: c.recvCnt.Load(), SendOct: c.sendOct.Load(), SendCnt: c.sendCnt.Load()}
}

// Writer counts what is written through it to W.
type Writer struct {
	W io.Writer
	C *Counters
}

func (w Writer) Write(p []byte) (int, error) {
	n, err := w.W.Write(p)
	w.C.Wrote(n)
	return n, err
}

// Conn describes one open (logged-in) connection.
type Conn struct {
	// Name is RabbitMQ's: "peer -> local", as "127.0.0.1:50000 -> 127.0.0.1:5672".
	Name     string
	Protocol string // "AMQP 0-9-1", "STOMP 1.2"
	// Type is RabbitMQ's connection type: "network" for AMQP; its STOMP
	// plugin's connections are "direct" (they run over an internal AMQP
	// client), and sluice reports them the same way.
	Type             string
	User, VHost      string
	Peer, Local      net.Addr
	ClientProperties map[string]any // nil: none
	AuthMechanism    string         // "" when the protocol has none
	Channels         int
	ChannelMax       int
	FrameMax         int
	Timeout          int   // heartbeat in seconds, 0: off
	ConnectedAt      int64 // unix millis
	// State is "running", or under a resource alarm "blocking" (an alarm
	// is on, the connection has not published since) or "blocked" (its
	// publishes are held back).
	State string
	TLS   tlsconfig.ConnInfo
	IO    IO
}

// Channel describes one open channel (AMQP) or session (a STOMP
// connection, which RabbitMQ shows as channel 1 of its connection).
type Channel struct {
	Conn          *Conn // its connection, as listed
	Number        int
	State         string // "running", "closing"
	Confirm       bool
	Transactional bool
	Unconfirmed   int
	// Publishes and acks held by an open transaction.
	UncommittedMessages, UncommittedAcks int
	// Session is the channel's session with the core: its consumers,
	// unacknowledged deliveries, prefetch and message counts. nil for a
	// STOMP connection that has none yet.
	Session *broker.Session
}

// Name is RabbitMQ's channel name: the connection's and the number,
// "127.0.0.1:50000 -> 127.0.0.1:5672 (1)".
func (ch *Channel) Name() string { return ChannelName(ch.Conn.Name, ch.Number) }

// ChannelName builds a channel's name from its connection's and its number.
func ChannelName(conn string, number int) string {
	return conn + " (" + strconv.Itoa(number) + ")"
}
