package conformance

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	"github.com/sluice-mq/sluice/server"
)

func amqpsURL(b *brokertest.Broker, userinfo string) string {
	return "amqps://" + userinfo + b.Addr("amqps").String() + "/"
}

// amqpRoundTrip declares a queue, publishes to it and gets the message
// back, so that a connection is shown to carry traffic, not only to open.
func amqpRoundTrip(t *testing.T, conn *amqp.Connection, queue string) {
	t.Helper()
	ch := amqpChan(t, conn)
	declareQ(t, ch, queue, nil)
	pubBody(t, ch, "", queue, "over TLS")
	if d := getOne(t, ch, queue, true); string(d.Body) != "over TLS" {
		t.Fatalf("got %q", d.Body)
	}
}

// apiConnections fetches /api/connections over HTTP(S) as guest.
func apiConnections(t *testing.T, client *http.Client, url string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/connections", nil)
	req.SetBasicAuth("guest", "guest")
	resp, err := client.Do(req)
	mustOK(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/connections: %d", resp.StatusCode)
	}
	var out []map[string]any
	mustOK(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// connectionByPort finds the API entry of the connection from clientAddr
// (its name is "clientAddr -> serverAddr", as RabbitMQ names it).
func connectionByPort(conns []map[string]any, clientAddr string) map[string]any {
	for _, c := range conns {
		if name, _ := c["name"].(string); strings.HasPrefix(name, clientAddr+" -> ") {
			return c
		}
	}
	return nil
}

func TestTLSAMQPServerAuth(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "none"))
	conn, err := amqp.DialTLS(amqpsURL(b, "guest:guest@"), p.clientTLS(nil))
	mustOK(t, err)
	defer conn.Close()
	if !conn.ConnectionState().HandshakeComplete || conn.ConnectionState().Version != tls.VersionTLS13 {
		t.Fatalf("TLS state %+v", conn.ConnectionState())
	}
	amqpRoundTrip(t, conn, "tls-plain")

	plain := amqpDial(t, b)
	conns := apiConnections(t, http.DefaultClient, "http://"+b.HTTPAddr())
	tlsInfo := connectionByPort(conns, conn.LocalAddr().String())
	plainInfo := connectionByPort(conns, plain.LocalAddr().String())
	if tlsInfo == nil || plainInfo == nil {
		t.Fatalf("connections %v", conns)
	}
	if tlsInfo["ssl"] != true || tlsInfo["ssl_protocol"] != "tlsv1.3" || tlsInfo["ssl_cipher"] == nil ||
		tlsInfo["ssl_key_exchange"] != "any" || tlsInfo["peer_cert_subject"] != nil {
		t.Fatalf("TLS connection info %v", tlsInfo)
	}
	if plainInfo["ssl"] != false || plainInfo["ssl_protocol"] != nil {
		t.Fatalf("plain connection info %v", plainInfo)
	}

	// Without client certificates EXTERNAL is not offered: amqp091-go
	// finds no shared mechanism.
	_, err = amqp.DialConfig(amqpsURL(b, ""), amqp.Config{TLSClientConfig: p.clientTLS(p.Guest),
		SASL: []amqp.Authentication{&amqp.ExternalAuth{}}})
	wantAMQPError(t, err, 403, "SASL could not negotiate a shared mechanism")
}

func TestTLSAMQPMutualExternal(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "require"))
	external := func(cert *testCert) (*amqp.Connection, error) {
		cfg := p.clientTLS(cert)
		cfg.MaxVersion = tls.VersionTLS12 // the API should show 1.2 then
		return amqp.DialConfig(amqpsURL(b, ""), amqp.Config{TLSClientConfig: cfg,
			SASL: []amqp.Authentication{&amqp.ExternalAuth{}}})
	}
	conn, err := external(p.Guest)
	mustOK(t, err)
	defer conn.Close()
	amqpRoundTrip(t, conn, "tls-external")
	info := connectionByPort(apiConnections(t, http.DefaultClient, "http://"+b.HTTPAddr()), conn.LocalAddr().String())
	if info == nil || info["user"] != "guest" || info["ssl_protocol"] != "tlsv1.2" ||
		info["peer_cert_subject"] != "CN=guest,O=sluice clients" ||
		info["peer_cert_issuer"] != "CN=sluice test CA,O=sluice tests" ||
		info["ssl_key_exchange"] != "ecdhe_ecdsa" || !strings.Contains(info["peer_cert_validity"].(string), " - ") {
		t.Fatalf("connection info %v", info)
	}

	// A verified certificate naming no user is refused as a bad password.
	// (amqp091-go turns the 403 into ErrCredentials; rawExternal below
	// reads the broker's own words.)
	if _, err = external(p.CA.Client("nobody")); err != amqp.ErrCredentials {
		t.Fatalf("EXTERNAL as nobody: %v, want ErrCredentials", err)
	}
	rawExternal(t, b, p.clientTLS(p.CA.Client("nobody")))

	// PLAIN stays offered beside EXTERNAL.
	plain, err := amqp.DialTLS(amqpsURL(b, "guest:guest@"), p.clientTLS(p.CA.Client("someone")))
	mustOK(t, err)
	plain.Close()
}

// With request, a client may come without a certificate and log in with
// a password; EXTERNAL is offered but refused for it, as RabbitMQ refuses
// a peer that "presented no TLS (x.509) certificate".
func TestTLSAMQPRequestWithoutCertificate(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "request"))
	conn, err := amqp.DialTLS(amqpsURL(b, "guest:guest@"), p.clientTLS(nil))
	mustOK(t, err)
	amqpRoundTrip(t, conn, "tls-request")
	conn.Close()

	_, err = amqp.DialConfig(amqpsURL(b, ""), amqp.Config{TLSClientConfig: p.clientTLS(nil),
		SASL: []amqp.Authentication{&amqp.ExternalAuth{}}})
	if err != amqp.ErrCredentials {
		t.Fatalf("EXTERNAL without a certificate: %v, want ErrCredentials", err)
	}
	rawExternal(t, b, p.clientTLS(nil))

	// A certificate that is given is verified, and then EXTERNAL works.
	conn, err = amqp.DialConfig(amqpsURL(b, ""), amqp.Config{TLSClientConfig: p.clientTLS(p.Guest),
		SASL: []amqp.Authentication{&amqp.ExternalAuth{}}})
	mustOK(t, err)
	conn.Close()
	other := newTestCA(t, "other CA")
	_, err = amqp.DialTLS(amqpsURL(b, "guest:guest@"), p.clientTLS(other.Client("guest")))
	if err == nil {
		t.Fatal("a certificate from another CA was accepted in request mode")
	}
}

// The plain listeners can all be off: a TLS-only broker.
func TestTLSOnlyBroker(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "require"), func(c *server.Config) {
		c.AMQPAddr, c.STOMPAddr, c.HTTPAddr = "", "", ""
	})
	for _, name := range []string{"amqp", "stomp", "http"} {
		if b.Addr(name) != nil {
			t.Fatalf("plain listener %s is on", name)
		}
	}
	for _, name := range []string{"amqps", "stomps", "https"} {
		if b.Addr(name) == nil {
			t.Fatalf("TLS listener %s is off", name)
		}
	}
	conn, err := amqp.DialConfig(amqpsURL(b, ""), amqp.Config{TLSClientConfig: p.clientTLS(p.Guest),
		SASL: []amqp.Authentication{&amqp.ExternalAuth{}}})
	mustOK(t, err)
	conn.Close()
}

// Without a certificate the TLS listeners stay off whatever their
// addresses say.
func TestTLSListenersOffWithoutCertificate(t *testing.T) {
	b := brokertest.New(t)
	for _, name := range []string{"amqps", "stomps", "https", "sqss", "web-stomps", "prometheus-tls"} {
		if b.Addr(name) != nil {
			t.Fatalf("TLS listener %s is on without a certificate", name)
		}
	}
}

func TestTLSAMQPConnectionStaysAfterDeadline(t *testing.T) {
	// The handshake deadline must be cleared once the connection is
	// open: an idle AMQPS connection outlives the handshake timeout.
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "none"), func(c *server.Config) { c.HandshakeTimeout = time.Second })
	conn, err := amqp.DialTLS(amqpsURL(b, "guest:guest@"), p.clientTLS(nil))
	mustOK(t, err)
	defer conn.Close()
	time.Sleep(1500 * time.Millisecond)
	amqpRoundTrip(t, conn, "tls-idle")
}

// rawExternal logs in with EXTERNAL over AMQPS frame by frame, to see
// what amqp091-go hides: connection.start offers PLAIN AMQPLAIN EXTERNAL,
// and a refused EXTERNAL is RabbitMQ's 403 with its text.
func rawExternal(t *testing.T, b *brokertest.Broker, cfg *tls.Config) {
	t.Helper()
	tc, err := tls.Dial("tcp", b.Addr("amqps").String(), cfg)
	mustOK(t, err)
	t.Cleanup(func() { tc.Close() })
	r := &rawAMQP{t: t, nc: tc, fr: wire.NewFrameReader(tc), fw: wire.NewFrameWriter(tc)}
	r.write([]byte(wire.ProtocolHeader))
	if start := rawExpect[*wire.ConnectionStart](r); start.Mechanisms != "PLAIN AMQPLAIN EXTERNAL" {
		t.Fatalf("mechanisms %q", start.Mechanisms)
	}
	r.send(0, &wire.ConnectionStartOk{ClientProperties: message.Table{"product": "raw",
		"capabilities": message.Table{"authentication_failure_close": true}},
		Mechanism: "EXTERNAL", Response: "", Locale: "en_US"})
	r.expectConnClose(403, "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile.")
}
