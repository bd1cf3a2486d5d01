package stomp

import (
	"time"

	"github.com/sluice-mq/sluice/internal/conninfo"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// What the management API learns of STOMP connections, and how it closes
// them. RabbitMQ's STOMP plugin shows each connection with one channel
// (its session), and so does sluice.

// Connections lists the connected (logged-in) sessions.
func (s *Server) Connections() []conninfo.Conn {
	var out []conninfo.Conn
	for _, c := range s.conns.Snapshot() {
		if c.connected.Load() {
			out = append(out, c.info())
		}
	}
	return out
}

// ConnectionsIO lists the connected sessions with their name and I/O
// counters only: what the rate sampler reads every few seconds.
func (s *Server) ConnectionsIO() []conninfo.Conn {
	var out []conninfo.Conn
	for _, c := range s.conns.Snapshot() {
		if c.connected.Load() {
			out = append(out, conninfo.Conn{Name: c.name(), IO: c.io.Load()})
		}
	}
	return out
}

// Channels lists each connected session as channel 1 of its connection.
func (s *Server) Channels() []conninfo.Channel {
	var out []conninfo.Channel
	for _, c := range s.conns.Snapshot() {
		if c.connected.Load() {
			info := c.info()
			out = append(out, conninfo.Channel{Conn: &info, Number: 1, State: "running", Session: c.sessionRef.Load()})
		}
	}
	return out
}

// CloseConnection ends the named session with an ERROR frame carrying
// reason, as RabbitMQ's management API closes a STOMP connection. It
// reports whether one was found.
func (s *Server) CloseConnection(name, reason string) bool {
	for _, c := range s.conns.Snapshot() {
		if c.connected.Load() && c.name() == name {
			go c.forceClose(reason)
			return true
		}
	}
	return false
}

func (c *conn) name() string {
	return c.link.RemoteAddr().String() + " -> " + c.link.LocalAddr().String()
}

// info describes a connected session. user, vhost and version are set
// before connected, and never change after.
func (c *conn) info() conninfo.Conn {
	proto := "STOMP " // RabbitMQ's names: its web-stomp plugin says "Web STOMP 1.2"
	if c.ws {
		proto = "Web STOMP "
	}
	info := conninfo.Conn{Name: c.name(), Protocol: proto + c.version.String(), Type: "direct",
		User: c.user, VHost: c.vhost.Name(), Peer: c.link.RemoteAddr(), Local: c.link.LocalAddr(),
		ClientProperties: map[string]any{"product": "STOMP client"}, Channels: 1, ChannelMax: 1,
		Timeout: int(time.Duration(c.hbRecv.Load()) / time.Second), ConnectedAt: c.connectedAt,
		TLS: tlsconfig.Describe(c.link.tlsState()), IO: c.io.Load(), State: "running"}
	if c.srv.broker.Alarms.Reason() != "" {
		info.State = "blocking"
		if c.alarmHeld.Load() {
			info.State = "blocked"
		}
	}
	return info
}

// CloseConnections ends, with an ERROR frame carrying reason, every
// connected session whose user and vhost match, as RabbitMQ does to the
// connections of a deleted user or vhost. It reports how many it closed.
func (s *Server) CloseConnections(match func(user, vhost string) bool, reason string) int {
	n := 0
	for _, c := range s.conns.Snapshot() {
		if c.connected.Load() && match(c.user, c.vhost.Name()) {
			n++
			go c.forceClose(reason)
		}
	}
	return n
}

// forceClose sends an ERROR saying why, waits briefly for it to be
// written, then closes the transport.
func (c *conn) forceClose(reason string) {
	c.out.push(outItem{kind: outFrame, cmd: frame.Error, fields: []frame.Field{
		{Name: hMessage, Value: reason}, {Name: hContentType, Value: "text/plain"},
		{Name: hVersion, Value: supportedVersions}},
		body: []byte(reason + "\n")}, true)
	c.out.flush(2 * time.Second)
	c.abort(reason)
}
