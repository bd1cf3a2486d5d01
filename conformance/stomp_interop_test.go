package conformance

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// interopBodies are the bodies every cross-protocol test carries.
func interopBodies() map[string][]byte {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>8)
	}
	return map[string][]byte{
		"empty":     nil,
		"all bytes": all,
		"NULs":      {0, 0, 'a', 0, '\n', 0},
		"1 MiB":     big,
	}
}

func TestStompSendToAMQPConsumer(t *testing.T) {
	b := brokertest.New(t)
	ch := amqpChannel(t, b)
	if _, err := ch.QueueDeclare("from-stomp", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	msgs, err := ch.Consume("from-stomp", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := stompDial(t, b)
	for name, body := range interopBodies() {
		err := c.Send("/queue/from-stomp", "application/x-test", body, stomp.SendOpt.Receipt,
			stomp.SendOpt.Header("content-encoding", "gzip"),
			stomp.SendOpt.Header("correlation-id", "corr-1"),
			stomp.SendOpt.Header("reply-to", "/queue/answers"),
			stomp.SendOpt.Header("expiration", "60000"),
			stomp.SendOpt.Header("priority", "7"),
			stomp.SendOpt.Header("persistent", "true"),
			stomp.SendOpt.Header("amqp-message-id", "mid-1"),
			stomp.SendOpt.Header("timestamp", "1700000000"),
			stomp.SendOpt.Header("type", "kind"),
			stomp.SendOpt.Header("user-id", "guest"),
			stomp.SendOpt.Header("app-id", "app"),
			stomp.SendOpt.Header("x-custom", "v:1\\n"),
			stomp.SendOpt.Header("x-custom", "second is ignored"),
			stomp.SendOpt.Header("number", "42"),
		)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := amqpRecv(t, msgs)
		if !bytes.Equal(d.Body, body) {
			t.Fatalf("%s: body differs (%d bytes, want %d)", name, len(d.Body), len(body))
		}
		if d.ContentType != "application/x-test" || d.ContentEncoding != "gzip" || d.CorrelationId != "corr-1" ||
			d.ReplyTo != "/queue/answers" || d.Expiration != "60000" || d.Priority != 7 ||
			d.DeliveryMode != amqp.Persistent || d.MessageId != "mid-1" || d.Timestamp.Unix() != 1700000000 ||
			d.Type != "kind" || d.UserId != "guest" || d.AppId != "app" {
			t.Fatalf("%s: properties %+v", name, d)
		}
		if d.Exchange != "" || d.RoutingKey != "from-stomp" {
			t.Fatalf("%s: exchange %q key %q", name, d.Exchange, d.RoutingKey)
		}
		// As RabbitMQ's plugin, every header but destination and the
		// properties is copied, STOMP's own too: go-stomp's receipt and
		// content-length.
		if _, ok := d.Headers["receipt"].(string); !ok {
			t.Fatalf("%s: no receipt header in %v", name, d.Headers)
		}
		want := amqp.Table{"x-custom": "v:1\\n", "number": "42", "content-length": strconv.Itoa(len(body)), "receipt": d.Headers["receipt"]}
		if len(d.Headers) != len(want) {
			t.Fatalf("%s: headers %v, want %v", name, d.Headers, want)
		}
		for k, v := range want {
			if d.Headers[k] != v {
				t.Fatalf("%s: header %s = %#v, want %#v", name, k, d.Headers[k], v)
			}
		}
	}
	// Without the optional headers no property is set.
	if err := c.Send("/queue/from-stomp", "", []byte("bare"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	d := amqpRecv(t, msgs)
	if d.ContentType != "" || d.DeliveryMode != 0 || d.Priority != 0 || !d.Timestamp.IsZero() ||
		len(d.Headers) != 2 || d.Headers["content-length"] != "4" || d.Headers["receipt"] == nil {
		t.Fatalf("bare message (only go-stomp's content-length and receipt headers): %+v", d)
	}
}

func TestStompSubscriberGetsAMQPPublish(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, err := c.Subscribe("/queue/to-stomp", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Send("/queue/unrelated", "", nil, stomp.SendOpt.Receipt)
	ch := amqpChannel(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts := time.Unix(1700000001, 0)
	for name, body := range interopBodies() {
		err := ch.PublishWithContext(ctx, "", "to-stomp", false, false, amqp.Publishing{
			ContentType: "application/x-amqp", ContentEncoding: "br", DeliveryMode: amqp.Persistent,
			Priority: 3, CorrelationId: "c-9", ReplyTo: "amq.gen-reply", Expiration: "90000", MessageId: "m-9",
			Timestamp: ts, Type: "t", UserId: "guest", AppId: "a",
			Headers: amqp.Table{
				"str": "s", "int32": int32(-5), "int64": int64(1 << 40), "bool": true, "float": 1.5,
				"bytes": []byte("raw"), "time": ts, "dec": amqp.Decimal{Scale: 2, Value: 12345},
				"array": []any{"a", int32(1)}, "table": amqp.Table{"k": "v"}, "colon:key": "x\ny",
			},
			Body: body,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := recv(t, sub)
		if !bytes.Equal(m.Body, body) {
			t.Fatalf("%s: body differs (%d bytes, want %d)", name, len(m.Body), len(body))
		}
		h := m.Header
		want := map[string]string{
			"destination": "/queue/to-stomp", "content-type": "application/x-amqp", "content-encoding": "br",
			"persistent": "true", "priority": "3", "correlation-id": "c-9", "reply-to": "/reply-queue/amq.gen-reply",
			"expiration": "90000", "amqp-message-id": "m-9", "timestamp": "1700000001", "type": "t",
			"user-id": "guest", "app-id": "a", "redelivered": "false",
			"str": "s", "int32": "-5", "int64": strconv.FormatInt(1<<40, 10), "colon:key": "x\ny",
		}
		if len(body) > 0 {
			want["content-length"] = strconv.Itoa(len(body))
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Fatalf("%s: header %s = %q, want %q (all: %v)", name, k, got, v, h)
			}
		}
		// As RabbitMQ: header table values reach STOMP only when they are
		// long strings or 32- and 64-bit integers; the rest are left out
		// (checked with pika against RabbitMQ 3.10).
		for _, k := range []string{"bool", "float", "bytes", "time", "dec", "array", "table"} {
			if v, ok := h.Contains(k); ok {
				t.Fatalf("%s: header %s = %q, which RabbitMQ leaves out", name, k, v)
			}
		}
		if h.Get("ack") == "" || h.Get("ack") != h.Get("message-id") {
			t.Fatalf("%s: ack %q message-id %q", name, h.Get("ack"), h.Get("message-id"))
		}
		if err := c.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStompAMQPRoundTrip(t *testing.T) {
	// STOMP -> broker -> AMQP consumer republishes -> STOMP: the mapped
	// headers come back as they were sent.
	b := brokertest.New(t)
	ch := amqpChannel(t, b)
	if _, err := ch.QueueDeclare("relay", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	msgs, _ := ch.Consume("relay", "", true, false, false, false, nil)
	c := stompDial(t, b)
	sub, _ := c.Subscribe("/queue/back", stomp.AckAuto)
	_ = c.Send("/queue/relay", "text/plain", []byte("round"), stomp.SendOpt.Header("correlation-id", "rt"),
		stomp.SendOpt.Header("h1", "v1"), stomp.SendOpt.Header("persistent", "true"))
	d := amqpRecv(t, msgs)
	if err := ch.PublishWithContext(context.Background(), "", "back", false, false, amqp.Publishing{
		ContentType: d.ContentType, CorrelationId: d.CorrelationId, Headers: d.Headers, DeliveryMode: d.DeliveryMode, Body: d.Body,
	}); err != nil {
		t.Fatal(err)
	}
	m := recv(t, sub)
	if string(m.Body) != "round" || m.ContentType != "text/plain" || m.Header.Get("correlation-id") != "rt" ||
		m.Header.Get("h1") != "v1" || m.Header.Get("persistent") != "true" {
		t.Fatalf("round trip: %q %v", m.Body, m.Header)
	}
}

func TestStompTopicFromAMQP(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, _ := c.Subscribe("/topic/a.#", stomp.AckAuto)
	_ = c.Send("/queue/unrelated", "", nil, stomp.SendOpt.Receipt)
	ch := amqpChannel(t, b)
	_ = ch.PublishWithContext(context.Background(), "amq.topic", "a.b.c", false, false, amqp.Publishing{Body: []byte("t")})
	if m := recv(t, sub); m.Destination != "/topic/a.b.c" {
		t.Fatalf("destination %q", m.Destination)
	}
}
