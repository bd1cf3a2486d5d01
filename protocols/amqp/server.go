// Package amqp is sluice's AMQP 0-9-1 adapter: it accepts RabbitMQ clients,
// runs the connection and channel state machines, and turns methods into
// calls on the broker core. The wire format lives in package wire.
package amqp

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
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// Config holds the adapter's settings and limits. Zero values take the
// defaults named on each field.
type Config struct {
	// FrameMax offered in connection.tune (default 131072, RabbitMQ's).
	FrameMax uint32
	// ChannelMax offered in connection.tune (default 2047, RabbitMQ's).
	ChannelMax uint16
	// Heartbeat offered in connection.tune (default 60 s; negative turns it off).
	Heartbeat time.Duration
	// MaxMessageSize bounds a message body (default 16 MiB, as RabbitMQ 4).
	MaxMessageSize uint64
	// Limits counts connections against the broker-wide limits; it is
	// shared with the other listeners (nil: no limits).
	Limits *connlimit.Limiter
	// MaxHandshakeFrame bounds a frame before connection.tune-ok
	// (default 4096, RabbitMQ's frame_max until tuning): the start-ok,
	// with the client's properties, must fit.
	MaxHandshakeFrame uint32
	// HandshakeTimeout closes a socket that has not finished the handshake
	// (default 10 s).
	HandshakeTimeout time.Duration
	// WriteTimeout closes a connection whose peer does not read (default 60 s).
	WriteTimeout time.Duration
	// OutputHighWater is how many bytes of deliveries may wait for a slow
	// client before its consumers stop getting more (default 4 MiB).
	OutputHighWater int64
	// TxMaxOperations bounds the publishes, acks and nacks one transaction
	// holds until tx.commit (default 100,000).
	TxMaxOperations int
	// TxMaxBytes bounds the message bytes (bodies and content headers)
	// one transaction holds until tx.commit (default 64 MiB, as a STOMP
	// transaction, and never less than MaxMessageSize, so that one
	// message always fits).
	TxMaxBytes int64
	// ClusterName is reported in server-properties (default "sluice")
	// while the broker has no cluster_name global parameter.
	ClusterName string
	// Version is reported in server-properties.
	Version string
}

func (c *Config) setDefaults() {
	if c.FrameMax == 0 {
		c.FrameMax = 131072
	}
	if c.ChannelMax == 0 {
		c.ChannelMax = 2047
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 60 * time.Second
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 16 << 20
	}
	if c.TxMaxOperations <= 0 {
		c.TxMaxOperations = 100000
	}
	if c.TxMaxBytes <= 0 {
		c.TxMaxBytes = 64 << 20
	}
	if c.TxMaxBytes < int64(c.MaxMessageSize) {
		c.TxMaxBytes = int64(c.MaxMessageSize)
	}
	if c.MaxHandshakeFrame == 0 {
		c.MaxHandshakeFrame = 4096
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.OutputHighWater == 0 {
		c.OutputHighWater = 4 << 20
	}
	if c.Limits == nil {
		c.Limits = &connlimit.Limiter{}
	}
	if c.ClusterName == "" {
		c.ClusterName = "sluice"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Server accepts AMQP connections.
type Server struct {
	cfg    Config
	broker *broker.Broker
	users  auth.Store
	log    zerolog.Logger
	// starts are the connection.start frames for the cluster name in
	// force (connectionStarts).
	starts atomic.Pointer[startFrames]

	nextID atomic.Uint64

	conns connset.Set[*conn]

	lastRefusalLog atomic.Int64 // unix nanos of the last handshake-limit warning

	blockedMu sync.Mutex
	blocked   string // alarm reason; "" when publishing may go on
}

// NewServer returns a server for broker b that authenticates against users.
func NewServer(cfg Config, b *broker.Broker, users auth.Store, log zerolog.Logger) *Server {
	cfg.setDefaults()
	return &Server{cfg: cfg, broker: b, users: users, log: log}
}

// startFrames are connection.start, the same for every connection while
// the cluster name stays: encoded once for each name.
type startFrames struct {
	clusterName string
	plain       *wire.Preencoded
	// external is connection.start on a TLS listener that asks for client
	// certificates: it offers EXTERNAL too.
	external *wire.Preencoded
}

// connectionStarts returns the connection.start frames for the cluster
// name in force: the broker's cluster_name global parameter (the
// management API's PUT /api/cluster-name sets it), or Config.ClusterName.
func (s *Server) connectionStarts() *startFrames {
	name, ok := s.broker.ClusterName()
	if !ok {
		name = s.cfg.ClusterName
	}
	if f := s.starts.Load(); f != nil && f.clusterName == name {
		return f
	}
	f := &startFrames{clusterName: name, plain: connectionStart(&s.cfg, name, mechanisms),
		external: connectionStart(&s.cfg, name, mechanisms+" EXTERNAL")}
	s.starts.Store(f)
	return f
}

// Serve accepts connections on ln until Shutdown. Temporary accept errors
// are retried with a capped backoff, as net/http does.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// ServeTLS is Serve for AMQPS: each connection's TLS handshake runs in its
// own goroutine, counted as handshaking and within the handshake timeout
// (conn.open), with tm's configuration. When tm asks for client
// certificates, connection.start offers EXTERNAL.
func (s *Server) ServeTLS(ln net.Listener, tm *tlsconfig.Manager) error { return s.serve(ln, tm) }

func (s *Server) serve(ln net.Listener, tm *tlsconfig.Manager) error {
	if !s.conns.AddListener(ln) {
		return net.ErrClosed
	}
	return acceptloop.Run(ln, s.conns.Closing, func(nc net.Conn) {
		if tm != nil {
			nc = tls.Server(nc, tm.Config()) // no I/O until the handshake
		}
		c := newConn(s, nc)
		c.tlsMgr = tm
		if !s.conns.Add(c) {
			nc.Close()
			return
		}
		go c.serve()
	}, acceptloop.WarnEvery(s.log, "amqp", 10*time.Second))
}

func (s *Server) untrack(c *conn) {
	if c.user != "" {
		s.cfg.Limits.Release(c.user)
	}
	s.conns.Remove(c)
}

// Shutdown stops accepting, closes every connection with connection.close
// 320 CONNECTION_FORCED, and waits for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.conns.Close()
	for _, c := range conns {
		c.forceClose("CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'")
	}
	if err := s.conns.Wait(ctx); err != nil {
		for _, c := range conns {
			c.nc.Close()
		}
		return err
	}
	return nil
}

// SetAlarm blocks (reason != "") or unblocks ("") publishing connections,
// as RabbitMQ does on a memory or disk alarm: clients that asked for it get
// connection.blocked / connection.unblocked, and a blocked connection's
// reader stops at its next publish.
func (s *Server) SetAlarm(reason string) {
	s.blockedMu.Lock()
	changed := s.blocked != reason
	s.blocked = reason
	s.blockedMu.Unlock()
	if !changed {
		return
	}
	for _, c := range s.conns.Snapshot() {
		c.alarmChanged(reason)
	}
}

func (s *Server) alarm() string {
	s.blockedMu.Lock()
	defer s.blockedMu.Unlock()
	return s.blocked
}
