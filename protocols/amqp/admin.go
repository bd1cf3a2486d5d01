package amqp

import (
	"fmt"
	"sync/atomic"

	"github.com/sluice-mq/sluice/internal/conninfo"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// What the management API learns of AMQP connections and channels, and
// how it closes them. Everything is built when asked for, so that a
// connection keeps none of it; fields the reader goroutine owns are read
// through atomics or under chMu and alarmMu.

// channelShown mirrors a channel's confirm and transaction state for
// other goroutines: the reader sets it where it changes its own fields.
type channelShown struct {
	confirm        atomic.Pointer[confirmTracker]
	tx             atomic.Bool
	txMsgs, txAcks atomic.Int32 // publishes and settlements held by the transaction
}

func (c *conn) name() string {
	return fmt.Sprintf("%s -> %s", c.nc.RemoteAddr(), c.nc.LocalAddr())
}

// mechanismName returns the constant for a SASL mechanism's name, so that
// a connection does not keep the string decoded from its start-ok.
func mechanismName(m string) string {
	for _, k := range []string{"PLAIN", "AMQPLAIN", "EXTERNAL"} {
		if m == k {
			return k
		}
	}
	return "PLAIN"
}

// Connections lists the open, authenticated connections.
func (s *Server) Connections() []conninfo.Conn {
	conns := s.openConns()
	out := make([]conninfo.Conn, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.info())
	}
	return out
}

// ConnectionsIO lists the open connections with their name and I/O
// counters only: what the rate sampler reads every few seconds.
func (s *Server) ConnectionsIO() []conninfo.Conn {
	conns := s.openConns()
	out := make([]conninfo.Conn, len(conns))
	for i, c := range conns {
		out[i] = conninfo.Conn{Name: c.name(), IO: c.io.Load()}
	}
	return out
}

// Channels lists the open channels of every open connection.
func (s *Server) Channels() []conninfo.Channel {
	var out []conninfo.Channel
	for _, c := range s.openConns() {
		info := c.info()
		c.chMu.Lock()
		chans := append([]*channel(nil), c.chans...)
		c.chMu.Unlock()
		for _, ch := range chans {
			out = append(out, ch.info(&info))
		}
	}
	return out
}

// CloseConnection closes the named connection with 320 CONNECTION_FORCED,
// as RabbitMQ's management API does. It reports whether one was found.
func (s *Server) CloseConnection(name, reason string) bool {
	for _, c := range s.openConns() {
		if c.name() == name {
			go c.forceClose("CONNECTION_FORCED - " + reason)
			return true
		}
	}
	return false
}

// openConns returns the connections past the handshake.
func (s *Server) openConns() []*conn {
	conns := s.conns.Snapshot()
	open := conns[:0]
	for _, c := range conns {
		if c.openedAt.Load() != 0 {
			open = append(open, c)
		}
	}
	return open
}

// info describes an open connection; the client properties are decoded
// again from their encoding.
func (c *conn) info() conninfo.Conn {
	info := conninfo.Conn{Name: c.name(), Protocol: "AMQP 0-9-1", Type: "network", User: c.user,
		VHost: c.vhost.Name(), Peer: c.nc.RemoteAddr(), Local: c.nc.LocalAddr(), AuthMechanism: c.authMech,
		ChannelMax: int(c.channelMax), FrameMax: int(c.frameMax.Load()), Timeout: int(c.heartbeat.Load() / 1e9),
		ConnectedAt: c.openedAt.Load(), TLS: tlsconfig.Describe(c.tlsState()), IO: c.io.Load()}
	if c.clientProps != nil {
		info.ClientProperties, _ = wire.DecodeTable(c.clientProps)
	}
	c.chMu.Lock()
	info.Channels = len(c.chans)
	c.chMu.Unlock()
	c.alarmMu.Lock()
	switch {
	case c.alarmSet == "":
		info.State = "running"
	case c.alarmHeld:
		info.State = "blocked"
	default:
		info.State = "blocking"
	}
	c.alarmMu.Unlock()
	return info
}

// info describes a channel of the connection described by conn.
func (ch *channel) info(conn *conninfo.Conn) conninfo.Channel {
	info := conninfo.Channel{Conn: conn, Number: int(ch.id), State: "running", Session: ch.session,
		Transactional: ch.shown.tx.Load(), UncommittedMessages: int(ch.shown.txMsgs.Load()),
		UncommittedAcks: int(ch.shown.txAcks.Load())}
	if t := ch.shown.confirm.Load(); t != nil {
		info.Confirm = true
		info.Unconfirmed = t.outstanding()
	}
	return info
}

// outstanding counts the publishes waiting for their confirm.
func (t *confirmTracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, st := range t.states {
		if st == confirmPending {
			n++
		}
	}
	return n
}

// CloseConnections closes, with 320 CONNECTION_FORCED and reason, every
// open connection whose user and vhost match, as RabbitMQ does to the
// connections of a deleted user or vhost. It reports how many it closed.
func (s *Server) CloseConnections(match func(user, vhost string) bool, reason string) int {
	n := 0
	for _, c := range s.openConns() {
		if match(c.user, c.vhost.Name()) {
			n++
			go c.forceClose("CONNECTION_FORCED - " + reason)
		}
	}
	return n
}
