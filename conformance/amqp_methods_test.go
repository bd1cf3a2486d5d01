package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// Every method of the channel, exchange, queue, basic, confirm and tx classes
// with RabbitMQ's answers, nowait variants included.

func TestAMQPChannelOpenCloseFlow(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	must(t, ch.Flow(true), "channel.flow active=true")
	must(t, ch.Close(), "channel.close")
	if err := ch.Flow(true); err != amqp.ErrClosed {
		t.Fatalf("flow on a closed channel: %v", err)
	}
	// Many channels, each usable on its own, ids reused after close.
	for i := 0; i < 20; i++ {
		c := amqpChan(t, conn)
		must(t, c.Close(), "close")
	}
	stillUsable(t, conn)

	// channel.flow active=false is refused as RabbitMQ does: 540 on the connection.
	ch2 := amqpChan(t, conn)
	notify := conn.NotifyClose(make(chan *amqp.Error, 1))
	err := ch2.Flow(false)
	wantAMQPError(t, err, 540, "NOT_IMPLEMENTED - active=false")
	wantConnClosed(t, notify, 540, "NOT_IMPLEMENTED - active=false")
}

func TestAMQPExchangeDeclareDelete(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	for _, kind := range []string{"direct", "fanout", "topic", "headers"} {
		name := "x." + kind
		must(t, ch.ExchangeDeclare(name, kind, false, false, false, false, nil), "declare "+kind)
		must(t, ch.ExchangeDeclare(name, kind, false, false, false, false, nil), "redeclare "+kind)
		must(t, ch.ExchangeDeclarePassive(name, kind, false, false, false, false, nil), "passive "+kind)
	}
	// nowait declare, then a synchronous call proves it was processed.
	must(t, ch.ExchangeDeclare("x.nowait", "fanout", false, false, false, true, nil), "declare nowait")
	must(t, ch.ExchangeDeclarePassive("x.nowait", "fanout", false, false, false, false, nil), "passive after nowait")

	must(t, ch.ExchangeDelete("x.direct", false, false), "delete")
	if exchangeExists(t, conn, "x.direct") {
		t.Fatal("x.direct still exists")
	}
	must(t, ch.ExchangeDelete("x.nowait", false, true), "delete nowait")
	if exchangeExists(t, conn, "x.nowait") {
		t.Fatal("x.nowait still exists")
	}
	// Deleting a missing exchange succeeds, as in RabbitMQ.
	must(t, ch.ExchangeDelete("x.never", false, false), "delete missing")

	// if-unused on an exchange with a binding.
	q := declareQ(t, ch, "", nil)
	must(t, ch.QueueBind(q.Name, "", "x.fanout", false, nil), "bind")
	err := ch.ExchangeDelete("x.fanout", true, false)
	wantAMQPError(t, err, 406, "PRECONDITION_FAILED - exchange 'x.fanout' in vhost '/' in use")
	stillUsable(t, conn)

	ch = amqpChan(t, conn)
	// Reserved names and the default exchange.
	err = ch.ExchangeDeclare("amq.custom", "direct", false, false, false, false, nil)
	wantAMQPError(t, err, 403, "ACCESS_REFUSED - exchange name 'amq.custom' contains reserved prefix 'amq.*'")
	ch = amqpChan(t, conn)
	err = ch.ExchangeDelete("amq.direct", false, false)
	wantAMQPError(t, err, 403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed")
	ch = amqpChan(t, conn)
	err = ch.ExchangeDeclare("x.bad", "nosuchtype", false, false, false, false, nil)
	wantAMQPError(t, err, 503, "COMMAND_INVALID - unknown exchange type 'nosuchtype'")
}

func TestAMQPExchangeToExchangeBindings(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("e2e.src", "topic", false, false, false, false, nil), "declare src")
	must(t, ch.ExchangeDeclare("e2e.dst", "fanout", false, false, false, false, nil), "declare dst")
	q := declareQ(t, ch, "", nil)
	must(t, ch.QueueBind(q.Name, "", "e2e.dst", false, nil), "queue.bind")
	must(t, ch.ExchangeBind("e2e.dst", "a.*", "e2e.src", false, nil), "exchange.bind")

	pubBody(t, ch, "e2e.src", "a.b", "routed")
	pubBody(t, ch, "e2e.src", "b.b", "not routed")
	if d := getOne(t, ch, q.Name, true); string(d.Body) != "routed" {
		t.Fatalf("got %q", d.Body)
	}
	getEmpty(t, ch, q.Name)

	must(t, ch.ExchangeUnbind("e2e.dst", "a.*", "e2e.src", false, nil), "exchange.unbind")
	pubBody(t, ch, "e2e.src", "a.b", "after unbind")
	// A synchronous round trip orders the check after the publish.
	getEmpty(t, ch, q.Name)

	// nowait variants.
	must(t, ch.ExchangeBind("e2e.dst", "#", "e2e.src", true, nil), "exchange.bind nowait")
	pubBody(t, ch, "e2e.src", "x.y.z", "nowait bound")
	if d := getOne(t, ch, q.Name, true); string(d.Body) != "nowait bound" {
		t.Fatalf("got %q", d.Body)
	}
	must(t, ch.ExchangeUnbind("e2e.dst", "#", "e2e.src", true, nil), "exchange.unbind nowait")
	pubBody(t, ch, "e2e.src", "x.y.z", "nowait unbound")
	getEmpty(t, ch, q.Name)

	// Binding to a missing exchange is a 404 on the channel.
	err := ch.ExchangeBind("e2e.missing", "", "e2e.src", false, nil)
	wantAMQPError(t, err, 404, "NOT_FOUND - no exchange 'e2e.missing' in vhost '/'")
	stillUsable(t, conn)
}

func TestAMQPQueueDeclareBindUnbind(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	q := declareQ(t, ch, "qd", nil)
	if q.Name != "qd" || q.Messages != 0 || q.Consumers != 0 {
		t.Fatalf("declare-ok %+v", q)
	}
	pubBody(t, ch, "", "qd", "1")
	pubBody(t, ch, "", "qd", "2")
	waitCount(t, conn, "qd", 2)
	q = declareQ(t, ch, "qd", nil)
	if q.Messages != 2 {
		t.Fatalf("redeclare message count %d, want 2", q.Messages)
	}
	consume(t, ch, "qd", "c1", false, nil)
	q, err := ch.QueueDeclarePassive("qd", false, false, false, false, nil)
	must(t, err, "passive")
	if q.Consumers != 1 {
		t.Fatalf("consumer count %d, want 1", q.Consumers)
	}

	// nowait declare.
	ch2 := amqpChan(t, conn)
	_, err = ch2.QueueDeclare("qd.nowait", false, false, false, true, nil)
	must(t, err, "declare nowait")
	if !queueExists(t, conn, "qd.nowait") {
		t.Fatal("qd.nowait not created")
	}

	// bind / unbind, with nowait bind.
	must(t, ch2.ExchangeDeclare("qd.x", "direct", false, false, false, false, nil), "exchange")
	must(t, ch2.QueueBind("qd.nowait", "k1", "qd.x", false, nil), "bind")
	must(t, ch2.QueueBind("qd.nowait", "k2", "qd.x", true, nil), "bind nowait")
	pubBody(t, ch2, "qd.x", "k1", "a")
	pubBody(t, ch2, "qd.x", "k2", "b")
	pubBody(t, ch2, "qd.x", "k3", "c")
	waitCount(t, conn, "qd.nowait", 2)
	must(t, ch2.QueueUnbind("qd.nowait", "k1", "qd.x", nil), "unbind")
	must(t, ch2.QueueUnbind("qd.nowait", "k1", "qd.x", nil), "unbind again")
	pubBody(t, ch2, "qd.x", "k1", "d")
	pubBody(t, ch2, "qd.x", "k2", "e")
	waitCount(t, conn, "qd.nowait", 3)

	// Binding a missing queue.
	err = ch2.QueueBind("qd.missing", "k", "qd.x", false, nil)
	wantAMQPError(t, err, 404, "NOT_FOUND - no queue 'qd.missing' in vhost '/'")
	ch3 := amqpChan(t, conn)
	err = ch3.QueueBind("qd.nowait", "k", "qd.nox", false, nil)
	wantAMQPError(t, err, 404, "NOT_FOUND - no exchange 'qd.nox' in vhost '/'")
	ch4 := amqpChan(t, conn)
	_, err = ch4.QueueDeclare("amq.mine", false, false, false, false, nil)
	wantAMQPError(t, err, 403, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'")
	stillUsable(t, conn)
}

func TestAMQPServerNamedQueue(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	q1 := declareQ(t, ch, "", nil)
	q2 := declareQ(t, ch, "", nil)
	for _, q := range []amqp.Queue{q1, q2} {
		if !strings.HasPrefix(q.Name, "amq.gen-") || len(q.Name) <= len("amq.gen-") {
			t.Fatalf("server-named queue %q, want amq.gen-...", q.Name)
		}
	}
	if q1.Name == q2.Name {
		t.Fatal("two server-named queues share a name")
	}
	pubBody(t, ch, "", q1.Name, "x")
	if d := getOne(t, ch, q1.Name, true); string(d.Body) != "x" {
		t.Fatalf("got %q", d.Body)
	}
	// Redeclaring the generated name is an ordinary declare.
	declareQ(t, ch, q1.Name, nil)
	stillUsable(t, conn)
}

func TestAMQPQueuePurgeDeleteCounts(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "pd", nil)
	for i := 0; i < 5; i++ {
		pubBody(t, ch, "", "pd", fmt.Sprint(i))
	}
	waitCount(t, conn, "pd", 5)
	// One message unacked: purge counts only the ready ones.
	getOne(t, ch, "pd", false)
	n, err := ch.QueuePurge("pd", false)
	must(t, err, "purge")
	if n != 4 {
		t.Fatalf("purge-ok count %d, want 4", n)
	}
	n, err = ch.QueuePurge("pd", false)
	must(t, err, "purge empty")
	if n != 0 {
		t.Fatalf("purge-ok count %d, want 0", n)
	}
	for i := 0; i < 3; i++ {
		pubBody(t, ch, "", "pd", fmt.Sprint(i))
	}
	waitCount(t, conn, "pd", 3)
	_, err = ch.QueuePurge("pd", true)
	must(t, err, "purge nowait")
	waitCount(t, conn, "pd", 0)

	for i := 0; i < 3; i++ {
		pubBody(t, ch, "", "pd", fmt.Sprint(i))
	}
	waitCount(t, conn, "pd", 3)
	// if-empty refuses.
	ch2 := amqpChan(t, conn)
	_, err = ch2.QueueDelete("pd", false, true, false)
	wantAMQPError(t, err, 406, "PRECONDITION_FAILED - queue 'pd' in vhost '/' not empty")
	// if-unused refuses while a consumer is on it.
	ch3 := amqpChan(t, conn)
	consume(t, ch3, "pd", "holder", false, nil)
	ch4 := amqpChan(t, conn)
	_, err = ch4.QueueDelete("pd", true, false, false)
	wantAMQPError(t, err, 406, "PRECONDITION_FAILED - queue 'pd' in vhost '/' in use")
	must(t, ch3.Close(), "close consumer channel")
	waitCount(t, conn, "pd", 3)
	// Closing the channel holding the unacked one requeues it.
	must(t, ch.Close(), "close getter channel")
	waitCount(t, conn, "pd", 4)
	ch5 := amqpChan(t, conn)
	n, err = ch5.QueueDelete("pd", false, false, false)
	must(t, err, "delete")
	if n != 4 {
		t.Fatalf("delete-ok count %d, want 4", n)
	}
	// Deleting a missing queue succeeds with 0, as in RabbitMQ.
	n, err = ch5.QueueDelete("pd", false, false, false)
	must(t, err, "delete missing")
	if n != 0 {
		t.Fatalf("delete-ok count %d", n)
	}
	declareQ(t, ch5, "pd2", nil)
	_, err = ch5.QueueDelete("pd2", false, false, true)
	must(t, err, "delete nowait")
	eventually(t, "pd2 deleted", func() bool { return !queueExists(t, conn, "pd2") })

	// Purging a missing queue is a 404.
	_, err = ch5.QueuePurge("pd.missing", false)
	wantAMQPError(t, err, 404, "NOT_FOUND - no queue 'pd.missing' in vhost '/'")
	stillUsable(t, conn)
}

func TestAMQPBasicGetCounts(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "g", nil)
	getEmpty(t, ch, "g")
	for i := 1; i <= 3; i++ {
		pub(t, ch, "", "g", amqp.Publishing{Body: []byte(fmt.Sprint(i)), ContentType: "text/plain",
			Headers: amqp.Table{"i": int32(i)}, CorrelationId: "c", Priority: 3, MessageId: "m"})
	}
	waitCount(t, conn, "g", 3)
	for i := 1; i <= 3; i++ {
		d, ok, err := ch.Get("g", false)
		must(t, err, "get")
		if !ok {
			t.Fatal("get-empty")
		}
		if string(d.Body) != fmt.Sprint(i) || d.MessageCount != uint32(3-i) {
			t.Fatalf("get-ok %q count %d, want %d count %d", d.Body, d.MessageCount, i, 3-i)
		}
		if d.Exchange != "" || d.RoutingKey != "g" || d.Redelivered || d.DeliveryTag != uint64(i) {
			t.Fatalf("get-ok fields %+v", d)
		}
		if d.ContentType != "text/plain" || d.CorrelationId != "c" || d.Priority != 3 || d.MessageId != "m" || d.Headers["i"] != int32(i) {
			t.Fatalf("properties not kept: %+v", d)
		}
	}
	getEmpty(t, ch, "g")
	// Ack one, reject one with requeue, nack one without.
	must(t, ch.Ack(1, false), "ack")
	must(t, ch.Reject(2, true), "reject requeue")
	must(t, ch.Nack(3, false, false), "nack drop")
	d := getOne(t, ch, "g", true)
	if string(d.Body) != "2" || !d.Redelivered {
		t.Fatalf("requeued message %q redelivered=%v", d.Body, d.Redelivered)
	}
	getEmpty(t, ch, "g")

	// Get on a missing queue.
	_, _, err := ch.Get("g.missing", true)
	wantAMQPError(t, err, 404, "NOT_FOUND - no queue 'g.missing' in vhost '/'")
	stillUsable(t, conn)
}

func TestAMQPBasicRejectNack(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "rn", nil)
	ds := consume(t, ch, "rn", "", false, nil)
	for i := 1; i <= 4; i++ {
		pubBody(t, ch, "", "rn", fmt.Sprint(i))
	}
	got := make([]amqp.Delivery, 4)
	for i := range got {
		got[i] = next(t, ds)
	}
	// reject without requeue drops 1; nack multiple without requeue drops 2,3.
	must(t, got[0].Reject(false), "reject")
	must(t, ch.Nack(got[2].DeliveryTag, true, false), "nack multiple")
	none(t, ds)
	// nack 4 with requeue comes straight back, redelivered.
	must(t, got[3].Nack(false, true), "nack requeue")
	d := next(t, ds)
	if string(d.Body) != "4" || !d.Redelivered {
		t.Fatalf("got %q redelivered=%v", d.Body, d.Redelivered)
	}
	must(t, d.Ack(false), "ack")
	none(t, ds)

	// An unknown delivery tag closes the channel with 406.
	notify := ch.NotifyClose(make(chan *amqp.Error, 1))
	must(t, ch.Ack(999, false), "send ack") // asynchronous
	e := waitClosed(t, notify, "channel")
	wantAMQPError(t, e, 406, "PRECONDITION_FAILED - unknown delivery tag 999")
	stillUsable(t, conn)
}

// TestAMQPNackMultipleRequeue: get 1, get 2, nack(2, multiple, requeue): both
// come back in their order, redelivered (amqp091-go's
// TestRabbitMQQueueNackMultipleRequeue, which skips itself against sluice).
func TestAMQPNackMultipleRequeue(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "nmr", nil)
	pubBody(t, ch, "", "nmr", "1")
	pubBody(t, ch, "", "nmr", "2")
	waitCount(t, conn, "nmr", 2)
	d1 := getOne(t, ch, "nmr", false)
	d2 := getOne(t, ch, "nmr", false)
	if string(d1.Body) != "1" || string(d2.Body) != "2" {
		t.Fatalf("got %q %q", d1.Body, d2.Body)
	}
	must(t, ch.Nack(d2.DeliveryTag, true, true), "nack multiple requeue")
	r1 := getOne(t, ch, "nmr", false)
	r2 := getOne(t, ch, "nmr", false)
	if string(r1.Body) != "1" || string(r2.Body) != "2" || !r1.Redelivered || !r2.Redelivered {
		t.Fatalf("after nack: %q(%v) %q(%v), want 1 and 2 redelivered", r1.Body, r1.Redelivered, r2.Body, r2.Redelivered)
	}
	if r1.MessageCount != 1 || r2.MessageCount != 0 {
		t.Fatalf("message counts %d %d", r1.MessageCount, r2.MessageCount)
	}
	// nack multiple with tag 0 covers everything unacked.
	must(t, ch.Nack(0, true, true), "nack all")
	waitCount(t, conn, "nmr", 2)
}

func TestAMQPConsumeCancel(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "cc", nil)
	ds := consume(t, ch, "cc", "my-tag", true, nil)
	pubBody(t, ch, "", "cc", "a")
	d := next(t, ds)
	if d.ConsumerTag != "my-tag" || string(d.Body) != "a" {
		t.Fatalf("delivery %+v", d)
	}
	must(t, ch.Cancel("my-tag", false), "cancel")
	if _, ok := <-ds; ok {
		t.Fatal("deliveries after cancel")
	}
	pubBody(t, ch, "", "cc", "b")
	waitCount(t, conn, "cc", 1)

	// Server-generated tag, then nowait consume and nowait cancel.
	ds2 := consume(t, ch, "cc", "", true, nil)
	d = next(t, ds2)
	if !strings.HasPrefix(d.ConsumerTag, "ctag-") && !strings.HasPrefix(d.ConsumerTag, "amq.ctag-") {
		t.Fatalf("consumer tag %q", d.ConsumerTag)
	}
	ds3, err := ch.Consume("cc", "nw", true, false, false, true, nil)
	must(t, err, "consume nowait")
	must(t, ch.Cancel(d.ConsumerTag, false), "cancel")
	pubBody(t, ch, "", "cc", "c")
	if d := next(t, ds3); string(d.Body) != "c" {
		t.Fatalf("got %q", d.Body)
	}
	must(t, ch.Cancel("nw", true), "cancel nowait")
	pubBody(t, ch, "", "cc", "d")
	waitCount(t, conn, "cc", 1)
	// Cancelling an unknown tag is fine, as in RabbitMQ.
	must(t, ch.Cancel("nobody", false), "cancel unknown")

	// Consuming from a missing queue.
	_, err = ch.Consume("cc.missing", "", true, false, false, false, nil)
	wantAMQPError(t, err, 404, "NOT_FOUND - no queue 'cc.missing' in vhost '/'")
	stillUsable(t, conn)
}

func TestAMQPRecoverRequeue(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "rec", nil)
	ds := consume(t, ch, "rec", "", false, nil)
	pubBody(t, ch, "", "rec", "1")
	pubBody(t, ch, "", "rec", "2")
	nextBodies(t, ds, 2)
	must(t, ch.Recover(true), "basic.recover requeue=true")
	a, b := next(t, ds), next(t, ds)
	if string(a.Body) != "1" || string(b.Body) != "2" || !a.Redelivered || !b.Redelivered {
		t.Fatalf("after recover: %q(%v) %q(%v)", a.Body, a.Redelivered, b.Body, b.Redelivered)
	}
	must(t, ch.Ack(b.DeliveryTag, true), "ack")
	stillUsable(t, conn)
}

// TestAMQPRecoverRequeueFalse: basic.recover requeue=false is not
// implemented by RabbitMQ, which closes the connection with 540.
func TestAMQPRecoverRequeueFalse(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	notify := conn.NotifyClose(make(chan *amqp.Error, 1))
	err := ch.Recover(false)
	wantAMQPError(t, err, 540, "NOT_IMPLEMENTED - requeue=false")
	wantConnClosed(t, notify, 540, "NOT_IMPLEMENTED - requeue=false")
}

func TestAMQPRecoverAsync(t *testing.T) {
	b := brokertest.New(t)
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{})
	r.openChannel(1)
	r.send(1, &wire.QueueDeclare{Queue: "ra", AutoDelete: true})
	rawExpect[*wire.QueueDeclareOk](r)
	r.send(1, &wire.BasicPublish{RoutingKey: "ra"})
	r.sendHeader(1, 1)
	r.sendFrame(wire.FrameBody, 1, []byte("x"))
	r.send(1, &wire.BasicGet{Queue: "ra"})
	rawExpect[*wire.BasicGetOk](r)
	r.readFrame(amqpWait) // header
	r.readFrame(amqpWait) // body
	// recover-async has no answer; a get afterwards sees the message again.
	r.send(1, &wire.BasicRecoverAsync{Requeue: true})
	r.send(1, &wire.BasicGet{Queue: "ra"})
	if ok := rawExpect[*wire.BasicGetOk](r); !ok.Redelivered {
		t.Fatal("not redelivered after recover-async")
	}
}

func TestAMQPQos(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	must(t, ch.Qos(10, 0, false), "qos per consumer")
	must(t, ch.Qos(10, 0, true), "qos global")
	must(t, ch.Qos(0, 0, false), "qos off")
	stillUsable(t, conn)
	// RabbitMQ does not implement prefetch-size and says so on the connection.
	notify := conn.NotifyClose(make(chan *amqp.Error, 1))
	err := ch.Qos(1, 65536, false)
	wantAMQPError(t, err, 540, "NOT_IMPLEMENTED - prefetch_size!=0 (65536)")
	wantConnClosed(t, notify, 540, "NOT_IMPLEMENTED - prefetch_size!=0 (65536)")
}

func TestAMQPConfirmSelect(t *testing.T) {
	b, conn, ch := amqpSetup(t)
	must(t, ch.Confirm(false), "confirm.select")
	must(t, ch.Confirm(false), "confirm.select again")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 2))
	declareQ(t, ch, "cs", nil)
	pubBody(t, ch, "", "cs", "x")
	if c := nextConfirm(t, confirms); !c.Ack || c.DeliveryTag != 1 {
		t.Fatalf("confirm %+v", c)
	}
	stillUsable(t, conn)

	// confirm.select nowait gets no select-ok (amqp091-go waits for one
	// anyway, so a raw client): the publish that follows is confirmed.
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{})
	r.openChannel(1)
	r.send(1, &wire.ConfirmSelect{NoWait: true})
	r.send(1, &wire.BasicPublish{RoutingKey: "nowhere"})
	r.sendHeader(1, 0)
	if ack := rawExpect[*wire.BasicAck](r); ack.DeliveryTag != 1 || ack.Multiple {
		t.Fatalf("confirm %+v", ack)
	}
}

func TestAMQPTxSelectCommitRollback(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "tx", nil)
	must(t, ch.Tx(), "tx.select")
	pubBody(t, ch, "", "tx", "1")
	pubBody(t, ch, "", "tx", "2")
	if n := messageCount(t, conn, "tx"); n != 0 {
		t.Fatalf("uncommitted publishes visible: %d", n)
	}
	must(t, ch.TxRollback(), "tx.rollback")
	if n := messageCount(t, conn, "tx"); n != 0 {
		t.Fatalf("rolled back publishes visible: %d", n)
	}
	pubBody(t, ch, "", "tx", "3")
	pubBody(t, ch, "", "tx", "4")
	must(t, ch.TxCommit(), "tx.commit")
	if n := messageCount(t, conn, "tx"); n != 2 {
		t.Fatalf("after commit %d messages, want 2", n)
	}

	// Acks inside the transaction: rollback forgets the ack (the message
	// stays unacked), commit applies it.
	d3 := getOne(t, ch, "tx", false)
	d4 := getOne(t, ch, "tx", false)
	if string(d3.Body) != "3" || string(d4.Body) != "4" {
		t.Fatalf("got %q %q", d3.Body, d4.Body)
	}
	must(t, d3.Ack(false), "ack in tx")
	must(t, ch.TxRollback(), "rollback ack")
	must(t, d4.Ack(false), "ack in tx")
	must(t, ch.TxCommit(), "commit ack")
	// Closing the channel requeues what is still unacked: 3 only.
	must(t, ch.Close(), "close")
	waitCount(t, conn, "tx", 1)
	ch2 := amqpChan(t, conn)
	if d := getOne(t, ch2, "tx", true); string(d.Body) != "3" || !d.Redelivered {
		t.Fatalf("left over %q redelivered=%v, want 3", d.Body, d.Redelivered)
	}

	// A rejected (nack) in a transaction is applied only at commit.
	must(t, ch2.Tx(), "tx.select")
	pubBody(t, ch2, "", "tx", "5")
	must(t, ch2.TxCommit(), "commit")
	d5 := getOne(t, ch2, "tx", false)
	must(t, d5.Nack(false, true), "nack in tx")
	if n := messageCount(t, conn, "tx"); n != 0 {
		t.Fatalf("nack applied before commit: %d ready", n)
	}
	must(t, ch2.TxCommit(), "commit nack")
	waitCount(t, conn, "tx", 1)
}

func TestAMQPTxConfirmModeErrors(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	cases := []struct {
		name string
		run  func(*amqp.Channel) error
		text string
	}{
		{"commit without select", func(c *amqp.Channel) error { return c.TxCommit() },
			"PRECONDITION_FAILED - channel is not transactional"},
		{"rollback without select", func(c *amqp.Channel) error { return c.TxRollback() },
			"PRECONDITION_FAILED - channel is not transactional"},
		{"tx then confirm", func(c *amqp.Channel) error {
			must(t, c.Tx(), "tx.select")
			return c.Confirm(false)
		}, "PRECONDITION_FAILED - cannot switch from tx to confirm mode"},
		{"confirm then tx", func(c *amqp.Channel) error {
			must(t, c.Confirm(false), "confirm.select")
			return c.Tx()
		}, "PRECONDITION_FAILED - cannot switch from confirm to tx mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := amqpChan(t, conn)
			wantAMQPError(t, tc.run(ch), 406, tc.text)
			if err := ch.Tx(); err != amqp.ErrClosed {
				t.Fatalf("channel still open after the error: %v", err)
			}
		})
	}
	// tx.select twice is fine.
	ch := amqpChan(t, conn)
	must(t, ch.Tx(), "tx.select")
	must(t, ch.Tx(), "tx.select again")
	stillUsable(t, conn)
}

func TestAMQPMandatoryReturn(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	returns := ch.NotifyReturn(make(chan amqp.Return, 4))
	must(t, ch.ExchangeDeclare("mr.x", "direct", false, false, false, false, nil), "declare")
	ctx, cancel := context.WithTimeout(context.Background(), amqpWait)
	defer cancel()
	must(t, ch.PublishWithContext(ctx, "mr.x", "nokey", true, false,
		amqp.Publishing{Body: []byte("lost"), MessageId: "m1"}), "publish mandatory")
	must(t, ch.PublishWithContext(ctx, "", "no-such-queue", true, false,
		amqp.Publishing{Body: []byte("lost2")}), "publish mandatory default exchange")
	// Not mandatory: silently dropped.
	must(t, ch.PublishWithContext(ctx, "mr.x", "nokey", false, false, amqp.Publishing{Body: []byte("dropped")}), "publish")
	want := []amqp.Return{
		{ReplyCode: 312, ReplyText: "NO_ROUTE", Exchange: "mr.x", RoutingKey: "nokey"},
		{ReplyCode: 312, ReplyText: "NO_ROUTE", Exchange: "", RoutingKey: "no-such-queue"},
	}
	bodies := []string{"lost", "lost2"}
	for i, w := range want {
		select {
		case r := <-returns:
			if r.ReplyCode != w.ReplyCode || r.ReplyText != w.ReplyText || r.Exchange != w.Exchange ||
				r.RoutingKey != w.RoutingKey || string(r.Body) != bodies[i] {
				t.Fatalf("basic.return %+v, want %+v body %q", r, w, bodies[i])
			}
			if i == 0 && r.MessageId != "m1" {
				t.Fatalf("properties not returned: %+v", r)
			}
		case <-ctx.Done():
			t.Fatal("no basic.return")
		}
	}
	// A routed mandatory message is not returned.
	q := declareQ(t, ch, "", nil)
	must(t, ch.PublishWithContext(ctx, "", q.Name, true, false, amqp.Publishing{Body: []byte("ok")}), "publish routed")
	getOne(t, ch, q.Name, true)
	select {
	case r := <-returns:
		t.Fatalf("unexpected return %+v", r)
	default:
	}
	// Mandatory + confirm: the return comes before the ack.
	must(t, ch.Confirm(false), "confirm")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	must(t, ch.PublishWithContext(ctx, "mr.x", "nokey", true, false, amqp.Publishing{Body: []byte("r")}), "publish")
	c := nextConfirm(t, confirms)
	select {
	case <-returns:
	default:
		t.Fatal("basic.ack arrived before basic.return")
	}
	if !c.Ack {
		t.Fatalf("unroutable mandatory message nacked: %+v", c)
	}
	stillUsable(t, conn)
}

func TestAMQPImmediateNotImplemented(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	notify := conn.NotifyClose(make(chan *amqp.Error, 1))
	must(t, ch.Publish("", "x", false, true, amqp.Publishing{Body: []byte("i")}), "publish immediate")
	wantConnClosed(t, notify, 540, "NOT_IMPLEMENTED - immediate=true")
}
