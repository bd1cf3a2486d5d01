package conformance

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// Queue-service features reached from STOMP (go-stomp): queues declared
// by SUBSCRIBE headers, or by AMQP and addressed as /amq/queue/NAME, which
// declares nothing; per-message headers on SEND; receipts as confirms.

func qsStompDial(t testing.TB, b *brokertest.Broker) *stomp.Conn {
	t.Helper()
	c, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("guest", "guest"))
	if err != nil {
		t.Fatalf("stomp dial: %v", err)
	}
	t.Cleanup(func() { _ = c.MustDisconnect() })
	return c
}

func qsStompSub(t testing.TB, c *stomp.Conn, dest string, ack stomp.AckMode, headers ...string) *stomp.Subscription {
	t.Helper()
	o := make([]func(*frame.Frame) error, 0, len(headers)/2)
	for i := 0; i+1 < len(headers); i += 2 {
		o = append(o, stomp.SubscribeOpt.Header(headers[i], headers[i+1]))
	}
	sub, err := c.Subscribe(dest, ack, o...)
	if err != nil {
		t.Fatalf("subscribe %s: %v", dest, err)
	}
	return sub
}

// qsStompSend sends with a receipt, which is the broker's confirm, and
// headers as name/value pairs.
func qsStompSend(t testing.TB, c *stomp.Conn, dest, body string, headers ...string) {
	t.Helper()
	if err := qsStompSendErr(c, dest, body, headers...); err != nil {
		t.Fatalf("send to %s: %v", dest, err)
	}
}

func qsStompSendErr(c *stomp.Conn, dest, body string, headers ...string) error {
	o := []func(*frame.Frame) error{stomp.SendOpt.Receipt}
	for i := 0; i+1 < len(headers); i += 2 {
		o = append(o, stomp.SendOpt.Header(headers[i], headers[i+1]))
	}
	return c.Send(dest, "text/plain", []byte(body), o...)
}

func qsStompRecv(t testing.TB, sub *stomp.Subscription, within time.Duration) *stomp.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C:
		if !ok {
			t.Fatalf("subscription to %s closed", sub.Destination())
		}
		if m.Err != nil {
			t.Fatalf("subscription to %s: %v (%s)", sub.Destination(), m.Err, m.Body)
		}
		return m
	case <-time.After(within):
		t.Fatalf("no message on %s within %v", sub.Destination(), within)
	}
	return nil
}

func qsStompNone(t testing.TB, sub *stomp.Subscription, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-sub.C:
		if ok {
			t.Fatalf("unexpected on %s: %q %v (err %v)", sub.Destination(), m.Body, m.Header, m.Err)
		}
	case <-time.After(d):
	}
}

// qsStompError checks that err came from an ERROR frame whose body (or
// message header) contains want.
func qsStompError(t testing.TB, err error, want string) {
	t.Helper()
	// Send returns a stomp.Error, a subscription a *stomp.Error.
	var se stomp.Error
	if pe := (*stomp.Error)(nil); errors.As(err, &pe) && pe != nil {
		se = *pe
	} else if !errors.As(err, &se) {
		se = stomp.Error{}
	}
	if se.Frame == nil {
		t.Fatalf("got %v (%T), want an ERROR frame containing %q", err, err, want)
	}
	text := se.Message + "\n" + string(se.Frame.Body)
	if !strings.Contains(text, want) {
		t.Fatalf("ERROR %q does not contain %q", text, want)
	}
}

func qsStompBody(t testing.TB, m *stomp.Message, want string) {
	t.Helper()
	if string(m.Body) != want {
		t.Fatalf("got %q, want %q (headers %v)", m.Body, want, m.Header)
	}
}

// --- receive limit -------------------------------------------------------

func TestQueueServiceStompDeliveryLimit(t *testing.T) {
	b := brokertest.New(t)
	ch := qsConfirmChan(t, qsDial(t, b.AMQPURL()))
	qsDeclare(t, ch, "qs.s.dl.dead", false, nil)
	c := qsStompDial(t, b)
	sub := qsStompSub(t, c, "/queue/qs.s.dl", stomp.AckClientIndividual,
		"x-delivery-limit", "1", "x-dead-letter-exchange", "", "x-dead-letter-routing-key", "qs.s.dl.dead")
	qsStompSend(t, c, "/queue/qs.s.dl", "poison")

	m := qsStompRecv(t, sub, qsPatience)
	qsStompBody(t, m, "poison")
	if v, has := m.Header.Contains("x-delivery-count"); has {
		t.Errorf("x-delivery-count %q on the first delivery", v)
	}
	if err := c.Nack(m); err != nil {
		t.Fatal(err)
	}
	m = qsStompRecv(t, sub, qsPatience)
	qsStompBody(t, m, "poison")
	if m.Header.Get("redelivered") != "true" {
		t.Errorf("second delivery has redelivered:%q", m.Header.Get("redelivered"))
	}
	if v := m.Header.Get("x-delivery-count"); v != "1" {
		t.Errorf("second delivery has x-delivery-count %q, want 1 (headers %v)", v, m.Header)
	}
	if err := c.Nack(m); err != nil {
		t.Fatal(err)
	}
	dead := qsGet(t, ch, "qs.s.dl.dead")
	qsCheckDeath(t, dead, "qs.s.dl", "delivery_limit")
	qsStompNone(t, sub, 100*time.Millisecond)
}

func TestQueueServiceStompQuorumQueue(t *testing.T) {
	b := brokertest.New(t)
	bad := qsStompDial(t, b)
	sub := qsStompSub(t, bad, "/queue/qs.s.qq.bad", stomp.AckClientIndividual, "x-queue-type", "quorum", "durable", "false")
	select {
	case m := <-sub.C:
		if m == nil || m.Err == nil {
			t.Fatalf("SUBSCRIBE of a non-durable quorum queue gave %v", m)
		}
		// durable:false makes the queue exclusive and auto-delete too, and
		// RabbitMQ names auto-delete first (checked against 3.10.8).
		qsStompError(t, m.Err, "invalid property 'auto-delete' for queue 'qs.s.qq.bad'")
	case <-time.After(qsPatience):
		t.Fatal("no ERROR for a non-durable quorum queue")
	}

	c := qsStompDial(t, b)
	sub = qsStompSub(t, c, "/queue/qs.s.qq", stomp.AckClientIndividual, "x-queue-type", "quorum")
	qsStompSend(t, c, "/queue/qs.s.qq", "q")
	m := qsStompRecv(t, sub, qsPatience)
	qsStompBody(t, m, "q")
	if err := c.Ack(m); err != nil {
		t.Fatal(err)
	}
	// What SUBSCRIBE declared is a durable quorum queue.
	ch := qsChan(t, qsDial(t, b.AMQPURL()))
	if _, err := ch.QueueDeclare("qs.s.qq", true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatalf("redeclare as a durable quorum queue: %v", err)
	}
}

// --- delayed delivery ----------------------------------------------------

func TestQueueServiceStompDelayed(t *testing.T) {
	b := brokertest.New(t)
	ch := qsConfirmChan(t, qsDial(t, b.AMQPURL()))
	qsDeclare(t, ch, "qs.s.delay", false, amqp.Table{"x-delivery-delay": int32(0)})
	if err := ch.ExchangeDeclare("qs.s.dx", "x-delayed-message", false, false, false, false, amqp.Table{"x-delayed-type": "direct"}); err != nil {
		t.Fatal(err)
	}
	qsDeclare(t, ch, "qs.s.dx.q", false, nil)
	if err := ch.QueueBind("qs.s.dx.q", "k", "qs.s.dx", false, nil); err != nil {
		t.Fatal(err)
	}
	c := qsStompDial(t, b)
	// STOMP header values are strings; the delays are read from them.
	t0 := time.Now()
	qsStompSend(t, c, "/amq/queue/qs.s.delay", "in250", "x-delay", "250")
	qsStompSend(t, c, "/amq/queue/qs.s.delay", "at150", "x-deliver-at", fmt.Sprint(t0.Add(150*time.Millisecond).UnixMilli()))
	qsStompSend(t, c, "/amq/queue/qs.s.delay", "now")
	qsStompSend(t, c, "/exchange/qs.s.dx/k", "x200", "x-delay", "200")
	if n := qsReady(t, ch, "qs.s.dx.q"); n != 0 && time.Since(t0) < 200*time.Millisecond {
		t.Fatalf("the delayed exchange routed at once (%d ready)", n)
	}
	qsub := qsStompSub(t, c, "/amq/queue/qs.s.delay", stomp.AckAuto)
	xsub := qsStompSub(t, c, "/amq/queue/qs.s.dx.q", stomp.AckAuto)
	for _, w := range []struct {
		body  string
		delay time.Duration
	}{{"now", 0}, {"at150", 150 * time.Millisecond}, {"in250", 250 * time.Millisecond}} {
		m := qsStompRecv(t, qsub, qsPatience)
		qsNotBefore(t, w.body, t0, w.delay, time.Now())
		qsStompBody(t, m, w.body)
	}
	m := qsStompRecv(t, xsub, qsPatience)
	qsNotBefore(t, "x200", t0, 200*time.Millisecond, time.Now())
	qsStompBody(t, m, "x200")
	if d := m.Header.Get("destination"); d != "/exchange/qs.s.dx/k" {
		t.Fatalf("destination %q", d)
	}
}

// --- visibility lease ----------------------------------------------------

func TestQueueServiceStompVisibilityTimeout(t *testing.T) {
	b := brokertest.New(t)
	ch := qsConfirmChan(t, qsDial(t, b.AMQPURL()))
	const lease = 200 * time.Millisecond
	qsDeclare(t, ch, "qs.s.vis", false, amqp.Table{"x-visibility-timeout": int32(lease / time.Millisecond)})
	c := qsStompDial(t, b)
	sub := qsStompSub(t, c, "/amq/queue/qs.s.vis", stomp.AckClientIndividual)
	tSend := time.Now()
	qsStompSend(t, c, "/amq/queue/qs.s.vis", "m")
	first := qsStompRecv(t, sub, qsPatience)
	qsStompBody(t, first, "m")
	again := qsStompRecv(t, sub, qsPatience) // not acked in time
	qsNotBefore(t, "the redelivery", tSend, lease, time.Now())
	qsStompBody(t, again, "m")
	if again.Header.Get("redelivered") != "true" || again.Header.Get("ack") == first.Header.Get("ack") {
		t.Fatalf("redelivery headers %v (first %v)", again.Header, first.Header)
	}
	if err := c.Ack(again); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(first); err != nil { // late: ignored, no ERROR
		t.Fatal(err)
	}
	qsStompSend(t, c, "/topic/qs.s.sync", "") // the connection is still up
	qsStompNone(t, sub, lease+100*time.Millisecond)
	if n := qsReady(t, ch, "qs.s.vis"); n != 0 {
		t.Fatalf("%d messages left", n)
	}
}

// README: the visibility lease can be set per consumer with the SUBSCRIBE
// header x-consumer-timeout.
func TestQueueServiceStompConsumerTimeout(t *testing.T) {
	b := brokertest.New(t)
	ch := qsConfirmChan(t, qsDial(t, b.AMQPURL()))
	qsDeclare(t, ch, "qs.s.ct", false, nil)
	c := qsStompDial(t, b)
	sub := qsStompSub(t, c, "/amq/queue/qs.s.ct", stomp.AckClientIndividual, "x-consumer-timeout", "200")
	qsStompSend(t, c, "/amq/queue/qs.s.ct", "m")
	first := qsStompRecv(t, sub, qsPatience)
	qsStompBody(t, first, "m")
	select {
	case again := <-sub.C:
		if again.Err != nil {
			t.Fatal(again.Err)
		}
		qsStompBody(t, again, "m")
		if again.Header.Get("redelivered") != "true" {
			t.Fatalf("redelivery headers %v", again.Header)
		}
		if err := c.Ack(again); err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("an unacked message was not taken back after the SUBSCRIBE's x-consumer-timeout of 200 ms")
	}
	if err := c.Ack(first); err != nil {
		t.Fatal(err)
	}
	qsStompSend(t, c, "/topic/qs.s.sync", "")
	qsStompNone(t, sub, 300*time.Millisecond)
}

// --- de-duplication ------------------------------------------------------

func TestQueueServiceStompDedup(t *testing.T) {
	b := brokertest.New(t)
	ch := qsConfirmChan(t, qsDial(t, b.AMQPURL()))
	qsDeclare(t, ch, "qs.s.dd", false, amqp.Table{"x-message-deduplication": true})
	if err := ch.ExchangeDeclare("qs.s.ddx", "x-message-deduplication", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	qsDeclare(t, ch, "qs.s.ddx.q", false, nil)
	if err := ch.QueueBind("qs.s.ddx.q", "", "qs.s.ddx", false, nil); err != nil {
		t.Fatal(err)
	}
	c := qsStompDial(t, b)
	// Each SEND gets its receipt, the duplicates too.
	qsStompSend(t, c, "/amq/queue/qs.s.dd", "a1", "x-deduplication-header", "a")
	qsStompSend(t, c, "/amq/queue/qs.s.dd", "a2", "x-deduplication-header", "a")
	qsStompSend(t, c, "/amq/queue/qs.s.dd", "b1", "x-deduplication-header", "b")
	qsStompSend(t, c, "/exchange/qs.s.ddx", "e1", "x-deduplication-header", "e")
	qsStompSend(t, c, "/exchange/qs.s.ddx/any", "e2", "x-deduplication-header", "e")
	// An AMQP publisher shares the window.
	qsPub(t, ch, "", "qs.s.dd", amqp.Publishing{Body: []byte("b2"), Headers: qsDedup("b")})
	qsSameBodies(t, "queue", qsBodies(t, ch, "qs.s.dd"), "a1", "b1")
	qsSameBodies(t, "exchange", qsBodies(t, ch, "qs.s.ddx.q"), "e1")

	// Consumed: still a duplicate. A per-message window given as a string.
	qsStompSend(t, c, "/amq/queue/qs.s.dd", "a3", "x-deduplication-header", "a")
	qsSameBodies(t, "after consumption", qsBodies(t, ch, "qs.s.dd"))
	qsShortWindow(t, func(body string) {
		qsStompSend(t, c, "/amq/queue/qs.s.dd", body, "x-deduplication-header", "s",
			"x-cache-ttl", fmt.Sprint(qsWindowTTL.Milliseconds()))
	}, func() []string { return qsBodies(t, ch, "qs.s.dd") })
}

// --- message size limit ----------------------------------------------------

func TestQueueServiceStompMaxMessageSize(t *testing.T) {
	b := brokertest.New(t)
	ch := qsConfirmChan(t, qsDial(t, b.AMQPURL()))
	qsDeclare(t, ch, "qs.s.size", false, amqp.Table{"x-max-message-size": int32(10)})
	c := qsStompDial(t, b)
	qsStompSend(t, c, "/amq/queue/qs.s.size", "0123456789")
	err := qsStompSendErr(c, "/amq/queue/qs.s.size", "0123456789A")
	qsStompError(t, err, "message size 11 is larger than max size 10 of queue 'qs.s.size'")
	if n := qsReady(t, ch, "qs.s.size"); n != 1 {
		t.Fatalf("%d messages in the queue, want 1", n)
	}
}

// --- queue arguments as SUBSCRIBE headers ----------------------------------

// A STOMP client declares a /queue/NAME with SUBSCRIBE headers. The
// queue-service arguments have to be among them, with AMQP's types; else
// STOMP can neither create such a queue nor subscribe to /queue/NAME of
// one that AMQP created (inequivalent arguments).
func TestQueueServiceStompQueueArgHeaders(t *testing.T) {
	b := brokertest.New(t)
	conn := qsDial(t, b.AMQPURL())
	for i, a := range []struct {
		header, value string
		arg           any
	}{
		{"x-delivery-limit", "3", int64(3)},
		{"x-delivery-delay", "100", int64(100)},
		{"x-visibility-timeout", "200", int64(200)},
		{"x-max-message-size", "1000", int64(1000)},
		{"x-message-deduplication", "true", true},
		{"x-content-deduplication", "true", true},
	} {
		name := fmt.Sprintf("qs.s.args.%d", i)
		c := qsStompDial(t, b)
		qsStompSub(t, c, "/queue/"+name, stomp.AckAuto, a.header, a.value)
		if err := qsStompSendErr(c, "/topic/qs.s.sync", ""); err != nil {
			t.Errorf("SUBSCRIBE with %s:%s: %v", a.header, a.value, err)
			continue
		}
		// An AMQP declaration with the argument must be equivalent.
		ch := qsChan(t, conn)
		if _, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{a.header: a.arg}); err != nil {
			t.Errorf("SUBSCRIBE header %s:%s did not become a queue argument: %v", a.header, a.value, err)
		}
	}
}
