package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestAPIVHosts: vhosts are created (the creator gets every permission on
// them, as RabbitMQ), described, listed by visibility and deleted, with
// RabbitMQ's status codes; "/" is addressed as %2F.
func TestAPIVHosts(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/vhosts/v1", `{"description":"first","tags":"a, b","default_queue_type":"quorum"}`)
	api.want(http.StatusNoContent, "PUT", "/api/vhosts/v1", `{"description":"again"}`)
	var v map[string]any
	api.getJSON("/api/vhosts/v1", &v)
	if v["name"] != "v1" || v["description"] != "again" || fmt.Sprint(v["tags"]) != "[]" || v["tracing"] != false ||
		v["default_queue_type"] != "classic" || v["messages"] != 0.0 {
		t.Fatalf("vhost: %v", v)
	}
	if md, _ := v["metadata"].(map[string]any); md["description"] != "again" {
		t.Fatalf("metadata: %v", v["metadata"])
	}
	if cs, _ := v["cluster_state"].(map[string]any); len(cs) != 1 {
		t.Fatalf("cluster_state: %v", v["cluster_state"])
	}
	api.getJSON("/api/vhosts/%2F", &v)
	if v["name"] != "/" {
		t.Fatalf("vhost /: %v", v)
	}
	var perm map[string]any
	api.getJSON("/api/permissions/v1/guest", &perm)
	if perm["configure"] != ".*" || perm["write"] != ".*" || perm["read"] != ".*" {
		t.Fatalf("the creator was not granted the new vhost: %v", perm)
	}
	var perms []map[string]any
	api.getJSON("/api/vhosts/v1/permissions", &perms)
	if len(perms) != 1 || perms[0]["user"] != "guest" || perms[0]["vhost"] != "v1" {
		t.Fatalf("vhost permissions: %v", perms)
	}
	st, raw := api.do("PUT", "/api/vhosts/v2", `{"default_queue_type":"bogus"}`)
	if st != 400 {
		t.Fatalf("bad default_queue_type: %d %s", st, raw)
	}
	api.want(http.StatusNotFound, "GET", "/api/vhosts/v2", "")
	api.want(http.StatusNotFound, "GET", "/api/vhosts/nope/permissions", "")
	api.want(http.StatusNotFound, "DELETE", "/api/vhosts/nope", "")

	// A management user sees the vhosts it has permissions on.
	api.want(http.StatusCreated, "PUT", "/api/users/m", `{"password":"m","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/v1/m", `{"configure":"","write":"","read":""}`)
	var list []map[string]any
	api.as("m", "m").getJSON("/api/vhosts", &list)
	if len(list) != 1 || list[0]["name"] != "v1" {
		t.Fatalf("vhosts visible to a management user: %v", list)
	}
	api.getJSON("/api/vhosts", &list)
	var names []string
	for _, e := range list {
		names = append(names, e["name"].(string))
	}
	if !slices.Equal(names, []string{"/", "v1"}) {
		t.Fatalf("vhosts: %v", names)
	}

	api.want(http.StatusNoContent, "DELETE", "/api/vhosts/v1", "")
	api.want(http.StatusNotFound, "GET", "/api/vhosts/v1", "")
	api.want(http.StatusNotFound, "GET", "/api/permissions/v1/m", "")
	// Deleting "/" is allowed, as in RabbitMQ.
	api.want(http.StatusNoContent, "DELETE", "/api/vhosts/%2F", "")
	api.want(http.StatusNotFound, "GET", "/api/vhosts/%2F", "")
	api.want(http.StatusCreated, "PUT", "/api/vhosts/%2F", "")
}

// TestAPIVHostDeleteTakesEverything: deleting a vhost deletes its queues
// with their messages, closes its AMQP and STOMP connections, leaves other
// vhosts alone, and stays deleted after a restart; a vhost created over the
// API survives one.
func TestAPIVHostDeleteTakesEverything(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir))
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/vhosts/gone", "")
	api.want(http.StatusCreated, "PUT", "/api/vhosts/stays", "")
	api.want(http.StatusNoContent, "PUT", "/api/vhost-limits/gone/max-queues", `{"value":5}`)

	conn, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@%s/gone", b.AMQPAddr()))
	mustOK(t, err)
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	mustOK(t, err)
	for _, q := range []string{"dq1", "dq2"} {
		_, err = ch.QueueDeclare(q, true, false, false, false, nil)
		mustOK(t, err)
	}
	mustOK(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
	for i := 0; i < 5; i++ {
		mustOK(t, ch.PublishWithContext(context.Background(), "", "dq1", false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("doomed")}))
		<-confirms
	}
	other, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@%s/stays", b.AMQPAddr()))
	mustOK(t, err)
	defer other.Close()
	och, err := other.Channel()
	mustOK(t, err)
	_, err = och.QueueDeclare("kept", true, false, false, false, nil)
	mustOK(t, err)
	otherClosed := other.NotifyClose(make(chan *amqp.Error, 1))

	sc, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Host("gone"), stomp.ConnOpt.Login("guest", "guest"))
	mustOK(t, err)
	sub, err := sc.Subscribe("/queue/dq2", stomp.AckAuto)
	mustOK(t, err)

	api.want(http.StatusNoContent, "DELETE", "/api/vhosts/gone", "")
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp.ConnectionForced || !strings.Contains(e.Reason, "gone") {
			t.Fatalf("AMQP connection closed with %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the AMQP connection on the deleted vhost is still open")
	}
	deadline := time.After(5 * time.Second)
	for stompOpen := true; stompOpen; {
		select {
		case m, ok := <-sub.C:
			if !ok || m.Err != nil {
				stompOpen = false
			}
		case <-deadline:
			t.Fatal("the STOMP connection on the deleted vhost is still open")
		}
	}
	select {
	case e := <-otherClosed:
		t.Fatalf("a connection on another vhost was closed: %v", e)
	default:
	}
	var qs []map[string]any
	api.getJSON("/api/queues", &qs)
	for _, q := range qs {
		if q["vhost"] == "gone" {
			t.Fatalf("a queue of the deleted vhost is still listed: %v", q)
		}
	}
	var limits []map[string]any
	api.getJSON("/api/vhost-limits", &limits)
	if len(limits) != 0 {
		t.Fatalf("the deleted vhost's limits remain: %v", limits)
	}
	var amqpErr *amqp.Error
	if _, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@%s/gone", b.AMQPAddr())); err == nil {
		t.Fatal("connected to a deleted vhost")
	} else if errors.As(err, &amqpErr) && amqpErr.Code != amqp.NotAllowed {
		t.Fatalf("connecting to a deleted vhost: %v", err)
	}
	other.Close()
	b.Stop(t)

	b = brokertest.New(t, brokertest.WithDataDir(dir))
	api = newAPI(t, b)
	api.want(http.StatusNotFound, "GET", "/api/vhosts/gone", "")
	api.want(http.StatusOK, "GET", "/api/vhosts/stays", "")
	api.getJSON("/api/queues", &qs)
	var names []string
	for _, q := range qs {
		names = append(names, q["vhost"].(string)+"/"+q["name"].(string))
	}
	if !slices.Equal(names, []string{"stays/kept"}) {
		t.Fatalf("queues after restart: %v", names)
	}
	// Re-creating the vhost gives an empty one: the old messages are gone.
	api.want(http.StatusCreated, "PUT", "/api/vhosts/gone", "")
	conn, err = amqp.Dial(fmt.Sprintf("amqp://guest:guest@%s/gone", b.AMQPAddr()))
	mustOK(t, err)
	defer conn.Close()
	ch, err = conn.Channel()
	mustOK(t, err)
	q, err := ch.QueueDeclare("dq1", true, false, false, false, nil)
	mustOK(t, err)
	if q.Messages != 0 {
		t.Fatalf("a re-created vhost's queue holds %d old messages", q.Messages)
	}
}

// TestAPIPermissions: permissions and topic permissions with RabbitMQ's
// status codes and errors, and they take effect on AMQP.
func TestAPIPermissions(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/users/p", `{"password":"p","tags":""}`)
	api.want(http.StatusNotFound, "GET", "/api/permissions/%2F/p", "")
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/p", `{"configure":"^a","write":".*","read":".*"}`)
	api.want(http.StatusNoContent, "PUT", "/api/permissions/%2F/p", `{"configure":"^allowed","write":".*","read":".*"}`)
	for path, c := range map[string]struct {
		body, reason string
	}{
		"/api/permissions/%2F/p":    {`{"configure":"^b","write":".*"}`, "[{key_missing,read}]"},
		"/api/permissions/nope/p":   {`{"configure":"","write":"","read":""}`, "vhost_or_user_not_found"},
		"/api/permissions/%2F/nope": {`{"configure":"","write":"","read":""}`, "vhost_or_user_not_found"},
	} {
		st, raw := api.do("PUT", path, c.body)
		if kind, reason := apiErr(t, raw); st != 400 || kind != "bad_request" || reason != c.reason {
			t.Errorf("PUT %s %s: %d %s, want 400 %s", path, c.body, st, raw, c.reason)
		}
	}
	if st, raw := api.do("PUT", "/api/permissions/%2F/p", `{"configure":"(","write":"","read":""}`); st != 400 {
		t.Errorf("a bad pattern: %d %s", st, raw)
	}
	var all []map[string]any
	api.getJSON("/api/permissions", &all)
	if len(all) != 2 {
		t.Fatalf("permissions: %v", all)
	}
	api.getJSON("/api/users/p/permissions", &all)
	if len(all) != 1 || all[0]["configure"] != "^allowed" || all[0]["vhost"] != "/" {
		t.Fatalf("user permissions: %v", all)
	}
	api.want(http.StatusNotFound, "GET", "/api/users/nope/permissions", "")

	// They take effect: configure ^allowed lets p declare "allowed-q" only.
	conn, err := amqp.Dial(fmt.Sprintf("amqp://p:p@%s/", b.AMQPAddr()))
	mustOK(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	mustOK(t, err)
	_, err = ch.QueueDeclare("allowed-q", false, false, false, false, nil)
	mustOK(t, err)
	_, err = ch.QueueDeclare("other-q", false, false, false, false, nil)
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.AccessRefused {
		t.Fatalf("declare outside the configure pattern: %v", err)
	}
	api.want(http.StatusNoContent, "DELETE", "/api/permissions/%2F/p", "")
	api.want(http.StatusNotFound, "DELETE", "/api/permissions/%2F/p", "")
	if _, err := amqp.Dial(fmt.Sprintf("amqp://p:p@%s/", b.AMQPAddr())); !errors.As(err, &amqpErr) || amqpErr.Code != amqp.NotAllowed {
		t.Fatalf("connection.open without permissions: %v", err)
	}

	// Topic permissions.
	api.want(http.StatusNotFound, "GET", "/api/topic-permissions/%2F/p", "")
	api.want(http.StatusCreated, "PUT", "/api/topic-permissions/%2F/p", `{"exchange":"amq.topic","write":"^a","read":".*"}`)
	api.want(http.StatusNoContent, "PUT", "/api/topic-permissions/%2F/p", `{"exchange":"amq.topic","write":"^b","read":".*"}`)
	api.want(http.StatusNoContent, "PUT", "/api/topic-permissions/%2F/p", `{"exchange":"x2","write":"^c","read":".*"}`)
	st, raw := api.do("PUT", "/api/topic-permissions/%2F/p", `{"write":"^b","read":".*"}`)
	if _, reason := apiErr(t, raw); st != 400 || reason != "[{key_missing,exchange}]" {
		t.Fatalf("topic permission without exchange: %d %s", st, raw)
	}
	var tps []map[string]any
	api.getJSON("/api/topic-permissions/%2F/p", &tps)
	if len(tps) != 2 || tps[0]["exchange"] != "amq.topic" || tps[0]["write"] != "^b" || tps[1]["exchange"] != "x2" {
		t.Fatalf("topic permissions: %v", tps)
	}
	api.getJSON("/api/users/p/topic-permissions", &tps)
	if len(tps) != 2 {
		t.Fatalf("user topic permissions: %v", tps)
	}
	api.getJSON("/api/vhosts/%2F/topic-permissions", &tps)
	if len(tps) != 2 {
		t.Fatalf("vhost topic permissions: %v", tps)
	}
	api.want(http.StatusNoContent, "DELETE", "/api/topic-permissions/%2F/p/x2", "")
	api.getJSON("/api/topic-permissions", &tps)
	if len(tps) != 1 || tps[0]["exchange"] != "amq.topic" {
		t.Fatalf("after deleting one exchange's: %v", tps)
	}
	api.want(http.StatusNoContent, "DELETE", "/api/topic-permissions/%2F/p", "")
	api.want(http.StatusNotFound, "DELETE", "/api/topic-permissions/%2F/p", "")
}

// TestAPILimits: vhost and user limits with RabbitMQ's answers (204 for
// every change), and a vhost limit takes effect.
func TestAPILimits(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	var vl []map[string]any
	api.getJSON("/api/vhost-limits", &vl)
	if len(vl) != 0 {
		t.Fatalf("vhost limits at start: %v", vl)
	}
	api.want(http.StatusNoContent, "PUT", "/api/vhost-limits/%2F/max-queues", `{"value":2}`)
	api.want(http.StatusNoContent, "PUT", "/api/vhost-limits/%2F/max-connections", `{"value":100}`)
	api.getJSON("/api/vhost-limits/%2F", &vl)
	if len(vl) != 1 || vl[0]["vhost"] != "/" || fmt.Sprint(vl[0]["value"]) != "map[max-connections:100 max-queues:2]" {
		t.Fatalf("vhost limits: %v", vl)
	}
	for path, c := range map[string]struct {
		body   string
		status int
		reason string
	}{
		"/api/vhost-limits/%2F/bogus":        {`{"value":1}`, 400, "Validation failed\n\nUnrecognised terms [{<<\"bogus\">>,1}] in limits\n"},
		"/api/vhost-limits/%2F/max-queues":   {`{"value":1.5}`, 400, "Validation failed\n\nmax-queues should be a number, actually was 1.5\n"},
		"/api/vhost-limits/nope/max-queues":  {`{"value":1}`, 404, "vhost_not_found"},
		"/api/user-limits/nope/max-channels": {`{"value":1}`, 400, `["no_such_user","nope"]`},
		"/api/user-limits/guest/max-queues":  {`{"value":1}`, 400, "Unrecognised terms [{<<\"max-queues\">>,1}] in user-limits"},
	} {
		st, raw := api.do("PUT", path, c.body)
		if _, reason := apiErr(t, raw); st != c.status || reason != c.reason {
			t.Errorf("PUT %s %s: %d %s, want %d %q", path, c.body, st, raw, c.status, c.reason)
		}
	}
	api.want(http.StatusNotFound, "GET", "/api/vhost-limits/nope", "")

	conn, err := amqp.Dial(b.AMQPURL())
	mustOK(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	mustOK(t, err)
	for _, q := range []string{"l1", "l2"} {
		_, err = ch.QueueDeclare(q, false, false, false, false, nil)
		mustOK(t, err)
	}
	if _, err = ch.QueueDeclare("l3", false, false, false, false, nil); err == nil {
		t.Fatal("max-queues 2 set over the API let a third queue be declared")
	}
	api.want(http.StatusNoContent, "DELETE", "/api/vhost-limits/%2F/max-queues", "")
	api.want(http.StatusNoContent, "DELETE", "/api/vhost-limits/%2F/max-queues", "")
	ch, err = conn.Channel()
	mustOK(t, err)
	_, err = ch.QueueDeclare("l3", false, false, false, false, nil)
	mustOK(t, err)

	api.want(http.StatusNoContent, "PUT", "/api/user-limits/guest/max-channels", `{"value":5}`)
	var ul []map[string]any
	api.getJSON("/api/user-limits", &ul)
	if len(ul) != 1 || ul[0]["user"] != "guest" || fmt.Sprint(ul[0]["value"]) != "map[max-channels:5]" {
		t.Fatalf("user limits: %v", ul)
	}
	api.getJSON("/api/user-limits/guest", &ul)
	if len(ul) != 1 {
		t.Fatalf("guest's limits: %v", ul)
	}
	api.want(http.StatusNotFound, "GET", "/api/user-limits/nope", "")
	api.want(http.StatusNoContent, "DELETE", "/api/user-limits/guest/max-channels", "")
	api.getJSON("/api/user-limits", &ul)
	if len(ul) != 0 {
		t.Fatalf("user limits after delete: %v", ul)
	}
	// A monitoring user reads its own limits, not another's list.
	api.want(http.StatusCreated, "PUT", "/api/users/mon", `{"password":"mon","tags":"management"}`)
	api.as("mon", "mon").want(http.StatusOK, "GET", "/api/user-limits/mon", "")
	api.as("mon", "mon").want(http.StatusUnauthorized, "GET", "/api/user-limits/guest", "")
	api.as("mon", "mon").want(http.StatusUnauthorized, "GET", "/api/user-limits", "")
}

// A vhost's traffic and depth rates, as RabbitMQ's /api/vhosts has them:
// the bytes its open connections received and sent, with rates.
func TestAPIVHostTraffic(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "traffic-q", nil)
	pubBody(t, ch, "", "traffic-q", strings.Repeat("x", 10000))
	var v map[string]any
	eventually(t, "the publish counted", func() bool {
		api.getJSON("/api/vhosts/%2F", &v)
		n, _ := v["recv_oct"].(float64)
		return n > 10000
	})
	for _, k := range []string{"recv_oct_details", "send_oct_details", "messages_details", "messages_ready_details", "messages_unacknowledged_details"} {
		if d, ok := v[k].(map[string]any); !ok || d["rate"] == nil {
			t.Errorf("%s = %v", k, v[k])
		}
	}
	if n, _ := v["send_oct"].(float64); n <= 0 {
		t.Errorf("send_oct %v", v["send_oct"])
	}
	var list []map[string]any
	api.getJSON("/api/vhosts?disable_stats=true", &list)
	if _, ok := list[0]["recv_oct"]; ok {
		t.Error("recv_oct with disable_stats=true")
	}
}
