package conformance

import (
	"fmt"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/brokertest"
)

// pickOneWhere publishes each (key, publishing) through x with confirms and
// reports which of queues each message landed in, draining them after.
func pickOneWhere(t *testing.T, ch *amqp.Channel, x string, queues []string, pubs []amqp.Publishing, keys []string) []string {
	t.Helper()
	for i, p := range pubs {
		p.MessageId = fmt.Sprint(i) + "/" + p.MessageId
		if !qsPubAck(t, ch, x, keys[i], p) {
			t.Fatalf("publish %d nacked", i)
		}
	}
	where := make([]string, len(pubs))
	got := 0
	for _, q := range queues {
		for {
			d, ok, err := ch.Get(q, true)
			if err != nil {
				t.Fatalf("get %s: %v", q, err)
			}
			if !ok {
				break
			}
			var i int
			if _, err := fmt.Sscanf(d.MessageId, "%d/", &i); err != nil || i < 0 || i >= len(pubs) {
				t.Fatalf("message id %q", d.MessageId)
			}
			if where[i] != "" {
				t.Fatalf("message %d (key %q) in both %s and %s", i, keys[i], where[i], q)
			}
			where[i] = q
			got++
		}
	}
	if got != len(pubs) {
		t.Fatalf("%d of %d messages routed, want every one to exactly one queue", got, len(pubs))
	}
	return where
}

// The x-consistent-hash exchange (rabbitmq_consistent_hash_exchange, which
// ships with RabbitMQ): a binding key is a weight, every message goes to
// exactly one destination, the same key always to the same one, shares
// follow the weights, and unbinding one destination does not move the
// messages of the others.
func TestConsistentHashExchange(t *testing.T) {
	b := brokertest.New(t)
	conn := qsDial(t, b.AMQPURL())
	ch := qsConfirmChan(t, conn)
	if err := ch.ExchangeDeclare("chx", "x-consistent-hash", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	queues := []string{"chx.a", "chx.b", "chx.c"}
	for i, q := range queues {
		qsDeclare(t, ch, q, false, nil)
		if err := ch.QueueBind(q, []string{"1", "2", "1"}[i], "chx", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	const n = 2000
	keys := make([]string, n)
	pubs := make([]amqp.Publishing, n)
	for i := range keys {
		keys[i] = fmt.Sprint("order-", i%500) // every key four times
	}
	where := pickOneWhere(t, ch, "chx", queues, pubs, keys)
	count := map[string]int{}
	first := map[string]string{}
	for i, q := range where {
		count[q]++
		if f, seen := first[keys[i]]; seen && f != q {
			t.Fatalf("key %q went to %s and to %s", keys[i], f, q)
		}
		first[keys[i]] = q
	}
	// Weights 1:2:1 over 500 keys: b about 1000 messages, a and c about 500.
	if count["chx.a"] < 250 || count["chx.c"] < 250 || count["chx.b"] < 700 ||
		count["chx.b"] < count["chx.a"] || count["chx.b"] < count["chx.c"] {
		t.Fatalf("shares %v, want about 500/1000/500 for weights 1/2/1", count)
	}

	// CC and BCC add routing keys; the exchange still hashes the
	// publish's own key and sends one copy.
	ccPubs := make([]amqp.Publishing, 50)
	for i := range ccPubs {
		ccPubs[i].Headers = amqp.Table{"CC": []any{"cc-1", "cc-2"}, "BCC": []any{"bcc-1"}}
	}
	ccWhere := pickOneWhere(t, ch, "chx", queues, ccPubs, keys[:50])
	for i, q := range ccWhere {
		if q != where[i] {
			t.Fatalf("key %q with CC went to %s, without to %s", keys[i], q, where[i])
		}
	}

	// Unbinding b moves only b's keys: a's keys stay in a.
	if err := ch.QueueUnbind("chx.b", "2", "chx", nil); err != nil {
		t.Fatal(err)
	}
	where2 := pickOneWhere(t, ch, "chx", queues, pubs, keys)
	for i, q := range where2 {
		if q == "chx.b" {
			t.Fatalf("key %q still went to the unbound chx.b", keys[i])
		}
		if where[i] == "chx.a" && q != "chx.a" {
			t.Fatalf("key %q moved from chx.a to %s when chx.b was unbound", keys[i], q)
		}
	}

	// A binding key that is not a weight is refused as the plugin refuses it.
	for _, c := range []struct{ key, text string }{
		{"abc", `PRECONDITION_FAILED - The binding key must be an integer: <<"abc">>`},
		{"", `PRECONDITION_FAILED - The binding key must be an integer: <<>>`},
		{"0", "PRECONDITION_FAILED - The binding key must be greater than 0"},
		{"10001", "PRECONDITION_FAILED - The binding key must not exceed 10000"},
		{"99999999999999999999999", "PRECONDITION_FAILED - The binding key must not exceed 10000"},
	} {
		ch = qsChan(t, conn)
		err := ch.QueueBind("chx.a", c.key, "chx", false, nil)
		qsAMQPError(t, err, amqp.PreconditionFailed, c.text)
	}
}

// hash-header and hash-property choose what is hashed; the plugin's
// argument checks answer 406 on exchange.declare.
func TestConsistentHashExchangeHashOn(t *testing.T) {
	b := brokertest.New(t)
	conn := qsDial(t, b.AMQPURL())
	for _, c := range []struct {
		args amqp.Table
		text string
	}{
		{amqp.Table{"hash-property": "priority"}, "PRECONDITION_FAILED - Unsupported property: priority"},
		{amqp.Table{"hash-header": "h", "hash-property": "message_id"}, "PRECONDITION_FAILED - hash-header and hash-property are mutually exclusive"},
	} {
		ch := qsChan(t, conn)
		err := ch.ExchangeDeclare("chx.bad", "x-consistent-hash", false, false, false, false, c.args)
		qsAMQPError(t, err, amqp.PreconditionFailed, c.text)
	}

	ch := qsConfirmChan(t, conn)
	queues := []string{"chh.a", "chh.b", "chh.c", "chh.d"}
	for _, x := range []struct {
		name string
		args amqp.Table
		set  func(p *amqp.Publishing, v string)
	}{
		{"chx.header", amqp.Table{"hash-header": "customer"}, func(p *amqp.Publishing, v string) { p.Headers = amqp.Table{"customer": v} }},
		{"chx.correlation", amqp.Table{"hash-property": "correlation_id"}, func(p *amqp.Publishing, v string) { p.CorrelationId = v }},
	} {
		if err := ch.ExchangeDeclare(x.name, "x-consistent-hash", false, false, false, false, x.args); err != nil {
			t.Fatal(err)
		}
		for _, q := range queues {
			qsDeclare(t, ch, q, false, nil)
			if err := ch.QueueBind(q, "3", x.name, false, nil); err != nil {
				t.Fatal(err)
			}
		}
		// The routing key varies; the hashed value decides alone.
		const n = 400
		keys := make([]string, n)
		pubs := make([]amqp.Publishing, n)
		for i := range pubs {
			keys[i] = fmt.Sprint("rk", i)
			x.set(&pubs[i], fmt.Sprint("v", i%40))
		}
		where := pickOneWhere(t, ch, x.name, queues, pubs, keys)
		first := map[int]string{}
		used := map[string]bool{}
		for i, q := range where {
			used[q] = true
			if f, seen := first[i%40]; seen && f != q {
				t.Fatalf("%s: value v%d went to %s and to %s", x.name, i%40, f, q)
			}
			first[i%40] = q
		}
		if len(used) < 2 {
			t.Fatalf("%s: 40 values all went to %v", x.name, used)
		}
		for _, q := range queues {
			if err := ch.QueueUnbind(q, "3", x.name, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// RabbitMQ 4's x-local-random exchange: each message goes to one of the
// bound queues at random; bindings have an empty key and a classic queue.
func TestLocalRandomExchange(t *testing.T) {
	b := brokertest.New(t)
	conn := qsDial(t, b.AMQPURL())
	ch := qsConfirmChan(t, conn)
	if err := ch.ExchangeDeclare("lrx", "x-local-random", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	queues := []string{"lrx.a", "lrx.b", "lrx.c"}
	for _, q := range queues {
		qsDeclare(t, ch, q, false, nil)
		if err := ch.QueueBind(q, "", "lrx", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	const n = 300
	keys := make([]string, n)
	pubs := make([]amqp.Publishing, n)
	for i := range keys {
		keys[i] = fmt.Sprint("ignored-", i)
	}
	// CC adds routing keys; the exchange still picks one queue.
	pubs[0].Headers = amqp.Table{"CC": []any{"x", "y"}}
	where := pickOneWhere(t, ch, "lrx", queues, pubs, keys)
	count := map[string]int{}
	for _, q := range where {
		count[q]++
	}
	for _, q := range queues {
		if count[q] == 0 {
			t.Fatalf("%v: %s got none of %d messages", count, q, n)
		}
	}

	for _, c := range []struct {
		queue, key string
		args       amqp.Table
		text       string
	}{
		{"lrx.a", "k", nil, "PRECONDITION_FAILED - Non empty binding 'k' key not permitted"},
		{"lrx.quorum", "", amqp.Table{"x-queue-type": "quorum"}, "PRECONDITION_FAILED - Queue type rabbit_quorum_queue not valid for this exchange type"},
	} {
		ch = qsChan(t, conn)
		if c.args != nil {
			if _, err := ch.QueueDeclare(c.queue, true, false, false, false, c.args); err != nil {
				t.Fatal(err)
			}
		}
		err := ch.QueueBind(c.queue, c.key, "lrx", false, nil)
		qsAMQPError(t, err, amqp.PreconditionFailed, c.text)
	}
	ch = qsChan(t, conn)
	if err := ch.ExchangeDeclare("lrx.dest", "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	err := ch.ExchangeBind("lrx.dest", "", "lrx", false, nil)
	qsAMQPError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - Destination not found")
}

// A consistent-hash exchange's keys keep their destinations across a
// restart: the ring is rebuilt in the order the bindings were made, not in
// whatever order the saved topology lists them.
func TestConsistentHashExchangeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := qsBrokerOn(t, dir)
	conn := qsDial(t, b.AMQPURL())
	ch := qsConfirmChan(t, conn)
	if err := ch.ExchangeDeclare("chx.d", "x-consistent-hash", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	var queues []string
	for i := 0; i < 6; i++ {
		q := fmt.Sprint("chx.d.", i)
		queues = append(queues, q)
		qsDeclare(t, ch, q, true, nil)
		if err := ch.QueueBind(q, fmt.Sprint(1+i%3), "chx.d", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	const n = 300
	keys := make([]string, n)
	pubs := make([]amqp.Publishing, n)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	before := pickOneWhere(t, ch, "chx.d", queues, pubs, keys)
	conn.Close()
	b.Stop(t)

	b2 := qsBrokerOn(t, dir)
	ch2 := qsConfirmChan(t, qsDial(t, b2.AMQPURL()))
	after := pickOneWhere(t, ch2, "chx.d", queues, pubs, keys)
	for i := range keys {
		if before[i] != after[i] {
			t.Fatalf("key %q went to %s before the restart and to %s after", keys[i], before[i], after[i])
		}
	}
}
