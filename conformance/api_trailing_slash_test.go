package conformance

import (
	"encoding/json"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestAPITrailingSlash: RabbitMQ's management API answers a path with a
// trailing slash as the path without it (GET /api/connections/ lists the
// connections). amqp091-go's recovery tests find their connection through
// exactly that URL.
func TestAPITrailingSlash(t *testing.T) {
	b := brokertest.New(t)
	conn, err := amqp.DialConfig(b.AMQPURL(), amqp.Config{Properties: amqp.Table{"connection_name": "slash-test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newAPI(t, b)
	for _, p := range []string{"/api/connections/", "/api/queues/", "/api/exchanges/", "/api/vhosts/", "/api/users/",
		"/api/channels/", "/api/bindings/", "/api/queues/%2F/", "/api/exchanges/%2F/"} {
		st, raw := c.do("GET", p, "")
		var list []map[string]any
		if st != 200 || json.Unmarshal(raw, &list) != nil {
			t.Errorf("GET %s: %d %.200s", p, st, raw)
			continue
		}
		if p == "/api/connections/" {
			props, _ := list[0]["client_properties"].(map[string]any)
			if len(list) != 1 || props["connection_name"] != "slash-test" {
				t.Errorf("GET %s: %s", p, raw)
			}
		}
	}
	st, raw := c.do("GET", "/api/overview/", "")
	var ov map[string]any
	if st != 200 || json.Unmarshal(raw, &ov) != nil || ov["product_name"] == nil {
		t.Errorf("GET /api/overview/: %d %.200s", st, raw)
	}
}
