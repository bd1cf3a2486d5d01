package conformance

import (
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// TestConnectionLimitIsBrokerWide: --max-connections counts AMQP and STOMP
// connections together, not each protocol on its own.
func TestConnectionLimitIsBrokerWide(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxConnections = 1 })
	conn, err := amqp.Dial(b.AMQPURL())
	mustOK(t, err)
	// The same login with the slot free succeeds (below), so a refusal
	// here is the limit; go-stomp reports only the ERROR's message header.
	_, err = stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"))
	if err == nil || !strings.Contains(err.Error(), "Bad CONNECT") {
		t.Fatalf("STOMP connection past the broker's limit: %v", err)
	}
	conn.Close()
	waitFor(t, 5e9, "the freed slot", func() bool {
		c, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"))
		if err != nil {
			return false
		}
		c.Disconnect()
		return true
	})
}
