package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// Definitions import and export (GET/POST /api/definitions): files
// exported by RabbitMQ 3.10.8 (testdata/rabbitmq-3.10.8-definitions.json,
// made by TestDefinitionsDifferential) and in 4.x's shape
// (testdata/rabbitmq-4.x-definitions.json, hand-written) are imported
// over HTTP, with sluicectl and at start-up, and what they hold is
// checked through the API and over AMQP.

func readFixture(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

const (
	fixture310 = "rabbitmq-3.10.8-definitions.json"
	fixture4x  = "rabbitmq-4.x-definitions.json"
)

// exported is a definitions export, decoded.
type exported struct {
	Users []struct {
		Name             string           `json:"name"`
		PasswordHash     string           `json:"password_hash"`
		HashingAlgorithm string           `json:"hashing_algorithm"`
		Tags             []string         `json:"tags"`
		Limits           map[string]int64 `json:"limits"`
	} `json:"users"`
	VHosts []struct {
		Name     string `json:"name"`
		Metadata struct {
			Description      string   `json:"description"`
			Tags             []string `json:"tags"`
			DefaultQueueType string   `json:"default_queue_type"`
		} `json:"metadata"`
	} `json:"vhosts"`
	Parameters []map[string]any `json:"parameters"`
	Policies   []map[string]any `json:"policies"`
	Queues     []map[string]any `json:"queues"`
	Exchanges  []map[string]any `json:"exchanges"`
	Bindings   []map[string]any `json:"bindings"`
}

func (e exported) has(section []map[string]any, vhost, name string) map[string]any {
	for _, m := range section {
		if m["vhost"] == vhost && m["name"] == name {
			return m
		}
	}
	return nil
}

// checkShopOverAMQP logs in as the imported shop-app with its RabbitMQ
// password and routes through the imported bindings: topic to queue,
// and headers exchange to its alternate exchange's queue.
func checkShopOverAMQP(t *testing.T, url string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("imported user cannot log in with its RabbitMQ password: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Publish("shop.events", "orders.new", false, false, amqp.Publishing{Body: []byte("o1")}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Publish("shop.hdr", "", false, false, amqp.Publishing{Body: []byte("u1"), Headers: amqp.Table{"kind": "refund"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ q, body string }{{"shop-orders", "o1"}, {"shop-unrouted", "u1"}} {
		var got string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			d, ok, err := ch.Get(c.q, true)
			if err != nil {
				t.Fatalf("get %s: %v", c.q, err)
			}
			if ok {
				got = string(d.Body)
				break
			}
		}
		if got != c.body {
			t.Fatalf("%s: got %q, want %q", c.q, got, c.body)
		}
	}
}

// TestDefinitionsImportRabbitMQ310 imports RabbitMQ 3.10.8's export.
func TestDefinitionsImportRabbitMQ310(t *testing.T) {
	b := brokertest.New(t)
	c := newAPI(t, b)
	doc := readFixture(t, fixture310)
	c.want(http.StatusNoContent, "POST", "/api/definitions", doc)

	var user struct {
		PasswordHash string           `json:"password_hash"`
		Tags         []string         `json:"tags"`
		Limits       map[string]int64 `json:"limits"`
	}
	c.getJSON("/api/users/shop-app", &user)
	if !strings.Contains(doc, `"password_hash": "`+user.PasswordHash+`"`) || user.Limits["max-connections"] != 10 || user.Limits["max-channels"] != 20 {
		t.Fatalf("shop-app: %+v", user)
	}
	var perm map[string]string
	c.getJSON("/api/permissions/shop/shop-app", &perm)
	if perm["configure"] != `^shop-app\.` || perm["write"] != `^shop\.` || perm["read"] != "^shop-" {
		t.Fatalf("permissions: %v", perm)
	}
	var topics []map[string]string
	c.getJSON("/api/topic-permissions/shop/shop-app", &topics)
	if len(topics) != 1 || topics[0]["exchange"] != "shop.events" || topics[0]["write"] != `^orders\.` {
		t.Fatalf("topic permissions: %v", topics)
	}
	var limits []struct {
		Value map[string]int64 `json:"value"`
	}
	c.getJSON("/api/vhost-limits/shop", &limits)
	if len(limits) != 1 || limits[0].Value["max-queues"] != 100 || limits[0].Value["max-connections"] != 50 {
		t.Fatalf("vhost limits: %+v", limits)
	}
	var e exported
	c.getJSON("/api/definitions", &e)
	if q := e.has(e.Queues, "shop", "shop-orders"); q == nil || jsonOf(q["arguments"]) != `{"x-max-length":10000,"x-overflow":"reject-publish"}` {
		t.Fatalf("shop-orders: %v", q)
	}
	if q := e.has(e.Queues, "shop", "shop-audit"); q == nil || jsonOf(q["arguments"]) != `{"x-delivery-limit":5,"x-queue-type":"quorum"}` {
		t.Fatalf("shop-audit: %v", q)
	}
	if x := e.has(e.Exchanges, "shop", "shop.audit"); x == nil || x["internal"] != true || x["type"] != "direct" {
		t.Fatalf("shop.audit: %v", x)
	}
	if p := e.has(e.Policies, "shop", "shop-ttl"); p == nil || jsonOf(p["definition"]) != `{"message-ttl":60000}` || p["priority"] != 1.0 {
		t.Fatalf("policy shop-ttl: %v", p)
	}
	if p := e.has(e.Parameters, "shop", "shop-cap"); p == nil || p["component"] != "operator_policy" {
		t.Fatalf("operator policy shop-cap: %v", e.Parameters)
	}
	if len(e.Bindings) != 6 {
		t.Fatalf("bindings: %v", e.Bindings)
	}
	checkShopOverAMQP(t, "amqp://shop-app:app-secret@"+b.AMQPAddr()+"/shop")
	// guest came with RabbitMQ's hash of its password.
	c.want(http.StatusOK, "GET", "/api/whoami", "")
	// Again: what exists is left as it is, and the answer is the same.
	c.want(http.StatusNoContent, "POST", "/api/definitions", doc)
}

// TestDefinitionsImportRabbitMQ4x imports a file in 4.x's shape: vhost
// metadata and limits, a queue's type, tags as a string (3.8's), a plain
// password, SHA-512 hashes; parameters of plugins sluice lacks are
// reported, the cluster name is taken, internal_cluster_id is neither.
func TestDefinitionsImportRabbitMQ4x(t *testing.T) {
	b := brokertest.New(t)
	c := newAPI(t, b)
	raw := c.want(http.StatusOK, "POST", "/api/definitions", readFixture(t, fixture4x))
	var res struct {
		Skipped []struct{ Section, VHost, Component, Name, Reason string } `json:"skipped"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.Skipped {
		names = append(names, s.Section+"/"+s.Component+"/"+s.Name)
	}
	if strings.Join(names, " ") != "parameters/shovel/to-archive parameters/federation-upstream/dc2" {
		t.Fatalf("skipped: %s", raw)
	}
	var cn map[string]any
	c.getJSON("/api/cluster-name", &cn)
	if cn["name"] != "rabbit@ledger-prod" {
		t.Fatalf("the file's cluster_name was not taken: %v", cn)
	}
	var vh map[string]any
	c.getJSON("/api/vhosts/ledger", &vh)
	if vh["description"] != "Ledger services" || jsonOf(vh["tags"]) != `["finance","eu"]` || vh["default_queue_type"] != "quorum" {
		t.Fatalf("vhost ledger: %v", vh)
	}
	var legacy struct{ Tags []string }
	c.getJSON("/api/users/legacy", &legacy)
	if strings.Join(legacy.Tags, ",") != "management,policymaker" {
		t.Fatalf("legacy tags: %v", legacy.Tags)
	}
	var e exported
	c.getJSON("/api/definitions", &e)
	if q := e.has(e.Queues, "ledger", "ledger.audit"); q == nil || jsonOf(q["arguments"]) != `{"x-queue-type":"quorum"}` {
		t.Fatalf("a 4.x queue's type becomes its x-queue-type: %v", q)
	}
	if x := e.has(e.Exchanges, "ledger", "ledger.later"); x == nil || x["type"] != "x-delayed-message" {
		t.Fatalf("ledger.later: %v", x)
	}
	for _, login := range []string{"ledger-svc:ledger-secret", "ledger-admin:admin-secret"} {
		conn, err := amqp.Dial("amqp://" + login + "@" + b.AMQPAddr() + "/ledger")
		if err != nil {
			t.Fatalf("%s: %v", login, err)
		}
		conn.Close()
	}
	conn, err := amqp.Dial("amqp://ledger-svc:ledger-secret@" + b.AMQPAddr() + "/ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if err := ch.Publish("ledger.in", "entry.1", false, false, amqp.Publishing{Body: []byte("e1")}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d, ok, err := ch.Get("ledger.entries", true); err != nil {
			t.Fatal(err)
		} else if ok {
			if string(d.Body) != "e1" {
				t.Fatalf("got %q", d.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing routed to ledger.entries")
		}
	}
}

// TestDefinitionsExport checks the export's shape and access rules.
func TestDefinitionsExport(t *testing.T) {
	b := brokertest.New(t)
	c := newAPI(t, b)
	c.want(http.StatusOK, "POST", "/api/definitions", readFixture(t, fixture4x))

	// A transient queue is exported, as RabbitMQ's; an exclusive one and
	// its binding are not (they belong to a connection).
	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare("transient", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("mine", false, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("mine", "k", "amq.direct", false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("transient", "k", "amq.direct", false, nil); err != nil {
		t.Fatal(err)
	}

	raw := c.want(http.StatusOK, "GET", "/api/definitions", "")
	if !bytes.HasPrefix(raw, []byte(`{"rabbit_version":"3.10.8","rabbitmq_version":"3.10.8","product_name":"Sluice","product_version":"`)) {
		t.Fatalf("export starts %.120s", raw)
	}
	var e exported
	c.getJSON("/api/definitions", &e)
	if q := e.has(e.Queues, "/", "transient"); q == nil || q["durable"] != false || e.has(e.Queues, "/", "mine") != nil {
		t.Fatalf("queues of /: %v", e.Queues)
	}
	var toTransient, toMine int
	for _, bd := range e.Bindings {
		switch bd["destination"] {
		case "transient":
			toTransient++
		case "mine":
			toMine++
		}
	}
	if toTransient != 1 || toMine != 0 {
		t.Fatalf("bindings: %v", e.Bindings)
	}
	for _, v := range e.VHosts {
		if v.Name == "ledger" && (v.Metadata.Description != "Ledger services" || v.Metadata.DefaultQueueType != "quorum") {
			t.Fatalf("vhost metadata: %+v", v)
		}
	}
	for _, u := range e.Users {
		if u.Name == "ledger-svc" && (u.HashingAlgorithm != "rabbit_password_hashing_sha512" || u.Limits["max-connections"] != 5) {
			t.Fatalf("user: %+v", u)
		}
	}

	raw = c.want(http.StatusOK, "GET", "/api/definitions/ledger", "")
	var one map[string]json.RawMessage
	if err := json.Unmarshal(raw, &one); err != nil {
		t.Fatal(err)
	}
	if len(one) != 6 || one["users"] != nil || one["rabbit_version"] == nil || bytes.Contains(raw, []byte(`"vhost"`)) {
		t.Fatalf("per-vhost export: %s", raw)
	}
	st, raw := c.do("GET", "/api/definitions/nope", "")
	if kind, reason := apiErr(t, raw); st != http.StatusBadRequest || kind != "bad_request" || reason != "vhost_not_found" {
		t.Fatalf("missing vhost: %d %s", st, raw)
	}

	req, _ := http.NewRequest("GET", c.base+"/api/definitions?download=sluice.json&auth="+
		base64.StdEncoding.EncodeToString([]byte("guest:guest")), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != "attachment; filename=sluice.json" {
		t.Fatalf("download with ?auth=: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	// legacy is a management user, not an administrator.
	c.as("legacy", "legacy-secret").want(http.StatusUnauthorized, "GET", "/api/definitions", "")
	c.as("legacy", "legacy-secret").want(http.StatusUnauthorized, "POST", "/api/definitions", "{}")
}

// TestDefinitionsImportRefused: a document that cannot be imported is
// refused with RabbitMQ's 400 and nothing of it is applied.
func TestDefinitionsImportRefused(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxDefinitionsSize = 64 << 10 })
	c := newAPI(t, b)
	withUser := func(rest string) string {
		return `{"users":[{"name":"tmp","password":"x","tags":[]}],"vhosts":[{"name":"tmpv"}],` + rest + `}`
	}
	cases := []struct{ body, reason string }{
		{`not json`, "failed_to_parse_json"},
		{`[]`, "failed_to_parse_json"},
		{`{"users":[{"name":"u","password_hash":""}]}`, "tags_not_present"},
		{`{"queues":{}}`, "queues must be a list"},
		{withUser(`"queues":[{"name":"q","vhost":"nope","durable":true}]`), `["no_such_vhost","nope"]`},
		{withUser(`"permissions":[{"user":"ghost","vhost":"tmpv","configure":"","write":"","read":""}]`), `["no_such_user","ghost"]`},
		{withUser(`"queues":[{"name":"q","vhost":"tmpv","durable":true,"arguments":{"x-max-length":"abc"}}]`), "precondition_failed: invalid arg 'x-max-length'"},
		{withUser(`"exchanges":[{"name":"x","vhost":"tmpv","type":"bogus","durable":true}]`), "command_invalid: unknown exchange type 'bogus'"},
		{withUser(`"bindings":[{"source":"nox","vhost":"tmpv","destination":"q","destination_type":"queue","routing_key":""}]`), "not_found: no exchange 'nox' in vhost 'tmpv'"},
		{withUser(`"policies":[{"vhost":"tmpv","name":"p","pattern":".*","definition":{"bogus":1}}]`), "are not recognised policy settings"},
		{withUser(`"parameters":[{"vhost":"tmpv","component":"vhost-limits","name":"limits","value":{"max-queues":1}}],` +
			`"queues":[{"name":"q1","vhost":"tmpv"},{"name":"q2","vhost":"tmpv"}]`), "would exceed the limit of 1 queue(s)"},
		{`{"users":[{"name":"u","password_hash":"not base64","tags":""}]}`, "password_hash is not base64"},
		{`{"padding":"` + strings.Repeat("x", 70<<10) + `"}`, "Exceeded HTTP request body size limit"},
	}
	for _, tc := range cases {
		st, raw := c.do("POST", "/api/definitions", tc.body)
		kind, reason := apiErr(t, raw)
		if st != http.StatusBadRequest || kind != "bad_request" || !strings.Contains(reason, tc.reason) {
			t.Errorf("%.80s: %d %s, want 400 with %q", tc.body, st, raw, tc.reason)
		}
	}
	c.want(http.StatusNotFound, "GET", "/api/users/tmp", "")
	c.want(http.StatusNotFound, "GET", "/api/vhosts/tmpv", "")
	st, raw := c.do("POST", "/api/definitions/nope", "{}")
	if kind, reason := apiErr(t, raw); st != http.StatusNotFound || kind != "not_found" || reason != "vhost_not_found" {
		t.Fatalf("import into a missing vhost: %d %s", st, raw)
	}
}

// TestDefinitionsPerVHost imports into one vhost: objects land there
// whatever vhost they name; users and the like are reported left out.
func TestDefinitionsPerVHost(t *testing.T) {
	b := brokertest.New(t)
	c := newAPI(t, b)
	c.want(http.StatusCreated, "PUT", "/api/vhosts/team", "")
	raw := c.want(http.StatusOK, "POST", "/api/definitions/team", `{"users":[{"name":"x","tags":""}],
		"queues":[{"name":"jobs","vhost":"elsewhere","durable":true,"auto_delete":false,"arguments":{}}],
		"exchanges":[{"name":"work","type":"direct","durable":true}],
		"bindings":[{"source":"work","destination":"jobs","destination_type":"queue","routing_key":"j"}]}`)
	if !strings.Contains(string(raw), `"section":"users"`) {
		t.Fatalf("answer: %s", raw)
	}
	c.want(http.StatusNotFound, "GET", "/api/users/x", "")
	var e exported
	c.getJSON("/api/definitions", &e)
	if e.has(e.Queues, "team", "jobs") == nil || e.has(e.Exchanges, "team", "work") == nil || len(e.Bindings) != 1 {
		t.Fatalf("team: %+v", e)
	}
}

// TestDefinitionsRoundTrip: sluice's export imported into another sluice
// gives the same export.
func TestDefinitionsRoundTrip(t *testing.T) {
	a := newAPI(t, brokertest.New(t))
	a.want(http.StatusNoContent, "POST", "/api/definitions", readFixture(t, fixture310))
	a.want(http.StatusOK, "POST", "/api/definitions", readFixture(t, fixture4x))
	first := a.want(http.StatusOK, "GET", "/api/definitions", "")
	b := newAPI(t, brokertest.New(t))
	b.want(http.StatusNoContent, "POST", "/api/definitions", string(first))
	second := b.want(http.StatusOK, "GET", "/api/definitions", "")
	if !bytes.Equal(first, second) {
		t.Fatalf("round trip differs:\n%s\n%s", first, second)
	}
	// /api/all-configuration, RabbitMQ's older name, is the same resource.
	c := newAPI(t, brokertest.New(t))
	c.want(http.StatusNoContent, "POST", "/api/all-configuration", string(first))
	if third := c.want(http.StatusOK, "GET", "/api/all-configuration", ""); !bytes.Equal(first, third) {
		t.Fatalf("round trip through /api/all-configuration differs:\n%s\n%s", first, third)
	}
}

// TestDefinitionsFormUpload posts the file as RabbitMQ's web UI does.
func TestDefinitionsFormUpload(t *testing.T) {
	b := brokertest.New(t)
	c := newAPI(t, b)
	post := func(redirect string) *http.Response {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "defs.json")
		io.WriteString(fw, `{"vhosts":[{"name":"from-form"}]}`)
		if redirect != "" {
			mw.WriteField("redirect", redirect)
		}
		mw.Close()
		req, _ := http.NewRequest("POST", c.base+"/api/definitions", &buf)
		req.SetBasicAuth("guest", "guest")
		req.Header.Set("Content-Type", mw.FormDataContentType())
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("/#/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/#/" {
		t.Fatalf("with redirect: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := post("#/overview"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "#/overview" {
		t.Fatalf("with a relative redirect: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	for _, bad := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
		if r := post(bad); r.StatusCode != http.StatusNoContent {
			t.Fatalf("a redirect off the site (%s) is not followed: %d", bad, r.StatusCode)
		}
	}
	if r := post(""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("a redirect off the site is not followed: %d", r.StatusCode)
	}
	c.want(http.StatusOK, "GET", "/api/vhosts/from-form", "")
}

// TestDefinitionsAtStartup: --definitions seeds a new data directory
// (no default user when the file has users), is not applied again to a
// directory that has data, and is with --definitions-on-every-start; a
// bad file stops the start.
func TestDefinitionsAtStartup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "defs.json")
	if err := os.WriteFile(file, []byte(readFixture(t, fixture4x)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(everyStart bool) *brokertest.Broker {
		return brokertest.New(t, brokertest.WithDataDir(dir), func(c *server.Config) {
			c.Definitions, c.DefinitionsOnEveryStart = file, everyStart
		})
	}
	b := start(false)
	admin := newAPI(t, b).as("ledger-admin", "admin-secret")
	admin.want(http.StatusOK, "GET", "/api/vhosts/ledger", "")
	admin.want(http.StatusNotFound, "GET", "/api/users/guest", "")
	admin.want(http.StatusNoContent, "DELETE", "/api/users/legacy", "")
	b.Stop(t)

	// Not again into a data directory that has data; what the first
	// import made is durable like the rest.
	b = start(false)
	admin = newAPI(t, b).as("ledger-admin", "admin-secret")
	admin.want(http.StatusNotFound, "GET", "/api/users/legacy", "")
	var vh map[string]any
	admin.getJSON("/api/vhosts/ledger", &vh)
	if vh["description"] != "Ledger services" || vh["default_queue_type"] != "quorum" {
		t.Fatalf("vhost metadata after a restart: %v", vh)
	}
	var e exported
	admin.getJSON("/api/definitions", &e)
	if e.has(e.Queues, "ledger", "ledger.entries") == nil || e.has(e.Policies, "ledger", "ledger-dlq") == nil {
		t.Fatalf("topology after a restart: %+v", e)
	}
	b.Stop(t)

	b = start(true)
	admin = newAPI(t, b).as("ledger-admin", "admin-secret")
	admin.want(http.StatusOK, "GET", "/api/users/legacy", "")
	b.Stop(t)

	if err := os.WriteFile(file, []byte(`{"queues":[{"name":"q","vhost":"nope"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.Defaults()
	cfg.DataDir, cfg.Definitions = t.TempDir(), file
	if _, err := server.New(cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "no_such_vhost") {
		t.Fatalf("a bad definitions file: %v", err)
	}
}

// TestDefinitionsAtStartupDirectory: --definitions naming a directory
// imports its .json files in name order; a later one may use what an
// earlier one made.
func TestDefinitionsAtStartupDirectory(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"10-users.json":    `{"users":[{"name":"boot","password":"boot-pw","tags":"administrator"}],"vhosts":[{"name":"boot"}]}`,
		"20-topology.json": `{"queues":[{"name":"jobs","vhost":"boot","durable":true}],"permissions":[{"user":"boot","vhost":"boot","configure":".*","write":".*","read":".*"}]}`,
		"notes.txt":        `not definitions`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := brokertest.New(t, func(c *server.Config) { c.Definitions = dir })
	conn, err := amqp.Dial("amqp://boot:boot-pw@" + b.AMQPAddr() + "/boot")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclarePassive("jobs", true, false, false, false, nil); err != nil {
		t.Fatalf("queue from the second file: %v", err)
	}
}

// TestSluicectlDefinitions: export_definitions and import_definitions.
func TestSluicectlDefinitions(t *testing.T) {
	bin := buildSluicectl(t)
	b := brokertest.New(t)
	env := []string{"SLUICE_URL=http://" + b.HTTPAddr(), "SLUICE_USERNAME=guest", "SLUICE_PASSWORD=guest"}
	file := filepath.Join("testdata", fixture4x)
	out, errOut, code := ctlRun(t, bin, env, "import_definitions", file)
	if code != 0 || !strings.Contains(out, "Not imported: parameters ledger shovel to-archive") ||
		!strings.Contains(out, "Successfully imported definitions") {
		t.Fatalf("import_definitions: %d %q %q", code, out, errOut)
	}
	exported := filepath.Join(t.TempDir(), "out.json")
	if _, errOut, code := ctlRun(t, bin, env, "export_definitions", exported); code != 0 {
		t.Fatalf("export_definitions: %d %s", code, errOut)
	}
	raw, err := os.ReadFile(exported)
	if err != nil || !bytes.Contains(raw, []byte(`"name":"ledger.entries"`)) {
		t.Fatalf("exported file: %v %.200s", err, raw)
	}
	stdout, _, code := ctlRun(t, bin, env, "export_definitions", "-")
	if code != 0 || !json.Valid([]byte(stdout)) {
		t.Fatalf("export_definitions -: %d %.200s", code, stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"queues":[{"name":"q","vhost":"nope"}]}`), 0o600)
	if _, errOut, code := ctlRun(t, bin, env, "import_definitions", bad); code != 1 || !strings.Contains(errOut, "no_such_vhost") {
		t.Fatalf("a refused import: %d %q", code, errOut)
	}
}

// jsonOf is v as JSON, objects' keys sorted.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// --max-queues bounds the queues of every vhost; an import that would take
// a vhost past it is refused before anything is applied, as a vhost's own
// max-queues limit is, not halfway through. Queues the vhost already has
// are not counted twice.
func TestDefinitionsImportBrokerQueueLimit(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxQueues = 3 })
	c := newAPI(t, b)
	c.want(http.StatusCreated, "PUT", "/api/queues/%2F/have1", `{"durable":true}`)
	c.want(http.StatusCreated, "PUT", "/api/queues/%2F/have2", `{"durable":true}`)
	doc := `{"queues":[{"name":"have1","vhost":"/","durable":true},{"name":"new1","vhost":"/","durable":true},` +
		`{"name":"new2","vhost":"/","durable":true}],"exchanges":[{"name":"lim-x","vhost":"/","type":"direct","durable":true}]}`
	st, raw := c.do("POST", "/api/definitions", doc)
	if kind, reason := apiErr(t, raw); st != http.StatusBadRequest || kind != "bad_request" || !strings.Contains(reason, "--max-queues") {
		t.Fatalf("import past --max-queues: %d %s", st, raw)
	}
	for _, path := range []string{"/api/queues/%2F/new1", "/api/queues/%2F/new2", "/api/exchanges/%2F/lim-x"} {
		c.want(http.StatusNotFound, "GET", path, "")
	}
	// One new queue fits (have1 is there already).
	c.want(http.StatusNoContent, "POST", "/api/definitions",
		`{"queues":[{"name":"have1","vhost":"/","durable":true},{"name":"new1","vhost":"/","durable":true}]}`)
	c.want(http.StatusOK, "GET", "/api/queues/%2F/new1", "")
}
