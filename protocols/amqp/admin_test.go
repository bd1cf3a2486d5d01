package amqp_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// apiConn is a connection as GET /api/connections lists it.
type apiConn struct {
	Name             string         `json:"name"`
	User             string         `json:"user"`
	VHost            string         `json:"vhost"`
	PeerHost         string         `json:"peer_host"`
	PeerPort         int            `json:"peer_port"`
	Protocol         string         `json:"protocol"`
	Channels         int            `json:"channels"`
	ClientProperties map[string]any `json:"client_properties"`
	ConnectedAt      int64          `json:"connected_at"`
}

func apiRequest(t *testing.T, method, rawURL string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestConnectionsAPI checks what the management API reports about an open
// connection, the client properties as the client sent them in particular
// (the connection keeps them encoded), and that it closes one by name.
func TestConnectionsAPI(t *testing.T) {
	b := brokertest.New(t)
	start := time.Now().UnixMilli()
	conn, err := amqp.DialConfig(b.AMQPURL(), amqp.Config{Properties: amqp.Table{
		"connection_name": "admin-test",
		"nested":          amqp.Table{"n": int32(7), "list": []any{"a", true}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Channel(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Channel(); err != nil {
		t.Fatal(err)
	}

	resp := apiRequest(t, "GET", "http://"+b.HTTPAddr()+"/api/connections", nil)
	var conns []apiConn
	if err := json.NewDecoder(resp.Body).Decode(&conns); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 {
		t.Fatalf("%d connections listed: %+v", len(conns), conns)
	}
	c := conns[0]
	wantName := conn.LocalAddr().String() + " -> " + b.AMQPAddr()
	if c.Name != wantName || c.User != "guest" || c.VHost != "/" || c.PeerHost+":"+strconv.Itoa(c.PeerPort) != conn.LocalAddr().String() ||
		c.Protocol != "AMQP 0-9-1" || c.Channels != 2 || c.ConnectedAt < start || c.ConnectedAt > time.Now().UnixMilli() {
		t.Fatalf("listed %+v; want name %q, guest on /, 2 channels", c, wantName)
	}
	props := c.ClientProperties
	nested, _ := props["nested"].(map[string]any)
	list, _ := nested["list"].([]any)
	caps, _ := props["capabilities"].(map[string]any)
	if props["connection_name"] != "admin-test" || nested["n"] != float64(7) ||
		len(list) != 2 || list[0] != "a" || list[1] != true || caps["consumer_cancel_notify"] != true {
		t.Fatalf("client properties %v", props)
	}

	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	resp = apiRequest(t, "DELETE", "http://"+b.HTTPAddr()+"/api/connections/"+url.PathEscape(c.Name),
		http.Header{"X-Reason": {"test reason"}})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	select {
	case e := <-closed:
		var ae *amqp.Error
		if !errors.As(e, &ae) || ae.Code != amqp.ConnectionForced || ae.Reason != "CONNECTION_FORCED - test reason" {
			t.Fatalf("closed with %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
	// The broker forgets the connection once its close-ok arrives.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp = apiRequest(t, "GET", "http://"+b.HTTPAddr()+"/api/connections", nil)
		conns = nil
		if err := json.NewDecoder(resp.Body).Decode(&conns); err != nil {
			t.Fatal(err)
		}
		if len(conns) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still listed after it closed: %+v", conns)
		}
	}
	resp = apiRequest(t, "DELETE", "http://"+b.HTTPAddr()+"/api/connections/"+url.PathEscape(c.Name), nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE of a closed connection: %s", resp.Status)
	}
}
