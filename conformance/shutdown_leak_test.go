package conformance

import (
	"fmt"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
	"go.uber.org/goleak"
)

// TestShutdownLeavesNoGoroutine: every goroutine the broker starts has an
// owner that stops and joins it — adapters, then the broker's queues
// (timers, read-ahead), then storage (compaction, the log's writer) — so a
// shutdown leaves nothing running (issue #12). The broker is put through
// paging, leases, delays, TTLs and a delayed exchange first, so that each
// kind of goroutine exists.
func TestShutdownLeavesNoGoroutine(t *testing.T) {
	// Goroutines of other tests in this package (and the runtime's) are
	// not this broker's.
	before := goleak.IgnoreCurrent()
	b := brokertest.New(t, func(c *server.Config) { c.QueueResidentBytes = 1 })
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "paged", amqp.Table{"x-visibility-timeout": int32(60000)})
	declareQ(t, ch, "ttl", amqp.Table{"x-message-ttl": int32(60000), "x-expires": int32(60000)})
	declareQ(t, ch, "delayed", amqp.Table{"x-delivery-delay": int32(60000)})
	must(t, ch.ExchangeDeclare("dx", "x-delayed-message", true, false, false, false, amqp.Table{"x-delayed-type": "direct"}), "declare dx")
	must(t, ch.QueueBind("paged", "k", "dx", false, nil), "bind")
	for i := 0; i < 50; i++ {
		for _, q := range []string{"paged", "ttl", "delayed"} {
			pub(t, ch, "", q, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprint(q, i))})
		}
		pub(t, ch, "dx", "k", amqp.Publishing{DeliveryMode: amqp.Persistent, Headers: amqp.Table{"x-delay": int32(60000)}, Body: []byte("later")})
	}
	ds := consume(t, ch, "paged", "c", false, nil)
	for i := 0; i < 10; i++ {
		next(t, ds) // leased and left unacked
	}
	sc := stompDial(t, b)
	b.Stop(t)
	conn.Close()
	_ = sc.MustDisconnect()
	if err := goleak.Find(before); err != nil {
		t.Fatal(err)
	}
}
