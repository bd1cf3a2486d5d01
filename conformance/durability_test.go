package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestDurableMessagesAndTopologySurviveRestart publishes persistent
// messages with confirms, consumes some, restarts the broker on the same
// data and checks what is left, in order, with redelivered where due.
func TestDurableMessagesAndTopologySurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir))
	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := conn.Channel()
	mustOK(t, ch.ExchangeDeclare("orders", "topic", true, false, false, false, nil))
	_, err = ch.QueueDeclare("durable-q", true, false, false, false, amqp.Table{"x-max-length": int32(100)})
	mustOK(t, err)
	_, err = ch.QueueDeclare("transient-q", false, false, false, false, nil)
	mustOK(t, err)
	mustOK(t, ch.QueueBind("durable-q", "order.#", "orders", false, nil))
	mustOK(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 20))
	for i := 0; i < 10; i++ {
		mode := amqp.Persistent
		if i == 9 {
			mode = amqp.Transient // transient messages do not survive
		}
		mustOK(t, ch.PublishWithContext(context.Background(), "orders", "order.new", false, false,
			amqp.Publishing{DeliveryMode: mode, Body: []byte(fmt.Sprint("m", i)), Headers: amqp.Table{"i": int32(i)}}))
	}
	for i := 0; i < 10; i++ {
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatalf("nack for %d", c.DeliveryTag)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no confirm")
		}
	}
	// Ack m0 and m1; take m2 and m3 without acking (delivered, unacked).
	for i := 0; i < 4; i++ {
		d, ok, err := ch.Get("durable-q", false)
		if err != nil || !ok {
			t.Fatalf("get %d: %v %v", i, ok, err)
		}
		if i < 2 {
			mustOK(t, d.Ack(false))
		}
	}
	conn.Close()
	b.Stop(t)

	b2 := brokertest.New(t, brokertest.WithDataDir(dir))
	conn2, err := amqp.Dial(b2.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	ch2, _ := conn2.Channel()
	q, err := ch2.QueueDeclarePassive("durable-q", true, false, false, false, amqp.Table{"x-max-length": int32(100)})
	if err != nil {
		t.Fatalf("durable queue lost: %v", err)
	}
	if q.Messages != 7 {
		t.Fatalf("recovered %d messages, want 7 (m2..m8)", q.Messages)
	}
	for i := 2; i <= 8; i++ {
		d, ok, err := ch2.Get("durable-q", true)
		if err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		want := fmt.Sprint("m", i)
		if string(d.Body) != want || d.Headers["i"] != int32(i) || d.Exchange != "orders" || d.RoutingKey != "order.new" {
			t.Fatalf("got %s %v %s/%s, want %s", d.Body, d.Headers, d.Exchange, d.RoutingKey, want)
		}
		if d.Redelivered != (i == 2 || i == 3) {
			t.Fatalf("%s redelivered=%v", want, d.Redelivered)
		}
	}
	// The durable exchange and binding came back; the transient queue did not.
	if _, err := ch2.QueueDeclarePassive("transient-q", false, false, false, false, nil); err == nil {
		t.Fatal("transient queue survived a restart")
	}
	ch3, _ := conn2.Channel()
	mustOK(t, ch3.PublishWithContext(context.Background(), "orders", "order.again", false, false, amqp.Publishing{Body: []byte("again")}))
	waitFor(t, 5*time.Second, "routing through the restored binding", func() bool {
		q, err := ch3.QueueDeclarePassive("durable-q", true, false, false, false, amqp.Table{"x-max-length": int32(100)})
		return err == nil && q.Messages == 1
	})
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
