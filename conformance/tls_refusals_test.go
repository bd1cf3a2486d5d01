package conformance

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	"github.com/sluice-mq/sluice/server"
)

// tlsHello is what a client of each TLS listener says first, which each
// answers at once (connection.start, CONNECTED, an HTTP response): a
// probe that reads an answer got through the TLS handshake, client
// certificate check included (in TLS 1.3 the client finishes its side
// before the server has checked its certificate, so only a read tells).
var tlsHello = map[string]string{
	"amqps":  wire.ProtocolHeader,
	"stomps": "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00",
	"https":  "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
}

// tlsProbe connects to listener with cfg and returns nil when the broker
// answers the listener's hello, or why not.
func tlsProbe(b *brokertest.Broker, listener string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tc, err := tls.DialWithDialer(d, "tcp", b.Addr(listener).String(), cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, tlsHello[listener]); err != nil {
		return err
	}
	_, err = tc.Read(make([]byte, 1))
	return err
}

// alive reports whether the broker has left c open.
func alive(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, os.ErrDeadlineExceeded)
}

var tlsListenerNames = []string{"amqps", "stomps", "https"}

// Client certificates and protocol versions, on every TLS listener.
func TestTLSRefusals(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "require"))
	other := newTestCA(t, "untrusted CA")
	expired := p.CA.issue(certOpts{cn: "guest", client: true,
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)})
	version := func(v uint16) *tls.Config {
		cfg := p.clientTLS(p.Guest)
		cfg.MinVersion, cfg.MaxVersion = v, v
		return cfg
	}
	cases := []struct {
		name string
		cfg  *tls.Config
		want string // in the error; "" for accepted
	}{
		{"trusted certificate, TLS 1.3", version(tls.VersionTLS13), ""},
		{"trusted certificate, TLS 1.2", version(tls.VersionTLS12), ""},
		{"no certificate", p.clientTLS(nil), "certificate required"},
		{"untrusted certificate", p.clientTLS(other.Client("guest")), "unknown certificate authority"},
		{"expired certificate", p.clientTLS(expired), "expired certificate"},
		{"TLS 1.1", version(tls.VersionTLS11), "protocol version"},
		{"TLS 1.0", version(tls.VersionTLS10), "protocol version"},
	}
	for _, listener := range tlsListenerNames {
		for _, c := range cases {
			err := tlsProbe(b, listener, c.cfg)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s, %s: refused: %v", listener, c.name, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s, %s: got %v, want an error with %q", listener, c.name, err, c.want)
			}
		}
	}
}

// A TLS client that never finishes its handshake holds a handshaking
// slot (--max-handshaking-connections) only until --handshake-timeout,
// on every TLS listener.
func TestTLSHandshakeCountsAsHandshaking(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "none"), func(c *server.Config) {
		c.MaxHandshaking = 1
		c.HandshakeTimeout = 2 * time.Second
	})
	for _, listener := range tlsListenerNames {
		t.Run(listener, func(t *testing.T) {
			// The silent socket takes the one slot once the broker has
			// counted it: from then on a real TLS client is turned away.
			// (It is itself refused if it came while the previous
			// listener's last probe was still counted: then it is dialled
			// again.)
			var silent net.Conn
			defer func() { silent.Close() }()
			eventually(t, "a TLS client refused while a silent one handshakes", func() bool {
				if silent == nil || !alive(silent) {
					var err error
					silent, err = net.Dial("tcp", b.Addr(listener).String())
					mustOK(t, err)
					return false
				}
				return tlsProbe(b, listener, p.clientTLS(nil)) != nil && alive(silent)
			})
			// The handshake timeout closes the silent socket...
			start := time.Now()
			_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("silent socket: %v, want it closed by the broker", err)
			}
			if waited := time.Since(start); waited > 5*time.Second {
				t.Fatalf("silent socket closed after %v, handshake timeout 2s", waited)
			}
			// ...and frees the slot.
			eventually(t, "a TLS client served after the slot is free", func() bool {
				return tlsProbe(b, listener, p.clientTLS(nil)) == nil
			})
		})
	}
}

// SIGHUP's reload: a good pair is served to new connections while old
// ones carry on; a bad pair is refused and the old one kept.
func TestTLSReload(t *testing.T) {
	p := newTLSPKI(t)
	dir := t.TempDir()
	live := &testCert{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server.key")}
	install := func(c *testCert) {
		for from, to := range map[string]string{c.CertFile: live.CertFile, c.KeyFile: live.KeyFile} {
			data, err := os.ReadFile(from)
			mustOK(t, err)
			mustOK(t, os.WriteFile(to, data, 0o600))
		}
	}
	install(p.Server)
	b := brokertest.New(t, withTLS(&tlsPKI{CA: p.CA, Server: live}, "none"))
	served := func() string {
		tc, err := tls.Dial("tcp", b.Addr("amqps").String(), p.clientTLS(nil))
		mustOK(t, err)
		defer tc.Close()
		return tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "sluice test server" {
		t.Fatalf("serves %q", got)
	}
	before, err := amqp.DialTLS(amqpsURL(b, "guest:guest@"), p.clientTLS(nil))
	mustOK(t, err)
	defer before.Close()

	install(p.CA.Server("renewed server"))
	mustOK(t, b.ReloadTLS())
	if got := served(); got != "renewed server" {
		t.Fatalf("after reload serves %q", got)
	}
	amqpRoundTrip(t, before, "tls-before-reload")

	mismatched := &testCert{CertFile: p.CA.Server("mismatched").CertFile, KeyFile: p.Server.KeyFile}
	expired := p.CA.issue(certOpts{cn: "expired server", dns: []string{"localhost"},
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	garbage := &testCert{CertFile: p.CA.CAFile(), KeyFile: p.CA.CAFile()}
	for name, bad := range map[string]*testCert{"mismatched key": mismatched, "expired": expired, "not a key": garbage} {
		install(bad)
		if err := b.ReloadTLS(); err == nil {
			t.Fatalf("%s: reload accepted", name)
		}
		if got := served(); got != "renewed server" {
			t.Fatalf("%s: after a refused reload serves %q", name, got)
		}
	}
	amqpRoundTrip(t, before, "tls-after-bad-reload")
}
