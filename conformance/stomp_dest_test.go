package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

func amqpChannel(t testing.TB, b *brokertest.Broker) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func amqpRecv(t testing.TB, msgs <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-msgs:
		if !ok {
			t.Fatal("AMQP consumer closed")
		}
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no AMQP delivery")
	}
	return amqp.Delivery{}
}

func TestStompTopicFanout(t *testing.T) {
	b := brokertest.New(t)
	c1, c2 := stompDial(t, b), stompDial(t, b)
	s1, err := c1.Subscribe("/topic/news.*", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c2.Subscribe("/topic/news.sport", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	// A receipt on a frame after SUBSCRIBE makes sure the bindings exist.
	if err := c2.Send("/topic/unrelated", "", nil, stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	if err := c1.Send("/topic/news.sport", "", []byte("goal"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*stomp.Subscription{s1, s2} {
		m := recv(t, s)
		if string(m.Body) != "goal" || m.Destination != "/topic/news.sport" {
			t.Fatalf("got %q on %q", m.Body, m.Destination)
		}
	}
	_ = c1.Send("/topic/news.weather", "", []byte("rain"))
	if m := recv(t, s1); string(m.Body) != "rain" {
		t.Fatalf("got %q", m.Body)
	}
	expectNone(t, s2, 200*time.Millisecond)
}

func TestStompDurableTopicSubscription(t *testing.T) {
	b := brokertest.New(t)
	sub := func(c *stomp.Conn) *stomp.Subscription {
		s, err := c.Subscribe("/topic/durable.key", stomp.AckClientIndividual, stomp.SubscribeOpt.Id("dsub"),
			stomp.SubscribeOpt.Header("durable", "true"), stomp.SubscribeOpt.Header("auto-delete", "false"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c := stompDial(t, b)
	sub(c)
	_ = c.Send("/topic/unrelated", "", nil, stomp.SendOpt.Receipt)
	_ = c.Disconnect()
	// Messages published while the subscriber is away wait in its queue.
	p := stompDial(t, b)
	if err := p.Send("/topic/durable.key", "", []byte("kept"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	c2 := stompDial(t, b)
	s2 := sub(c2)
	m := recv(t, s2)
	if string(m.Body) != "kept" {
		t.Fatalf("got %q", m.Body)
	}
	_ = c2.Ack(m)
	// The queue has RabbitMQ's name for this subscription.
	ch := amqpChannel(t, b)
	const name = "stomp-subscription-"
	if _, err := ch.QueueDeclarePassive(durableName(t), true, false, false, false, nil); err != nil {
		t.Fatalf("durable subscription queue %s...: %v", name, err)
	}
	// UNSUBSCRIBE with durable:true deletes it.
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:dsub\ndestination:/topic/durable.key\ndurable:true\nauto-delete:false\n\n\x00" +
		"UNSUBSCRIBE\nid:dsub\ndurable:true\nreceipt:u\n\n\x00")
	if f := r.read(); f.command != "RECEIPT" {
		t.Fatalf("got %s %v %q", f.command, f.headers, f.body)
	}
	ch2 := amqpChannel(t, b)
	if _, err := ch2.QueueDeclarePassive(durableName(t), true, false, false, false, nil); err == nil {
		t.Fatal("durable subscription queue survived UNSUBSCRIBE durable:true")
	}
}

// durableName is the queue RabbitMQ 3.x/4.x declares for subscription id
// "dsub" on /topic/durable.key: stomp-subscription- and the base64url MD5
// of term_to_binary({"durable.key", "dsub"}).
func durableName(t testing.TB) string {
	return "stomp-subscription-T5XzDigm5IQtxPpdFtnwWg"
}

func TestStompExchangeDestination(t *testing.T) {
	b := brokertest.New(t)
	ch := amqpChannel(t, b)
	if err := ch.ExchangeDeclare("logs", "direct", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	c := stompDial(t, b)
	s, err := c.Subscribe("/exchange/logs/error", stomp.AckAuto, stomp.SubscribeOpt.Header("x-queue-name", "my-errors"))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Send("/topic/unrelated", "", nil, stomp.SendOpt.Receipt)
	// The queue is named by x-queue-name and exclusive to the STOMP session.
	if _, err := ch.QueueDeclarePassive("my-errors", false, true, true, false, nil); err == nil || !strings.Contains(err.Error(), "RESOURCE_LOCKED") {
		t.Fatalf("x-queue-name queue: %v", err)
	}
	ch = amqpChannel(t, b)
	_ = c.Send("/exchange/logs/info", "", []byte("i"))
	_ = c.Send("/exchange/logs/error", "", []byte("e"))
	m := recv(t, s)
	if string(m.Body) != "e" || m.Destination != "/exchange/logs/error" {
		t.Fatalf("got %q on %q", m.Body, m.Destination)
	}
	expectNone(t, s, 200*time.Millisecond)
	// A key with '/' is shown escaped, as RabbitMQ does.
	if err := ch.ExchangeDeclare("fan", "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	s2, _ := c.Subscribe("/exchange/fan", stomp.AckAuto)
	_ = c.Send("/topic/unrelated", "", nil, stomp.SendOpt.Receipt)
	if err := ch.PublishWithContext(context.Background(), "fan", "a/b", false, false, amqp.Publishing{Body: []byte("f")}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s2); m.Destination != "/exchange/fan/a%2Fb" {
		t.Fatalf("destination %q", m.Destination)
	}
}

func TestStompAmqQueueDestination(t *testing.T) {
	b := brokertest.New(t)
	ch := amqpChannel(t, b)
	if _, err := ch.QueueDeclare("existing", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	c := stompDial(t, b)
	s, err := c.Subscribe("/amq/queue/existing", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Send("/amq/queue/existing", "", []byte("x"))
	if m := recv(t, s); string(m.Body) != "x" || m.Destination != "/queue/existing" {
		t.Fatalf("got %q on %q", m.Body, m.Destination)
	}
	// SEND to a missing /amq/queue is not declared: the message is dropped.
	_ = c.Send("/amq/queue/missing", "", []byte("x"), stomp.SendOpt.Receipt)
	if _, err := ch.QueueDeclarePassive("missing", false, false, false, false, nil); err == nil {
		t.Fatal("/amq/queue declared a queue")
	}
}

func TestStompQueueIsDurableAndShared(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	_ = c.Send("/queue/shared", "", []byte("x"), stomp.SendOpt.Receipt)
	ch := amqpChannel(t, b)
	// Passive declare with the same flags RabbitMQ's plugin uses.
	q, err := ch.QueueDeclarePassive("shared", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 1 {
		t.Fatalf("%d messages", q.Messages)
	}
	if _, err := ch.QueueDeclare("shared", true, false, false, false, nil); err != nil {
		t.Fatalf("equivalent declare of /queue/shared: %v", err)
	}
	// Competing consumers share it.
	c1, c2 := stompDial(t, b), stompDial(t, b)
	s1, _ := c1.Subscribe("/queue/shared", stomp.AckAuto)
	s2, _ := c2.Subscribe("/queue/shared", stomp.AckAuto)
	_ = c1.Send("/queue/unrelated", "", nil, stomp.SendOpt.Receipt)
	_ = c2.Send("/queue/unrelated", "", nil, stomp.SendOpt.Receipt)
	for i := 0; i < 9; i++ {
		_ = c.Send("/queue/shared", "", []byte("y"))
	}
	n1, n2 := 0, 0
	deadline := time.After(5 * time.Second)
	for n1+n2 < 10 {
		select {
		case <-s1.C:
			n1++
		case <-s2.C:
			n2++
		case <-deadline:
			t.Fatalf("got %d+%d of 10", n1, n2)
		}
	}
	if n1 == 0 || n2 == 0 {
		t.Fatalf("not shared: %d %d", n1, n2)
	}
}

func TestStompQueueArguments(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	s, err := c.Subscribe("/queue/limited", stomp.AckClientIndividual, stomp.SubscribeOpt.Header("x-max-length", "2"),
		stomp.SubscribeOpt.Header("x-message-ttl", "60000"), stomp.SubscribeOpt.Header("x-dead-letter-exchange", "amq.fanout"))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Unsubscribe()
	for _, body := range []string{"1", "2", "3"} {
		_ = c.Send("/queue/limited", "", []byte(body), stomp.SendOpt.Receipt)
	}
	ch := amqpChannel(t, b)
	q, err := ch.QueueDeclarePassive("limited", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 2 {
		t.Fatalf("x-max-length 2: %d messages", q.Messages)
	}
	// The arguments were typed as RabbitMQ types them, so an AMQP client
	// declaring the same queue with longs is equivalent.
	if _, err := ch.QueueDeclare("limited", true, false, false, false, amqp.Table{
		"x-max-length": int64(2), "x-message-ttl": int64(60000), "x-dead-letter-exchange": "amq.fanout"}); err != nil {
		t.Fatalf("equivalent declare: %v", err)
	}
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:1\ndestination:/queue/badargs\nx-max-length:lots\n\n\x00")
	r.expectRefusal("Processing error") // RabbitMQ 3.10's message header
}

func TestStompTempQueueReplyOverAMQP(t *testing.T) {
	b := brokertest.New(t)
	ch := amqpChannel(t, b)
	if _, err := ch.QueueDeclare("rpc", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	reqs, err := ch.Consume("rpc", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/amq/queue/rpc\nreply-to:/temp-queue/foo\ncorrelation-id:c1\n\nping\x00")
	req := amqpRecv(t, reqs)
	if !strings.HasPrefix(req.ReplyTo, "amq.gen-") {
		t.Fatalf("AMQP side sees reply-to %q", req.ReplyTo)
	}
	if err := ch.PublishWithContext(context.Background(), "", req.ReplyTo, false, false,
		amqp.Publishing{CorrelationId: req.CorrelationId, Body: []byte("pong")}); err != nil {
		t.Fatal(err)
	}
	f := r.read()
	if f.command != "MESSAGE" || string(f.body) != "pong" {
		t.Fatalf("got %s %v %q", f.command, f.headers, f.body)
	}
	// RabbitMQ names the reply queue itself as the destination (checked
	// against 3.10 with stomp.py); the subscription names the temp-queue.
	if f.headers["destination"] != "/queue/"+req.ReplyTo || f.headers["subscription"] != "/temp-queue/foo" || f.headers["correlation-id"] != "c1" {
		t.Fatalf("reply headers %v", f.headers)
	}
	// The same temp-queue id reuses the queue.
	r.write("SEND\ndestination:/amq/queue/rpc\nreply-to:/temp-queue/foo\n\nping2\x00")
	if req2 := amqpRecv(t, reqs); req2.ReplyTo != req.ReplyTo {
		t.Fatalf("second reply-to %q, first %q", req2.ReplyTo, req.ReplyTo)
	}
}

func TestStompTempQueueReplyOverSTOMP(t *testing.T) {
	b := brokertest.New(t)
	server := stompDial(t, b)
	reqs, err := server.Subscribe("/queue/stomp-rpc", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	_ = server.Send("/queue/unrelated", "", nil, stomp.SendOpt.Receipt)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/queue/stomp-rpc\nreply-to:/temp-queue/t1\n\nq\x00")
	req := recv(t, reqs)
	replyTo := req.Header.Get("reply-to")
	if !strings.HasPrefix(replyTo, "/reply-queue/amq.gen-") {
		t.Fatalf("STOMP responder sees reply-to %q", replyTo)
	}
	if err := server.Send(replyTo, "text/plain", []byte("a")); err != nil {
		t.Fatal(err)
	}
	f := r.read()
	if f.command != "MESSAGE" || string(f.body) != "a" || f.headers["subscription"] != "/temp-queue/t1" ||
		f.headers["destination"] != "/queue/"+strings.TrimPrefix(replyTo, "/reply-queue/") {
		t.Fatalf("got %s %v %q", f.command, f.headers, f.body)
	}
	// The reply queue is private to the requester's connection.
	c := stompDial(t, b)
	if _, err := c.Subscribe(replyTo, stomp.AckAuto); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.Send("/queue/x", "", nil, stomp.SendOpt.Receipt); err == nil {
		t.Fatal("subscribing to another connection's reply queue succeeded")
	}
}
