package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestAPIExchanges: exchanges are declared, described, listed (the
// default exchange as "", addressed as amq.default) and deleted with
// RabbitMQ's status codes; AMQP sees what the API declared.
func TestAPIExchanges(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/exchanges/%2F/orders", `{"type":"topic","durable":true,"arguments":{"x-note":"a"}}`)
	api.want(http.StatusNoContent, "PUT", "/api/exchanges/%2F/orders", `{"type":"topic","durable":true,"arguments":{"x-note":"a"}}`)
	st, raw := api.do("PUT", "/api/exchanges/%2F/orders", `{"type":"fanout","durable":true}`)
	if kind, _ := apiErr(t, raw); st != 400 || kind != "bad_request" {
		t.Fatalf("inequivalent exchange: %d %s", st, raw)
	}
	st, raw = api.do("PUT", "/api/exchanges/%2F/amq.default", `{"type":"direct"}`)
	if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" || reason != "Access refused." {
		t.Fatalf("declaring the default exchange: %d %s", st, raw)
	}
	ch := amqpChannel(t, b)
	if err := ch.ExchangeDeclarePassive("orders", "topic", true, false, false, false, nil); err != nil {
		t.Fatalf("AMQP does not see the API's exchange: %v", err)
	}

	var x map[string]any
	api.getJSON("/api/exchanges/%2F/orders", &x)
	for k, want := range map[string]any{"name": "orders", "vhost": "/", "type": "topic", "durable": true,
		"auto_delete": false, "internal": false, "arguments": map[string]any{"x-note": "a"}} {
		if fmt.Sprint(x[k]) != fmt.Sprint(want) {
			t.Errorf("exchange %s = %v, want %v", k, x[k], want)
		}
	}
	x = nil
	api.getJSON("/api/exchanges/%2F/amq.default", &x)
	if x["name"] != "" || x["type"] != "direct" || x["user_who_performed_action"] != "rmq-internal" {
		t.Fatalf("default exchange: %v", x)
	}
	var list []map[string]any
	api.getJSON("/api/exchanges/%2F?columns=name", &list)
	if len(list) < 7 || list[0]["name"] != "" || list[1]["name"] != "amq.direct" || len(list[0]) != 1 {
		t.Fatalf("exchange list: %v", list)
	}

	// if-unused refuses an exchange with bindings, as exchange.delete.
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("q", "k", "orders", false, nil); err != nil {
		t.Fatal(err)
	}
	st, raw = api.do("DELETE", "/api/exchanges/%2F/orders?if-unused=true", "")
	if kind, reason := apiErr(t, raw); st != 400 || kind != "bad_request" || reason != "exchange 'orders' in vhost '/' in use" {
		t.Fatalf("if-unused: %d %s", st, raw)
	}
	api.want(http.StatusNoContent, "DELETE", "/api/exchanges/%2F/orders", "")
	api.want(http.StatusNotFound, "DELETE", "/api/exchanges/%2F/orders", "")
	api.want(http.StatusNotFound, "GET", "/api/exchanges/%2F/orders", "")
	api.want(http.StatusNotFound, "GET", "/api/exchanges/nope", "")
}

// TestAPIPublish: POST .../publish routes like basic.publish (routed true
// or false), string and base64 payloads and properties reach an AMQP
// consumer, and refusals answer as RabbitMQ's.
func TestAPIPublish(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	ch := amqpChannel(t, b)
	if _, err := ch.QueueDeclare("inbox", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	msgs, err := ch.Consume("inbox", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(x, body string) map[string]any {
		t.Helper()
		raw := api.want(http.StatusOK, "POST", "/api/exchanges/%2F/"+x+"/publish", body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := publish("amq.default", `{"properties":{"delivery_mode":2,"headers":{"h":"v","n":7},"content_type":"text/plain","priority":3},"routing_key":"inbox","payload":"hello","payload_encoding":"string"}`)
	if out["routed"] != true {
		t.Fatalf("publish: %v", out)
	}
	select {
	case d := <-msgs:
		if string(d.Body) != "hello" || d.DeliveryMode != 2 || d.ContentType != "text/plain" || d.Priority != 3 ||
			d.Headers["h"] != "v" || d.Headers["n"] != int64(7) {
			t.Fatalf("delivered %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the API's message was not delivered")
	}
	if out = publish("amq.default", `{"properties":{},"routing_key":"inbox","payload":"AAEC","payload_encoding":"base64"}`); out["routed"] != true {
		t.Fatalf("base64 publish: %v", out)
	}
	select {
	case d := <-msgs:
		if string(d.Body) != "\x00\x01\x02" {
			t.Fatalf("base64 body %q", d.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the base64 message was not delivered")
	}
	if out = publish("amq.direct", `{"properties":{},"routing_key":"nowhere","payload":"x","payload_encoding":"string"}`); out["routed"] != false {
		t.Fatalf("unroutable publish: %v", out)
	}
	for _, c := range []struct {
		path, body, reason string
	}{
		{"/api/exchanges/%2F/nope/publish", `{"properties":{},"routing_key":"k","payload":"x","payload_encoding":"string"}`, "404 NOT_FOUND - no exchange 'nope' in vhost '/'"},
		{"/api/exchanges/%2F/amq.direct/publish", `{"properties":{},"routing_key":"k","payload":"x"}`, "[{key_missing,payload_encoding}]"},
		{"/api/exchanges/%2F/amq.direct/publish", `{"properties":{"priority":"high"},"routing_key":"k","payload":"x","payload_encoding":"string"}`, `["not_int","priority"]`},
		// RabbitMQ 3.10 names the payload that is not base64.
		{"/api/exchanges/%2F/amq.direct/publish", `{"properties":{},"routing_key":"k","payload":"hi","payload_encoding":"base64"}`, `["not_base64","hi"]`},
	} {
		st, raw := api.do("POST", c.path, c.body)
		if kind, reason := apiErr(t, raw); st != 400 || kind != "bad_request" || reason != c.reason {
			t.Errorf("%s %s: %d %s, want 400 %q", c.path, c.body, st, raw, c.reason)
		}
	}

	api.want(http.StatusCreated, "PUT", "/api/users/pub", `{"password":"p","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/pub", `{"configure":"","write":"^amq\\.direct$","read":""}`)
	pub := api.as("pub", "p")
	pub.want(http.StatusOK, "POST", "/api/exchanges/%2F/amq.direct/publish", `{"properties":{},"routing_key":"k","payload":"x","payload_encoding":"string"}`)
	st, raw := pub.do("POST", "/api/exchanges/%2F/amq.default/publish", `{"properties":{},"routing_key":"inbox","payload":"x","payload_encoding":"string"}`)
	if kind, reason := apiErr(t, raw); st != 400 || kind != "bad_request" ||
		reason != "403 ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'pub'" {
		t.Fatalf("refused publish: %d %s", st, raw)
	}
}

// BenchmarkAPIExchangesPage: GET /api/exchanges?page=1 over 2,000
// exchanges, for comparison with the queue list.
func BenchmarkAPIExchangesPage(b *testing.B) {
	br := brokertest.New(b)
	api := newAPI(b, br)
	conn, err := amqp.Dial(br.AMQPURL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		if err := ch.ExchangeDeclare(fmt.Sprintf("x-%04d", i), "direct", false, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		api.want(http.StatusOK, "GET", "/api/exchanges?page=1", "")
	}
}
