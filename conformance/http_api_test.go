package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

func TestHTTPQueuesShowDiskBytes(t *testing.T) {
	b := brokertest.New(t)
	conn, err := amqp.Dial(b.AMQPURL())
	mustOK(t, err)
	defer conn.Close()
	ch, _ := conn.Channel()
	_, err = ch.QueueDeclare("disk", true, false, false, false, nil)
	mustOK(t, err)
	mustOK(t, ch.Confirm(false))
	c := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	mustOK(t, ch.PublishWithContext(context.Background(), "", "disk", false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: make([]byte, 4096)}))
	<-c
	get := func(user, pass string) (*http.Response, []map[string]any) {
		req, _ := http.NewRequest("GET", "http://"+b.HTTPAddr()+"/api/queues", nil)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		mustOK(t, err)
		defer resp.Body.Close()
		var out []map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	if resp, _ := get("guest", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad password: %d", resp.StatusCode)
	}
	waitFor(t, 5e9, "disk bytes", func() bool {
		_, qs := get("guest", "guest")
		for _, q := range qs {
			if q["name"] == "disk" {
				return q["messages_ready"] == 1.0 && q["disk_bytes"].(float64) >= 4096
			}
		}
		return false
	})
}
