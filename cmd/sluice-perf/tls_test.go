package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and localhost and a
// client certificate for guest, as PEM files in a test's temporary
// directory (made with crypto/x509, as conformance/tls_certs_test.go does).
type testPKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice-perf test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: dns, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+"-cert.pem", "CERTIFICATE", der), write(cn+"-key.pem", "PRIVATE KEY", kder)
	}
	p := testPKI{CA: write("ca.pem", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = leaf(2, "server", x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.ClientCert, p.ClientKey = leaf(3, "guest", x509.ExtKeyUsageClientAuth, nil, nil)
	return p
}

// tlsBroker starts a broker with its TLS listeners on, asking clients for
// certificates as auth says (none, request, require).
func tlsBroker(t *testing.T, p testPKI, auth string) *brokertest.Broker {
	return brokertest.New(t, func(c *server.Config) {
		c.TLSCert, c.TLSKey, c.TLSClientAuth = p.ServerCert, p.ServerKey, auth
		if auth != "none" {
			c.TLSCA = p.CA
		}
	})
}

// tinyTLSRun is tinyRun over the broker's TLS listeners, trusting p's CA.
func tinyTLSRun(t *testing.T, b *brokertest.Broker, p testPKI, name, client string) config {
	c := tinyRun(t, b, name, client)
	c.URI = "amqps://guest:guest@" + b.Addr("amqps").String() + "/"
	c.StompAddr, c.StompTLS = b.Addr("stomps").String(), true
	c.TLSOpts.CAFile = p.CA
	return c
}

// TestTLSRuns runs tiny loads over AMQPS and STOMP over TLS with both
// clients, with every message accounted for.
func TestTLSRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	p := newTestPKI(t)
	b := tlsBroker(t, p, "none")
	for _, client := range []string{"amqp091", "fast"} {
		for _, scen := range []string{"transient-1-1", "persistent-confirm-1", "stomp-throughput"} {
			t.Run(scen+"/"+client, func(t *testing.T) {
				cfg := tinyTLSRun(t, b, p, scen, client)
				if scen == "persistent-confirm-1" {
					cfg.Confirm = 10
				}
				rep := runAccounted(t, &cfg, 300)
				if !rep.Config.TLS {
					t.Fatal("the report does not say the run used TLS")
				}
				var sb strings.Builder
				rep.print(&sb)
				if !strings.Contains(sb.String(), "over TLS") {
					t.Fatalf("the table does not say TLS:\n%s", sb.String())
				}
			})
		}
	}
}

// TestHandshakeRuns opens and closes connections in a handshake run over
// plain TCP and TLS, with both protocols and clients.
func TestHandshakeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	p := newTestPKI(t)
	b := tlsBroker(t, p, "none")
	for _, proto := range []string{"amqp", "stomp"} {
		for _, client := range []string{"amqp091", "fast"} {
			for _, overTLS := range []bool{false, true} {
				name := proto + "/" + client
				if overTLS {
					name += "/tls"
				}
				t.Run(name, func(t *testing.T) {
					cfg := tinyRun(t, b, "handshake-amqp", client)
					if overTLS {
						cfg = tinyTLSRun(t, b, p, "handshake-amqp", client)
						cfg.StompTLS = proto == "stomp"
					}
					cfg.Protocol, cfg.Count, cfg.Dialers = proto, 40, 3
					rep := runHandshake(t, cfg)
					if !rep.OK || rep.Handshakes != 40 || rep.HandshakeFailures != 0 || rep.HandshakeRate <= 0 {
						t.Fatalf("report %+v", rep)
					}
					if rep.ConnectLatency == nil || rep.ConnectLatency.Count != 40 || rep.CloseLatency == nil || rep.ConnectLatency.P50MS <= 0 {
						t.Fatalf("latency %+v %+v", rep.ConnectLatency, rep.CloseLatency)
					}
					if rep.Config.TLS != overTLS {
						t.Fatalf("report TLS %v, want %v", rep.Config.TLS, overTLS)
					}
					if rep.BrokerCPUSeconds > 0 && rep.BrokerCPUPerHandshakeMS <= 0 {
						t.Fatalf("CPU per connection missing: %+v", rep)
					}
				})
			}
		}
	}
}

func runHandshake(t *testing.T, cfg config) *report {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := execute(t.Context(), cfg, nil)
	rep.finish()
	var sb strings.Builder
	rep.print(&sb)
	t.Log(sb.String())
	return rep
}

// TestHandshakeTrust: a broker certificate the client does not trust, or a
// missing client certificate that the broker requires, fails the run with
// the reason; a client certificate or --tls-insecure-skip-verify passes.
func TestHandshakeTrust(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	p := newTestPKI(t)
	b := tlsBroker(t, p, "require")
	base := func() config {
		cfg := tinyTLSRun(t, b, p, "handshake-amqp", "fast")
		cfg.Count, cfg.Dialers = 5, 1
		return cfg
	}

	cfg := base()
	cfg.TLSOpts.CertFile, cfg.TLSOpts.KeyFile = p.ClientCert, p.ClientKey
	if rep := runHandshake(t, cfg); !rep.OK || rep.Handshakes != 5 {
		t.Fatalf("with a client certificate: %+v", rep.Failures)
	}

	cfg = base()
	if rep := runHandshake(t, cfg); rep.OK || rep.HandshakeFailures != 5 {
		t.Fatalf("without the client certificate the broker requires: ok %v, %d failures", rep.OK, rep.HandshakeFailures)
	}

	cfg = base()
	cfg.TLSOpts.CAFile = ""
	cfg.TLSOpts.CertFile, cfg.TLSOpts.KeyFile = p.ClientCert, p.ClientKey
	rep := runHandshake(t, cfg)
	if rep.OK || !strings.Contains(strings.Join(rep.Failures, " "), "certificate") {
		t.Fatalf("an untrusted broker certificate: ok %v, %v", rep.OK, rep.Failures)
	}

	cfg.TLSOpts.InsecureSkipVerify = true
	if rep := runHandshake(t, cfg); !rep.OK || rep.Handshakes != 5 {
		t.Fatalf("--tls-insecure-skip-verify: %+v", rep.Failures)
	}

	cfg = base()
	cfg.TLSOpts.CertFile = p.ClientCert
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("--tls-cert without --tls-key: %v", err)
	}
}
