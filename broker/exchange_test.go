package broker

import (
	"fmt"
	"sort"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

func TestTopicMatching(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.b", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.c", false},
		{"a.*", "a", false},
		{"*", "", false},
		{"#", "", true},
		{"#", "a.b.c", true},
		{"a.#", "a", true},
		{"a.#", "a.b.c", true},
		{"a.#", "b.a", false},
		{"#.c", "c", true},
		{"#.c", "a.b.c", true},
		{"a.#.c", "a.c", true},
		{"a.#.c", "a.b.b.c", true},
		{"a.#.#.c", "a.c", true},
		{"#.#", "x", true},
		{"*.#", "", false},
		{"*.#", "x", true},
		{"#.*", "x.y", true},
		{"", "", true},
		{"", "a", false},
		{"a..b", "a..b", true},
		{"a.*.b", "a..b", true},
		{"a.#.b", "a..b", true},
		{"*", "a.", false},
		{"*.*", "a.", true},
		{"a", "A", false},
	}
	for _, c := range cases {
		r := newTopicRouter()
		b := &binding{key: c.pattern}
		r.add(b)
		got := false
		rs := &routeState{}
		r.route(c.key, nil, rs)
		got = rs.matched
		if got != c.want {
			t.Errorf("pattern %q key %q: got %v want %v", c.pattern, c.key, got, c.want)
		}
		r.remove(b)
		if len(r.root.children) != 0 || len(r.root.bindings) != 0 {
			t.Errorf("pattern %q: trie not pruned after remove", c.pattern)
		}
	}
}

func TestHeadersMatching(t *testing.T) {
	h := message.Table{"format": "pdf", "type": "report", "x-tag": "a", "n": int32(5)}
	cases := []struct {
		args message.Table
		want bool
	}{
		{message.Table{"x-match": "all", "format": "pdf", "type": "report"}, true},
		{message.Table{"format": "pdf", "type": "log"}, false},
		{message.Table{"x-match": "any", "format": "pdf", "type": "log"}, true},
		{message.Table{"x-match": "any", "format": "zip", "type": "log"}, false},
		{message.Table{"x-match": "all", "n": int64(5)}, true},
		{message.Table{"x-match": "all", "n": int64(6)}, false},
		{message.Table{"x-match": "all", "format": nil}, true},
		{message.Table{"x-match": "all", "missing": nil}, false},
		{message.Table{"x-match": "all", "x-tag": "b"}, true},
		{message.Table{"x-match": "all-with-x", "x-tag": "b"}, false},
		{message.Table{"x-match": "all-with-x", "x-tag": "a"}, true},
		{message.Table{"x-match": "any", "x-tag": "a"}, false},
		{message.Table{"x-match": "any-with-x", "x-tag": "a"}, true},
		{message.Table{"x-match": "all"}, true},
	}
	for i, c := range cases {
		m, err := parseXMatch(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := headersMatches(m, c.args, h); got != c.want {
			t.Errorf("case %d %v: got %v want %v", i, c.args, got, c.want)
		}
	}
	if _, err := parseXMatch(message.Table{"x-match": "some"}); codeOf(err) != CodePreconditionFailed {
		t.Errorf("bad x-match: %v", err)
	}
}

func routedTo(t *testing.T, v *VHost, exchange, key string, m *message.Message) []string {
	t.Helper()
	x, ok := v.Exchange(exchange)
	if !ok {
		t.Fatalf("no exchange %s", exchange)
	}
	var names []string
	for _, q := range v.route(x, key, &m.Properties, &routeState{}) {
		names = append(names, q.name)
	}
	sort.Strings(names)
	return names
}

func TestRoutingByExchangeType(t *testing.T) {
	v := newTestVHost(t)
	for _, q := range []string{"q1", "q2", "q3"} {
		mustDeclareQueue(t, v, q, nil)
	}
	bind := func(src, dst, key string, args message.Table) {
		t.Helper()
		if err := v.Bind(BindSpec{Source: src, Destination: dst, Key: key, Args: args}); err != nil {
			t.Fatal(err)
		}
	}
	bind("amq.direct", "q1", "k1", nil)
	bind("amq.direct", "q2", "k1", nil)
	bind("amq.direct", "q3", "k3", nil)
	bind("amq.fanout", "q1", "ignored", nil)
	bind("amq.fanout", "q3", "", nil)
	bind("amq.topic", "q1", "stock.#", nil)
	bind("amq.topic", "q2", "*.nyse", nil)
	bind("amq.headers", "q3", "", message.Table{"x-match": "any", "a": "1"})

	cases := []struct {
		exchange, key string
		headers       message.Table
		want          string
	}{
		{"", "q2", nil, "[q2]"},
		{"", "nope", nil, "[]"},
		{"amq.direct", "k1", nil, "[q1 q2]"},
		{"amq.direct", "k3", nil, "[q3]"},
		{"amq.direct", "k2", nil, "[]"},
		{"amq.fanout", "x", nil, "[q1 q3]"},
		{"amq.topic", "stock.nyse", nil, "[q1 q2]"},
		{"amq.topic", "bond.nyse", nil, "[q2]"},
		{"amq.headers", "", message.Table{"a": "1"}, "[q3]"},
		{"amq.direct", "k3", message.Table{"CC": []any{"k1"}}, "[q1 q2 q3]"},
		{"amq.direct", "none", message.Table{"BCC": []any{"k3"}}, "[q3]"},
		{"", "q1", message.Table{"CC": []any{"q2", "q3"}}, "[q1 q2 q3]"},
	}
	for _, c := range cases {
		got := fmt.Sprint(routedTo(t, v, c.exchange, c.key, msgWith("x", c.headers)))
		if got != c.want {
			t.Errorf("%s %q %v: got %s want %s", c.exchange, c.key, c.headers, got, c.want)
		}
	}
}

func TestBCCHeaderIsRemoved(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	rec := &recorder{}
	s := v.NewSession(1, rec)
	if _, err := s.Consume("q", ConsumeSpec{NoAck: true}); err != nil {
		t.Fatal(err)
	}
	m := msgWith("x", message.Table{"BCC": []any{"q"}, "keep": "yes"})
	mustPublish(t, s, "", "nobody", m)
	d := rec.deliveries()
	if len(d) != 1 {
		t.Fatalf("got %d deliveries", len(d))
	}
	if _, ok := d[0].Msg.Properties.Headers["BCC"]; ok {
		t.Error("BCC header reached the consumer")
	}
	if d[0].Msg.Properties.Headers["keep"] != "yes" {
		t.Error("other headers lost")
	}
	if _, ok := m.Properties.Headers["BCC"]; !ok {
		t.Error("publisher's message was modified")
	}
}

func TestExchangeToExchangeAndAlternate(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "orders", nil)
	mustDeclareQueue(t, v, "unrouted", nil)
	for _, d := range []ExchangeDecl{
		{Name: "ae", Type: ExchangeFanout},
		{Name: "front", Type: ExchangeTopic, Args: message.Table{"alternate-exchange": "ae"}},
		{Name: "inner", Type: ExchangeDirect, Internal: true},
	} {
		if _, err := v.DeclareExchange(d); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(v.Bind(BindSpec{Source: "ae", Destination: "unrouted"}))
	must(v.Bind(BindSpec{Source: "front", Destination: "inner", DestIsExchange: true, Key: "order.*"}))
	must(v.Bind(BindSpec{Source: "inner", Destination: "orders", Key: "order.new"}))
	// A loop back to front must not recurse forever.
	must(v.Bind(BindSpec{Source: "inner", Destination: "front", DestIsExchange: true, Key: "order.new"}))

	if got := fmt.Sprint(routedTo(t, v, "front", "order.new", msg("x"))); got != "[orders]" {
		t.Errorf("e2e: got %s", got)
	}
	if got := fmt.Sprint(routedTo(t, v, "front", "invoice.new", msg("x"))); got != "[unrouted]" {
		t.Errorf("alternate exchange: got %s", got)
	}
	s := v.NewSession(1, &recorder{})
	if _, err := s.Publish("inner", "order.new", msg("x"), PublishOptions{}); codeOf(err) != CodeAccessRefused {
		t.Errorf("publish to internal exchange: %v", err)
	}
	if _, err := s.Publish("nope", "k", msg("x"), PublishOptions{}); codeOf(err) != CodeNotFound ||
		err.Error() != "NOT_FOUND - no exchange 'nope' in vhost '/'" {
		t.Errorf("publish to missing exchange: %v", err)
	}
}

func TestExchangeDeclareRules(t *testing.T) {
	v := newTestVHost(t)
	cases := []struct {
		d    ExchangeDecl
		code int
	}{
		{ExchangeDecl{Name: "e1", Type: "direct"}, 0},
		{ExchangeDecl{Name: "e1", Type: "direct"}, 0},
		{ExchangeDecl{Name: "e1", Type: "fanout"}, CodePreconditionFailed},
		{ExchangeDecl{Name: "e1", Type: "direct", Durable: true}, CodePreconditionFailed},
		{ExchangeDecl{Name: "e1", Passive: true}, 0},
		{ExchangeDecl{Name: "missing", Passive: true}, CodeNotFound},
		{ExchangeDecl{Name: "amq.mine", Type: "direct"}, CodeAccessRefused},
		{ExchangeDecl{Name: "", Type: "direct"}, CodeAccessRefused},
		{ExchangeDecl{Name: "bad", Type: "x-nonsense"}, CodeCommandInvalid},
		{ExchangeDecl{Name: "amq.direct", Type: "direct", Durable: true}, 0},
	}
	for i, c := range cases {
		_, err := v.DeclareExchange(c.d)
		if codeOf(err) != c.code {
			t.Errorf("case %d %+v: got %v want code %d", i, c.d, err, c.code)
		}
	}
	_, err := v.DeclareExchange(ExchangeDecl{Name: "e1", Type: "topic"})
	if want := "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'e1' in vhost '/': received 'topic' but current is 'direct'"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if err := v.DeleteExchange("amq.direct", false); codeOf(err) != CodeAccessRefused {
		t.Errorf("delete amq.direct: %v", err)
	}
	if err := v.Bind(BindSpec{Source: "", Destination: "q"}); codeOf(err) != CodeAccessRefused {
		t.Errorf("bind to default exchange: %v", err)
	}
	if err := v.DeleteExchange("never-was", false); err != nil {
		t.Errorf("delete missing exchange: %v", err)
	}
}

func TestAutoDeleteExchange(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "ad", Type: "fanout", AutoDelete: true}); err != nil {
		t.Fatal(err)
	}
	if err := v.Bind(BindSpec{Source: "ad", Destination: "q"}); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteExchange("ad", true); codeOf(err) != CodePreconditionFailed {
		t.Errorf("if-unused delete of a bound exchange: %v", err)
	}
	if err := v.Unbind(BindSpec{Source: "ad", Destination: "q"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Exchange("ad"); ok {
		t.Error("auto-delete exchange survived losing its last binding")
	}
}

func BenchmarkTopicRoute10kBindings(b *testing.B) {
	v := New(Config{}).AddVHost("bench")
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "t", Type: ExchangeTopic}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		name := fmt.Sprintf("q%d", i)
		if _, err := v.DeclareQueue(QueueDecl{Name: name}); err != nil {
			b.Fatal(err)
		}
		key := fmt.Sprintf("region%d.host%d.*", i%100, i)
		if i%10 == 0 {
			key = fmt.Sprintf("region%d.#", i%100)
		}
		if err := v.Bind(BindSpec{Source: "t", Destination: name, Key: key}); err != nil {
			b.Fatal(err)
		}
	}
	x, _ := v.Exchange("t")
	var out []*Queue
	rs := &routeState{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = v.route(x, "region42.host4242.cpu", nil, rs)
	}
	if len(out) != 1 {
		b.Fatalf("routed to %d queues, want 1", len(out))
	}
}
