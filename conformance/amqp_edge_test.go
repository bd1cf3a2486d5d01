package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// Edge cases clients run into: transactions with returns, acks after
// cancel or delete, frame splitting, internal exchanges, user_id and
// expiration checks, capabilities the client did not announce, and many
// channels at once (for the race detector).

func TestAMQPTxMandatoryReturnOnCommit(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	must(t, ch.Tx(), "tx.select")
	must(t, ch.Publish("", "tx-nowhere", true, false, amqp.Publishing{Body: []byte("r")}), "publish")
	// Nothing is routed, so nothing returned, before the commit.
	must(t, ch.Qos(0, 0, false), "round trip")
	select {
	case r := <-returns:
		t.Fatalf("return before commit: %+v", r)
	default:
	}
	must(t, ch.TxCommit(), "commit")
	// The return precedes commit-ok on the wire.
	select {
	case r := <-returns:
		if r.ReplyCode != 312 || r.RoutingKey != "tx-nowhere" || string(r.Body) != "r" {
			t.Fatalf("return %+v", r)
		}
	default:
		t.Fatal("no basic.return before tx.commit-ok")
	}
	// Rolled back mandatory publishes are not returned.
	must(t, ch.Publish("", "tx-nowhere", true, false, amqp.Publishing{Body: []byte("x")}), "publish")
	must(t, ch.TxRollback(), "rollback")
	must(t, ch.TxCommit(), "empty commit")
	select {
	case r := <-returns:
		t.Fatalf("rolled back publish returned: %+v", r)
	default:
	}
	stillUsable(t, conn)
}

func TestAMQPTxAckUnknownTag(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.Tx(), "tx.select")
	notify := ch.NotifyClose(make(chan *amqp.Error, 1))
	must(t, ch.Ack(42, false), "ack")
	// The ack has no reply: the channel.close may come before or after a
	// following request, so the close itself is what is checked.
	e := waitClosed(t, notify, "channel")
	if e.Code != 406 || e.Reason != "PRECONDITION_FAILED - unknown delivery tag 42" {
		t.Fatalf("channel closed with %d %q", e.Code, e.Reason)
	}
}

func TestAMQPAckAfterCancelAndDelete(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	declareQ(t, ch, "aac", nil)
	pubBody(t, ch, "", "aac", "1")
	pubBody(t, ch, "", "aac", "2")
	ds := consume(t, ch, "aac", "c", false, nil)
	d1, d2 := next(t, ds), next(t, ds)
	must(t, ch.Cancel("c", false), "cancel")
	// Deliveries of a cancelled consumer are still acked and rejected.
	must(t, d1.Ack(false), "ack after cancel")
	must(t, d2.Reject(true), "reject after cancel")
	d2 = getOne(t, ch, "aac", false)
	// And after the queue is gone.
	ch2 := amqpChan(t, conn)
	n, err := ch2.QueueDelete("aac", false, false, false)
	must(t, err, "delete")
	if n != 0 {
		t.Fatalf("delete-ok count %d (the unacked message is not ready)", n)
	}
	must(t, d2.Ack(false), "ack after delete")
	stillUsable(t, conn)
	// The channel is still fine: a round trip works.
	must(t, ch.Qos(1, 0, false), "qos")
}

func TestAMQPLargeMessageSmallFrames(t *testing.T) {
	b := brokertest.New(t)
	conn := amqpDialConfig(t, b.AMQPURL(), amqp.Config{FrameSize: 4096})
	if conn.Config.FrameSize != 4096 {
		t.Fatalf("negotiated frame size %d", conn.Config.FrameSize)
	}
	ch := amqpChan(t, conn)
	declareQ(t, ch, "big", nil)
	body := make([]byte, 300_000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	hdrs := amqp.Table{"pad": string(bytes.Repeat([]byte("h"), 2000))}
	pub(t, ch, "", "big", amqp.Publishing{Body: body, Headers: hdrs})
	d := next(t, consume(t, ch, "big", "", true, nil))
	if !bytes.Equal(d.Body, body) || d.Headers["pad"] != hdrs["pad"] {
		t.Fatalf("delivery of %d bytes differs", len(d.Body))
	}
	ch2 := amqpChan(t, conn)
	declareQ(t, ch2, "big2", nil)
	pub(t, ch2, "", "big2", amqp.Publishing{Body: body})
	if g := getOne(t, ch2, "big2", true); !bytes.Equal(g.Body, body) {
		t.Fatalf("get-ok of %d bytes differs", len(g.Body))
	}
	returns := ch2.NotifyReturn(make(chan amqp.Return, 1))
	must(t, ch2.Publish("", "nobody-home", true, false, amqp.Publishing{Body: body}), "publish")
	select {
	case r := <-returns:
		if !bytes.Equal(r.Body, body) {
			t.Fatalf("returned %d bytes differ", len(r.Body))
		}
	case <-time.After(amqpWait):
		t.Fatal("no return")
	}

	// The raw view: no frame from the server exceeds the negotiated 4096.
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{frameMax: 4096})
	r.openChannel(1)
	r.send(1, &wire.QueueDeclare{Queue: "big3"})
	rawExpect[*wire.QueueDeclareOk](r)
	pub(t, amqpChan(t, conn), "", "big3", amqp.Publishing{Body: body})
	waitCount(t, conn, "big3", 1)
	r.send(1, &wire.BasicGet{Queue: "big3", NoAck: true})
	got := 0
	for got < len(body) {
		f, err := r.readFrame(amqpWait)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Payload)+8 > 4096 {
			t.Fatalf("frame of %d octets with frame_max 4096", len(f.Payload)+8)
		}
		if f.Type == wire.FrameBody {
			got += len(f.Payload)
		}
	}
}

func TestAMQPInternalExchange(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("ix", "fanout", false, false, true, false, nil), "declare internal")
	must(t, ch.ExchangeDeclare("ix.front", "fanout", false, false, false, false, nil), "declare")
	must(t, ch.ExchangeBind("ix", "", "ix.front", false, nil), "e2e bind")
	q := declareQ(t, ch, "", nil)
	must(t, ch.QueueBind(q.Name, "", "ix", false, nil), "bind")
	// Reachable through another exchange...
	pubBody(t, ch, "ix.front", "", "via front")
	if d := getOne(t, ch, q.Name, true); string(d.Body) != "via front" {
		t.Fatalf("got %q", d.Body)
	}
	// ...but not by publishing to it.
	notify := ch.NotifyClose(make(chan *amqp.Error, 1))
	pubBody(t, ch, "ix", "", "direct")
	wantAMQPError(t, waitClosed(t, notify, "channel"), 403, "ACCESS_REFUSED - cannot publish to internal exchange 'ix' in vhost '/'")
	stillUsable(t, conn)
}

func TestAMQPPublishPropertyChecks(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	ch := amqpChan(t, conn)
	q := declareQ(t, ch, "", nil)
	pub(t, ch, "", q.Name, amqp.Publishing{Body: []byte("me"), UserId: "guest"})
	if d := getOne(t, ch, q.Name, true); d.UserId != "guest" {
		t.Fatalf("user_id %q", d.UserId)
	}
	for _, tc := range []struct {
		p    amqp.Publishing
		text string
	}{
		{amqp.Publishing{UserId: "bob"}, "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'"},
		{amqp.Publishing{Expiration: "soon"}, "PRECONDITION_FAILED - invalid expiration 'soon': no_integer"},
		{amqp.Publishing{Expiration: "-5"}, "PRECONDITION_FAILED - invalid expiration '-5': {value_negative,-5}"},
	} {
		c := amqpChan(t, conn)
		notify := c.NotifyClose(make(chan *amqp.Error, 1))
		pub(t, c, "", q.Name, tc.p)
		wantAMQPError(t, waitClosed(t, notify, "channel"), 406, tc.text)
	}
	if n := messageCount(t, conn, q.Name); n != 0 {
		t.Fatalf("refused publishes were enqueued: %d", n)
	}
}

// A client that did not announce consumer_cancel_notify is not sent
// basic.cancel when its queue is deleted, as RabbitMQ does.
func TestAMQPCancelNotifyNeedsCapability(t *testing.T) {
	b := brokertest.New(t)
	for _, announce := range []bool{true, false} {
		t.Run(fmt.Sprint("announced=", announce), func(t *testing.T) {
			r := rawAMQPDial(t, b.AMQPAddr())
			h := rawHandshake{}
			if announce {
				h.caps = message.Table{"consumer_cancel_notify": true}
			}
			r.handshake(h)
			r.openChannel(1)
			q := fmt.Sprint("cnc-", announce)
			r.send(1, &wire.QueueDeclare{Queue: q})
			rawExpect[*wire.QueueDeclareOk](r)
			r.send(1, &wire.BasicConsume{Queue: q, ConsumerTag: "t", NoAck: true})
			rawExpect[*wire.BasicConsumeOk](r)
			r.openChannel(2)
			r.send(2, &wire.QueueDelete{Queue: q})
			ch, m := r.method()
			if announce {
				if c, ok := m.(*wire.BasicCancel); !ok || ch != 1 || c.ConsumerTag != "t" {
					t.Fatalf("got %T %+v on %d, want basic.cancel on 1", m, m, ch)
				}
				ch, m = r.method()
			}
			if _, ok := m.(*wire.QueueDeleteOk); !ok || ch != 2 {
				t.Fatalf("got %T on %d, want queue.delete-ok on 2", m, ch)
			}
		})
	}
}

func TestAMQPConsumeNowaitError(t *testing.T) {
	_, conn, ch := amqpSetup(t)
	notify := ch.NotifyClose(make(chan *amqp.Error, 1))
	_, err := ch.Consume("nowait-missing", "", true, false, false, true, nil)
	must(t, err, "consume nowait")
	wantAMQPError(t, waitClosed(t, notify, "channel"), 404, "NOT_FOUND - no queue 'nowait-missing' in vhost '/'")
	stillUsable(t, conn)
}

// Many connections and channels publishing and consuming at once: every
// message arrives exactly once. Run with -race this exercises the adapter's
// reader, writer and broker sinks concurrently.
func TestAMQPConcurrentChannels(t *testing.T) {
	b, conn, ch := amqpSetup(t)
	declareQ(t, ch, "conc", nil)
	const conns, chans, per = 3, 3, 100
	total := conns * chans * per

	seen := make(map[string]bool)
	var mu sync.Mutex
	done := make(chan struct{})
	for c := 0; c < 2; c++ {
		cch := amqpChan(t, conn)
		must(t, cch.Qos(20, 0, false), "qos")
		ds := consume(t, cch, "conc", "", false, nil)
		go func() {
			for d := range ds {
				mu.Lock()
				dup := seen[string(d.Body)]
				seen[string(d.Body)] = true
				n := len(seen)
				mu.Unlock()
				if dup {
					t.Errorf("duplicate %q", d.Body)
				}
				_ = d.Ack(false)
				if n == total {
					close(done)
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		pc := amqpDial(t, b)
		for k := 0; k < chans; k++ {
			pch := amqpChan(t, pc)
			wg.Add(1)
			go func(c, k int) {
				defer wg.Done()
				confirm := k%2 == 0
				var confirms chan amqp.Confirmation
				if confirm {
					if err := pch.Confirm(false); err != nil {
						t.Error(err)
						return
					}
					confirms = pch.NotifyPublish(make(chan amqp.Confirmation, per))
				}
				for i := 0; i < per; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), amqpWait)
					err := pch.PublishWithContext(ctx, "", "conc", false, false, amqp.Publishing{Body: []byte(fmt.Sprintf("%d/%d/%d", c, k, i))})
					cancel()
					if err != nil {
						t.Error(err)
						return
					}
				}
				if confirm {
					for i := 0; i < per; i++ {
						select {
						case cf := <-confirms:
							if !cf.Ack {
								t.Errorf("nack %d", cf.DeliveryTag)
							}
						case <-time.After(amqpWait):
							t.Error("missing confirms")
							return
						}
					}
				}
			}(c, k)
		}
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(amqpWait):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("received %d of %d", len(seen), total)
	}
}

// A bad publish inside a transaction closes the channel and discards the
// whole transaction: nothing published before it in the same transaction
// is committed, as in RabbitMQ, which checks each publish when it arrives.
func TestAMQPTxBadPublishDiscardsTransaction(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	for name, bad := range map[string]func(*amqp.Channel) error{
		"missing exchange": func(c *amqp.Channel) error {
			return c.Publish("tx-missing-x", "k", false, false, amqp.Publishing{Body: []byte("bad")})
		},
		"wrong user_id": func(c *amqp.Channel) error {
			return c.Publish("", "txq", false, false, amqp.Publishing{Body: []byte("bad"), UserId: "mallory"})
		},
		"bad expiration": func(c *amqp.Channel) error {
			return c.Publish("", "txq", false, false, amqp.Publishing{Body: []byte("bad"), Expiration: "x"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			ch := amqpChan(t, conn)
			declareQ(t, ch, "txq", nil)
			must(t, ch.Tx(), "tx.select")
			pubBody(t, ch, "", "txq", "good")
			must(t, bad(ch), "publish")
			err := ch.TxCommit()
			var ae *amqp.Error
			if err == nil || !errors.As(err, &ae) && err != amqp.ErrClosed {
				t.Fatalf("commit after a bad publish: %v", err)
			}
			if n := messageCount(t, conn, "txq"); n != 0 {
				t.Fatalf("%d messages of a failed transaction were committed", n)
			}
		})
	}
}

// The expiration property is parsed as RabbitMQ parses it (Erlang's
// string:to_integer, then at most ten years), with its reasons: a
// leftover after the digits, a negative or too large value.
func TestAMQPPublishExpirationTexts(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	q := declareQ(t, amqpChan(t, conn), "", nil)
	for _, tc := range []struct{ exp, reason string }{
		{"1.5", `{leftover_string,".5"}`},
		{"5 ", `{leftover_string," "}`},
		{"-5x", `{leftover_string,"x"}`},
		{"1e3", `{leftover_string,"e3"}`},
		{" 5", "no_integer"}, // ("" too, but amqp091-go sends no empty expiration)
		{"315360000001", "{value_too_large,315360000001}"},
		{"99999999999999999999", "{value_too_large,99999999999999999999}"},
	} {
		c := amqpChan(t, conn)
		notify := c.NotifyClose(make(chan *amqp.Error, 1))
		pub(t, c, "", q.Name, amqp.Publishing{Expiration: tc.exp})
		wantAMQPError(t, waitClosed(t, notify, "channel"), 406,
			"PRECONDITION_FAILED - invalid expiration '"+tc.exp+"': "+tc.reason)
	}
	// The largest expiration, a sign and a negative zero are taken.
	c := amqpChan(t, conn)
	for _, exp := range []string{"315360000000", "+5", "-0"} {
		pub(t, c, "", q.Name, amqp.Publishing{Expiration: exp})
	}
	if n := messageCount(t, conn, q.Name); n != 3 {
		t.Fatalf("%d of 3 valid expirations enqueued", n)
	}
}

// An exclusive queue is never durable, whatever the declare says, as in
// RabbitMQ (its channel declares durable andalso not exclusive): the API
// shows it transient, a redeclare with either durable flag is equivalent,
// and its messages are not logged.
func TestAMQPExclusiveQueueIsTransient(t *testing.T) {
	b, conn, _ := amqpSetup(t)
	ch := amqpChan(t, conn)
	if _, err := ch.QueueDeclare("excl-durable", true, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, durable := range []bool{true, false} {
		if _, err := ch.QueueDeclare("excl-durable", durable, false, true, false, nil); err != nil {
			t.Fatalf("redeclare with durable=%v: %v", durable, err)
		}
	}
	api := newAPI(t, b)
	var q obj
	api.getJSON("/api/queues/%2F/excl-durable", &q)
	if q["durable"] != false || q["exclusive"] != true {
		t.Fatalf("exclusive queue declared durable: %v", q)
	}
}
