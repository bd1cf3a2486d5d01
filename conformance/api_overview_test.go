package conformance

import (
	"context"
	"net/http"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/brokertest"
)

// /api/overview, /api/nodes, /api/extensions and /api/cluster-name.

func TestAPIOverview(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "overview-q", nil)
	for i := 0; i < 3; i++ {
		pubBody(t, ch, "", "overview-q", "m")
	}
	consume(t, ch, "overview-q", "ov-tag", false, nil) // with no prefetch all 3 go out unacked
	pubBody(t, ch, "", "overview-q-none", "lost")
	stompDial(t, b)

	var o obj
	eventually(t, "the deliveries unacknowledged", func() bool {
		o = nil
		api.getJSON("/api/overview", &o)
		qt, _ := o["queue_totals"].(obj)
		return qt["messages_unacknowledged"] == 3.0
	})
	wantFields(t, "overview", o, obj{"product_name": "Sluice", "rates_mode": "basic", "statistics_db_event_queue": 0.0,
		"disable_stats": false})
	if v, _ := o["rabbitmq_version"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("rabbitmq_version %v", o["rabbitmq_version"])
	}
	for _, k := range []string{"management_version", "product_version", "erlang_version", "erlang_full_version", "cluster_name", "node"} {
		if s, _ := o[k].(string); s == "" {
			t.Errorf("%s = %v", k, o[k])
		}
	}
	qt := o["queue_totals"].(obj)
	wantFields(t, "queue_totals", qt, obj{"messages": 3.0, "messages_ready": 0.0, "messages_unacknowledged": 3.0})
	if d, _ := qt["messages_details"].(obj); d == nil || d["rate"] == nil {
		t.Errorf("messages_details %v", qt["messages_details"])
	}
	ot := o["object_totals"].(obj)
	wantFields(t, "object_totals", ot, obj{"connections": 2.0, "channels": 2.0, "queues": 1.0, "consumers": 1.0})
	if n, _ := ot["exchanges"].(float64); n < 6 { // the default exchanges of /
		t.Errorf("exchanges %v", ot["exchanges"])
	}
	protos := map[string]float64{}
	for _, l := range o["listeners"].([]any) {
		l := l.(obj)
		protos[l["protocol"].(string)] = l["port"].(float64)
	}
	for proto, addr := range map[string]string{"amqp": b.AMQPAddr(), "stomp": b.STOMPAddr(), "http": b.HTTPAddr(),
		"http/web-stomp": b.Addr("web-stomp").String(), "http/prometheus": b.Addr("prometheus").String()} {
		if _, port := hostPortOf(t, addr); protos[proto] != port {
			t.Errorf("listener %s on %v, want %v (listeners %v)", proto, protos[proto], port, o["listeners"])
		}
	}
	if types, _ := o["exchange_types"].([]any); len(types) < 4 {
		t.Errorf("exchange_types %v", o["exchange_types"])
	}

	// A management user sees totals over its own vhosts and connections,
	// and nothing of the node.
	api.want(http.StatusCreated, "PUT", "/api/users/ov-mgr", `{"password":"pw","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/vhosts/ov-own", "")
	api.want(http.StatusCreated, "PUT", "/api/permissions/ov-own/ov-mgr", `{"configure":".*","write":".*","read":".*"}`)
	var m obj
	api.as("ov-mgr", "pw").getJSON("/api/overview", &m)
	if m["listeners"] != nil || m["node"] != nil || m["contexts"] != nil {
		t.Errorf("a management user sees the node: %v", m)
	}
	mt := m["object_totals"].(obj)
	wantFields(t, "management user's object_totals", mt, obj{"connections": 0.0, "channels": 0.0, "queues": 0.0})
	if _, ok := mt["consumers"]; ok {
		t.Errorf("a management user gets a consumer total: %v", mt)
	}
	if qt := m["queue_totals"].(obj); qt["messages"] != 0.0 {
		t.Errorf("a management user sees messages of vhosts it has no access to: %v", qt)
	}
}

func TestAPINodesExtensionsClusterName(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	amqpDial(t, b)
	var nodes []obj
	api.getJSON("/api/nodes", &nodes)
	if len(nodes) != 1 {
		t.Fatalf("nodes %v", nodes)
	}
	n := nodes[0]
	wantFields(t, "node", n, obj{"type": "disc", "running": true, "mem_alarm": false, "disk_free_alarm": false,
		"being_drained": false, "sockets_used": 1.0})
	for _, k := range []string{"mem_used", "mem_limit", "disk_free", "fd_used", "fd_total", "proc_used", "proc_total", "processors", "uptime"} {
		if v, _ := n[k].(float64); v <= 0 {
			t.Errorf("%s = %v, want a positive figure", k, n[k])
		}
	}
	if p, _ := n["partitions"].([]any); p == nil || len(p) != 0 {
		t.Errorf("partitions %v", n["partitions"])
	}
	name := n["name"].(string)
	var one obj
	api.getJSON("/api/nodes/"+esc(name), &one)
	if one["name"] != name {
		t.Errorf("GET node %v", one)
	}
	api.want(http.StatusNotFound, "GET", "/api/nodes/rabbit@nowhere", "")

	var ext []any
	api.getJSON("/api/extensions", &ext)

	var cn obj
	api.getJSON("/api/cluster-name", &cn)
	if cn["name"] == "" || cn["name"] == nil {
		t.Errorf("cluster-name %v", cn)
	}
	api.want(http.StatusNoContent, "PUT", "/api/cluster-name", `{"name":"blue"}`)
	api.getJSON("/api/cluster-name", &cn)
	var o obj
	api.getJSON("/api/overview", &o)
	if cn["name"] != "blue" || o["cluster_name"] != "blue" {
		t.Errorf("after PUT: cluster-name %v, overview's %v", cn, o["cluster_name"])
	}
	api.want(http.StatusCreated, "PUT", "/api/users/cn-mon", `{"password":"pw","tags":"monitoring"}`)
	api.as("cn-mon", "pw").want(http.StatusUnauthorized, "PUT", "/api/cluster-name", `{"name":"red"}`)
	api.want(http.StatusBadRequest, "PUT", "/api/cluster-name", `{}`)
}

// churn_rates, as RabbitMQ's overview has them: counts since the start
// with their rates.
func TestAPIOverviewChurnRates(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	churn := func() map[string]any {
		var o map[string]any
		api.getJSON("/api/overview", &o)
		c, ok := o["churn_rates"].(map[string]any)
		if !ok {
			t.Fatalf("no churn_rates: %v", o["churn_rates"])
		}
		return c
	}
	before := churn()
	for _, k := range []string{"channel_closed", "channel_created", "connection_closed", "connection_created", "queue_created", "queue_declared", "queue_deleted"} {
		if _, ok := before[k].(float64); !ok {
			t.Fatalf("churn_rates.%s = %v", k, before[k])
		}
		if d, ok := before[k+"_details"].(map[string]any); !ok || d["rate"] == nil {
			t.Fatalf("churn_rates.%s_details = %v", k, before[k+"_details"])
		}
	}
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "churned", nil)
	_, err := ch.QueueDelete("churned", false, false, false)
	mustOK(t, err)
	conn.Close()
	eventually(t, "the closed connection counted", func() bool { return churn()["connection_closed"].(float64) > before["connection_closed"].(float64) })
	after := churn()
	for _, k := range []string{"channel_created", "connection_created", "queue_created", "queue_declared", "queue_deleted"} {
		if after[k].(float64) != before[k].(float64)+1 {
			t.Errorf("%s went from %v to %v, want one more", k, before[k], after[k])
		}
	}
}

// The node's churn and disk I/O figures, with RabbitMQ's names: its
// connection and queue churn, and the write-ahead log's writes, bytes and
// fdatasyncs (RabbitMQ's io_* count its message store's).
func TestAPINodeCounters(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	node := func() obj {
		var nodes []obj
		api.getJSON("/api/nodes", &nodes)
		return nodes[0]
	}
	before := node()
	for _, k := range []string{"connection_created", "connection_closed", "channel_created", "channel_closed", "queue_declared",
		"queue_created", "queue_deleted", "io_write_count", "io_write_bytes", "io_sync_count", "io_sync_avg_time"} {
		if _, ok := before[k].(float64); !ok {
			t.Fatalf("%s = %v", k, before[k])
		}
		if d, ok := before[k+"_details"].(obj); !ok || d["rate"] == nil {
			t.Fatalf("%s_details = %v", k, before[k+"_details"])
		}
	}
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("node-io", true, false, false, false, nil)
	mustOK(t, err)
	mustOK(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	mustOK(t, ch.PublishWithContext(context.Background(), "", "node-io", false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("on disk")}))
	<-confirms
	after := node()
	for _, k := range []string{"io_write_count", "io_write_bytes", "io_sync_count", "connection_created", "queue_created"} {
		if after[k].(float64) <= before[k].(float64) {
			t.Errorf("%s did not grow: %v then %v", k, before[k], after[k])
		}
	}
}
