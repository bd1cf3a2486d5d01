package conformance

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// Delivery semantics: TTL, confirms, redelivery, exclusive and auto-delete
// lifecycles, consumer cancel notifications, prefetch, consumer priority and
// single active consumer.

// TestAMQPQueueTTLGet: a message in an x-message-ttl queue that is fetched
// after its expiry is gone (amqp091-go's TestRabbitMQQueueTTLGet, which skips
// itself against sluice).
func TestAMQPQueueTTLGet(t *testing.T) {
	t.Parallel()
	_, _, ch := amqpSetup(t)
	declareQ(t, ch, "ttl", amqp.Table{"x-message-ttl": int32(100)})
	pubBody(t, ch, "", "ttl", "short-lived")
	start := time.Now()
	// Fetching right away may or may not beat the TTL on a slow machine; only
	// what is fetched after the expiry is asserted.
	time.Sleep(150 * time.Millisecond)
	d, ok, err := ch.Get("ttl", false)
	must(t, err, "get")
	if ok {
		t.Fatalf("message %q still there %v after publish with a 100 ms TTL", d.Body, time.Since(start))
	}
	// A fresh message is still delivered.
	pubBody(t, ch, "", "ttl", "fresh")
	_ = getOne(t, ch, "ttl", true)
}

func TestAMQPConfirmMultipleAcks(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "cma", nil)
	must(t, ch.Confirm(false), "confirm.select")
	const n = 2000
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, n))
	for i := 0; i < n; i++ {
		pubBody(t, ch, "", "cma", fmt.Sprint(i))
	}
	for i := 1; i <= n; i++ {
		c := nextConfirm(t, confirms)
		if c.DeliveryTag != uint64(i) || !c.Ack {
			t.Fatalf("confirm %d: %+v", i, c)
		}
	}
	select {
	case c := <-confirms:
		t.Fatalf("extra confirm %+v", c)
	default:
	}
	waitCount(t, conn, "cma", n)
}

// The wire form of confirms: a burst is acknowledged with multiple=true
// acks covering every sequence number exactly once.
func TestAMQPConfirmAckWire(t *testing.T) {
	_, _, ch := amqpSetup(t)
	declareQ(t, ch, "caw", nil)
	must(t, ch.Confirm(false), "confirm.select")
	acks, nacks := ch.NotifyConfirm(make(chan uint64, 500), make(chan uint64, 500))
	const n = 500
	for i := 0; i < n; i++ {
		pubBody(t, ch, "", "caw", "x")
	}
	// NotifyConfirm expands multiple acks; every tag arrives once, in order.
	for i := uint64(1); i <= n; i++ {
		select {
		case tag := <-acks:
			if tag != i {
				t.Fatalf("ack %d, want %d", tag, i)
			}
		case tag := <-nacks:
			t.Fatalf("nack %d", tag)
		case <-time.After(amqpWait):
			t.Fatalf("no ack for %d", i)
		}
	}
}

func TestAMQPConfirmNackRejectPublish(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "full", amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
	must(t, ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 4))
	pubBody(t, ch, "", "full", "1")
	pubBody(t, ch, "", "full", "2")
	pubBody(t, ch, "", "nowhere", "3")
	want := []bool{true, false, true}
	for i, ack := range want {
		c := nextConfirm(t, confirms)
		if c.DeliveryTag != uint64(i+1) || c.Ack != ack {
			t.Fatalf("confirm %d: %+v, want ack=%v", i+1, c, ack)
		}
	}
	if n := messageCount(t, conn, "full"); n != 1 {
		t.Fatalf("queue holds %d, want 1", n)
	}
	// Once there is room, publishes are accepted again.
	getOne(t, ch, "full", true)
	pubBody(t, ch, "", "full", "4")
	if c := nextConfirm(t, confirms); !c.Ack || c.DeliveryTag != 4 {
		t.Fatalf("confirm %+v", c)
	}
}

// dialDroppable connects through a socket the test can cut without a
// connection.close, as a crashed client or a network failure would.
func dialDroppable(t testing.TB, b *brokertest.Broker) (*amqp.Connection, func()) {
	t.Helper()
	var mu sync.Mutex
	var sock net.Conn
	conn := amqpDialConfig(t, b.AMQPURL(), amqp.Config{Dial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		mu.Lock()
		sock = c
		mu.Unlock()
		return c, err
	}})
	return conn, func() {
		mu.Lock()
		defer mu.Unlock()
		sock.Close()
	}
}

func TestAMQPRedeliveryAfterConnectionDrop(t *testing.T) {
	b := brokertest.New(t)
	conn, drop := dialDroppable(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "rd", nil)
	ds := consume(t, ch, "rd", "", false, nil)
	for i := 1; i <= 5; i++ {
		pubBody(t, ch, "", "rd", fmt.Sprint(i))
	}
	first := nextBodies(t, ds, 5)
	if fmt.Sprint(first) != "[1 2 3 4 5]" {
		t.Fatalf("first delivery order %v", first)
	}
	drop()

	conn2 := amqpDial(t, b)
	ch2 := amqpChan(t, conn2)
	ds2 := consume(t, ch2, "rd", "", false, nil)
	for i := 1; i <= 5; i++ {
		d := next(t, ds2)
		if string(d.Body) != fmt.Sprint(i) || !d.Redelivered {
			t.Fatalf("redelivery %d: %q redelivered=%v", i, d.Body, d.Redelivered)
		}
		must(t, d.Ack(false), "ack")
	}
	none(t, ds2)
}

func TestAMQPExclusiveQueueLifecycle(t *testing.T) {
	b := brokertest.New(t)
	owner := amqpDial(t, b)
	other := amqpDial(t, b)
	och := amqpChan(t, owner)
	_, err := och.QueueDeclare("excl", false, false, true, false, nil)
	must(t, err, "declare exclusive")
	locked := "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl' in vhost '/'. " +
		"It could be originally declared on another connection or the exclusive property value does not match that of the original declaration."

	for name, op := range map[string]func(*amqp.Channel) error{
		"declare": func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("excl", false, false, true, false, nil)
			return err
		},
		"passive declare": func(c *amqp.Channel) error {
			_, err := c.QueueDeclarePassive("excl", false, false, true, false, nil)
			return err
		},
		"consume": func(c *amqp.Channel) error {
			_, err := c.Consume("excl", "", true, false, false, false, nil)
			return err
		},
		"get": func(c *amqp.Channel) error {
			_, _, err := c.Get("excl", true)
			return err
		},
		"purge": func(c *amqp.Channel) error {
			_, err := c.QueuePurge("excl", false)
			return err
		},
		"delete": func(c *amqp.Channel) error {
			_, err := c.QueueDelete("excl", false, false, false)
			return err
		},
		"bind": func(c *amqp.Channel) error { return c.QueueBind("excl", "k", "amq.direct", false, nil) },
	} {
		c := amqpChan(t, other)
		err := op(c)
		if err == nil {
			t.Fatalf("%s from another connection succeeded", name)
		}
		wantAMQPError(t, err, 405, locked)
	}
	stillUsable(t, other)
	// The owner uses it freely; publishing to it from elsewhere is allowed.
	och2 := amqpChan(t, other)
	pubBody(t, och2, "", "excl", "from other")
	if d := getOne(t, och, "excl", true); string(d.Body) != "from other" {
		t.Fatalf("got %q", d.Body)
	}
	// It goes with its connection.
	must(t, owner.Close(), "close owner")
	eventually(t, "exclusive queue deleted", func() bool {
		// Until the owner's teardown finishes the queue is still locked.
		c := amqpChan(t, other)
		_, err := c.QueueDeclarePassive("excl", false, false, false, false, nil)
		if err == nil {
			t.Fatal("exclusive queue declared passively from another connection")
		}
		if ae, ok := err.(*amqp.Error); ok && ae.Code == 405 {
			return false
		}
		wantAMQPError(t, err, 404, "NOT_FOUND - no queue 'excl' in vhost '/'")
		return true
	})
	// And the name is free again.
	declareQ(t, amqpChan(t, other), "excl", nil)
}

func TestAMQPAutoDeleteQueue(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	_, err := ch.QueueDeclare("ad", false, true, false, false, nil)
	must(t, err, "declare auto-delete")
	// Not deleted before it had a consumer.
	pubBody(t, ch, "", "ad", "x")
	if !queueExists(t, conn, "ad") {
		t.Fatal("auto-delete queue gone before any consumer")
	}
	c1 := amqpChan(t, conn)
	c2 := amqpChan(t, conn)
	consume(t, c1, "ad", "one", true, nil)
	consume(t, c2, "ad", "two", true, nil)
	must(t, c1.Cancel("one", false), "cancel one")
	if !queueExists(t, conn, "ad") {
		t.Fatal("auto-delete queue gone while a consumer remains")
	}
	must(t, c2.Cancel("two", false), "cancel two")
	eventually(t, "auto-delete queue deleted", func() bool { return !queueExists(t, conn, "ad") })
}

func TestAMQPAutoDeleteExchange(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("adx", "direct", false, true, false, false, nil), "declare auto-delete exchange")
	q := declareQ(t, ch, "", nil)
	must(t, ch.QueueBind(q.Name, "a", "adx", false, nil), "bind a")
	must(t, ch.QueueBind(q.Name, "b", "adx", false, nil), "bind b")
	must(t, ch.QueueUnbind(q.Name, "a", "adx", nil), "unbind a")
	if !exchangeExists(t, conn, "adx") {
		t.Fatal("auto-delete exchange gone while bound")
	}
	must(t, ch.QueueUnbind(q.Name, "b", "adx", nil), "unbind b")
	if exchangeExists(t, conn, "adx") {
		t.Fatal("auto-delete exchange still there after its last unbind")
	}
	// Same through exchange-to-exchange bindings.
	must(t, ch.ExchangeDeclare("adx2", "fanout", false, true, false, false, nil), "declare")
	must(t, ch.ExchangeBind("amq.fanout", "", "adx2", false, nil), "e2e bind")
	must(t, ch.ExchangeUnbind("amq.fanout", "", "adx2", false, nil), "e2e unbind")
	if exchangeExists(t, conn, "adx2") {
		t.Fatal("auto-delete exchange still there after its last exchange unbind")
	}
}

func TestAMQPConsumerCancelNotify(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "ccn", nil)
	cancels := ch.NotifyCancel(make(chan string, 1))
	ds := consume(t, ch, "ccn", "watcher", false, nil)
	other := amqpChan(t, conn)
	_, err := other.QueueDelete("ccn", false, false, false)
	must(t, err, "delete")
	select {
	case tag := <-cancels:
		if tag != "watcher" {
			t.Fatalf("basic.cancel for %q", tag)
		}
	case <-time.After(amqpWait):
		t.Fatal("no basic.cancel from the server")
	}
	select {
	case _, ok := <-ds:
		if ok {
			t.Fatal("delivery after cancel")
		}
	case <-time.After(amqpWait):
		t.Fatal("deliveries not closed after the server's cancel")
	}
	// The channel stays open.
	declareQ(t, ch, "ccn2", nil)
}

func TestAMQPExclusiveConsumer(t *testing.T) {
	b := brokertest.New(t)
	c1 := amqpDial(t, b)
	c2 := amqpDial(t, b)
	ch1 := amqpChan(t, c1)
	declareQ(t, ch1, "exc", nil)
	_, err := ch1.Consume("exc", "first", false, true, false, false, nil)
	must(t, err, "exclusive consume")
	inUse := "ACCESS_REFUSED - queue 'exc' in vhost '/' in exclusive use"
	ch2 := amqpChan(t, c2)
	_, err = ch2.Consume("exc", "second", false, false, false, false, nil)
	wantAMQPError(t, err, 403, inUse)
	stillUsable(t, c2)

	// An exclusive consume while another consumer exists.
	ch3 := amqpChan(t, c2)
	declareQ(t, ch3, "exc2", nil)
	consume(t, ch3, "exc2", "plain", true, nil)
	ch4 := amqpChan(t, c1)
	_, err = ch4.Consume("exc2", "greedy", false, true, false, false, nil)
	wantAMQPError(t, err, 403, "ACCESS_REFUSED - queue 'exc2' in vhost '/' in exclusive use")

	// Once the exclusive consumer is gone others may consume.
	must(t, ch1.Cancel("first", false), "cancel")
	ch5 := amqpChan(t, c2)
	consume(t, ch5, "exc", "second", true, nil)
}

func TestAMQPDuplicateConsumerTag(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "dup", nil)
	consume(t, ch, "dup", "same", true, nil)
	notify := conn.NotifyClose(make(chan *amqp.Error, 1))
	_, err := ch.Consume("dup", "same", true, false, false, false, nil)
	if err == nil {
		t.Fatal("reused consumer tag accepted")
	}
	wantConnClosed(t, notify, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'same'")
}

func TestAMQPPrefetchUnderLoad(t *testing.T) {
	b, _, ch := amqpSetup(t)
	declareQ(t, ch, "pf", nil)
	must(t, ch.Qos(5, 0, false), "qos")
	ds := consume(t, ch, "pf", "", false, nil)

	const total = 1000
	go func() {
		pc, err := amqp.Dial(b.AMQPURL())
		if err != nil {
			return
		}
		defer pc.Close()
		pch, err := pc.Channel()
		if err != nil {
			return
		}
		for i := 0; i < total; i++ {
			if pch.Publish("", "pf", false, false, amqp.Publishing{Body: []byte(fmt.Sprint(i))}) != nil {
				return
			}
		}
	}()

	var held []amqp.Delivery
	received := 0
	for received < total {
		d := next(t, ds)
		received++
		if want := fmt.Sprint(received - 1); string(d.Body) != want {
			t.Fatalf("delivery %q, want %q", d.Body, want)
		}
		held = append(held, d)
		if len(held) > 5 {
			t.Fatalf("%d unacked deliveries outstanding with prefetch 5", len(held))
		}
		if len(held) < 5 && received < total {
			continue
		}
		// With 5 outstanding nothing more may come until an ack. Checked
		// now and then, since each check costs a quiet period.
		if received == 5 || received%250 == 0 {
			none(t, ds)
		}
		switch (received / 5) % 3 {
		case 0: // one multiple ack
			must(t, ch.Ack(held[len(held)-1].DeliveryTag, true), "ack multiple")
		case 1: // single acks
			for _, h := range held {
				must(t, h.Ack(false), "ack")
			}
		case 2: // ack one, then the rest
			must(t, held[0].Ack(false), "ack")
			must(t, ch.Ack(held[len(held)-1].DeliveryTag, true), "ack multiple")
		}
		held = held[:0]
	}
	none(t, ds)
}

func TestAMQPGlobalQos(t *testing.T) {
	_, _, ch := amqpSetup(t)
	declareQ(t, ch, "gq1", nil)
	declareQ(t, ch, "gq2", nil)
	for i := 0; i < 5; i++ {
		pubBody(t, ch, "", "gq1", "a")
		pubBody(t, ch, "", "gq2", "b")
	}
	must(t, ch.Qos(3, 0, true), "qos global")
	d1 := consume(t, ch, "gq1", "c1", false, nil)
	d2 := consume(t, ch, "gq2", "c2", false, nil)
	var got []amqp.Delivery
	for len(got) < 3 {
		select {
		case d := <-d1:
			got = append(got, d)
		case d := <-d2:
			got = append(got, d)
		case <-time.After(amqpWait):
			t.Fatalf("only %d deliveries with a channel prefetch of 3", len(got))
		}
	}
	none(t, d1)
	none(t, d2)
	must(t, got[0].Ack(false), "ack")
	select {
	case <-d1:
	case <-d2:
	case <-time.After(amqpWait):
		t.Fatal("no delivery after an ack freed channel credit")
	}
	none(t, d1)
	none(t, d2)
}

func TestAMQPConsumerPriority(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "cp", nil)
	hi, lo := amqpChan(t, conn), amqpChan(t, conn)
	must(t, hi.Qos(1, 0, false), "qos")
	must(t, lo.Qos(1, 0, false), "qos")
	dlo := consume(t, lo, "cp", "low", false, nil)
	dhi := consume(t, hi, "cp", "high", false, amqp.Table{"x-priority": int32(10)})

	pubBody(t, ch, "", "cp", "1")
	if d := next(t, dhi); string(d.Body) != "1" {
		t.Fatalf("high got %q", d.Body)
	}
	// The high-priority consumer is out of credit: the next goes low.
	pubBody(t, ch, "", "cp", "2")
	dl := next(t, dlo)
	if string(dl.Body) != "2" {
		t.Fatalf("low got %q", dl.Body)
	}
	pubBody(t, ch, "", "cp", "3")
	none(t, dhi)
	none(t, dlo)
	// Credit back on the high one: it gets the waiting message.
	must(t, hi.Ack(1, false), "ack high")
	if d := next(t, dhi); string(d.Body) != "3" {
		t.Fatalf("high got %q", d.Body)
	}
	// With credit on both, the high one wins.
	must(t, dl.Ack(false), "ack low")
	must(t, hi.Ack(2, false), "ack high")
	for i := 4; i < 8; i++ {
		pubBody(t, ch, "", "cp", fmt.Sprint(i))
		d := next(t, dhi)
		if string(d.Body) != fmt.Sprint(i) {
			t.Fatalf("high got %q", d.Body)
		}
		must(t, d.Ack(false), "ack")
	}
	none(t, dlo)

	// A non-integer priority is refused.
	bad := amqpChan(t, conn)
	_, err := bad.Consume("cp", "bad", true, false, false, false, amqp.Table{"x-priority": "high"})
	wantAMQPError(t, err, 406, "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'cp' in vhost '/': {unacceptable_type,longstr}")
}

func TestAMQPSingleActiveConsumer(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "sac", amqp.Table{"x-single-active-consumer": true})
	ca, cb := amqpChan(t, conn), amqpChan(t, conn)
	da := consume(t, ca, "sac", "a", false, nil)
	db := consume(t, cb, "sac", "b", false, nil)
	for i := 0; i < 4; i++ {
		pubBody(t, ch, "", "sac", fmt.Sprint(i))
	}
	got := nextBodies(t, da, 4)
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("active consumer got %v", got)
	}
	none(t, db)
	// The active consumer's channel goes: its unacked messages and the
	// new ones go to the next consumer, in order.
	must(t, ca.Close(), "close active")
	pubBody(t, ch, "", "sac", "4")
	for i := 0; i < 5; i++ {
		d := next(t, db)
		if string(d.Body) != fmt.Sprint(i) || d.Redelivered != (i < 4) {
			t.Fatalf("second consumer got %q redelivered=%v at %d", d.Body, d.Redelivered, i)
		}
		must(t, d.Ack(false), "ack")
	}
	// A boolean is required.
	bad := amqpChan(t, conn)
	_, err := bad.QueueDeclare("sac.bad", false, false, false, false, amqp.Table{"x-single-active-consumer": "yes"})
	wantAMQPError(t, err, 406, "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue 'sac.bad' in vhost '/': {unacceptable_type,longstr}")
}

func TestAMQPInequivalentRedeclare(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "eq", amqp.Table{"x-message-ttl": int32(1000)})
	must(t, ch.ExchangeDeclare("eqx", "direct", false, false, false, false, nil), "exchange")
	cases := []struct {
		name string
		op   func(*amqp.Channel) error
		text string
	}{
		{"queue durable", func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("eq", true, false, false, false, amqp.Table{"x-message-ttl": int32(1000)})
			return err
		}, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'eq' in vhost '/': received 'true' but current is 'false'"},
		{"queue auto_delete", func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("eq", false, true, false, false, amqp.Table{"x-message-ttl": int32(1000)})
			return err
		}, "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'eq' in vhost '/': received 'true' but current is 'false'"},
		{"queue ttl value", func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("eq", false, false, false, false, amqp.Table{"x-message-ttl": int32(2000)})
			return err
		}, "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'eq' in vhost '/': " +
			"received '2000' but current is '1000'"},
		{"queue ttl missing", func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("eq", false, false, false, false, nil)
			return err
		}, "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'eq' in vhost '/': " +
			"received none but current is the value '1000' of type 'signedint'"},
		{"exchange type", func(c *amqp.Channel) error {
			return c.ExchangeDeclare("eqx", "fanout", false, false, false, false, nil)
		}, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'eqx' in vhost '/': received 'fanout' but current is 'direct'"},
		{"exchange durable", func(c *amqp.Channel) error {
			return c.ExchangeDeclare("eqx", "direct", true, false, false, false, nil)
		}, "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'eqx' in vhost '/': received 'true' but current is 'false'"},
	}
	for _, tc := range cases {
		c := amqpChan(t, conn)
		err := tc.op(c)
		if err == nil {
			t.Fatalf("%s: inequivalent redeclare accepted", tc.name)
		}
		wantAMQPError(t, err, 406, tc.text)
	}
	// A passive declare ignores the other fields.
	_, err := ch.QueueDeclarePassive("eq", true, true, false, false, nil)
	must(t, err, "passive declare")
	// Arguments RabbitMQ does not compare may differ.
	declareQ(t, ch, "eq", amqp.Table{"x-message-ttl": int32(1000), "x-custom": "anything"})
	stillUsable(t, conn)
}

func TestAMQPNotFoundKeepsConnection(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	chNotify := ch.NotifyClose(make(chan *amqp.Error, 1))
	connNotify := conn.NotifyClose(make(chan *amqp.Error, 1))
	_, err := ch.QueueDeclarePassive("missing", false, false, false, false, nil)
	wantAMQPError(t, err, 404, "NOT_FOUND - no queue 'missing' in vhost '/'")
	e := waitClosed(t, chNotify, "channel")
	if !e.Server || e.Code != 404 {
		t.Fatalf("channel closed with %+v", e)
	}
	// The closed channel rejects further use.
	if _, err := ch.QueueDeclare("", false, true, true, false, nil); err != amqp.ErrClosed {
		t.Fatalf("declare on a closed channel: %v", err)
	}
	if err := ch.Publish("", "x", false, false, amqp.Publishing{}); err != amqp.ErrClosed {
		t.Fatalf("publish on a closed channel: %v", err)
	}
	// Other channels, old and new, keep working and the connection is open.
	stillUsable(t, conn)
	err = ch.ExchangeDeclarePassive("missing-x", "direct", false, false, false, false, nil)
	if err != amqp.ErrClosed {
		t.Fatalf("closed channel: %v", err)
	}
	c2 := amqpChan(t, conn)
	err = c2.ExchangeDeclarePassive("missing-x", "direct", false, false, false, false, nil)
	wantAMQPError(t, err, 404, "NOT_FOUND - no exchange 'missing-x' in vhost '/'")
	c3 := amqpChan(t, conn)
	c3Notify := c3.NotifyClose(make(chan *amqp.Error, 1))
	err = c3.Publish("missing-x", "k", false, false, amqp.Publishing{Body: []byte("x")})
	must(t, err, "publish is asynchronous")
	wantAMQPError(t, waitClosed(t, c3Notify, "channel"), 404, "NOT_FOUND - no exchange 'missing-x' in vhost '/'")
	stillUsable(t, conn)
	select {
	case e := <-connNotify:
		t.Fatalf("connection closed: %v", e)
	default:
	}
	if conn.IsClosed() {
		t.Fatal("connection closed after soft errors")
	}
}

// After the server closes a channel, what the client sends on it before
// close-ok is ignored; other channels are unaffected and the id can be
// opened again.
func TestAMQPClosedChannelIgnoresUntilCloseOk(t *testing.T) {
	b := brokertest.New(t)
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{})
	r.openChannel(1)
	r.openChannel(2)
	r.send(1, &wire.QueueDeclare{Queue: "nope", Passive: true})
	cl := rawExpect[*wire.ChannelClose](r)
	if cl.ReplyCode != 404 || cl.ReplyText != "NOT_FOUND - no queue 'nope' in vhost '/'" || cl.FailedClassID != 50 || cl.FailedMethodID != 10 {
		t.Fatalf("channel.close %+v", cl)
	}
	// Ignored: the channel is closing.
	r.send(1, &wire.QueueDeclare{Queue: "nope", Passive: true})
	r.send(1, &wire.BasicQos{})
	// Channel 2 still answers.
	r.send(2, &wire.BasicQos{})
	if ch, m := r.method(); ch != 2 {
		t.Fatalf("got %T on channel %d, want qos-ok on 2", m, ch)
	}
	r.send(1, &wire.ChannelCloseOk{})
	r.openChannel(1)
	r.send(1, &wire.BasicQos{})
	if ch, _ := r.method(); ch != 1 {
		t.Fatalf("reply on channel %d", ch)
	}
}
