package conformance

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

var pagingCount = flag.Int("paging.count", 4000, "messages in the paging tests' backlogs")

// queueStats reads one queue's line of GET /api/queues.
func queueStats(t *testing.T, b *brokertest.Broker, name string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+b.HTTPAddr()+"/api/queues", nil)
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	mustOK(t, err)
	defer resp.Body.Close()
	var qs []map[string]any
	mustOK(t, json.NewDecoder(resp.Body).Decode(&qs))
	for _, q := range qs {
		if q["name"] == name {
			out := map[string]float64{}
			for k, v := range q {
				if f, ok := v.(float64); ok {
					out[k] = f
				}
			}
			return out
		}
	}
	t.Fatalf("queue %s not listed", name)
	return nil
}

// smallResident makes queues page out past 64 KiB of ready bodies.
func smallResident(c *server.Config) { c.QueueResidentBytes = 64 << 10 }

// pagingBody is message i's body: 1 KiB that names i.
func pagingBody(i int) []byte {
	b := make([]byte, 1024)
	copy(b, fmt.Sprintf("message %08d ", i))
	for k := 20; k < len(b); k++ {
		b[k] = byte(i + k)
	}
	return b
}

// publishConfirmed publishes n messages of pagingBody with confirms.
func publishConfirmed(t *testing.T, ch *amqp.Channel, queue string, n int, mode uint8) {
	t.Helper()
	mustOK(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, n))
	for i := 0; i < n; i++ {
		mustOK(t, ch.PublishWithContext(context.Background(), "", queue, false, false,
			amqp.Publishing{DeliveryMode: mode, Body: pagingBody(i), MessageId: fmt.Sprint(i)}))
	}
	for i := 0; i < n; i++ {
		if c := nextConfirm(t, confirms); !c.Ack {
			t.Fatalf("message %d nacked", c.DeliveryTag)
		}
	}
}

// drainInOrder consumes n messages and checks each body and id, in order.
func drainInOrder(t *testing.T, ch *amqp.Channel, queue string, n int, redelivered bool) {
	t.Helper()
	mustOK(t, ch.Qos(200, 0, false))
	ds, err := ch.Consume(queue, "", false, false, false, false, nil)
	mustOK(t, err)
	for i := 0; i < n; i++ {
		var d amqp.Delivery
		select {
		case d = <-ds:
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d of %d did not come", i, n)
		}
		if d.MessageId != fmt.Sprint(i) || string(d.Body) != string(pagingBody(i)) {
			t.Fatalf("message %d: got id %q, body %.20q", i, d.MessageId, d.Body)
		}
		if d.Redelivered != redelivered {
			t.Fatalf("message %d: redelivered %v", i, d.Redelivered)
		}
		mustOK(t, d.Ack(false))
	}
}

// TestPagingPersistentBacklogStaysOnDisk publishes a persistent backlog far
// larger than the queue's resident limit: past the limit the bodies leave
// memory at once, they come back in order and intact, also after a restart
// that must not read the backlog into memory either.
func TestPagingPersistentBacklogStaysOnDisk(t *testing.T) {
	n := *pagingCount
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir), smallResident)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("backlog", true, false, false, false, nil)
	mustOK(t, err)
	publishConfirmed(t, ch, "backlog", n, amqp.Persistent)

	st := queueStats(t, b, "backlog")
	if st["messages_ready"] != float64(n) {
		t.Fatalf("ready %v, want %d", st["messages_ready"], n)
	}
	if st["memory_body_bytes"] > 65<<10 || st["messages_paged_out"] < float64(n-70) {
		t.Fatalf("backlog not paged out: %v", st)
	}
	// Half of it now, in order, from disk.
	drainHalf := n / 2
	ch2 := amqpChan(t, conn)
	mustOK(t, ch2.Qos(100, 0, false))
	for i := 0; i < drainHalf; i++ {
		d := getOne(t, ch2, "backlog", false)
		if string(d.Body) != string(pagingBody(i)) {
			t.Fatalf("message %d: body %.20q", i, d.Body)
		}
		mustOK(t, d.Ack(false))
	}
	conn.Close()
	b.Stop(t)

	b = brokertest.New(t, brokertest.WithDataDir(dir), smallResident)
	st = queueStats(t, b, "backlog")
	if st["messages_ready"] != float64(n-drainHalf) || st["memory_body_bytes"] > 65<<10 {
		t.Fatalf("after restart: %v", st)
	}
	conn = amqpDial(t, b)
	defer conn.Close()
	ch = amqpChan(t, conn)
	mustOK(t, ch.Qos(200, 0, false))
	ds, err := ch.Consume("backlog", "", false, false, false, false, nil)
	mustOK(t, err)
	for i := drainHalf; i < n; i++ {
		d := next(t, ds)
		if string(d.Body) != string(pagingBody(i)) || d.MessageId != fmt.Sprint(i) {
			t.Fatalf("after restart, message %d: id %q body %.20q", i, d.MessageId, d.Body)
		}
		mustOK(t, d.Ack(false))
	}
	eventually(t, "queue empty", func() bool { return queueStats(t, b, "backlog")["messages_ready"] == 0 })
	// Most of the backlog was read back by the read-ahead, off the
	// queue's lock.
	st = queueStats(t, b, "backlog")
	t.Logf("paged reads: %v ahead, %v inline", st["paged_reads_ahead"], st["paged_reads_inline"])
	if st["paged_reads_ahead"] == 0 {
		t.Fatalf("no read-ahead: %v", st)
	}
}

// TestPagingTransientUnderMemoryPressure: under memory pressure a long
// queue of transient messages is paged out too (the part already in memory
// as well as what arrives), and is delivered intact; after a restart the
// spilled transient messages are gone, as transient messages must be.
func TestPagingTransientUnderMemoryPressure(t *testing.T) {
	n := *pagingCount
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir), smallResident)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("transient-backlog", true, false, false, false, nil)
	mustOK(t, err)
	publishConfirmed(t, ch, "transient-backlog", n/2, amqp.Transient)
	if st := queueStats(t, b, "transient-backlog"); st["messages_paged_out"] != 0 {
		t.Fatalf("transient messages paged out without memory pressure: %v", st)
	}
	b.Broker.SetMemoryPressure(true)
	if st := queueStats(t, b, "transient-backlog"); st["memory_body_bytes"] > 65<<10 {
		t.Fatalf("the resident backlog was not paged out under pressure: %v", st)
	}
	// What arrives under pressure goes out too.
	for i := n / 2; i < n; i++ {
		mustOK(t, ch.PublishWithContext(context.Background(), "", "transient-backlog", false, false,
			amqp.Publishing{DeliveryMode: amqp.Transient, Body: pagingBody(i), MessageId: fmt.Sprint(i)}))
	}
	waitCount(t, conn, "transient-backlog", n)
	st := queueStats(t, b, "transient-backlog")
	if st["memory_body_bytes"] > 65<<10 || st["messages_paged_out"] < float64(n-70) {
		t.Fatalf("transient backlog under pressure: %v", st)
	}
	drainInOrder(t, amqpChan(t, conn), "transient-backlog", n/2, false)
	b.Broker.SetMemoryPressure(false)
	conn.Close()
	b.Stop(t)

	b = brokertest.New(t, brokertest.WithDataDir(dir), smallResident)
	if st := queueStats(t, b, "transient-backlog"); st["messages_ready"] != 0 {
		t.Fatalf("spilled transient messages came back after a restart: %v", st)
	}
}

// TestPagingDeadLettersPagedMessages: a paged-out message that expires or
// is rejected is read back for its dead-letter exchange.
func TestPagingDeadLettersPagedMessages(t *testing.T) {
	b := brokertest.New(t, smallResident)
	conn := amqpDial(t, b)
	defer conn.Close()
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("dlq", true, false, false, false, nil)
	mustOK(t, err)
	_, err = ch.QueueDeclare("expiring", true, false, false, false, amqp.Table{
		"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq", "x-message-ttl": int32(300)})
	mustOK(t, err)
	const n = 300
	publishConfirmed(t, ch, "expiring", n, amqp.Persistent)
	waitCount(t, conn, "dlq", n)
	ds := consume(t, amqpChan(t, conn), "dlq", "", false, nil)
	for i := 0; i < n; i++ {
		d := next(t, ds)
		if string(d.Body) != string(pagingBody(i)) {
			t.Fatalf("dead letter %d: body %.20q", i, d.Body)
		}
		if deaths, _ := d.Headers["x-death"].([]any); len(deaths) != 1 {
			t.Fatalf("dead letter %d: x-death %v", i, d.Headers["x-death"])
		}
		mustOK(t, d.Ack(false))
	}
}

// TestPagingFollowsMemoryPagingPercent: the memory monitor turns paging
// of transient messages on once the process passes memory-paging-percent
// of the memory limit (here 1% of 1 GiB, which any test process passes).
func TestPagingFollowsMemoryPagingPercent(t *testing.T) {
	// 1% of 1 GiB is ~10 MiB; a test process alone may use less, so
	// 32 MiB of ballast makes sure it does not.
	ballast := make([]byte, 32<<20)
	defer runtime.KeepAlive(ballast)
	b := brokertest.New(t, smallResident, func(c *server.Config) {
		c.MemoryLimit = 1 << 30
		c.MemoryPagingPercent = 1
	})
	eventually(t, "memory pressure", b.Broker.MemoryPressure)
	conn := amqpDial(t, b)
	defer conn.Close()
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("pressured", false, false, false, false, nil)
	mustOK(t, err)
	publishConfirmed(t, ch, "pressured", 500, amqp.Transient)
	if st := queueStats(t, b, "pressured"); st["messages_paged_out"] < 400 {
		t.Fatalf("transient messages stayed in memory under pressure: %v", st)
	}
	drainInOrder(t, ch, "pressured", 500, false)
}

// TestPagingDelayedBacklog: delayed persistent messages past the resident
// limit wait on disk too, and come back intact, in order, once due.
func TestPagingDelayedBacklog(t *testing.T) {
	b := brokertest.New(t, smallResident)
	conn := amqpDial(t, b)
	defer conn.Close()
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("delayed-backlog", true, false, false, false, amqp.Table{"x-delivery-delay": int32(1500)})
	mustOK(t, err)
	const n = 1000
	publishConfirmed(t, ch, "delayed-backlog", n, amqp.Persistent)
	if st := queueStats(t, b, "delayed-backlog"); st["memory_delayed_body_bytes"] > 65<<10 || st["messages_ready"] != 0 {
		t.Fatalf("delayed backlog held in memory (or not delayed): %v", st)
	}
	drainInOrder(t, amqpChan(t, conn), "delayed-backlog", n, false)
}
