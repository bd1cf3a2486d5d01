package stomp

import (
	"time"

	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

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
