package conformance

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// TestFlowHoldsPublisherToConsumerPace: a publisher much faster than the
// consumer of its queue is slowed down once 200 messages wait, instead of
// growing the queue (broker/flow.go). Every message still arrives, in
// order. Without flow control the backlog here reaches thousands.
func TestFlowHoldsPublisherToConsumerPace(t *testing.T) {
	const n, limit = 4000, 200
	b := brokertest.New(t, func(c *server.Config) { c.QueueFlowMessages = limit })
	pubConn := amqpDial(t, b)
	defer pubConn.Close()
	consConn := amqpDial(t, b)
	defer consConn.Close()
	pch := amqpChan(t, pubConn)
	declareQ(t, pch, "flow", nil)

	cch := amqpChan(t, consConn)
	must(t, cch.Qos(20, 0, false), "qos")
	ds := consume(t, cch, "flow", "slow", false, nil)
	got := slowConsumer(ds, n)

	// Watch the depth from a third connection while publishing.
	watch := amqpDial(t, b)
	defer watch.Close()
	var maxDepth atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ctx.Err() == nil {
			if d := int64(messageCount(t, watch, "flow")); d > maxDepth.Load() {
				maxDepth.Store(d)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	body := make([]byte, 1024)
	for i := 0; i < n; i++ {
		copy(body, fmt.Sprintf("%-8d", i))
		pub(t, pch, "", "flow", amqp.Publishing{Body: body})
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	stop()
	<-watched
	// The limit plus what one read and the consumer's prefetch add.
	if d := maxDepth.Load(); d > 2*limit {
		t.Fatalf("queue depth reached %d with flow control at %d ready messages", d, limit)
	}
	t.Logf("max depth %d with limit %d", maxDepth.Load(), limit)
}

// TestFlowNeverHoldsConsumingConnection: a connection that consumes from
// the queue it publishes into is not held back (its acks are what drain
// the queue), nor is a publisher into a queue nobody consumes.
func TestFlowNeverHoldsConsumingConnection(t *testing.T) {
	const n, limit = 2000, 50
	b := brokertest.New(t, func(c *server.Config) { c.QueueFlowMessages = limit })
	conn := amqpDial(t, b)
	defer conn.Close()
	ch := amqpChan(t, conn)
	declareQ(t, ch, "backlog", nil)
	for i := 0; i < n; i++ {
		pubBody(t, ch, "", "backlog", "x")
	}
	waitCount(t, conn, "backlog", n)

	// Publishing and consuming on one connection: everything goes through.
	declareQ(t, ch, "self", nil)
	cch := amqpChan(t, conn)
	must(t, cch.Qos(10, 0, false), "qos")
	ds := consume(t, cch, "self", "me", false, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			pubBody(t, ch, "", "self", "y")
		}
	}()
	for i := 0; i < n; i++ {
		must(t, next(t, ds).Ack(false), "ack")
	}
	<-done
}

// TestFlowHoldsStompSender: STOMP SENDs into a queue drained by a slower
// (AMQP) consumer are held back the same way.
func TestFlowHoldsStompSender(t *testing.T) {
	const n, limit = 3000, 200
	b := brokertest.New(t, func(c *server.Config) { c.QueueFlowMessages = limit })
	sc := stompDial(t, b)
	defer sc.Disconnect()
	consConn := amqpDial(t, b)
	defer consConn.Close()
	cch := amqpChan(t, consConn)
	// STOMP's /queue/sflow is a durable queue.
	_, err := cch.QueueDeclare("sflow", true, false, false, false, nil)
	must(t, err, "declare")
	must(t, cch.Qos(20, 0, false), "qos")
	ds := consume(t, cch, "sflow", "slow", false, nil)
	got := slowConsumer(ds, n)
	watch := amqpDial(t, b)
	defer watch.Close()
	maxDepth := 0
	for i := 0; i < n; i++ {
		body := make([]byte, 1024) // go-stomp writes it later, from its own goroutine
		copy(body, fmt.Sprintf("%-8d", i))
		must(t, sc.Send("/queue/sflow", "application/octet-stream", body), "send")
		if i%100 == 0 {
			maxDepth = max(maxDepth, messageCount(t, watch, "sflow"))
		}
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if maxDepth > 2*limit {
		t.Fatalf("queue depth reached %d with flow control at %d ready messages", maxDepth, limit)
	}
}

// slowConsumer takes n deliveries whose bodies start with their index
// ("%-8d"), checks their order, acks each and pauses a millisecond every
// 50: a consumer slower than a publisher that never waits. The channel
// says how it ended.
func slowConsumer(ds <-chan amqp.Delivery, n int) <-chan error {
	got := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			var d amqp.Delivery
			select {
			case d = <-ds:
			case <-time.After(30 * time.Second):
				got <- fmt.Errorf("message %d never came", i)
				return
			}
			if want := fmt.Sprintf("%-8d", i); len(d.Body) < 8 || string(d.Body[:8]) != want {
				got <- fmt.Errorf("message %d: body %.10q", i, d.Body)
				return
			}
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
			if err := d.Ack(false); err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}()
	return got
}
