package conformance

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// The connections, channels and consumers of the management API, driven
// by real amqp091-go and go-stomp clients.

type obj = map[string]any

// findBy returns the item of list whose key is value.
func findBy(list []obj, key string, value any) obj {
	for _, o := range list {
		if o[key] == value {
			return o
		}
	}
	return nil
}

// wantFields fails unless o has each key with the value given.
func wantFields(t *testing.T, what string, o obj, want obj) {
	t.Helper()
	for k, v := range want {
		if o[k] != v {
			t.Errorf("%s: %s = %#v, want %#v (object %v)", what, k, o[k], v, o)
		}
	}
}

// hostPortOf splits "127.0.0.1:50000" into host and port as JSON decodes them.
func hostPortOf(t *testing.T, addr string) (string, float64) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	mustOK(t, err)
	n, err := strconv.Atoi(p)
	mustOK(t, err)
	return h, float64(n)
}

func TestAPIConnectionsChannelsConsumers(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDialConfig(t, b.AMQPURL(), amqp.Config{Properties: amqp.Table{"connection_name": "orders-service"}})
	ch := amqpChan(t, conn)
	mustOK(t, ch.Qos(7, 0, false))
	mustOK(t, ch.Qos(3, 0, true))
	declareQ(t, ch, "api-conn-q", nil)
	consume(t, ch, "api-conn-q", "api-tag", false, amqp.Table{"x-priority": int32(2)})
	pubBody(t, ch, "", "api-conn-q", "hello")

	sc := stompDial(t, b)
	sub, err := sc.Subscribe("/queue/api-stomp-q", stomp.AckClient)
	mustOK(t, err)
	defer sub.Unsubscribe()

	amqpName := conn.LocalAddr().String() + " -> " + b.AMQPAddr()
	var conns []obj
	eventually(t, "both connections listed", func() bool {
		conns = nil
		api.getJSON("/api/connections", &conns)
		return len(conns) == 2
	})
	a := findBy(conns, "name", amqpName)
	if a == nil {
		t.Fatalf("no connection %q in %v", amqpName, conns)
	}
	peerHost, peerPort := hostPortOf(t, conn.LocalAddr().String())
	host, port := hostPortOf(t, b.AMQPAddr())
	wantFields(t, "AMQP connection", a, obj{"user": "guest", "vhost": "/", "protocol": "AMQP 0-9-1", "type": "network",
		"user_provided_name": "orders-service", "channels": 1.0, "channel_max": 2047.0, "frame_max": 131072.0,
		"timeout": 10.0, "state": "running", "ssl": false, "peer_host": peerHost, "peer_port": peerPort,
		"host": host, "port": port, "auth_mechanism": "PLAIN"})
	if props, _ := a["client_properties"].(obj); props["connection_name"] != "orders-service" || props["capabilities"] == nil {
		t.Errorf("client_properties %v", a["client_properties"])
	}
	for _, k := range []string{"recv_oct", "send_oct", "recv_cnt", "send_cnt"} {
		if n, _ := a[k].(float64); n <= 0 {
			t.Errorf("%s = %v, want a positive count", k, a[k])
		}
	}
	if d, _ := a["recv_oct_details"].(obj); d == nil || d["rate"] == nil {
		t.Errorf("recv_oct_details %v", a["recv_oct_details"])
	}
	if node, _ := a["node"].(string); !strings.Contains(node, "@") {
		t.Errorf("node %v", a["node"])
	}

	var s obj
	for _, c := range conns {
		if c["name"] != amqpName {
			s = c
		}
	}
	stompHost, stompPort := hostPortOf(t, b.STOMPAddr())
	wantFields(t, "STOMP connection", s, obj{"user": "guest", "vhost": "/", "protocol": "STOMP 1.2", "type": "direct",
		"channels": 1.0, "state": "running", "host": stompHost, "port": stompPort})
	if !strings.HasSuffix(s["name"].(string), " -> "+b.STOMPAddr()) {
		t.Errorf("STOMP connection name %v", s["name"])
	}

	var one obj
	api.getJSON("/api/connections/"+esc(amqpName), &one)
	wantFields(t, "GET one", one, obj{"name": amqpName, "user_provided_name": "orders-service"})
	api.want(http.StatusNotFound, "GET", "/api/connections/"+esc("127.0.0.1:1 -> 127.0.0.1:2"), "")

	// Channels: prefetch_count is the per-consumer basic.qos, as
	// amqplib's management helpers read it.
	var chans []obj
	api.getJSON("/api/channels", &chans)
	c1 := findBy(chans, "name", amqpName+" (1)")
	if c1 == nil {
		t.Fatalf("no channel %q in %v", amqpName+" (1)", chans)
	}
	wantFields(t, "AMQP channel", c1, obj{"number": 1.0, "user": "guest", "vhost": "/", "state": "running",
		"prefetch_count": 7.0, "global_prefetch_count": 3.0, "consumer_count": 1.0, "confirm": false,
		"transactional": false, "messages_unconfirmed": 0.0, "messages_uncommitted": 0.0, "acks_uncommitted": 0.0})
	wantFields(t, "connection_details", c1["connection_details"].(obj), obj{"name": amqpName, "peer_host": peerHost, "peer_port": peerPort})
	eventually(t, "the delivery unacknowledged", func() bool {
		var c obj
		api.getJSON("/api/channels/"+esc(amqpName+" (1)"), &c)
		return c["messages_unacknowledged"] == 1.0
	})
	if findBy(chans, "name", s["name"].(string)+" (1)") == nil {
		t.Errorf("no channel for the STOMP connection in %v", chans)
	}
	var connChans []obj
	api.getJSON("/api/connections/"+esc(amqpName)+"/channels", &connChans)
	if len(connChans) != 1 || connChans[0]["name"] != amqpName+" (1)" {
		t.Errorf("connection's channels %v", connChans)
	}
	var vconns, vchans []obj
	api.getJSON("/api/vhosts/%2F/connections", &vconns)
	api.getJSON("/api/vhosts/%2F/channels", &vchans)
	if len(vconns) != 2 || len(vchans) != 2 {
		t.Errorf("vhost / lists %d connections and %d channels, want 2 and 2", len(vconns), len(vchans))
	}
	api.want(http.StatusNotFound, "GET", "/api/vhosts/nope/connections", "")
	api.want(http.StatusNotFound, "GET", "/api/vhosts/nope/channels", "")
	api.want(http.StatusNotFound, "GET", "/api/channels/nope", "")

	// Consumers, with their channel and queue.
	// A STOMP SUBSCRIBE has no answer without a receipt: wait until the
	// broker has taken it rather than racing the subscription.
	var cons []obj
	waitFor(t, 5*time.Second, "both consumers listed", func() bool {
		cons = nil
		api.getJSON("/api/consumers/%2F", &cons)
		return len(cons) == 2
	})
	c := findBy(cons, "consumer_tag", "api-tag")
	if c == nil {
		t.Fatalf("consumers %v", cons)
	}
	wantFields(t, "consumer", c, obj{"ack_required": true, "exclusive": false, "prefetch_count": 7.0, "active": true,
		"activity_status": "up"})
	if q := c["queue"].(obj); q["name"] != "api-conn-q" || q["vhost"] != "/" {
		t.Errorf("consumer queue %v", q)
	}
	if args := c["arguments"].(obj); args["x-priority"] != 2.0 {
		t.Errorf("consumer arguments %v", args)
	}
	wantFields(t, "consumer channel_details", c["channel_details"].(obj), obj{"name": amqpName + " (1)",
		"connection_name": amqpName, "number": 1.0, "peer_host": peerHost, "peer_port": peerPort, "user": "guest"})
	var stompCons obj
	for _, x := range cons {
		if x["queue"].(obj)["name"] == "api-stomp-q" {
			stompCons = x
		}
	}
	if stompCons == nil {
		t.Errorf("no consumer for the STOMP subscription in %v", cons)
	}
	var all []obj
	api.getJSON("/api/consumers", &all)
	if len(all) != 2 {
		t.Errorf("/api/consumers: %d consumers, want 2", len(all))
	}
	api.want(http.StatusNotFound, "GET", "/api/consumers/nope", "")
	var tracked []obj
	api.getJSON("/api/connections?disable_stats=true", &tracked)
	if t0 := findBy(tracked, "name", amqpName); t0 == nil || len(t0) != 4 || t0["user"] != "guest" || t0["vhost"] != "/" {
		t.Errorf("connections with disable_stats: %v", tracked)
	}
	for _, p := range []string{"/api/channels", "/api/consumers", "/api/channels/" + esc(amqpName+" (1)")} {
		raw := api.want(http.StatusBadRequest, "GET", p+"?disable_stats=true", "")
		if _, reason := apiErr(t, raw); reason != "Stats in management UI are disabled on this node" {
			t.Errorf("%s with disable_stats: %s", p, raw)
		}
	}
	var chOne obj
	api.getJSON("/api/channels/"+esc(amqpName+" (1)"), &chOne)
	if det, _ := chOne["consumer_details"].([]any); len(det) != 1 {
		t.Errorf("consumer_details %v", chOne["consumer_details"])
	}
}

// TestAPIConnectionStateUnderAlarm: under a resource alarm a connection is
// "blocking" until it publishes, then "blocked", as in RabbitMQ.
func TestAPIConnectionStateUnderAlarm(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	name := conn.LocalAddr().String() + " -> " + b.AMQPAddr()
	state := func() any {
		var c obj
		api.getJSON("/api/connections/"+esc(name), &c)
		return c["state"]
	}
	if s := state(); s != "running" {
		t.Fatalf("state %v", s)
	}
	b.Broker.Alarms.Set("memory", true)
	eventually(t, "blocking", func() bool { return state() == "blocking" })
	pubBody(t, ch, "", "nowhere", "held") // the broker stops reading at it
	eventually(t, "blocked", func() bool { return state() == "blocked" })
	b.Broker.Alarms.Set("memory", false)
	eventually(t, "running again", func() bool { return state() == "running" })
}

// TestAPIChannelModes shows confirm and transactional channels with
// what they hold.
func TestAPIChannelModes(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	tx := amqpChan(t, conn)
	mustOK(t, tx.Tx())
	declareQ(t, tx, "api-tx-q", nil)
	pubBody(t, tx, "", "api-tx-q", "one")
	pubBody(t, tx, "", "api-tx-q", "two")
	cf := amqpChan(t, conn)
	mustOK(t, cf.Confirm(false))
	name := conn.LocalAddr().String() + " -> " + b.AMQPAddr()
	eventually(t, "the transaction's publishes shown", func() bool {
		var c obj
		api.getJSON("/api/channels/"+esc(name+" (1)"), &c)
		return c["transactional"] == true && c["messages_uncommitted"] == 2.0
	})
	var c obj
	api.getJSON("/api/channels/"+esc(name+" (2)"), &c)
	wantFields(t, "confirm channel", c, obj{"confirm": true, "transactional": false})
	mustOK(t, tx.TxCommit())
	api.getJSON("/api/channels/"+esc(name+" (1)"), &c)
	wantFields(t, "after commit", c, obj{"messages_uncommitted": 0.0})
}

// TestAPIConnectionDelete closes an AMQP and a STOMP connection with the
// X-Reason header's text.
func TestAPIConnectionDelete(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	name := conn.LocalAddr().String() + " -> " + b.AMQPAddr()
	req := func(name, reason string) int {
		r, err := http.NewRequest("DELETE", api.base+"/api/connections/"+esc(name), nil)
		mustOK(t, err)
		r.SetBasicAuth("guest", "guest")
		if reason != "" {
			r.Header.Set("X-Reason", reason)
		}
		resp, err := http.DefaultClient.Do(r)
		mustOK(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := req(name, "maintenance window"); st != http.StatusNoContent {
		t.Fatalf("DELETE: %d", st)
	}
	select {
	case e := <-closed:
		var ae *amqp.Error
		if !errors.As(e, &ae) || ae.Code != 320 || ae.Reason != "CONNECTION_FORCED - maintenance window" {
			t.Fatalf("closed with %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
	eventually(t, "the connection gone", func() bool {
		st, _ := api.do("GET", "/api/connections/"+esc(name), "")
		return st == http.StatusNotFound
	})
	if st := req(name, ""); st != http.StatusNotFound {
		t.Fatalf("DELETE of a closed connection: %d", st)
	}

	sc, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("guest", "guest"))
	mustOK(t, err)
	sub, err := sc.Subscribe("/queue/api-del-stomp", stomp.AckAuto)
	mustOK(t, err)
	var conns []obj
	api.getJSON("/api/connections", &conns)
	sname := ""
	for _, c := range conns {
		if c["protocol"] == "STOMP 1.2" {
			sname = c["name"].(string)
		}
	}
	if sname == "" {
		t.Fatalf("no STOMP connection in %v", conns)
	}
	if st := req(sname, "stomp goes too"); st != http.StatusNoContent {
		t.Fatalf("DELETE STOMP: %d", st)
	}
	select {
	case m := <-sub.C:
		if m == nil || m.Err == nil || !strings.Contains(m.Err.Error(), "stomp goes too") {
			t.Fatalf("the subscription got %+v, want the ERROR with the reason", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ERROR frame")
	}
}

// TestAPIConnectionVisibility: monitoring users see every connection,
// management users their own; closing another's needs administrator.
func TestAPIConnectionVisibility(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	for _, u := range []struct{ name, tags string }{{"mon", "monitoring"}, {"mgr", "management"}} {
		api.want(http.StatusCreated, "PUT", "/api/users/"+u.name, `{"password":"pw","tags":"`+u.tags+`"}`)
		api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/"+u.name, `{"configure":".*","write":".*","read":".*"}`)
	}
	mine := amqpDialConfig(t, "amqp://mgr:pw@"+b.AMQPAddr()+"/", amqp.Config{})
	amqpChan(t, mine)
	guests := amqpDial(t, b)
	amqpChan(t, guests)
	mineName := mine.LocalAddr().String() + " -> " + b.AMQPAddr()
	guestName := guests.LocalAddr().String() + " -> " + b.AMQPAddr()
	mon, mgr := api.as("mon", "pw"), api.as("mgr", "pw")

	var list []obj
	mon.getJSON("/api/connections", &list)
	if len(list) != 2 {
		t.Fatalf("monitoring user sees %d connections, want 2", len(list))
	}
	mgr.getJSON("/api/connections", &list)
	if len(list) != 1 || list[0]["name"] != mineName {
		t.Fatalf("management user sees %v, want only its own", list)
	}
	mgr.getJSON("/api/channels", &list)
	if len(list) != 1 || list[0]["user"] != "mgr" {
		t.Fatalf("management user sees channels %v", list)
	}
	mgr.getJSON("/api/vhosts/%2F/connections", &list)
	if len(list) != 1 {
		t.Fatalf("management user sees %d connections of /", len(list))
	}
	raw := mgr.want(http.StatusUnauthorized, "GET", "/api/connections/"+esc(guestName), "")
	if _, reason := apiErr(t, raw); reason != "User not authorised to access object" {
		t.Errorf("reason %q", reason)
	}
	mgr.want(http.StatusUnauthorized, "GET", "/api/connections/"+esc(guestName)+"/channels", "")
	mgr.want(http.StatusOK, "GET", "/api/connections/"+esc(mineName), "")
	mon.want(http.StatusOK, "GET", "/api/connections/"+esc(guestName), "")
	mgr.want(http.StatusUnauthorized, "GET", "/api/nodes", "")
	mon.want(http.StatusOK, "GET", "/api/nodes", "")

	// Closing: another's needs administrator, one's own does not.
	mon.want(http.StatusUnauthorized, "DELETE", "/api/connections/"+esc(guestName), "")
	mgr.want(http.StatusUnauthorized, "DELETE", "/api/connections/"+esc(guestName), "")
	closed := mine.NotifyClose(make(chan *amqp.Error, 1))
	mgr.want(http.StatusNoContent, "DELETE", "/api/connections/"+esc(mineName), "")
	if e := waitClosed(t, closed, "the management user's own connection"); e == nil || e.Code != 320 {
		t.Fatalf("closed with %v", e)
	}
	if guests.IsClosed() {
		t.Fatal("the guest connection was closed too")
	}
}

// TestAPIWebSTOMPConnection: STOMP over WebSocket is listed as RabbitMQ's
// web-stomp plugin lists it, on the HTTP listener's address, with the
// bytes it moved counted.
func TestAPIWebSTOMPConnection(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	w := wsDial(t, b, "v12.stomp")
	w.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\x00")
	if _, msg := w.next(); !strings.HasPrefix(msg, "CONNECTED\n") {
		t.Fatalf("got %q", msg)
	}
	var conns []obj
	api.getJSON("/api/connections", &conns)
	if len(conns) != 1 {
		t.Fatalf("connections %v", conns)
	}
	host, port := hostPortOf(t, b.HTTPAddr())
	wantFields(t, "Web STOMP connection", conns[0], obj{"protocol": "Web STOMP 1.2", "host": host, "port": port, "user": "guest"})
	if n, _ := conns[0]["recv_oct"].(float64); n <= 0 {
		t.Errorf("recv_oct %v", conns[0]["recv_oct"])
	}
	// The count lands just after the write returns, which may be after
	// the client has read CONNECTED.
	eventually(t, "send_oct counted", func() bool {
		api.getJSON("/api/connections", &conns)
		n, _ := conns[0]["send_oct"].(float64)
		return n > 0
	})
}

// TestAPIConnectionsOfUser: /api/connections/username/USER lists a user's
// connections in connection tracking's form and DELETE closes them all
// with the X-Reason text, as RabbitMQ's (checked against 3.10.8); an
// administrator or the user itself only.
func TestAPIConnectionsOfUser(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/users/app", `{"password":"app","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/app", `{"configure":".*","write":".*","read":".*"}`)
	api.want(http.StatusCreated, "PUT", "/api/users/other", `{"password":"other","tags":"management"}`)
	url := "amqp://app:app@" + b.AMQPAddr() + "/"
	var closed []chan *amqp.Error
	for i := 0; i < 2; i++ {
		c := amqpDialConfig(t, url, amqp.Config{})
		closed = append(closed, c.NotifyClose(make(chan *amqp.Error, 1)))
	}
	guest := amqpDial(t, b)
	eventually(t, "three connections listed", func() bool {
		var all []map[string]any
		api.getJSON("/api/connections", &all)
		return len(all) == 3
	})
	var list []map[string]any
	api.getJSON("/api/connections/username/app", &list)
	if len(list) != 2 || list[0]["user"] != "app" || list[0]["vhost"] != "/" || list[0]["node"] == nil || list[0]["name"] == nil || len(list[0]) != 4 {
		t.Fatalf("app's connections: %v", list)
	}
	api.as("app", "app").getJSON("/api/connections/username/app", &list)
	if len(list) != 2 {
		t.Fatalf("app's own view: %v", list)
	}
	api.as("other", "other").want(http.StatusUnauthorized, "GET", "/api/connections/username/app", "")
	api.as("other", "other").want(http.StatusUnauthorized, "DELETE", "/api/connections/username/app", "")
	api.getJSON("/api/connections/username/nobody", &list)
	if len(list) != 0 {
		t.Fatalf("nobody's connections: %v", list)
	}

	r, err := http.NewRequest("DELETE", api.base+"/api/connections/username/app", nil)
	mustOK(t, err)
	r.SetBasicAuth("guest", "guest")
	r.Header.Set("X-Reason", "rotating credentials")
	resp, err := http.DefaultClient.Do(r)
	mustOK(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	for _, ch := range closed {
		select {
		case e := <-ch:
			var ae *amqp.Error
			if !errors.As(e, &ae) || ae.Code != 320 || ae.Reason != "CONNECTION_FORCED - rotating credentials" {
				t.Fatalf("closed with %v", e)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a connection of the user was not closed")
		}
	}
	if guest.IsClosed() {
		t.Fatal("another user's connection was closed")
	}
	// The channel list of a connection is still there.
	name := guest.LocalAddr().String() + " -> " + b.AMQPAddr()
	api.want(http.StatusOK, "GET", "/api/connections/"+esc(name)+"/channels", "")
}

// The API writes JSON as RabbitMQ does, without encoding/json's HTML
// escaping: a connection's name reads "127.0.0.1:5 -> 127.0.0.1:6" in the
// raw body, not "-\u003e", so that scripts which grep the answer (as
// some do, to pick a connection to close) find it.
func TestAPIJSONNotHTMLEscaped(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	conn := amqpDial(t, b)
	name := conn.LocalAddr().String() + " -> " + b.AMQPAddr()
	want := `"name":"` + name + `"`
	eventually(t, "the connection listed with its name as written", func() bool {
		_, raw := api.do("GET", "/api/connections", "")
		return strings.Contains(string(raw), want)
	})
	for _, path := range []string{"/api/connections/" + esc(name), "/api/connections/" + esc(name) + "?columns=name"} {
		if _, raw := api.do("GET", path, ""); !strings.Contains(string(raw), want) {
			t.Errorf("GET %s: %s", path, raw)
		}
	}
	api.want(http.StatusCreated, "PUT", "/api/vhosts/"+esc("a<b>&c"), "")
	if _, raw := api.do("GET", "/api/vhosts?columns=name", ""); !strings.Contains(string(raw), `"a<b>&c"`) {
		t.Errorf("GET /api/vhosts: %s", raw)
	}
}
