package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestAPIQueueDeclareConsumeDelete: a queue declared through the API is
// one AMQP sees (same arguments, equivalence checked both ways), its
// object carries RabbitMQ's fields, and DELETE honours if-empty and
// if-unused.
func TestAPIQueueDeclareConsumeDelete(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/queues/%2F/jobs", `{"durable":true,"arguments":{"x-max-length":10,"x-queue-mode":"lazy"}}`)
	api.want(http.StatusNoContent, "PUT", "/api/queues/%2F/jobs", `{"durable":true,"arguments":{"x-max-length":10,"x-queue-mode":"lazy"}}`)
	st, raw := api.do("PUT", "/api/queues/%2F/jobs", `{"durable":false}`)
	if kind, reason := apiErr(t, raw); st != 400 || kind != "bad_request" ||
		reason != "inequivalent arg 'durable' for queue 'jobs' in vhost '/': received 'false' but current is 'true'" {
		t.Fatalf("inequivalent declare: %d %s", st, raw)
	}
	st, raw = api.do("PUT", "/api/queues/%2F/bad", `{"arguments":{"x-max-length":"ten"}}`)
	if kind, _ := apiErr(t, raw); st != 400 || kind != "bad_request" {
		t.Fatalf("bad argument: %d %s", st, raw)
	}
	api.want(http.StatusNotFound, "GET", "/api/queues/%2F/bad", "")
	st, raw = api.do("PUT", "/api/queues/nope/q", `{}`)
	if kind, reason := apiErr(t, raw); st != 404 || kind != "not_found" || reason != "vhost_not_found" {
		t.Fatalf("declare in a missing vhost: %d %s", st, raw)
	}

	ch := amqpChannel(t, b)
	if _, err := ch.QueueDeclare("jobs", true, false, false, false, amqp.Table{"x-max-length": int64(10), "x-queue-mode": "lazy"}); err != nil {
		t.Fatalf("AMQP redeclare of the API's queue: %v", err)
	}
	if err := ch.Publish("", "jobs", false, false, amqp.Publishing{Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	var q map[string]any
	waitFor(t, 5*time.Second, "the queue to settle", func() bool { api.getJSON("/api/queues/%2F/jobs", &q); return q["messages_ready"] == 1.0 })
	for k, want := range map[string]any{"name": "jobs", "vhost": "/", "durable": true, "auto_delete": false,
		"exclusive": false, "type": "classic", "state": "running", "messages": 1.0, "messages_unacknowledged": 0.0,
		"message_bytes": 5.0, "message_bytes_ready": 5.0, "consumers": 0.0} {
		if fmt.Sprint(q[k]) != fmt.Sprint(want) {
			t.Errorf("queue %s = %v, want %v", k, q[k], want)
		}
	}
	if args, _ := q["arguments"].(map[string]any); args["x-max-length"] != 10.0 || args["x-queue-mode"] != "lazy" {
		t.Errorf("arguments %v", q["arguments"])
	}
	for _, k := range []string{"node", "policy", "effective_policy_definition", "memory", "exclusive_consumer_tag", "messages_ready_resident", "disk_bytes"} {
		if _, ok := q[k]; !ok {
			t.Errorf("queue object lacks %s: %v", k, q)
		}
	}
	q = nil
	api.getJSON("/api/queues/%2F/jobs?disable_stats=true", &q)
	if _, ok := q["messages"]; ok || q["name"] != "jobs" {
		t.Errorf("disable_stats: %v", q)
	}
	q = nil
	api.getJSON("/api/queues/%2F/jobs?disable_stats=true&enable_queue_totals=true", &q)
	if q["messages_ready"] != 1.0 {
		t.Errorf("enable_queue_totals: %v", q)
	}

	st, raw = api.do("DELETE", "/api/queues/%2F/jobs?if-empty=true", "")
	if kind, reason := apiErr(t, raw); st != 400 || kind != "bad_request" || reason != "queue 'jobs' in vhost '/' not empty" {
		t.Fatalf("if-empty: %d %s", st, raw)
	}
	msgs, err := ch.Consume("jobs", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-msgs:
		if string(d.Body) != "hello" {
			t.Fatalf("consumed %q", d.Body)
		}
		d.Ack(false)
	case <-time.After(5 * time.Second):
		t.Fatal("nothing consumed from the API's queue")
	}
	st, raw = api.do("DELETE", "/api/queues/%2F/jobs?if-unused=true", "")
	if _, reason := apiErr(t, raw); st != 400 || reason != "queue 'jobs' in vhost '/' in use" {
		t.Fatalf("if-unused: %d %s", st, raw)
	}
	api.want(http.StatusNoContent, "DELETE", "/api/queues/%2F/jobs", "")
	api.want(http.StatusNotFound, "DELETE", "/api/queues/%2F/jobs", "")
	api.want(http.StatusNotFound, "GET", "/api/queues/%2F/jobs", "")
}

// TestAPIQueueGetAckModes: POST .../get with each ackmode, as RabbitMQ:
// ack_requeue_true leaves the messages (redelivered next time),
// ack_requeue_false takes them, reject_requeue_false dead-letters them;
// encoding and truncate shape the payload.
func TestAPIQueueGetAckModes(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	ch := amqpChannel(t, b)
	if _, err := ch.QueueDeclare("dead", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("work", false, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}); err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"one", "two\xff"} {
		if err := ch.Publish("", "work", false, false, amqp.Publishing{Body: []byte(body), ContentType: "text/plain",
			Headers: amqp.Table{"n": int32(i)}, DeliveryMode: 1}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the queue to settle", func() bool { return queueReady(api, "work") == 2 })

	get := func(mode, extra string) []map[string]any {
		t.Helper()
		raw := api.want(http.StatusOK, "POST", "/api/queues/%2F/work/get", `{"count":5,"ackmode":"`+mode+`","encoding":"auto"`+extra+`}`)
		var out []map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := get("ack_requeue_true", "")
	if len(got) != 2 || got[0]["payload"] != "one" || got[0]["payload_encoding"] != "string" || got[0]["redelivered"] != false ||
		got[0]["message_count"] != 1.0 || got[0]["payload_bytes"] != 3.0 || got[0]["routing_key"] != "work" || got[0]["exchange"] != "" {
		t.Fatalf("ack_requeue_true: %v", got)
	}
	if got[1]["payload_encoding"] != "base64" || got[1]["payload"] != "dHdv/w==" {
		t.Fatalf("binary payload: %v", got[1])
	}
	props, _ := got[0]["properties"].(map[string]any)
	if props["content_type"] != "text/plain" || props["delivery_mode"] != 1.0 || fmt.Sprint(props["headers"]) != "map[n:0]" {
		t.Fatalf("properties: %v", props)
	}
	waitFor(t, 5*time.Second, "the queue to settle", func() bool { return queueReady(api, "work") == 2 })
	got = get("reject_requeue_true", `,"truncate":2`)
	if len(got) != 2 || got[0]["redelivered"] != true || got[0]["payload"] != "on" || got[0]["payload_bytes"] != 3.0 {
		t.Fatalf("reject_requeue_true: %v", got)
	}
	waitFor(t, 5*time.Second, "the queue to settle", func() bool { return queueReady(api, "work") == 2 })
	raw := api.want(http.StatusOK, "POST", "/api/queues/%2F/work/get", `{"count":1,"ackmode":"ack_requeue_false","encoding":"base64"}`)
	if err := json.Unmarshal(raw, &got); err != nil || len(got) != 1 || got[0]["payload"] != "b25l" || got[0]["payload_encoding"] != "base64" {
		t.Fatalf("ack_requeue_false: %s", raw)
	}
	if n := queueReady(api, "work"); n != 1 {
		t.Fatalf("ack_requeue_false left %d", n)
	}
	if got = get("reject_requeue_false", ""); len(got) != 1 {
		t.Fatalf("reject_requeue_false: %v", got)
	}
	waitFor(t, 5*time.Second, "the queue to settle", func() bool { return queueReady(api, "dead") == 1 && queueReady(api, "work") == 0 })
	if got = get("ack_requeue_false", ""); len(got) != 0 {
		t.Fatalf("empty queue gave %v", got)
	}

	st, raw := api.do("POST", "/api/queues/%2F/work/get", `{"count":1,"encoding":"auto"}`)
	if _, reason := apiErr(t, raw); st != 400 || reason != "[{key_missing,ackmode}]" {
		t.Fatalf("missing ackmode: %d %s", st, raw)
	}
	st, raw = api.do("POST", "/api/queues/%2F/work/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"hex"}`)
	if _, reason := apiErr(t, raw); st != 400 || reason != "Unsupported encoding. Please use auto or base64." {
		t.Fatalf("bad encoding: %d %s", st, raw)
	}
	st, raw = api.do("POST", "/api/queues/%2F/nope/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"auto"}`)
	if kind, reason := apiErr(t, raw); st != 404 || kind != "not_found" || reason != "NOT_FOUND - no queue 'nope' in vhost '/'" {
		t.Fatalf("get from a missing queue: %d %s", st, raw)
	}

	// Purge.
	if err := ch.Publish("", "work", false, false, amqp.Publishing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the queue to settle", func() bool { return queueReady(api, "work") == 1 })
	api.want(http.StatusNoContent, "DELETE", "/api/queues/%2F/work/contents", "")
	if n := queueReady(api, "work"); n != 0 {
		t.Fatalf("purge left %d", n)
	}
	api.want(http.StatusNotFound, "DELETE", "/api/queues/%2F/nope/contents", "")
}

func queueReady(api *apiClient, name string) int {
	var q struct {
		Ready int `json:"messages_ready"`
	}
	api.getJSON("/api/queues/%2F/"+esc(name), &q)
	return q.Ready
}

// TestAPIQueuePermissions: the API checks a user's vhost permissions as an
// AMQP channel does, and answers as RabbitMQ: 401 "Access refused." for a
// change (direct_request), the AMQP text for a get, 401 for a vhost the
// user cannot open; lists show only the vhosts a management user can
// open, and everything to monitoring users.
func TestAPIQueuePermissions(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/vhosts/other", "")
	api.want(http.StatusCreated, "PUT", "/api/queues/other/hidden", "")
	api.want(http.StatusCreated, "PUT", "/api/queues/%2F/mine-1", "")
	api.want(http.StatusCreated, "PUT", "/api/queues/%2F/theirs", "")
	api.want(http.StatusCreated, "PUT", "/api/users/mgr", `{"password":"p","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/mgr", `{"configure":"^mine-","write":"^mine-","read":"^mine-"}`)
	api.want(http.StatusCreated, "PUT", "/api/users/mon", `{"password":"p","tags":"monitoring"}`)
	mgr, mon := api.as("mgr", "p"), api.as("mon", "p")

	var list []map[string]any
	mgr.getJSON("/api/queues", &list)
	if len(list) != 2 || list[0]["name"] != "mine-1" || list[1]["name"] != "theirs" {
		t.Fatalf("management user's queues: %v", list)
	}
	mon.getJSON("/api/queues", &list)
	if len(list) != 3 {
		t.Fatalf("monitoring user's queues: %v", list)
	}
	for _, c := range []struct {
		who    *apiClient
		method string
		path   string
	}{{mgr, "GET", "/api/queues/other"}, {mgr, "GET", "/api/queues/other/hidden"}, {mon, "GET", "/api/queues/other/hidden"}} {
		st, raw := c.who.do(c.method, c.path, "")
		if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" || reason != "User not authorised to access virtual host" {
			t.Fatalf("%s %s as %s: %d %s", c.method, c.path, c.who.user, st, raw)
		}
	}
	mgr.want(http.StatusCreated, "PUT", "/api/queues/%2F/mine-2", "")
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/api/queues/%2F/not-mine", ""},
		{"DELETE", "/api/queues/%2F/theirs", ""},
		{"DELETE", "/api/queues/%2F/theirs/contents", ""},
	} {
		st, raw := mgr.do(c.method, c.path, c.body)
		if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" || reason != "Access refused." {
			t.Fatalf("%s %s: %d %s", c.method, c.path, st, raw)
		}
	}
	st, raw := mgr.do("POST", "/api/queues/%2F/theirs/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"auto"}`)
	if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" ||
		reason != "ACCESS_REFUSED - access to queue 'theirs' in vhost '/' refused for user 'mgr'" {
		t.Fatalf("get refused: %d %s", st, raw)
	}
	mgr.want(http.StatusNoContent, "DELETE", "/api/queues/%2F/mine-2", "")
	api.want(http.StatusNotFound, "GET", "/api/queues/%2F/not-mine", "")
}

// TestAPIQueueListParameters: /api/queues pages, sorts and filters.
func TestAPIQueueListParameters(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	for i := range 12 {
		api.want(http.StatusCreated, "PUT", fmt.Sprintf("/api/queues/%%2F/q-%02d", i), "")
	}
	var page struct {
		Items      []map[string]any `json:"items"`
		Total      int              `json:"total_count"`
		Filtered   int              `json:"filtered_count"`
		PageCount  int              `json:"page_count"`
		ItemCount  int              `json:"item_count"`
		Page, Size int
	}
	api.getJSON("/api/queues/%2F?page=2&page_size=5&sort=name&sort_reverse=true&columns=name,vhost", &page)
	if page.Total != 12 || page.PageCount != 3 || page.ItemCount != 5 || page.Items[0]["name"] != "q-06" || len(page.Items[0]) != 2 {
		t.Fatalf("page: %+v", page)
	}
	api.getJSON("/api/queues?page=1&name=q-1&use_regex=false", &page)
	if page.Filtered != 2 || page.Total != 12 {
		t.Fatalf("filter: %+v", page)
	}
	st, raw := api.do("GET", "/api/queues?page=9&page_size=5", "")
	if kind, _ := apiErr(t, raw); st != 400 || kind != "page_out_of_range" {
		t.Fatalf("out of range: %d %s", st, raw)
	}
}

// BenchmarkAPIQueues10k: GET /api/queues over HTTP with 10,000 queues,
// whole and one page of 100 (sorted by vhost and name either way).
func BenchmarkAPIQueues10k(b *testing.B) {
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
	for i := range 10000 {
		if _, err := ch.QueueDeclare(fmt.Sprintf("bench-%05d", i), false, false, false, true, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct{ name, path string }{
		{"page", "/api/queues?page=1&page_size=100"},
		{"all", "/api/queues"},
		{"page-sorted-by-messages", "/api/queues?page=3&page_size=100&sort=messages"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				api.want(http.StatusOK, "GET", c.path, "")
			}
		})
	}
}

// consumer_capacity (and its older name consumer_utilisation), as RabbitMQ
// 3.10 reports them: 1 while the consumer keeps up, falling while
// messages wait behind a full prefetch, 0 without consumers.
func TestAPIQueueConsumerCapacity(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "cap-q", nil)
	capacity := func() (float64, float64) {
		var q map[string]any
		api.getJSON("/api/queues/%2F/cap-q", &q)
		c, _ := q["consumer_capacity"].(float64)
		u, _ := q["consumer_utilisation"].(float64)
		if _, ok := q["consumer_capacity"].(float64); !ok {
			t.Fatalf("consumer_capacity %v", q["consumer_capacity"])
		}
		return c, u
	}
	if c, u := capacity(); c != 0 || u != 0 {
		t.Fatalf("without consumers: %v %v, want 0", c, u)
	}
	mustOK(t, ch.Qos(1, 0, false))
	deliveries, err := ch.Consume("cap-q", "", false, false, false, false, nil)
	mustOK(t, err)
	pubBody(t, ch, "", "cap-q", "one")
	first := <-deliveries
	time.Sleep(50 * time.Millisecond)
	if c, u := capacity(); c != 1 || u != 1 {
		t.Fatalf("while the consumer keeps up: %v %v, want 1", c, u)
	}
	pubBody(t, ch, "", "cap-q", "two") // waits behind the unacked one
	time.Sleep(300 * time.Millisecond)
	if c, u := capacity(); c <= 0 || c >= 0.5 || u != c {
		t.Fatalf("while a message waits behind a full prefetch: %v %v, want equal and between 0 and 0.5", c, u)
	}
	fams := scrape(t, b, "/metrics/per-object")
	for _, name := range []string{"rabbitmq_queue_consumer_capacity", "rabbitmq_queue_consumer_utilisation"} {
		if v := sample(t, fams, name, "queue", "cap-q"); v <= 0 || v >= 0.5 {
			t.Fatalf("%s = %v, want between 0 and 0.5", name, v)
		}
	}
	mustOK(t, first.Ack(false))
	<-deliveries
}

// One queue's GET has its consumers (consumer_details, as /api/consumers
// shows them), the empty per-channel lists of RabbitMQ's basic rates mode,
// the depth rates and RabbitMQ's memory figures.
func TestAPIQueueDetailFields(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "detail-q", nil)
	mustOK(t, ch.Qos(5, 0, false))
	_, err := ch.Consume("detail-q", "detail-tag", false, false, false, false, nil)
	mustOK(t, err)
	pubBody(t, ch, "", "detail-q", "one")
	var q map[string]any
	eventually(t, "the delivery unacked", func() bool {
		api.getJSON("/api/queues/%2F/detail-q", &q)
		return q["messages_unacknowledged"] == 1.0
	})
	cd, _ := q["consumer_details"].([]any)
	if len(cd) != 1 {
		t.Fatalf("consumer_details %v", q["consumer_details"])
	}
	c := cd[0].(map[string]any)
	if c["consumer_tag"] != "detail-tag" || c["prefetch_count"] != 5.0 || c["ack_required"] != true ||
		c["queue"].(map[string]any)["name"] != "detail-q" || c["channel_details"].(map[string]any)["number"] != 1.0 {
		t.Fatalf("consumer %v", c)
	}
	for _, k := range []string{"deliveries", "incoming"} {
		if l, ok := q[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %v, want []", k, q[k])
		}
	}
	for _, k := range []string{"messages_details", "messages_ready_details", "messages_unacknowledged_details"} {
		if d, ok := q[k].(map[string]any); !ok || d["rate"] == nil {
			t.Errorf("%s = %v", k, q[k])
		}
	}
	wantFields(t, "queue memory figures", q, obj{"messages_ram": 1.0, "messages_ready_ram": 0.0, "messages_unacknowledged_ram": 1.0,
		"message_bytes_ram": 3.0, "message_bytes_paged_out": 0.0, "single_active_consumer_tag": nil})
	// The list has no consumer_details, as RabbitMQ's.
	var list []map[string]any
	api.getJSON("/api/queues/%2F", &list)
	if _, ok := list[0]["consumer_details"]; ok {
		t.Fatal("consumer_details in the queue list")
	}
	// A single-active-consumer queue names its active consumer.
	declareQ(t, ch, "sac-q", amqp.Table{"x-single-active-consumer": true})
	_, err = ch.Consume("sac-q", "sac-first", false, false, false, false, nil)
	mustOK(t, err)
	api.getJSON("/api/queues/%2F/sac-q", &q)
	if q["single_active_consumer_tag"] != "sac-first" {
		t.Fatalf("single_active_consumer_tag %v", q["single_active_consumer_tag"])
	}
}

// messages_persistent and message_bytes_persistent, as RabbitMQ counts
// them: the persistent messages a durable queue holds, ready or unacked
// (0 in a transient queue), through acks, dead-lettering, purges and a
// restart.
func TestAPIQueuePersistentCounts(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir))
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("pc-dlq", true, false, false, false, nil)
	mustOK(t, err)
	_, err = ch.QueueDeclare("pc", true, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "pc-dlq"})
	mustOK(t, err)
	_, err = ch.QueueDeclare("pc-transient", false, false, false, false, nil)
	mustOK(t, err)
	mustOK(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
	publish := func(q, body string, mode uint8) {
		mustOK(t, ch.PublishWithContext(context.Background(), "", q, false, false, amqp.Publishing{DeliveryMode: mode, Body: []byte(body)}))
		if c := <-confirms; !c.Ack {
			t.Fatal("publish nacked")
		}
	}
	for _, body := range []string{"p1", "p22", "p333"} {
		publish("pc", body, amqp.Persistent)
	}
	publish("pc", "transient", amqp.Transient)
	publish("pc-transient", "p", amqp.Persistent)
	counts := func(q string) (float64, float64) {
		var m map[string]any
		api.getJSON("/api/queues/%2F/"+q, &m)
		return m["messages_persistent"].(float64), m["message_bytes_persistent"].(float64)
	}
	if n, bytes := counts("pc"); n != 3 || bytes != 9 {
		t.Fatalf("pc: %v persistent, %v bytes; want 3, 9", n, bytes)
	}
	if n, _ := counts("pc-transient"); n != 0 {
		t.Fatalf("a transient queue counts %v persistent messages", n)
	}
	// An unacked one still counts; acked, it does not.
	d, ok, err := ch.Get("pc", false)
	mustOK(t, err)
	if !ok || string(d.Body) != "p1" {
		t.Fatalf("get: %v %q", ok, d.Body)
	}
	if n, _ := counts("pc"); n != 3 {
		t.Fatalf("with one unacked: %v, want 3", n)
	}
	mustOK(t, d.Ack(false))
	// Rejected without requeue: dead-lettered into pc-dlq.
	d, _, err = ch.Get("pc", false)
	mustOK(t, err)
	mustOK(t, d.Nack(false, false))
	eventually(t, "the dead letter counted", func() bool { n, _ := counts("pc-dlq"); return n == 1 })
	if n, bytes := counts("pc"); n != 1 || bytes != 4 {
		t.Fatalf("pc after an ack and a dead letter: %v, %v; want 1, 4", n, bytes)
	}
	b.Stop(t)

	b = brokertest.New(t, brokertest.WithDataDir(dir))
	api = newAPI(t, b)
	if n, bytes := counts("pc"); n != 1 || bytes != 4 {
		t.Fatalf("pc after a restart: %v, %v; want 1, 4", n, bytes)
	}
	if n, _ := counts("pc-dlq"); n != 1 {
		t.Fatalf("pc-dlq after a restart: %v, want 1", n)
	}
	api.want(http.StatusNoContent, "DELETE", "/api/queues/%2F/pc/contents", "")
	if n, bytes := counts("pc"); n != 0 || bytes != 0 {
		t.Fatalf("pc after a purge: %v, %v", n, bytes)
	}
	fams := scrape(t, b, "/metrics/per-object")
	if v := sample(t, fams, "rabbitmq_queue_messages_persistent", "queue", "pc-dlq"); v != 1 {
		t.Fatalf("rabbitmq_queue_messages_persistent = %v, want 1", v)
	}
}

// A quorum queue shows its leader, members and online members, as RabbitMQ
// shows them (one node here: the node is all three); a classic queue has
// none of them.
func TestAPIQuorumQueueMembers(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/queues/%2F/qq", `{"durable":true,"arguments":{"x-queue-type":"quorum"}}`)
	api.want(http.StatusCreated, "PUT", "/api/queues/%2F/cq", `{"durable":true}`)
	var qq, cq obj
	api.getJSON("/api/queues/%2F/qq", &qq)
	api.getJSON("/api/queues/%2F/cq", &cq)
	node, _ := qq["node"].(string)
	if node == "" || qq["leader"] != node {
		t.Fatalf("quorum queue: node %v, leader %v", qq["node"], qq["leader"])
	}
	for _, k := range []string{"members", "online"} {
		if l, _ := qq[k].([]any); len(l) != 1 || l[0] != node {
			t.Errorf("quorum queue %s: %v, want [%s]", k, qq[k], node)
		}
	}
	for _, k := range []string{"leader", "members", "online"} {
		if v, ok := cq[k]; ok {
			t.Errorf("classic queue has %s: %v", k, v)
		}
	}
	// The columns RabbitMQ users ask a list for.
	var list []obj
	api.getJSON("/api/queues/%2F?columns=name,type,leader,members,online", &list)
	for _, q := range list {
		if q["name"] == "qq" && (q["leader"] != node || q["members"] == nil || q["online"] == nil) {
			t.Errorf("listed quorum queue: %v", q)
		}
	}
}
