package amqp

import (
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
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
}

func (c *conn) name() string {
	return fmt.Sprintf("%s -> %s", c.nc.RemoteAddr(), c.nc.LocalAddr())
}

// Connections lists the open, authenticated connections.
func (s *Server) Connections() []ConnInfo {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	out := make([]ConnInfo, 0, len(conns))
	for _, c := range conns {
		info, ok := c.info.Load().(ConnInfo)
		if !ok {
			continue // still in the handshake
		}
		c.chMu.Lock()
		info.Channels = len(c.chList)
		c.chMu.Unlock()
		out = append(out, info)
	}
	return out
}

// CloseConnection closes the named connection with 320 CONNECTION_FORCED,
// as RabbitMQ's management API does. It reports whether one was found.
func (s *Server) CloseConnection(name, reason string) bool {
	s.mu.Lock()
	var target *conn
	for c := range s.conns {
		if info, ok := c.info.Load().(ConnInfo); ok && info.Name == name {
			target = c
			break
		}
	}
	s.mu.Unlock()
	if target == nil {
		return false
	}
	go target.forceClose("CONNECTION_FORCED - " + reason)
	return true
}

func (c *conn) publishInfo(clientProps message.Table) {
	c.info.Store(ConnInfo{Name: c.name(), User: c.user, VHost: c.vhost.Name(), Peer: c.nc.RemoteAddr().String(),
		Protocol: "AMQP 0-9-1", ClientProperties: clientProps, ConnectedAt: time.Now().UnixMilli()})
}
