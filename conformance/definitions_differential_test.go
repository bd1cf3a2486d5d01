//go:build differential

// Differential definitions test: a topology made in a real RabbitMQ
// (users with passwords, a vhost with metadata and limits, permissions,
// topic permissions, user limits, policies, an operator policy,
// exchanges, queues with arguments, exchange-to-queue and
// exchange-to-exchange bindings) is exported with GET /api/definitions,
// imported into sluice, and checked there: sluice's own export holds the
// same objects, and a user logs in over AMQP with its RabbitMQ password
// and routes through the imported bindings. Then the way back: sluice's
// export, imported into RabbitMQ, gives RabbitMQ the same topology.
//
//	RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start
//	go test -tags differential -run TestDefinitionsDifferential ./conformance/ -v
//
// SLUICE_DEFS_FIXTURE=$PWD/conformance/testdata/rabbitmq-3.10.8-definitions.json
// also writes the RabbitMQ export there, cut down to the shop's objects
// (and guest and "/"), re-encoded with sorted keys: the fixture the
// ordinary tests import (definitions_test.go).
package conformance

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// migrationSetup is the topology, as management API calls that both
// RabbitMQ and sluice take. Its names all begin with "shop".
var migrationSetup = []apiStep{
	{method: "PUT", path: "/api/vhosts/shop", body: `{"description":"Shop services","tags":"prod,eu","default_queue_type":"classic"}`},
	{method: "PUT", path: "/api/users/shop-app", body: `{"password":"app-secret","tags":""}`},
	{method: "PUT", path: "/api/users/shop-admin", body: `{"password":"admin-secret","tags":"administrator"}`},
	{method: "PUT", path: "/api/users/shop-ops", body: `{"password":"ops-secret","tags":"monitoring,management"}`},
	{method: "PUT", path: "/api/users/shop-cert", body: `{"tags":""}`},
	{method: "PUT", path: "/api/permissions/shop/shop-app", body: `{"configure":"^shop-app\\.","write":"^shop\\.","read":"^shop-"}`},
	{method: "PUT", path: "/api/permissions/shop/shop-admin", body: `{"configure":".*","write":".*","read":".*"}`},
	{method: "PUT", path: "/api/permissions/shop/shop-ops", body: `{"configure":"","write":"","read":".*"}`},
	{method: "PUT", path: "/api/topic-permissions/shop/shop-app", body: `{"exchange":"shop.events","write":"^orders\\.","read":".*"}`},
	{method: "PUT", path: "/api/vhost-limits/shop/max-queues", body: `{"value":100}`},
	{method: "PUT", path: "/api/vhost-limits/shop/max-connections", body: `{"value":50}`},
	{method: "PUT", path: "/api/user-limits/shop-app/max-connections", body: `{"value":10}`},
	{method: "PUT", path: "/api/user-limits/shop-app/max-channels", body: `{"value":20}`},
	{method: "PUT", path: "/api/policies/shop/shop-ttl", body: `{"pattern":"^shop-orders$","definition":{"message-ttl":60000},"apply-to":"queues","priority":1}`},
	{method: "PUT", path: "/api/policies/shop/shop-dlx", body: `{"pattern":"^shop-","definition":{"dead-letter-exchange":"shop.dlx"},"apply-to":"queues","priority":0}`},
	{method: "PUT", path: "/api/operator-policies/shop/shop-cap", body: `{"pattern":".*","definition":{"max-length":100000},"apply-to":"queues","priority":0}`},
	{method: "PUT", path: "/api/exchanges/shop/shop.events", body: `{"type":"topic","durable":true}`},
	{method: "PUT", path: "/api/exchanges/shop/shop.dlx", body: `{"type":"fanout","durable":true}`},
	{method: "PUT", path: "/api/exchanges/shop/shop.unrouted", body: `{"type":"fanout","durable":true}`},
	{method: "PUT", path: "/api/exchanges/shop/shop.hdr", body: `{"type":"headers","durable":true,"arguments":{"alternate-exchange":"shop.unrouted"}}`},
	{method: "PUT", path: "/api/exchanges/shop/shop.audit", body: `{"type":"direct","durable":true,"internal":true}`},
	{method: "PUT", path: "/api/queues/shop/shop-orders", body: `{"durable":true,"arguments":{"x-max-length":10000,"x-overflow":"reject-publish"}}`},
	{method: "PUT", path: "/api/queues/shop/shop-dead", body: `{"durable":true}`},
	{method: "PUT", path: "/api/queues/shop/shop-unrouted", body: `{"durable":true}`},
	{method: "PUT", path: "/api/queues/shop/shop-audit", body: `{"durable":true,"arguments":{"x-queue-type":"quorum","x-delivery-limit":5}}`},
	{method: "POST", path: "/api/bindings/shop/e/shop.events/q/shop-orders", body: `{"routing_key":"orders.#"}`},
	{method: "POST", path: "/api/bindings/shop/e/shop.dlx/q/shop-dead", body: `{"routing_key":""}`},
	{method: "POST", path: "/api/bindings/shop/e/shop.unrouted/q/shop-unrouted", body: `{"routing_key":""}`},
	{method: "POST", path: "/api/bindings/shop/e/shop.hdr/q/shop-orders", body: `{"routing_key":"","arguments":{"x-match":"all","kind":"order"}}`},
	{method: "POST", path: "/api/bindings/shop/e/shop.events/e/shop.audit", body: `{"routing_key":"audit.*"}`},
	{method: "POST", path: "/api/bindings/shop/e/shop.audit/q/shop-audit", body: `{"routing_key":"audit.login"}`},
}

var migrationUsers = []string{"shop-app", "shop-admin", "shop-ops", "shop-cert"}

// cleanRabbitShop removes what migrationSetup made from RabbitMQ.
func cleanRabbitShop(c *apiClient) {
	c.do("DELETE", "/api/vhosts/shop", "")
	for _, u := range migrationUsers {
		c.do("DELETE", "/api/users/"+u, "")
	}
}

// shopOnly keeps the parts of a full export that are the shop's (and
// guest and "/", which every export has).
func shopOnly(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("export: %v", err)
	}
	keep := func(section string, ok func(m map[string]any) bool) {
		list, _ := d[section].([]any)
		out := []any{}
		for _, e := range list {
			if m, _ := e.(map[string]any); m != nil && ok(m) {
				out = append(out, m)
			}
		}
		d[section] = out
	}
	isShopUser := func(u any) bool {
		for _, n := range append([]string{"guest"}, migrationUsers...) {
			if u == n {
				return true
			}
		}
		return false
	}
	inShop := func(m map[string]any) bool { return m["vhost"] == "shop" }
	keep("users", func(m map[string]any) bool { return isShopUser(m["name"]) })
	keep("vhosts", func(m map[string]any) bool { return m["name"] == "shop" || m["name"] == "/" })
	keep("permissions", func(m map[string]any) bool {
		return isShopUser(m["user"]) && (m["vhost"] == "shop" || m["vhost"] == "/")
	})
	for _, s := range []string{"topic_permissions", "parameters", "policies", "queues", "exchanges", "bindings"} {
		keep(s, inShop)
	}
	return d
}

func TestDefinitionsDifferential(t *testing.T) {
	rbase := rabbitMgmtURL()
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(rbase + "/api/whoami"); err != nil {
		t.Fatalf("RabbitMQ management API not reachable at %s (RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start): %v", rbase, err)
	} else {
		resp.Body.Close()
	}
	rc := &apiClient{t: t, base: rbase, user: "guest", pass: "guest"}
	cleanRabbitShop(rc)
	t.Cleanup(func() { cleanRabbitShop(rc) })
	for _, s := range migrationSetup {
		if st, raw := rc.do(s.method, s.path, s.body); st >= 300 {
			t.Fatalf("RabbitMQ: %s %s: %d %s", s.method, s.path, st, raw)
		}
	}
	rabbitExport := shopOnly(t, rc.want(http.StatusOK, "GET", "/api/definitions", ""))
	doc, _ := json.MarshalIndent(rabbitExport, "", "  ")
	if path := os.Getenv("SLUICE_DEFS_FIXTURE"); path != "" {
		if err := os.WriteFile(path, append(doc, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// RabbitMQ -> sluice.
	b := brokertest.New(t)
	sc := newAPI(t, b)
	st, raw := sc.do("POST", "/api/definitions", string(doc))
	if st != http.StatusNoContent {
		t.Fatalf("import of RabbitMQ's export: %d %s", st, raw)
	}
	sluiceExport := shopOnly(t, sc.want(http.StatusOK, "GET", "/api/definitions", ""))
	compareDefinitions(t, "RabbitMQ's export imported into sluice", rabbitExport, sluiceExport)
	// RabbitMQ 3.10's export names vhosts only: their description and
	// tags (3.11+ write them under "metadata") do not travel from it.
	checkShopOverAMQP(t, "amqp://shop-app:app-secret@"+b.AMQPAddr()+"/shop")

	// sluice -> RabbitMQ: sluice's export, imported into a RabbitMQ
	// without the shop, gives it the same topology.
	back := shopOnly(t, sc.want(http.StatusOK, "GET", "/api/definitions", ""))
	back["users"] = dropGuest(back["users"])
	cleanRabbitShop(rc)
	backDoc, _ := json.Marshal(back)
	if st, raw := rc.do("POST", "/api/definitions", string(backDoc)); st >= 300 {
		t.Fatalf("RabbitMQ refused sluice's export: %d %s", st, raw)
	}
	again := shopOnly(t, rc.want(http.StatusOK, "GET", "/api/definitions", ""))
	compareDefinitions(t, "sluice's export imported into RabbitMQ", rabbitExport, again)
}

func dropGuest(v any) any {
	out := []any{}
	for _, e := range v.([]any) {
		if e.(map[string]any)["name"] != "guest" {
			out = append(out, e)
		}
	}
	return out
}

// compareDefinitions compares two exports section by section, as sets:
// order is free, vhosts are compared by name (RabbitMQ 3.10 writes
// nothing else), and guest's hash is each broker's own.
func compareDefinitions(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	for _, section := range []string{"users", "vhosts", "permissions", "topic_permissions", "parameters",
		"policies", "queues", "exchanges", "bindings"} {
		norm := func(d map[string]any) map[string]bool {
			set := map[string]bool{}
			list, _ := d[section].([]any)
			for _, e := range list {
				m := e.(map[string]any)
				switch section {
				case "vhosts":
					m = map[string]any{"name": m["name"]}
				case "users":
					if m["name"] == "guest" {
						continue
					}
				}
				set[normAPI(m)] = true
			}
			return set
		}
		w, g := norm(want), norm(got)
		for k := range w {
			if !g[k] {
				t.Errorf("%s: %s: missing %s", what, section, k)
			}
		}
		for k := range g {
			if !w[k] {
				t.Errorf("%s: %s: extra %s", what, section, k)
			}
		}
	}
}

// TestDefinitionsAPIDifferential compares the definitions endpoints'
// statuses and error bodies with RabbitMQ's.
func TestDefinitionsAPIDifferential(t *testing.T) {
	rbase := rabbitMgmtURL()
	rc := &apiClient{t: t, base: rbase, user: "guest", pass: "guest"}
	if st, _ := rc.do("GET", "/api/whoami", ""); st != http.StatusOK {
		t.Fatalf("RabbitMQ management API not reachable at %s (RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start)", rbase)
	}
	b := brokertest.New(t)
	sbase := "http://" + b.HTTPAddr()
	const mgmt = "defs-diff-mgmt"
	t.Cleanup(func() { rc.do("DELETE", "/api/users/"+mgmt, "") })
	steps := []apiStep{
		{method: "PUT", path: "/api/users/" + mgmt, body: `{"password":"pw","tags":"management"}`},
		{method: "GET", path: "/api/definitions", user: mgmt, pass: "pw"},
		{method: "POST", path: "/api/definitions", body: `{}`, user: mgmt, pass: "pw"},
		{method: "GET", path: "/api/definitions", user: "-"},
		{method: "GET", path: "/api/definitions/defs-diff-nope"},
		{method: "POST", path: "/api/definitions/defs-diff-nope", body: `{}`},
		{method: "POST", path: "/api/definitions/defs-diff-nope", body: `not json`},
		{method: "POST", path: "/api/definitions", body: `not json`},
		{method: "POST", path: "/api/definitions", body: `[]`},
		{method: "POST", path: "/api/definitions", body: `{}`},
		{method: "POST", path: "/api/definitions/%2F", body: `{}`},
		{method: "POST", path: "/api/definitions", body: `{"users":[{"name":"defs-diff-x","password_hash":""}]}`},
		{method: "POST", path: "/api/definitions", body: `{"queues":[{"name":"q","vhost":"defs-diff-nope","durable":true,"auto_delete":false,"arguments":{}}]}`},
		{method: "POST", path: "/api/definitions", body: `{"permissions":[{"user":"defs-diff-ghost","vhost":"/","configure":"","write":"","read":""}]}`},
		{method: "DELETE", path: "/api/users/" + mgmt},
	}
	for _, s := range steps {
		want, got := apiTranscript(t, rbase, s), apiTranscript(t, sbase, s)
		switch {
		case want == got:
		case s.known != "":
			t.Logf("RabbitMQ: %s\n  sluice: %s\n  (known: %s)", want, got, s.known)
		default:
			t.Errorf("RabbitMQ: %s\n  sluice: %s", want, got)
		}
	}
}
