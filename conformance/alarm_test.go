package conformance

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// TestAlarmBlocksPublishersAndLetsConsumersDrain raises the memory alarm
// the way the resource monitor does: AMQP publishers get connection.blocked
// and their publishes wait, consumers keep draining, and when the alarm
// clears connection.unblocked arrives and the held publish goes through.
func TestAlarmBlocksPublishersAndLetsConsumersDrain(t *testing.T) {
	b := brokertest.New(t)
	pub, err := amqp.Dial(b.AMQPURL())
	mustOK(t, err)
	defer pub.Close()
	blocked := pub.NotifyBlocked(make(chan amqp.Blocking, 4))
	pch, _ := pub.Channel()
	_, err = pch.QueueDeclare("alarm", false, false, false, false, nil)
	mustOK(t, err)
	mustOK(t, pch.PublishWithContext(context.Background(), "", "alarm", false, false, amqp.Publishing{Body: []byte("before")}))
	waitFor(t, 5*time.Second, "the first publish", func() bool {
		q, ok := b.Broker.VHost("/")
		if !ok {
			return false
		}
		qq, ok := q.Queue("alarm")
		return ok && qq.Info().Messages == 1
	})

	b.Broker.Alarms.Set("memory", true)
	// As in RabbitMQ, the connection is blocked (and told) when it
	// publishes during the alarm; amqp091-go does not hold the publish
	// itself, the broker stops reading.
	mustOK(t, pch.PublishWithContext(context.Background(), "", "alarm", false, false, amqp.Publishing{Body: []byte("during")}))
	select {
	case bl := <-blocked:
		if !bl.Active || bl.Reason != "low on memory" {
			t.Fatalf("got %+v", bl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.blocked")
	}

	con, err := amqp.Dial(b.AMQPURL())
	mustOK(t, err)
	defer con.Close()
	cch, _ := con.Channel()
	d, ok, err := cch.Get("alarm", true)
	if err != nil || !ok || string(d.Body) != "before" {
		t.Fatalf("consumer could not drain during the alarm: %v %v", ok, err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok, _ := cch.Get("alarm", true); ok {
		t.Fatal("a publish got through while blocked")
	}

	b.Broker.Alarms.Set("memory", false)
	select {
	case bl := <-blocked:
		if bl.Active {
			t.Fatalf("got %+v", bl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.unblocked")
	}
	waitFor(t, 5*time.Second, "the held publish", func() bool {
		d, ok, _ := cch.Get("alarm", true)
		return ok && string(d.Body) == "during"
	})
}

// TestMemoryWatermarkRaisesAlarm sets a watermark the broker is already
// above and expects the monitor to block publishers.
func TestMemoryWatermarkRaisesAlarm(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MemoryLimit = 1 })
	conn, err := amqp.Dial(b.AMQPURL())
	mustOK(t, err)
	// A blocked connection is not read, so its close-ok never comes: do
	// not wait long for it.
	defer conn.CloseDeadline(time.Now().Add(100 * time.Millisecond))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	waitFor(t, 10*time.Second, "the memory alarm", func() bool { return b.Broker.Alarms.Reason() == "memory" })
	ch, err := conn.Channel()
	mustOK(t, err)
	mustOK(t, ch.PublishWithContext(context.Background(), "", "nowhere", false, false, amqp.Publishing{}))
	select {
	case bl := <-blocked:
		if !bl.Active {
			t.Fatalf("%+v", bl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.blocked")
	}
}
