// Package stomp is sluice's STOMP 1.0/1.1/1.2 adapter, over TCP and over
// WebSocket. It follows RabbitMQ's STOMP plugin: the same destinations
// (/queue, /topic, /exchange, /amq/queue, /temp-queue, /reply-queue), the
// same mapping of STOMP headers onto AMQP properties and back, the same
// message-id and ack id format, so STOMP and AMQP clients share queues and
// messages, and clients written against RabbitMQ work unchanged.
//
// Each connection has one reader goroutine, which parses frames with the
// bounded codec in package frame and calls the broker, and one writer
// goroutine that drains the connection's output queue and flushes when it
// has nothing more to write. A connection is one broker.Session; each
// SUBSCRIBE is a consumer on it, with its own prefetch.
//
// # Where it differs from RabbitMQ
//
//   - As in RabbitMQ, a frame the session refuses (a missing or invalid
//     header, an unknown destination, subscription or transaction) gets an
//     ERROR and the session goes on; so does a subscription whose queue is
//     deleted. Neither ERROR carries the frame's receipt as receipt-id
//     (STOMP 1.2 says it should; RabbitMQ's do not). What fails in the core (not
//     found, precondition failed, access refused), a duplicated
//     subscription id, a second CONNECT, a rejected publish and an
//     unparseable frame end the session, as there; so does a refused
//     CONNECT, which RabbitMQ 3.10 answers and leaves the socket open.
//   - SUBSCRIBE without id is refused in 1.1 and 1.2 (RabbitMQ then uses
//     the destination as the id, as in 1.0).
//   - prefetch-count applies to its own subscription only; RabbitMQ's
//     basic.qos also limits the subscriptions made after it.
//   - ack:client is cumulative within its subscription; RabbitMQ acks
//     every earlier message of the session.
//   - The receipt of a SEND inside a transaction is sent at once; COMMIT's
//     receipt waits until its messages are stored. RabbitMQ holds each
//     SEND's receipt until the commit is confirmed.
//   - x-overflow, x-single-active-consumer and x-delivery-limit are taken
//     from SUBSCRIBE too, and a malformed x- argument is an ERROR naming it.
//   - guest connecting from another host is told "Access refused", because
//     auth.Store does not say why it refused.
//   - Over WebSocket a CONNECT must carry login and passcode: the default
//     login is for TCP only, since any web page can make a browser open a
//     WebSocket. /ws also accepts only its own origin unless configured.
//   - A command line that cannot be a STOMP command is answered with an
//     ERROR as soon as it is read, or as soon as the octets read so far
//     cannot begin one (a TLS ClientHello, an HTTP request), without
//     waiting for the rest of the frame.
//   - Names and properties that AMQP carries as short strings (queue and
//     exchange names, routing keys, content-type, correlation-id and the
//     other string properties, header names) are refused past 255 bytes
//     with an ERROR naming the header.
package stomp

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/acceptloop"
	"github.com/sluice-mq/sluice/internal/connlimit"
	"github.com/sluice-mq/sluice/internal/connset"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// Config holds the adapter's settings and limits. Zero values take the
// defaults named on each field.
type Config struct {
	// MaxFrameSize bounds one frame on the wire (default 4 MiB).
	MaxFrameSize int
	// MaxHeaders bounds the header lines of one frame (default 1000).
	MaxHeaders int
	// MaxHeaderLine bounds one header line (default 64 KiB).
	MaxHeaderLine int
	// MaxHandshakeFrame bounds a frame read before CONNECTED (default
	// 4 KiB): a CONNECT is a few hundred bytes, and until it has
	// authenticated a socket must not make the server reserve
	// MaxFrameSize for it. Header lines and the header count are held to
	// what fits in it too.
	MaxHandshakeFrame int
	// MaxMessageSize bounds a SEND body (default 16 MiB, and never more
	// than MaxFrameSize allows).
	MaxMessageSize int
	// MaxSubscriptions bounds the subscriptions of one session (default 1000).
	MaxSubscriptions int
	// MaxTransactions bounds the open transactions of one session (default 100).
	MaxTransactions int
	// MaxTransactionBytes bounds the bytes one transaction may hold back
	// until COMMIT, each SEND's body and headers (default 64 MiB, and
	// never less than MaxMessageSize).
	MaxTransactionBytes int64
	// HeartbeatMin is the shortest heart-beat interval the server agrees
	// to in either direction (default 1 s, the whole second RabbitMQ rounds
	// to). The server offers to send and to receive heart-beats at the
	// client's rates, raised to this floor; a negative value turns
	// heart-beating off (CONNECTED says 0,0).
	HeartbeatMin time.Duration
	// HeartbeatGrace multiplies the negotiated client-to-server interval to
	// get the silence after which the server closes the connection
	// (default 1.5).
	HeartbeatGrace float64
	// HandshakeTimeout closes a connection that has not sent CONNECT in
	// time (default 10 s).
	HandshakeTimeout time.Duration
	// WriteTimeout closes a connection whose peer does not read (default 60 s).
	WriteTimeout time.Duration
	// TrailingLF ends every frame the server sends with an LF after its
	// NUL, as RabbitMQ does unless stomp.trailing_lf is off; server.Config
	// turns it on by default.
	TrailingLF bool
	// OutputHighWater is how many body bytes of MESSAGE frames may wait for
	// a slow client before its subscriptions stop getting more (default 4 MiB).
	OutputHighWater int64
	// Limits counts connections against the broker-wide limits; it is
	// shared with the other listeners (nil: no limits). A connection is
	// counted as handshaking (Limits.MaxHandshaking) from its accept (or
	// WebSocket upgrade) until its CONNECT has been answered.
	Limits *connlimit.Limiter
	// DefaultLogin and DefaultPasscode are used when a CONNECT over TCP
	// has no login or passcode header (default guest/guest, as RabbitMQ's
	// default_user). WebSocket sessions never get them: a browser lets
	// any page it shows open a WebSocket to the broker, so a default
	// login there would hand every such page a session.
	DefaultLogin    string
	DefaultPasscode string
	// DefaultVHost is the vhost of a CONNECT without a host header
	// (default "/").
	DefaultVHost string
	// WebSocketOrigins are the Origins the WebSocket endpoint accepts
	// besides its own (a request without Origin, or whose Origin's host is
	// the request's Host). An entry with a scheme ("https://app.example")
	// must match scheme and host, one without ("app.example") the host
	// alone; path.Match wildcards work ("https://*.example"), case
	// insensitively. "*" accepts any Origin. Default: none, same origin
	// only — a page elsewhere must not use a visitor's browser, which is
	// inside the network and may even be on the broker's host, to reach
	// the broker.
	WebSocketOrigins []string
	// Version is reported in CONNECTED's server header as sluice/Version.
	Version string
}

func (c *Config) setDefaults() {
	if c.Limits == nil {
		c.Limits = &connlimit.Limiter{}
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = frame.DefaultMaxFrameSize
	}
	if c.MaxHeaders <= 0 {
		c.MaxHeaders = frame.DefaultMaxHeaders
	}
	if c.MaxHeaderLine <= 0 {
		c.MaxHeaderLine = frame.DefaultMaxHeaderLine
	}
	if c.MaxHandshakeFrame <= 0 {
		c.MaxHandshakeFrame = 4 << 10
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 16 << 20
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 1000
	}
	if c.MaxTransactions <= 0 {
		c.MaxTransactions = 100
	}
	if c.MaxTransactionBytes <= 0 {
		c.MaxTransactionBytes = 64 << 20
	}
	if c.MaxTransactionBytes < int64(c.MaxMessageSize) {
		c.MaxTransactionBytes = int64(c.MaxMessageSize)
	}
	if c.HeartbeatMin == 0 {
		c.HeartbeatMin = time.Second
	}
	if c.HeartbeatGrace < 1 {
		c.HeartbeatGrace = 1.5
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.OutputHighWater <= 0 {
		c.OutputHighWater = 4 << 20
	}
	if c.DefaultLogin == "" && c.DefaultPasscode == "" {
		c.DefaultLogin, c.DefaultPasscode = "guest", "guest"
	}
	if c.DefaultVHost == "" {
		c.DefaultVHost = "/"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

func (c *Config) limits() frame.Limits {
	return frame.Limits{MaxFrameSize: c.MaxFrameSize, MaxHeaders: c.MaxHeaders,
		MaxHeaderLine: c.MaxHeaderLine, MaxBody: c.MaxMessageSize}
}

// handshakeLimits are the limits before CONNECTED. With them a
// connection that has not authenticated holds at most MaxHandshakeFrame
// of buffer and, as a header takes at least a few bytes, a header index
// in proportion (64 headers at the default 4 KiB; a CONNECT has a dozen
// at most).
func (c *Config) handshakeLimits() frame.Limits {
	frameSize := min(c.MaxHandshakeFrame, c.MaxFrameSize)
	return frame.Limits{MaxFrameSize: frameSize, MaxHeaders: min(c.MaxHeaders, max(frameSize/64, 16)),
		MaxHeaderLine: min(c.MaxHeaderLine, frameSize), MaxBody: frameSize}
}

// Server accepts STOMP connections over TCP (Serve) and WebSocket
// (WebSocketHandler).
type Server struct {
	cfg    Config
	broker *broker.Broker
	users  auth.Store
	log    zerolog.Logger

	nextID atomic.Uint64
	// frameLimits and handshakeLimits are cfg's, computed once: every
	// reader taken from the pool is given one of them.
	frameLimits, handshakeLimits frame.Limits
	// lastRefusalLog rate-limits the warning about handshake refusals
	// (unix nanos), which come in floods when they come.
	lastRefusalLog atomic.Int64
	// readers pools frame readers: an idle connection gives its reader
	// (and the reader's buffer) back while it waits for input.
	readers sync.Pool

	conns connset.Set[*conn]
}

// NewServer returns a server for broker b that authenticates against users.
func NewServer(cfg Config, b *broker.Broker, users auth.Store, log zerolog.Logger) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, broker: b, users: users, log: log,
		frameLimits: cfg.limits(), handshakeLimits: cfg.handshakeLimits()}
	s.readers.New = func() any { return frame.NewReader(nil, s.handshakeLimits) }
	return s
}

// connIDBase keeps STOMP connection ids apart from the AMQP adapter's,
// which count up from 1 in the same broker.ConnID space: exclusive queues
// belong to a ConnID, so the two must never meet.
const connIDBase = broker.ConnID(1) << 62

func (s *Server) newConnID() broker.ConnID { return connIDBase | broker.ConnID(s.nextID.Add(1)) }

// Serve accepts connections on ln until Shutdown. Temporary accept errors
// are retried with a capped backoff, as net/http does.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// ServeTLS is Serve for STOMP over TLS: each connection's TLS handshake
// runs in its own goroutine, counted as handshaking and within the
// handshake timeout (conn.serve), with tm's configuration. When tm asks
// for client certificates, a CONNECT without login logs in as the user
// the verified certificate names (RabbitMQ's ssl_cert_login).
func (s *Server) ServeTLS(ln net.Listener, tm *tlsconfig.Manager) error { return s.serve(ln, tm) }

func (s *Server) serve(ln net.Listener, tm *tlsconfig.Manager) error {
	if !s.conns.AddListener(ln) {
		return net.ErrClosed
	}
	return acceptloop.Run(ln, s.conns.Closing, func(nc net.Conn) {
		if tm != nil {
			nc = tls.Server(nc, tm.Config()) // no I/O until the handshake
		}
		c := newConn(s, newTCPLink(nc))
		c.tlsMgr = tm
		if !s.conns.Add(c) {
			nc.Close()
			return
		}
		go c.serve()
	}, acceptloop.WarnEvery(s.log, "stomp", 10*time.Second))
}

func (s *Server) untrack(c *conn) {
	if c.admitted {
		s.cfg.Limits.Release(c.user)
		s.cfg.Limits.Opened.Leave(c.user, c.vhost.Name())
	}
	s.conns.Remove(c)
}

// Shutdown stops accepting, sends every session an ERROR frame saying the
// server is shutting down, closes it, and waits for the connections to end
// until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.conns.Close()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.shutdown()
		}()
	}
	wg.Wait()
	if err := s.conns.Wait(ctx); err != nil {
		for _, c := range conns {
			c.link.Close()
		}
		return err
	}
	return nil
}
