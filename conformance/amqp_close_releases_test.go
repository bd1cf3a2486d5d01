package conformance

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestConnectionCloseOkAfterConsumersAreGone: connection.close-ok comes
// once the connection's consumers are cancelled and its unacked messages
// are back, as RabbitMQ's reader closes every channel before it answers.
// A client that reconnects the moment Close returns and consumes
// exclusively again must not find its old consumer still there
// (amqp091-go's ExampleConnection_reconnect did: "in exclusive use").
func TestConnectionCloseOkAfterConsumersAreGone(t *testing.T) {
	b, _, ch := amqpSetup(t)
	declareQ(t, ch, "reconnect", nil)
	for i := 0; i < 30; i++ {
		pubBody(t, ch, "", "reconnect", "m")
		conn := amqpDial(t, b)
		c := amqpChan(t, conn)
		must(t, c.Qos(1, 0, false), "qos")
		ds, err := c.Consume("reconnect", "", false, true, false, false, nil)
		must(t, err, "consume")
		d := next(t, ds)
		if i%2 == 0 {
			must(t, d.Ack(false), "ack") // else it goes back with the close
		}
		must(t, conn.Close(), "close")
		// The moment Close returned: the old consumer must be gone.
		conn2 := amqpDial(t, b)
		c2 := amqpChan(t, conn2)
		if _, err := c2.Consume("reconnect", "", false, true, false, false, nil); err != nil {
			t.Fatalf("round %d: exclusive consume right after the close: %v", i, err)
		}
		conn2.Close()
	}
	q, err := ch.QueueDeclarePassive("reconnect", false, false, false, false, nil)
	must(t, err, "passive")
	if q.Messages != 15 {
		t.Fatalf("%d messages left, want the 15 not acked", q.Messages)
	}

	// Many unacked messages take a while to go back: all of them are back
	// when Close returns, seen at once from a connection already open.
	const n = 20000
	declareQ(t, ch, "many", nil)
	for i := 0; i < n; i++ {
		must(t, ch.Publish("", "many", false, false, amqp.Publishing{Body: []byte("x")}), "publish")
	}
	conn := amqpDial(t, b)
	c := amqpChan(t, conn)
	ds, err := c.Consume("many", "", false, true, false, false, nil)
	must(t, err, "consume")
	for i := 0; i < n; i++ {
		next(t, ds)
	}
	must(t, conn.Close(), "close")
	q, err = ch.QueueDeclarePassive("many", false, false, false, false, nil)
	must(t, err, "passive")
	if q.Messages != n || q.Consumers != 0 {
		t.Fatalf("right after the close: %d messages ready and %d consumers, want %d and 0", q.Messages, q.Consumers, n)
	}
}
