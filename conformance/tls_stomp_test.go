package conformance

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-stomp/stomp/v3"
	"github.com/sluice-mq/sluice/brokertest"
)

// stompsConnect opens STOMP over TLS with go-stomp; opts add a login.
func stompsConnect(b *brokertest.Broker, cfg *tls.Config, opts ...func(*stomp.Conn) error) (*stomp.Conn, error) {
	tc, err := tls.Dial("tcp", b.Addr("stomps").String(), cfg)
	if err != nil {
		return nil, err
	}
	c, err := stomp.Connect(tc, append([]func(*stomp.Conn) error{stomp.ConnOpt.Host("/")}, opts...)...)
	if err != nil {
		tc.Close()
	}
	return c, err
}

// stompRoundTrip sends to a queue and receives it back on a subscription.
func stompRoundTrip(t *testing.T, c *stomp.Conn, dest string) {
	t.Helper()
	sub, err := c.Subscribe(dest, stomp.AckAuto)
	mustOK(t, err)
	mustOK(t, c.Send(dest, "text/plain", []byte("over TLS"), stomp.SendOpt.Receipt))
	if m := recv(t, sub); string(m.Body) != "over TLS" {
		t.Fatalf("got %q", m.Body)
	}
}

func TestTLSSTOMPServerAuth(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "none"))
	c, err := stompsConnect(b, p.clientTLS(nil), stomp.ConnOpt.Login("guest", "guest"))
	mustOK(t, err)
	defer c.Disconnect()
	stompRoundTrip(t, c, "/queue/tls-stomp")
}

// With client certificates, a CONNECT without login is the certificate's
// user (RabbitMQ's ssl_cert_login); a CONNECT with one logs in as usual.
func TestTLSSTOMPCertificateLogin(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "require"))
	c, err := stompsConnect(b, p.clientTLS(p.Guest))
	mustOK(t, err)
	stompRoundTrip(t, c, "/queue/tls-cert-login")
	c.Disconnect()

	// The certificate's user, not the default login (guest/guest, which
	// would succeed): a certificate naming no user is refused.
	nobody := p.CA.Client("nobody")
	if _, err := stompsConnect(b, p.clientTLS(nobody)); err == nil || !strings.Contains(err.Error(), "Bad CONNECT") {
		t.Fatalf("CONNECT by a certificate naming no user: %v", err)
	}
	c, err = stompsConnect(b, p.clientTLS(nobody), stomp.ConnOpt.Login("guest", "guest"))
	mustOK(t, err)
	c.Disconnect()
}

func TestTLSSTOMPOverSecureWebSocket(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "request"))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientTLS(p.Guest)}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+b.Addr("https").String()+"/ws",
		&websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"v12.stomp"}})
	mustOK(t, err)
	defer ws.CloseNow()
	w := &wsClient{t: t, c: ws, ctx: ctx}
	// No certificate login over WebSocket: a CONNECT without login is
	// refused even with the guest certificate.
	w.send("CONNECT\naccept-version:1.2\nhost:/\n\n\x00")
	if _, f := w.next(); !strings.HasPrefix(f, "ERROR") {
		t.Fatalf("CONNECT without login over wss: %q", f)
	}
	w = wsDialURL(t, ctx, "wss://"+b.Addr("https").String()+"/ws", client)
	w.connectGuest()
	w.send("SUBSCRIBE\nid:0\ndestination:/queue/wss\n\n\x00SEND\ndestination:/queue/wss\n\nover wss\x00")
	if _, f := w.next(); !strings.HasPrefix(f, "MESSAGE") || !strings.HasSuffix(f, "over wss\x00\n") {
		t.Fatalf("message over wss: %q", f)
	}
	// And on the Web STOMP TLS listener of its own (RabbitMQ's 15673).
	wsDialURL(t, ctx, "wss://"+b.Addr("web-stomps").String()+"/ws", client).connectGuest()

	// The Prometheus TLS listener (RabbitMQ's 15691) serves the metrics.
	resp, err := client.Get("https://" + b.Addr("prometheus-tls").String() + "/metrics")
	mustOK(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics on the Prometheus TLS listener: %d", resp.StatusCode)
	}

	// The HTTP API is on the HTTPS listener too, and shows AMQPS
	// connections' TLS.
	if conns := apiConnections(t, client, "https://"+b.Addr("https").String()); conns == nil {
		t.Fatal("no answer from /api/connections over HTTPS")
	}
}
