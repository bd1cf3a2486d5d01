package amqp

import (
	"fmt"

	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// ConnInfo describes an open connection for the management API.
type ConnInfo struct {
	// Name is RabbitMQ's connection name: "peer -> local".
	Name             string        `json:"name"`
	User             string        `json:"user"`
	VHost            string        `json:"vhost"`
	Peer             string        `json:"peer_host"`
	Protocol         string        `json:"protocol"`
	Channels         int           `json:"channels"`
	ClientProperties message.Table `json:"client_properties"`
	ConnectedAt      int64         `json:"connected_at"`
	// ssl, ssl_protocol, ssl_cipher, peer_cert_subject, ...
	tlsconfig.ConnInfo
}

func (c *conn) name() string {
	return fmt.Sprintf("%s -> %s", c.nc.RemoteAddr(), c.nc.LocalAddr())
}

// Connections lists the open, authenticated connections.
func (s *Server) Connections() []ConnInfo {
	conns := s.openConns()
	out := make([]ConnInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.connInfo())
	}
	return out
}

// CloseConnection closes the named connection with 320 CONNECTION_FORCED,
// as RabbitMQ's management API does. It reports whether one was found.
func (s *Server) CloseConnection(name, reason string) bool {
	var target *conn
	for _, c := range s.openConns() {
		if c.name() == name {
			target = c
			break
		}
	}
	if target == nil {
		return false
	}
	go target.forceClose("CONNECTION_FORCED - " + reason)
	return true
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

// connInfo describes an open connection. It is built when asked for, so
// that a connection keeps none of it; the client properties are decoded
// again from their encoding.
func (c *conn) connInfo() ConnInfo {
	info := ConnInfo{Name: c.name(), User: c.user, VHost: c.vhost.Name(), Peer: c.nc.RemoteAddr().String(),
		Protocol: "AMQP 0-9-1", ConnectedAt: c.openedAt.Load(), ConnInfo: tlsconfig.Describe(c.tlsState())}
	if c.clientProps != nil {
		info.ClientProperties, _ = wire.DecodeTable(c.clientProps)
	}
	c.chMu.Lock()
	info.Channels = len(c.chans)
	c.chMu.Unlock()
	return info
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
