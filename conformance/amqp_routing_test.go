package conformance

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Routing over the wire, alternate exchanges, CC/BCC, dead-lettering,
// priority queues and direct reply-to.

// routedTo publishes one message and reports which of queues got it
// (draining them), in sorted order.
func routedTo(t *testing.T, ch *amqp.Channel, exchange, key string, headers amqp.Table, queues ...string) []string {
	t.Helper()
	body := fmt.Sprintf("%s|%s|%v", exchange, key, headers)
	pub(t, ch, exchange, key, amqp.Publishing{Body: []byte(body), Headers: headers})
	// A round trip on the same channel orders the gets after the publish.
	if err := ch.Qos(0, 0, false); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range queues {
		d, ok, err := ch.Get(q, true)
		must(t, err, "get")
		if ok {
			if string(d.Body) != body {
				t.Fatalf("queue %s held %q, want %q", q, d.Body, body)
			}
			got = append(got, q)
		}
		if d, ok, _ := ch.Get(q, true); ok {
			t.Fatalf("queue %s got a second copy %q", q, d.Body)
		}
	}
	sort.Strings(got)
	return got
}

func wantRoute(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routed to %v, want %v", got, want)
	}
}

func TestAMQPDirectRouting(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("rt.direct", "direct", false, false, false, false, nil), "declare")
	for _, q := range []string{"d1", "d2", "d3"} {
		declareQ(t, ch, q, nil)
	}
	must(t, ch.QueueBind("d1", "a", "rt.direct", false, nil), "bind")
	must(t, ch.QueueBind("d2", "b", "rt.direct", false, nil), "bind")
	must(t, ch.QueueBind("d3", "a", "rt.direct", false, nil), "bind")
	must(t, ch.QueueBind("d3", "b", "rt.direct", false, nil), "bind")
	qs := []string{"d1", "d2", "d3"}
	wantRoute(t, routedTo(t, ch, "rt.direct", "a", nil, qs...), "d1", "d3")
	wantRoute(t, routedTo(t, ch, "rt.direct", "b", nil, qs...), "d2", "d3")
	wantRoute(t, routedTo(t, ch, "rt.direct", "c", nil, qs...))
	// The default exchange routes by queue name; amq.direct exists.
	wantRoute(t, routedTo(t, ch, "", "d2", nil, qs...), "d2")
	must(t, ch.QueueBind("d1", "k", "amq.direct", false, nil), "bind amq.direct")
	wantRoute(t, routedTo(t, ch, "amq.direct", "k", nil, qs...), "d1")
	// Binding to the default exchange is refused.
	err := ch.QueueBind("d1", "x", "", false, nil)
	wantAMQPError(t, err, 403, "ACCESS_REFUSED - operation not permitted on the default exchange")
}

func TestAMQPFanoutRouting(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("rt.fan", "fanout", false, false, false, false, nil), "declare")
	for _, q := range []string{"f1", "f2", "f3"} {
		declareQ(t, ch, q, nil)
	}
	must(t, ch.QueueBind("f1", "", "rt.fan", false, nil), "bind")
	must(t, ch.QueueBind("f2", "ignored", "rt.fan", false, nil), "bind")
	wantRoute(t, routedTo(t, ch, "rt.fan", "anything", nil, "f1", "f2", "f3"), "f1", "f2")
	must(t, ch.QueueBind("f3", "", "amq.fanout", false, nil), "bind")
	wantRoute(t, routedTo(t, ch, "amq.fanout", "", nil, "f1", "f2", "f3"), "f3")
}

func TestAMQPTopicRouting(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("rt.topic", "topic", false, false, false, false, nil), "declare")
	binds := map[string][]string{
		"t1": {"*.orange.*"},
		"t2": {"*.*.rabbit", "lazy.#"},
		"t3": {"#"},
		"t4": {"a.#.z"},
		"t5": {"exact.key"},
	}
	qs := []string{"t1", "t2", "t3", "t4", "t5"}
	for q, keys := range binds {
		declareQ(t, ch, q, nil)
		for _, k := range keys {
			must(t, ch.QueueBind(q, k, "rt.topic", false, nil), "bind "+k)
		}
	}
	cases := map[string][]string{
		"quick.orange.rabbit":      {"t1", "t2", "t3"},
		"lazy.orange.elephant":     {"t1", "t2", "t3"},
		"quick.orange.fox":         {"t1", "t3"},
		"lazy.brown.fox":           {"t2", "t3"},
		"lazy.pink.rabbit":         {"t2", "t3"},
		"quick.brown.fox":          {"t3"},
		"lazy":                     {"t2", "t3"},
		"orange":                   {"t3"},
		"quick.orange.male.rabbit": {"t3"},
		"a.z":                      {"t3", "t4"},
		"a.b.c.z":                  {"t3", "t4"},
		"exact.key":                {"t3", "t5"},
		"":                         {"t3"},
	}
	for key, want := range cases {
		wantRoute(t, routedTo(t, ch, "rt.topic", key, nil, qs...), want...)
	}
	must(t, ch.QueueBind("t5", "stock.#", "amq.topic", false, nil), "bind amq.topic")
	wantRoute(t, routedTo(t, ch, "amq.topic", "stock.usd.nyse", nil, qs...), "t5")
}

func TestAMQPHeadersRouting(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("rt.hdr", "headers", false, false, false, false, nil), "declare")
	declareQ(t, ch, "hall", nil)
	declareQ(t, ch, "hany", nil)
	declareQ(t, ch, "hdef", nil)
	must(t, ch.QueueBind("hall", "", "rt.hdr", false, amqp.Table{"x-match": "all", "format": "pdf", "n": int32(1)}), "bind all")
	must(t, ch.QueueBind("hany", "", "rt.hdr", false, amqp.Table{"x-match": "any", "format": "pdf", "type": "report"}), "bind any")
	// Without x-match, "all" is the default.
	must(t, ch.QueueBind("hdef", "", "rt.hdr", false, amqp.Table{"type": "report"}), "bind default")
	qs := []string{"hall", "hany", "hdef"}
	wantRoute(t, routedTo(t, ch, "rt.hdr", "", amqp.Table{"format": "pdf", "n": int32(1)}, qs...), "hall", "hany")
	wantRoute(t, routedTo(t, ch, "rt.hdr", "key-ignored", amqp.Table{"format": "pdf", "n": int32(1), "type": "report"}, qs...), "hall", "hany", "hdef")
	wantRoute(t, routedTo(t, ch, "rt.hdr", "", amqp.Table{"format": "pdf"}, qs...), "hany")
	wantRoute(t, routedTo(t, ch, "rt.hdr", "", amqp.Table{"type": "report"}, qs...), "hany", "hdef")
	wantRoute(t, routedTo(t, ch, "rt.hdr", "", amqp.Table{"format": "zip", "type": "log"}, qs...))
	wantRoute(t, routedTo(t, ch, "rt.hdr", "", nil, qs...))
	// amq.match is the predeclared headers exchange.
	must(t, ch.QueueBind("hall", "", "amq.match", false, amqp.Table{"x-match": "any", "k": "v"}), "bind amq.match")
	wantRoute(t, routedTo(t, ch, "amq.match", "", amqp.Table{"k": "v"}, qs...), "hall")
}

func TestAMQPAlternateExchange(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("ae.alt", "fanout", false, false, false, false, nil), "declare alt")
	must(t, ch.ExchangeDeclare("ae.main", "direct", false, false, false, false, amqp.Table{"alternate-exchange": "ae.alt"}), "declare main")
	declareQ(t, ch, "ae.routed", nil)
	declareQ(t, ch, "ae.unrouted", nil)
	must(t, ch.QueueBind("ae.routed", "k", "ae.main", false, nil), "bind")
	must(t, ch.QueueBind("ae.unrouted", "", "ae.alt", false, nil), "bind alt")
	qs := []string{"ae.routed", "ae.unrouted"}
	wantRoute(t, routedTo(t, ch, "ae.main", "k", nil, qs...), "ae.routed")
	wantRoute(t, routedTo(t, ch, "ae.main", "other", nil, qs...), "ae.unrouted")

	// A mandatory message routed through the alternate is not returned.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	must(t, ch.Publish("ae.main", "other", true, false, amqp.Publishing{Body: []byte("m")}), "publish")
	getOne(t, ch, "ae.unrouted", true)
	// An alternate that does not exist routes nowhere: returned.
	must(t, ch.ExchangeDeclare("ae.dangling", "direct", false, false, false, false, amqp.Table{"alternate-exchange": "ae.none"}), "declare")
	must(t, ch.Publish("ae.dangling", "x", true, false, amqp.Publishing{Body: []byte("lost")}), "publish")
	select {
	case r := <-returns:
		if r.Exchange != "ae.dangling" || string(r.Body) != "lost" || r.ReplyCode != 312 {
			t.Fatalf("return %+v", r)
		}
	case <-time.After(amqpWait):
		t.Fatal("no return")
	}
}

func TestAMQPCCBCC(t *testing.T) {
	_, _, ch := amqpSetup(t)
	for _, q := range []string{"cc.a", "cc.b", "cc.c", "cc.d"} {
		declareQ(t, ch, q, nil)
		must(t, ch.QueueBind(q, q, "amq.direct", false, nil), "bind")
	}
	pub(t, ch, "amq.direct", "cc.a", amqp.Publishing{Body: []byte("m"), Headers: amqp.Table{
		"CC":  []interface{}{"cc.b"},
		"BCC": []interface{}{"cc.c"},
		"x":   "y",
	}})
	for _, q := range []string{"cc.a", "cc.b", "cc.c"} {
		d := getOne(t, ch, q, true)
		if string(d.Body) != "m" || d.RoutingKey != "cc.a" || d.Headers["x"] != "y" {
			t.Fatalf("%s: %q key %q headers %v", q, d.Body, d.RoutingKey, d.Headers)
		}
		if _, has := d.Headers["BCC"]; has {
			t.Fatalf("%s: BCC header delivered: %v", q, d.Headers)
		}
		if cc, _ := d.Headers["CC"].([]interface{}); len(cc) != 1 || cc[0] != "cc.b" {
			t.Fatalf("%s: CC header %v", q, d.Headers["CC"])
		}
	}
	getEmpty(t, ch, "cc.d")
	// CC through the default exchange: queue names.
	pub(t, ch, "", "cc.d", amqp.Publishing{Body: []byte("n"), Headers: amqp.Table{"CC": []interface{}{"cc.a"}}})
	getOne(t, ch, "cc.d", true)
	getOne(t, ch, "cc.a", true)
}

// xDeath returns the single x-death entry of a dead-lettered delivery.
func xDeath(t *testing.T, d amqp.Delivery) amqp.Table {
	t.Helper()
	deaths, ok := d.Headers["x-death"].([]interface{})
	if !ok || len(deaths) != 1 {
		t.Fatalf("x-death header %#v", d.Headers["x-death"])
	}
	death, ok := deaths[0].(amqp.Table)
	if !ok {
		t.Fatalf("x-death entry %#v", deaths[0])
	}
	if _, ok := death["time"].(time.Time); !ok {
		t.Fatalf("x-death time %#v", death["time"])
	}
	return death
}

func wantDeath(t *testing.T, death amqp.Table, reason, queue, exchange string, keys ...string) {
	t.Helper()
	if death["count"] != int64(1) || death["reason"] != reason || death["queue"] != queue || death["exchange"] != exchange {
		t.Fatalf("x-death %v, want count 1 reason %s queue %s exchange %q", death, reason, queue, exchange)
	}
	rks, _ := death["routing-keys"].([]interface{})
	var got []string
	for _, k := range rks {
		s, _ := k.(string)
		got = append(got, s)
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Fatalf("x-death routing-keys %v, want %v", rks, keys)
	}
}

func TestAMQPDeadLetterRejected(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("dlx", "fanout", false, false, false, false, nil), "dlx")
	declareQ(t, ch, "dlq", nil)
	must(t, ch.QueueBind("dlq", "", "dlx", false, nil), "bind")
	declareQ(t, ch, "src", amqp.Table{"x-dead-letter-exchange": "dlx"})
	pub(t, ch, "", "src", amqp.Publishing{Body: []byte("r"), Headers: amqp.Table{"h": "v"}})
	d := getOne(t, ch, "src", false)
	must(t, d.Reject(false), "reject")
	dl := getOne(t, ch, "dlq", true)
	if string(dl.Body) != "r" || dl.Exchange != "dlx" || dl.RoutingKey != "src" || dl.Headers["h"] != "v" {
		t.Fatalf("dead letter %q via %q/%q headers %v", dl.Body, dl.Exchange, dl.RoutingKey, dl.Headers)
	}
	wantDeath(t, xDeath(t, dl), "rejected", "src", "", "src")
	for k, v := range map[string]string{"x-first-death-reason": "rejected", "x-first-death-queue": "src", "x-first-death-exchange": ""} {
		if dl.Headers[k] != v {
			t.Fatalf("%s = %#v, want %q", k, dl.Headers[k], v)
		}
	}
	// nack without requeue dead-letters too; requeue does not.
	pubBody(t, ch, "", "src", "n")
	d = getOne(t, ch, "src", false)
	must(t, d.Nack(false, true), "nack requeue")
	d = getOne(t, ch, "src", false)
	must(t, d.Nack(false, false), "nack")
	dl = getOne(t, ch, "dlq", true)
	if string(dl.Body) != "n" {
		t.Fatalf("got %q", dl.Body)
	}
	wantDeath(t, xDeath(t, dl), "rejected", "src", "", "src")
}

func TestAMQPDeadLetterExpired(t *testing.T) {
	t.Parallel()
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("dlx.e", "direct", false, false, false, false, nil), "dlx")
	declareQ(t, ch, "dlq.e", nil)
	must(t, ch.QueueBind("dlq.e", "dead", "dlx.e", false, nil), "bind")
	declareQ(t, ch, "src.e", amqp.Table{"x-message-ttl": int32(50), "x-dead-letter-exchange": "dlx.e",
		"x-dead-letter-routing-key": "dead"})
	must(t, ch.ExchangeDeclare("in.e", "direct", false, false, false, false, nil), "in")
	must(t, ch.QueueBind("src.e", "orig", "in.e", false, nil), "bind src")
	pubBody(t, ch, "in.e", "orig", "e")
	dl := getOne(t, ch, "dlq.e", true)
	if string(dl.Body) != "e" || dl.Exchange != "dlx.e" || dl.RoutingKey != "dead" {
		t.Fatalf("dead letter %q via %q/%q", dl.Body, dl.Exchange, dl.RoutingKey)
	}
	wantDeath(t, xDeath(t, dl), "expired", "src.e", "in.e", "orig")

	// Per-message expiration: recorded as original-expiration and removed.
	declareQ(t, ch, "src.pm", amqp.Table{"x-dead-letter-exchange": "dlx.e", "x-dead-letter-routing-key": "dead"})
	pub(t, ch, "", "src.pm", amqp.Publishing{Body: []byte("pm"), Expiration: "30"})
	dl = getOne(t, ch, "dlq.e", true)
	death := xDeath(t, dl)
	wantDeath(t, death, "expired", "src.pm", "", "src.pm")
	if death["original-expiration"] != "30" || dl.Expiration != "" {
		t.Fatalf("original-expiration %#v, expiration %q", death["original-expiration"], dl.Expiration)
	}
}

func TestAMQPDeadLetterMaxLength(t *testing.T) {
	_, _, ch := amqpSetup(t)
	must(t, ch.ExchangeDeclare("dlx.m", "fanout", false, false, false, false, nil), "dlx")
	declareQ(t, ch, "dlq.m", nil)
	must(t, ch.QueueBind("dlq.m", "", "dlx.m", false, nil), "bind")
	declareQ(t, ch, "src.m", amqp.Table{"x-max-length": int32(2), "x-dead-letter-exchange": "dlx.m"})
	for i := 1; i <= 3; i++ {
		pubBody(t, ch, "", "src.m", fmt.Sprint(i))
	}
	dl := getOne(t, ch, "dlq.m", true)
	if string(dl.Body) != "1" {
		t.Fatalf("dropped head %q, want 1", dl.Body)
	}
	wantDeath(t, xDeath(t, dl), "maxlen", "src.m", "", "src.m")
	for _, want := range []string{"2", "3"} {
		if d := getOne(t, ch, "src.m", true); string(d.Body) != want {
			t.Fatalf("kept %q, want %q", d.Body, want)
		}
	}
}

func TestAMQPMaxPriority(t *testing.T) {
	_, _, ch := amqpSetup(t)
	declareQ(t, ch, "prio", amqp.Table{"x-max-priority": int32(10)})
	for _, p := range []struct {
		body string
		prio uint8
	}{{"p1", 1}, {"p5", 5}, {"p9", 9}, {"p0", 0}, {"none", 255}, {"p5b", 5}, {"p200", 200}} {
		m := amqp.Publishing{Body: []byte(p.body)}
		if p.prio != 255 {
			m.Priority = p.prio
		}
		pub(t, ch, "", "prio", m)
	}
	// Priorities above the maximum count as the maximum; equal priorities
	// keep publish order; no priority is 0.
	var got []string
	for i := 0; i < 7; i++ {
		got = append(got, string(getOne(t, ch, "prio", true).Body))
	}
	if want := "[p200 p9 p5 p5b p1 p0 none]"; fmt.Sprint(got) != want {
		t.Fatalf("order %v, want %s", got, want)
	}
	// Consumers see the same order.
	for _, p := range []uint8{2, 7, 4} {
		pub(t, ch, "", "prio", amqp.Publishing{Body: []byte(fmt.Sprint(p)), Priority: p})
	}
	if got := nextBodies(t, consume(t, ch, "prio", "", true, nil), 3); fmt.Sprint(got) != "[7 4 2]" {
		t.Fatalf("consumer order %v", got)
	}
}

func TestAMQPDirectReplyTo(t *testing.T) {
	b, conn, ch := amqpSetup(t)
	declareQ(t, ch, "rpc", nil)
	// The pseudo queue answers a passive declare.
	_, err := ch.QueueDeclarePassive("amq.rabbitmq.reply-to", false, false, false, false, nil)
	must(t, err, "passive declare of the reply-to pseudo queue")
	replies := consume(t, ch, "amq.rabbitmq.reply-to", "", true, nil)
	pub(t, ch, "", "rpc", amqp.Publishing{Body: []byte("ping"), ReplyTo: "amq.rabbitmq.reply-to", CorrelationId: "c1"})

	// A responder on another connection answers through the default exchange.
	rconn := amqpDial(t, b)
	rch := amqpChan(t, rconn)
	rds := consume(t, rch, "rpc", "", true, nil)
	req := next(t, rds)
	if !strings.HasPrefix(req.ReplyTo, "amq.rabbitmq.reply-to.") || string(req.Body) != "ping" {
		t.Fatalf("request %q reply_to %q", req.Body, req.ReplyTo)
	}
	pub(t, rch, "", req.ReplyTo, amqp.Publishing{Body: []byte("pong"), CorrelationId: req.CorrelationId})
	rep := next(t, replies)
	if string(rep.Body) != "pong" || rep.CorrelationId != "c1" || rep.RoutingKey != req.ReplyTo {
		t.Fatalf("reply %q corr %q key %q", rep.Body, rep.CorrelationId, rep.RoutingKey)
	}
	// Several requests over the same consumer.
	for i := 0; i < 3; i++ {
		pub(t, ch, "", "rpc", amqp.Publishing{Body: []byte(fmt.Sprint(i)), ReplyTo: "amq.rabbitmq.reply-to"})
	}
	for i := 0; i < 3; i++ {
		r := next(t, rds)
		pub(t, rch, "", r.ReplyTo, amqp.Publishing{Body: append([]byte("re:"), r.Body...)})
	}
	if got := nextBodies(t, replies, 3); fmt.Sprint(got) != "[re:0 re:1 re:2]" {
		t.Fatalf("replies %v", got)
	}
	stillUsable(t, conn)
}

func TestAMQPDirectReplyToErrors(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	// Publishing with reply_to on a channel that does not consume it.
	ch := amqpChan(t, conn)
	declareQ(t, ch, "rpc2", nil)
	notify := ch.NotifyClose(make(chan *amqp.Error, 1))
	pub(t, ch, "", "rpc2", amqp.Publishing{Body: []byte("x"), ReplyTo: "amq.rabbitmq.reply-to"})
	e := waitClosed(t, notify, "channel")
	wantAMQPError(t, e, 406, "PRECONDITION_FAILED - fast reply consumer does not exist")

	// Consuming with acknowledgements.
	ch2 := amqpChan(t, conn)
	_, err := ch2.Consume("amq.rabbitmq.reply-to", "", false, false, false, false, nil)
	wantAMQPError(t, err, 406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")

	// The request reached no queue: the channel closed before routing it.
	if n := messageCount(t, conn, "rpc2"); n != 0 {
		t.Fatalf("rpc2 holds %d", n)
	}
	stillUsable(t, conn)
}
