//go:build differential

// The queue, exchange and binding endpoints side by side with RabbitMQ's
// management plugin (see api_differential_test.go for how to run it).
// Objects are compared on the fields sluice claims (RabbitMQ adds
// Erlang-process figures such as garbage_collection and
// backing_queue_status); statuses, error bodies and the Location header
// are compared whole. Everything happens in a vhost of its own.
package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// topoFields are the keys compared in objects; others are left out.
var topoFields = map[string]bool{
	"name": true, "vhost": true, "durable": true, "auto_delete": true, "exclusive": true, "arguments": true,
	"type": true, "state": true, "consumers": true, "messages": true, "messages_ready": true,
	"messages_unacknowledged": true, "message_bytes": true, "message_bytes_ready": true,
	"message_bytes_unacknowledged": true, "policy": true, "operator_policy": true,
	"effective_policy_definition": true, "exclusive_consumer_tag": true, "internal": true,
	"source": true, "destination": true, "destination_type": true, "routing_key": true,
	"properties_key": true, "routed": true, "payload": true, "payload_bytes": true, "payload_encoding": true,
	"redelivered": true, "exchange": true, "message_count": true, "properties": true, "error": true,
	"reason": true, "filtered_count": true, "item_count": true, "items": true, "page": true,
	"page_count": true, "page_size": true, "total_count": true, "delivery_mode": true, "headers": true,
	"content_type": true, "user_who_performed_action": true,
}

type topoStep struct {
	apiStep
	all bool // compare every field, not only topoFields
}

func topoTranscript(t *testing.T, base string, s topoStep) string {
	user, pass := "guest", "guest"
	if s.user != "" {
		user, pass = s.user, s.pass
	}
	var rd io.Reader
	if s.body != "" {
		rd = strings.NewReader(s.body)
	}
	req, _ := http.NewRequest(s.method, base+s.path, rd)
	req.SetBasicAuth(user, pass)
	if s.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", s.method, s.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := fmt.Sprintf("%s %s -> %d", s.method, s.path, resp.StatusCode)
	if loc := resp.Header.Get("Location"); loc != "" {
		out += " Location: " + loc
	}
	if len(raw) == 0 {
		return out
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return out + " (not JSON)"
	}
	if !s.all {
		v = keepTopoFields(v, true)
	}
	b, _ := json.Marshal(v)
	return out + " " + string(b)
}

// keepTopoFields keeps topoFields at the top of objects (and of list and
// envelope items); nested objects (arguments, properties) whole.
func keepTopoFields(v any, top bool) any {
	switch v := v.(type) {
	case map[string]any:
		if !top {
			return v
		}
		out := map[string]any{}
		for k, e := range v {
			if topoFields[k] {
				out[k] = keepTopoFields(e, k == "items")
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = keepTopoFields(e, true)
		}
		return out
	}
	return v
}

func TestAPITopologyDifferential(t *testing.T) {
	rbase := rabbitMgmtURL()
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(rbase + "/api/whoami"); err != nil {
		t.Fatalf("RabbitMQ management API not reachable at %s (RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start): %v", rbase, err)
	} else {
		resp.Body.Close()
	}
	b := brokertest.New(t)
	sbase := "http://" + b.HTTPAddr()
	tok := make([]byte, 3)
	rand.Read(tok)
	T := "t" + hex.EncodeToString(tok)
	v, u := T+"-v", T+"-u"
	Q, X := "/api/queues/"+v, "/api/exchanges/"+v
	step := func(method, path, body string) topoStep {
		return topoStep{apiStep: apiStep{method: method, path: path, body: body}}
	}
	as := func(s topoStep) topoStep { s.user, s.pass = u, "pw"; return s }
	known := func(s topoStep, why string) topoStep { s.known = why; return s }
	get := `{"count":5,"ackmode":"ack_requeue_false","encoding":"auto"}`
	steps := []topoStep{
		step("PUT", "/api/vhosts/"+v, `{}`),
		step("PUT", Q+"/q1", `{"durable":true,"arguments":{"x-max-length":10}}`),
		step("PUT", Q+"/q1", `{"durable":true,"arguments":{"x-max-length":10}}`),
		step("PUT", Q+"/q1", `{"durable":false}`),
		step("PUT", Q+"/q1", `{"durable":true,"arguments":{"x-max-length":11}}`),
		step("PUT", Q+"/bad", `{"arguments":{"x-max-length":"ten"}}`),
		step("PUT", Q+"/bad", `{"arguments":{"x-overflow":"nope"}}`),
		step("PUT", Q+"/amq.q", `{}`),
		step("PUT", "/api/queues/nope-"+T+"/q", `{}`),
		step("PUT", Q+"/q2", `{"auto_delete":true}`),
		// RabbitMQ shows a queue's figures once its stats have been
		// collected (every 5 s).
		step("SLEEP", "", ""),
		step("GET", Q+"/q1", ""),
		step("GET", Q+"/q1?disable_stats=true", ""),
		step("GET", Q+"/q1?columns=name,arguments.x-max-length", ""),
		step("GET", Q+"/nope", ""),
		step("GET", "/api/queues/nope-"+T, ""),
		step("GET", Q+"?columns=name,durable,arguments.x-max-length", ""),
		step("GET", Q+"?sort=auto_delete&sort_reverse=true&columns=name", ""),
		step("GET", Q+"?page=1&page_size=1&columns=name", ""),
		step("GET", Q+"?page=2&page_size=1&columns=name&name=Q&use_regex=true", ""),
		step("GET", Q+"?page=0", ""),
		step("GET", Q+"?page=3&page_size=1", ""),
		step("GET", Q+"?page=x", ""),
		step("GET", Q+"?page=1&page_size=501", ""),
		step("PUT", X+"/x1", `{"type":"topic"}`),
		step("PUT", X+"/x1", `{"type":"topic"}`),
		step("PUT", X+"/x1", `{"type":"fanout"}`),
		step("PUT", X+"/x2", `{"type":"bogus"}`),
		step("PUT", X+"/amq.default", `{"type":"direct"}`),
		step("PUT", X+"/amq.x", `{"type":"direct"}`),
		known(step("GET", X+"/x1", ""), "sluice does not record who declared an exchange (user_who_performed_action)"),
		known(step("GET", X+"/amq.default", ""), "user_who_performed_action of a new vhost's exchanges: RabbitMQ the vhost's creator, sluice rmq-internal"),
		step("GET", X+"/nope", ""),
		known(step("GET", X+"?columns=name,type", ""), "RabbitMQ has amq.rabbitmq.trace; sluice has no tracing"),
		step("POST", "/api/bindings/"+v+"/e/x1/q/q1", `{"routing_key":"a.*"}`),
		step("POST", "/api/bindings/"+v+"/e/x1/q/q1", `{"routing_key":""}`),
		step("POST", "/api/bindings/"+v+"/e/x1/q/q1", `{"routing_key":"x~y z"}`),
		step("POST", "/api/bindings/"+v+"/e/amq.fanout/e/x1", `{"routing_key":"r"}`),
		step("POST", "/api/bindings/"+v+"/e/nope/q/q1", `{"routing_key":"r"}`),
		step("POST", "/api/bindings/"+v+"/e/x1/q/nope", `{"routing_key":"r"}`),
		step("GET", "/api/bindings/"+v+"/e/x1/q/q1", ""),
		step("GET", "/api/bindings/"+v+"/e/x1/q/q1/a.%252A", ""),
		step("GET", "/api/bindings/"+v+"/e/x1/q/q1/~", ""),
		step("GET", "/api/bindings/"+v+"/e/x1/q/q1/~?columns=routing_key", ""),
		step("GET", "/api/bindings/"+v+"/e/x1/q/q1/nope", ""),
		step("GET", Q+"/q1/bindings", ""),
		step("GET", X+"/x1/bindings/source", ""),
		step("GET", X+"/x1/bindings/destination", ""),
		step("GET", "/api/bindings/"+v, ""),
		step("GET", X+"/amq.default/bindings/source", ""),
		step("GET", "/api/bindings/"+v+"/e/amq.default/q/q1/q1", ""),
		step("DELETE", "/api/bindings/"+v+"/e/amq.default/q/q1/q1", ""),
		step("POST", "/api/bindings/"+v+"/e/amq.default/q/q1", `{"routing_key":"z"}`),
		step("GET", "/api/bindings/"+v+"?sort=destination&sort_reverse=true&columns=source,destination,routing_key", ""),
		known(step("POST", "/api/bindings/"+v+"/e/x1/q/q1", `{"routing_key":"k","arguments":{"a":1}}`),
			"the arguments hash in a properties key is erlang:phash2's in RabbitMQ, FNV-1a's in sluice"),
		step("POST", X+"/x1/publish", `{"properties":{"delivery_mode":2,"headers":{"h":1}},"routing_key":"a.b","payload":"hello","payload_encoding":"string"}`),
		step("POST", X+"/x1/publish", `{"properties":{},"routing_key":"zzz","payload":"x","payload_encoding":"string"}`),
		step("POST", X+"/amq.default/publish", `{"properties":{},"routing_key":"q1","payload":"/w==","payload_encoding":"base64"}`),
		step("POST", X+"/nope/publish", `{"properties":{},"routing_key":"k","payload":"x","payload_encoding":"string"}`),
		step("POST", X+"/x1/publish", `{"properties":{},"routing_key":"k","payload":"x"}`),
		step("POST", X+"/x1/publish", `{"properties":{"priority":"x"},"routing_key":"k","payload":"x","payload_encoding":"string"}`),
		step("DELETE", Q+"/q1?if-empty=true", ""),
		step("POST", Q+"/q1/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"auto","truncate":2}`),
		step("POST", Q+"/q1/get", get),
		step("POST", Q+"/q1/get", get),
		step("POST", Q+"/q1/get", `{"count":1,"encoding":"auto"}`),
		step("POST", Q+"/q1/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"hex"}`),
		step("POST", Q+"/nope/get", get),
		step("DELETE", Q+"/q1/contents", ""),
		step("DELETE", Q+"/nope/contents", ""),
		step("PUT", "/api/users/"+u, `{"password":"pw","tags":"management"}`),
		step("PUT", "/api/permissions/"+v+"/"+u, `{"configure":"^mine","write":"^mine","read":"^mine"}`),
		as(step("GET", Q, "")),
		as(step("GET", "/api/queues/%2F", "")),
		as(step("GET", "/api/queues/%2F/x", "")),
		as(step("PUT", Q+"/mine1", `{}`)),
		as(step("PUT", Q+"/other", `{}`)),
		as(step("DELETE", Q+"/q1", "")),
		as(step("DELETE", Q+"/q1/contents", "")),
		as(step("POST", Q+"/q1/get", get)),
		as(step("POST", X+"/x1/publish", `{"properties":{},"routing_key":"k","payload":"x","payload_encoding":"string"}`)),
		as(step("POST", "/api/bindings/"+v+"/e/x1/q/mine1", `{"routing_key":"k"}`)),
		as(step("PUT", X+"/other", `{"type":"direct"}`)),
		as(step("DELETE", X+"/x1", "")),
		as(step("DELETE", "/api/bindings/"+v+"/e/x1/q/q1/a.%252A", "")),
		as(step("DELETE", Q+"/mine1", "")),
		step("DELETE", "/api/bindings/"+v+"/e/x1/q/q1/a.%252A", ""),
		step("DELETE", "/api/bindings/"+v+"/e/x1/q/q1/a.%252A", ""),
		step("DELETE", X+"/x1?if-unused=true", ""),
		step("DELETE", X+"/x1", ""),
		step("DELETE", X+"/x1", ""),
		step("DELETE", Q+"/q1", ""),
		step("DELETE", Q+"/q1", ""),
		step("DELETE", "/api/users/"+u, ""),
		step("DELETE", "/api/vhosts/"+v, ""),
	}
	var diffs, knowns []string
	for _, s := range steps {
		if s.method == "SLEEP" {
			time.Sleep(6 * time.Second)
			continue
		}
		want := topoTranscript(t, rbase, s)
		got := topoTranscript(t, sbase, s)
		if want == got {
			continue
		}
		d := fmt.Sprintf("RabbitMQ: %s\n  sluice: %s", want, got)
		if s.known != "" {
			knowns = append(knowns, d+"\n  (known: "+s.known+")")
			continue
		}
		diffs = append(diffs, d)
	}
	sort.Strings(knowns)
	for _, k := range knowns {
		t.Log(k)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	t.Logf("%d steps, %d differences, %d known", len(steps), len(diffs), len(knowns))
}
