package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestAPIPoliciesChangeLiveQueues: a policy set over HTTP changes a queue
// that already holds messages — max-length drops the oldest into the
// dead-letter exchange the same policy names, message-ttl expires what is
// published next — and clearing it stops both; all seen through
// amqp091-go.
func TestAPIPoliciesChangeLiveQueues(t *testing.T) {
	b, conn, ch := amqpSetup(t)
	api := newAPI(t, b)
	declareQ(t, ch, "jobs", nil)
	declareQ(t, ch, "jobs.dead", nil)
	for _, body := range []string{"1", "2", "3", "4", "5"} {
		pubBody(t, ch, "", "jobs", body)
	}
	waitCount(t, conn, "jobs", 5)

	api.want(http.StatusCreated, "PUT", "/api/policies/%2F/jobs", `{"pattern":"^jobs$","apply-to":"queues","priority":1,
		"definition":{"max-length":2,"dead-letter-exchange":"","dead-letter-routing-key":"jobs.dead"}}`)
	waitCount(t, conn, "jobs", 2)
	waitCount(t, conn, "jobs.dead", 3)
	if d := getOne(t, ch, "jobs.dead", true); string(d.Body) != "1" || d.Headers["x-death"] == nil {
		t.Fatalf("first dead letter %q, headers %v", d.Body, d.Headers)
	} else if death := d.Headers["x-death"].([]any)[0].(amqp.Table); death["reason"] != "maxlen" {
		t.Fatalf("x-death %v", death)
	}
	if d := getOne(t, ch, "jobs", true); string(d.Body) != "4" {
		t.Fatalf("oldest left in jobs is %q, want 4", d.Body)
	}

	// The same policy, changed: a TTL for what is published from now on.
	api.want(http.StatusNoContent, "PUT", "/api/policies/%2F/jobs", `{"pattern":"^jobs$","apply-to":"queues",
		"definition":{"message-ttl":50,"dead-letter-exchange":"","dead-letter-routing-key":"jobs.dead"}}`)
	getOne(t, ch, "jobs", true) // "5"
	pubBody(t, ch, "", "jobs", "short-lived")
	waitCount(t, conn, "jobs", 0)
	if d := getOne(t, ch, "jobs.dead", true); string(d.Body) != "2" {
		t.Fatalf("dead letter %q", d.Body)
	}
	getOne(t, ch, "jobs.dead", true)
	if d := getOne(t, ch, "jobs.dead", true); string(d.Body) != "short-lived" {
		t.Fatalf("expired message %q", d.Body)
	}

	// Cleared: nothing expires or is capped any more.
	api.want(http.StatusNoContent, "DELETE", "/api/policies/%2F/jobs", "")
	for _, body := range []string{"a", "b", "c"} {
		pubBody(t, ch, "", "jobs", body)
	}
	time.Sleep(150 * time.Millisecond)
	waitCount(t, conn, "jobs", 3)
	api.want(http.StatusNotFound, "DELETE", "/api/policies/%2F/jobs", "")
	api.want(http.StatusNotFound, "GET", "/api/policies/%2F/jobs", "")
}

// TestAPIOperatorPolicyCaps: an operator policy's max-length caps a
// policy's larger one, and a queue argument cannot escape it.
func TestAPIOperatorPolicyCaps(t *testing.T) {
	b, conn, ch := amqpSetup(t)
	api := newAPI(t, b)
	declareQ(t, ch, "capped", amqp.Table{"x-max-length": int32(100)})
	api.want(http.StatusCreated, "PUT", "/api/policies/%2F/big", `{"pattern":".*","definition":{"max-length":50}}`)
	api.want(http.StatusCreated, "PUT", "/api/operator-policies/%2F/cap", `{"pattern":"^cap","definition":{"max-length":3},"priority":0,"apply-to":"queues"}`)
	for i := 0; i < 10; i++ {
		pubBody(t, ch, "", "capped", "m")
	}
	waitCount(t, conn, "capped", 3)

	var got map[string]any
	api.getJSON("/api/operator-policies/%2F/cap", &got)
	if got["vhost"] != "/" || got["name"] != "cap" || got["pattern"] != "^cap" || got["apply-to"] != "queues" ||
		got["priority"] != 0.0 || got["definition"].(map[string]any)["max-length"] != 3.0 {
		t.Fatalf("operator policy %v", got)
	}
	var list []map[string]any
	api.getJSON("/api/operator-policies", &list)
	if len(list) != 1 {
		t.Fatalf("operator policies %v", list)
	}
	// Operator policies hold numeric limits only.
	st, raw := api.do("PUT", "/api/operator-policies/%2F/dlx", `{"pattern":".*","definition":{"dead-letter-exchange":"x"}}`)
	if _, reason := apiErr(t, raw); st != 400 || reason != "Validation failed\n\n[{<<\"dead-letter-exchange\">>,<<\"x\">>}] are not recognised policy settings\n" {
		t.Fatalf("operator policy with a DLX: %d %q", st, reason)
	}
	api.want(http.StatusNoContent, "DELETE", "/api/operator-policies/%2F/cap", "")
	for i := 0; i < 10; i++ {
		pubBody(t, ch, "", "capped", "m")
	}
	waitCount(t, conn, "capped", 13)
}

// TestAPIPolicyValidation: RabbitMQ's 400s, word for word (taken from
// RabbitMQ 3.10.8's answers).
func TestAPIPolicyValidation(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	for _, tc := range []struct{ body, reason string }{
		{`{"pattern":".*","definition":{"max-priority":10}}`, "Validation failed\n\n[{&lt;&lt;\"max-priority\"&gt;&gt;,10}] are not recognised policy settings\n"},
		{`{"pattern":".*","definition":{"message-ttl":-1,"foo":1}}`, "Validation failed\n\n-1 is not a valid message TTL\n"},
		{`{"pattern":"(","definition":{"message-ttl":1},"apply-to":"streams","priority":"x"}`,
			"Validation failed\n\napply-to 'streams' unrecognised; should be 'queues', 'classic_queues', 'quorum_queues', 'exchanges' or 'all'\npattern should be regular expression but is invalid: {\"missing )\",1}\npriority should be a number, actually was &lt;&lt;\"x\"&gt;&gt;\n"},
		{`{"pattern":".*","definition":{}}`, "Validation failed\n\nno policy provided\n"},
		{`{"pattern":".*"}`, "[{key_missing,definition}]"},
		{`{"pattern":".*","definition":{"max-length":1.5}}`, "Validation failed\n\n1.5 is not a valid maximum length\n"},
		{`{"pattern":".*","definition":{"max-length":"5"}}`, "Validation failed\n\n&lt;&lt;\"5\"&gt;&gt; is not a valid maximum length\n"},
		{`{"pattern":".*","definition":{"max-length":5},"priority":"7"}`, "Validation failed\n\npriority should be a number, actually was &lt;&lt;\"7\"&gt;&gt;\n"},
	} {
		st, raw := api.do("PUT", "/api/policies/%2F/p", tc.body)
		kind, reason := apiErr(t, raw)
		if st != 400 || kind != "bad_request" || reason != tc.reason {
			t.Errorf("PUT %s: %d %s %q\nwant 400 bad_request %q", tc.body, st, kind, reason, tc.reason)
		}
	}
	st, raw := api.do("PUT", "/api/policies/nope/p", `{"pattern":".*","definition":{"max-length":5}}`)
	if kind, reason := apiErr(t, raw); st != 404 || kind != "not_found" || reason != "vhost_not_found" {
		t.Fatalf("policy in a missing vhost: %d %s %s", st, kind, reason)
	}
	api.want(http.StatusNotFound, "GET", "/api/policies/nope", "")
	// Lists: lowest priority first, in RabbitMQ's shape.
	api.want(http.StatusCreated, "PUT", "/api/policies/%2F/pa", `{"pattern":"^a","definition":{"max-length":5},"priority":3}`)
	api.want(http.StatusCreated, "PUT", "/api/policies/%2F/pb", `{"pattern":"^a","definition":{"max-length":5},"priority":1}`)
	raw = api.want(http.StatusOK, "GET", "/api/policies/%2F", "")
	want := `[{"vhost":"/","name":"pb","pattern":"^a","apply-to":"all","definition":{"max-length":5},"priority":1},` +
		`{"vhost":"/","name":"pa","pattern":"^a","apply-to":"all","definition":{"max-length":5},"priority":3}]`
	if strings.TrimSpace(string(raw)) != want {
		t.Fatalf("GET /api/policies/%%2F:\n%s\nwant\n%s", raw, want)
	}
}

// TestAPIPolicyAccess: policies need policymaker with access to the vhost
// (or administrator); operator policies need administrator; lists show the
// vhosts a user can see.
func TestAPIPolicyAccess(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/vhosts/v1", "")
	api.want(http.StatusCreated, "PUT", "/api/users/pm", `{"password":"pm","tags":"policymaker"}`)
	api.want(http.StatusCreated, "PUT", "/api/users/mg", `{"password":"mg","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/v1/pm", `{"configure":".*","write":".*","read":".*"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/v1/mg", `{"configure":".*","write":".*","read":".*"}`)
	body := `{"pattern":".*","definition":{"max-length":5}}`
	pm, mg := api.as("pm", "pm"), api.as("mg", "mg")
	pm.want(http.StatusCreated, "PUT", "/api/policies/v1/p", body)
	pm.want(http.StatusUnauthorized, "PUT", "/api/policies/%2F/p", body) // no access to /
	mg.want(http.StatusUnauthorized, "PUT", "/api/policies/v1/q", body)
	mg.want(http.StatusUnauthorized, "GET", "/api/policies/v1/p", "")
	pm.want(http.StatusUnauthorized, "PUT", "/api/operator-policies/v1/o", body)
	api.want(http.StatusCreated, "PUT", "/api/policies/%2F/root", body)
	var list []map[string]any
	mg.getJSON("/api/policies", &list)
	if len(list) != 1 || list[0]["vhost"] != "v1" {
		t.Fatalf("policies a management user of v1 sees: %v", list)
	}
	mg.want(http.StatusUnauthorized, "GET", "/api/policies/%2F", "")
	pm.want(http.StatusNoContent, "DELETE", "/api/policies/v1/p", "")
}

// TestAPIPoliciesDurable: policies, operator policies and vhost metadata
// survive a restart, and the restored queue is under its policy at once.
func TestAPIPoliciesDurable(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir))
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	if _, err := ch.QueueDeclare("kept", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	api.want(http.StatusCreated, "PUT", "/api/vhosts/v2", `{"description":"second","tags":"x,y"}`)
	api.want(http.StatusCreated, "PUT", "/api/policies/%2F/len", `{"pattern":"^kept$","definition":{"max-length":2},"priority":4,"apply-to":"queues"}`)
	api.want(http.StatusCreated, "PUT", "/api/operator-policies/v2/ttl", `{"pattern":".*","definition":{"message-ttl":60000}}`)
	conn.Close()
	b.Stop(t)

	b = brokertest.New(t, brokertest.WithDataDir(dir))
	api = newAPI(t, b)
	var p map[string]any
	api.getJSON("/api/policies/%2F/len", &p)
	if p["priority"] != 4.0 || p["apply-to"] != "queues" {
		t.Fatalf("restored policy %v", p)
	}
	var ops []map[string]any
	api.getJSON("/api/operator-policies/v2", &ops)
	if len(ops) != 1 || ops[0]["name"] != "ttl" {
		t.Fatalf("restored operator policies %v", ops)
	}
	var v map[string]any
	api.getJSON("/api/vhosts/v2", &v)
	if v["description"] != "second" {
		raw, _ := json.Marshal(v)
		t.Fatalf("restored vhost metadata %s", raw)
	}
	conn = amqpDial(t, b)
	ch = amqpChan(t, conn)
	for _, body := range []string{"1", "2", "3"} {
		pubBody(t, ch, "", "kept", body)
	}
	waitCount(t, conn, "kept", 2)
}

// TestSluicectlPolicies: set_policy, list_policies and clear_policy (and
// the operator policy commands) through the built sluicectl, as
// rabbitmqctl takes them.
func TestSluicectlPolicies(t *testing.T) {
	bin := buildSluicectl(t)
	b := brokertest.New(t)
	env := []string{"SLUICE_URL=http://" + b.HTTPAddr(), "SLUICE_USERNAME=guest", "SLUICE_PASSWORD=guest"}
	run := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := ctlRun(t, bin, env, args...)
		if code != want {
			t.Fatalf("sluicectl %v: exit %d (want %d), stdout %s stderr %s", args, code, want, out, errOut)
		}
		return out + errOut
	}
	out := run(0, "set_policy", "--priority", "2", "--apply-to", "queues", "ttl", "^t\\.", `{"message-ttl":1000}`)
	if !strings.Contains(out, `Setting policy "ttl" for pattern "^t\\." to "{\"message-ttl\":1000}" with priority "2" for vhost "/"`) {
		t.Fatalf("set_policy said %q", out)
	}
	run(0, "set_operator_policy", "-p", "/", "cap", ".*", `{"max-length":10}`)
	out = run(0, "-q", "list_policies")
	if out != "/\tttl\t^t\\.\tqueues\t{\"message-ttl\":1000}\t2\n" {
		t.Fatalf("list_policies: %q", out)
	}
	if out = run(0, "-q", "list_operator_policies"); !strings.Contains(out, "cap\t.*\tall\t{\"max-length\":10}\t0") {
		t.Fatalf("list_operator_policies: %q", out)
	}
	if out = run(1, "set_policy", "bad", ".*", `{"max-priority":10}`); !strings.Contains(out, "are not recognised policy settings") {
		t.Fatalf("a refused policy: %q", out)
	}
	run(0, "clear_policy", "ttl")
	run(0, "clear_operator_policy", "cap")
	run(67, "clear_policy", "ttl")
	if out = run(0, "-q", "list_policies"); out != "" {
		t.Fatalf("after clear_policy: %q", out)
	}
}
