package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// post sends a POST and returns its status, body and Location header.
func (c *apiClient) post(path, body string) (int, []byte, string) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	return resp.StatusCode, raw, resp.Header.Get("Location")
}

// TestAPIBindings: bindings made through the API route AMQP messages;
// they are listed everywhere RabbitMQ lists them (the default exchange's
// implicit binding too), addressed and deleted by their properties key,
// whose shape and Location header are RabbitMQ's.
func TestAPIBindings(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/queues/%2F/q1", "")
	api.want(http.StatusCreated, "PUT", "/api/exchanges/%2F/x1", `{"type":"topic"}`)
	api.want(http.StatusCreated, "PUT", "/api/exchanges/%2F/x2", `{"type":"headers"}`)

	st, raw, loc := api.post("/api/bindings/%2F/e/x1/q/q1", `{"routing_key":"a.*"}`)
	if st != 201 || loc != "q1/a.%252A" {
		t.Fatalf("bind: %d %s Location %q", st, raw, loc)
	}
	st, _, loc = api.post("/api/bindings/%2F/e/x1/q/q1", `{"routing_key":""}`)
	if st != 201 || loc != "q1/~" {
		t.Fatalf("empty key: %d Location %q", st, loc)
	}
	st, _, loc = api.post("/api/bindings/%2F/e/x1/q/q1", `{"routing_key":"a b","arguments":{"k":"v"}}`)
	if st != 201 || !strings.HasPrefix(loc, "q1/a%2Bb~") || len(loc) != len("q1/a%2Bb~")+6 {
		t.Fatalf("key with arguments: %d Location %q", st, loc)
	}
	st, _, loc = api.post("/api/bindings/%2F/e/x2/e/x1", `{"routing_key":"","arguments":{"x-match":"any","h":1}}`)
	if st != 201 || !strings.HasPrefix(loc, "x1/~") {
		t.Fatalf("exchange binding: %d Location %q", st, loc)
	}

	// AMQP sees the routes.
	ch := amqpChannel(t, b)
	msgs, err := ch.Consume("q1", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ x, key string }{{"x1", "a.b"}, {"x2", "a.z"}} {
		var h amqp.Table
		if p.x == "x2" {
			h = amqp.Table{"h": int32(1)}
		}
		if err := ch.Publish(p.x, p.key, false, false, amqp.Publishing{Body: []byte(p.x), Headers: h}); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-msgs:
			if string(d.Body) != p.x {
				t.Fatalf("got %q", d.Body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing routed through the API's binding from %s", p.x)
		}
	}

	var list []map[string]any
	api.getJSON("/api/bindings/%2F/e/x1/q/q1", &list)
	keys := []string{}
	for _, bd := range list {
		keys = append(keys, bd["properties_key"].(string))
	}
	// Sorted by routing key: "" < "a b" < "a.*".
	if len(list) != 3 || keys[0] != "~" || keys[2] != "a.%2A" || !strings.HasPrefix(keys[1], "a+b~") {
		t.Fatalf("bindings x1 -> q1: %v", list)
	}
	if list[2]["source"] != "x1" || list[2]["destination"] != "q1" || list[2]["destination_type"] != "queue" ||
		list[2]["routing_key"] != "a.*" || list[2]["vhost"] != "/" {
		t.Fatalf("binding object: %v", list[2])
	}
	api.getJSON("/api/queues/%2F/q1/bindings", &list)
	if len(list) != 4 || list[0]["source"] != "" || list[0]["routing_key"] != "q1" || list[0]["properties_key"] != "q1" {
		t.Fatalf("queue bindings (the default exchange's first): %v", list)
	}
	api.getJSON("/api/exchanges/%2F/x1/bindings/source", &list)
	if len(list) != 3 {
		t.Fatalf("x1 as source: %v", list)
	}
	api.getJSON("/api/exchanges/%2F/x1/bindings/destination", &list)
	if len(list) != 1 || list[0]["source"] != "x2" || list[0]["destination_type"] != "exchange" {
		t.Fatalf("x1 as destination: %v", list)
	}
	api.getJSON("/api/bindings/%2F", &list)
	if len(list) != 5 {
		t.Fatalf("vhost bindings: %v", list)
	}

	// Each binding by its properties key, quoted once more in the path.
	var one map[string]any
	for _, k := range keys {
		api.getJSON("/api/bindings/%2F/e/x1/q/q1/"+url.PathEscape(k), &one)
		if one["properties_key"] != k {
			t.Fatalf("GET by %q: %v", k, one)
		}
	}
	api.want(http.StatusNotFound, "GET", "/api/bindings/%2F/e/x1/q/q1/nope", "")
	api.want(http.StatusNotFound, "GET", "/api/bindings/%2F/e/x1/q/q1/a.%252A~zzzzzz", "")
	api.want(http.StatusNoContent, "DELETE", "/api/bindings/%2F/e/x1/q/q1/"+url.PathEscape(keys[1]), "")
	api.want(http.StatusNotFound, "DELETE", "/api/bindings/%2F/e/x1/q/q1/"+url.PathEscape(keys[1]), "")
	api.want(http.StatusNoContent, "DELETE", "/api/bindings/%2F/e/x1/q/q1/"+url.PathEscape(keys[2]), "")
	api.getJSON("/api/bindings/%2F/e/x1/q/q1", &list)
	if len(list) != 1 || list[0]["properties_key"] != "~" {
		t.Fatalf("after deletes: %v", list)
	}
	if err := ch.Publish("x1", "a.b", false, false, amqp.Publishing{Body: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-msgs:
		t.Fatalf("deleted binding still routes: %q", d.Body)
	case <-time.After(200 * time.Millisecond):
	}

	st, raw, _ = api.post("/api/bindings/%2F/e/nope/q/q1", `{"routing_key":"k"}`)
	if kind, reason := apiErr(t, raw); st != 404 || kind != "not_found" || reason != "no exchange 'nope' in vhost '/'" {
		t.Fatalf("bind from a missing exchange: %d %s", st, raw)
	}
}

// TestAPIBindingPermissions: binding asks write on the destination and
// read on the source, as queue.bind does.
func TestAPIBindingPermissions(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/queues/%2F/mine", "")
	api.want(http.StatusCreated, "PUT", "/api/exchanges/%2F/src", `{"type":"direct"}`)
	api.want(http.StatusCreated, "PUT", "/api/users/binder", `{"password":"p","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/binder", `{"configure":"","write":"^mine$","read":"^amq\\.direct$"}`)
	binder := api.as("binder", "p")
	if st, raw, _ := binder.post("/api/bindings/%2F/e/amq.direct/q/mine", `{"routing_key":"k"}`); st != 201 {
		t.Fatalf("allowed bind: %d %s", st, raw)
	}
	st, raw, _ := binder.post("/api/bindings/%2F/e/src/q/mine", `{"routing_key":"k"}`)
	if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" || reason != "Access refused." {
		t.Fatalf("bind without read on the source: %d %s", st, raw)
	}
	api.want(http.StatusNoContent, "PUT", "/api/permissions/%2F/binder", `{"configure":"","write":"","read":".*"}`)
	st, raw = binder.do("DELETE", "/api/bindings/%2F/e/amq.direct/q/mine/k", "")
	if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" || reason != "Access refused." {
		t.Fatalf("unbind without write on the queue: %d %s", st, raw)
	}
}
