package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pair writes a self-signed certificate for cn valid from nb to na, and
// its key, into dir; it returns the two file names.
func pair(t *testing.T, dir, cn string, nb, na time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	mustWrite(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	mustWrite(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
	return certFile, keyFile
}

func mustWrite(t *testing.T, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, to, data)
}

func TestNewChecksSettings(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cert, key := pair(t, dir, "a", now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := New(Settings{CertFile: cert, KeyFile: key, ClientAuth: ClientAuthRequire}); err == nil || !strings.Contains(err.Error(), "tls-ca") {
		t.Fatalf("require without a CA: %v", err)
	}
	if _, err := New(Settings{CertFile: cert, KeyFile: key, ClientAuth: "maybe"}); err == nil {
		t.Fatal("client auth maybe accepted")
	}
	if _, err := New(Settings{CertFile: cert, KeyFile: key, CAFile: key, ClientAuth: ClientAuthRequest}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a key as the CA file: %v", err)
	}
	old, oldKey := pair(t, dir, "old", now.Add(-2*time.Hour), now.Add(-time.Hour))
	if _, err := New(Settings{CertFile: old, KeyFile: oldKey}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired certificate: %v", err)
	}
	m, err := New(Settings{CertFile: cert, KeyFile: key, CAFile: cert, ClientAuth: ClientAuthRequest})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config()
	if c.MinVersion != tls.VersionTLS12 || c.ClientAuth != tls.VerifyClientCertIfGiven || c.CipherSuites != nil ||
		c.SessionTicketsDisabled || c.ClientCAs == nil || !m.AsksClientCert() {
		t.Fatalf("config %+v", c)
	}
}

// Reload swaps the certificate that GetCertificate hands out, in the
// config and in clones of it; a bad pair leaves the old one.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	certA, keyA := pair(t, dir, "a", now.Add(-time.Hour), now.Add(time.Hour))
	certB, keyB := pair(t, dir, "b", now.Add(-time.Hour), now.Add(time.Hour))
	certOld, keyOld := pair(t, dir, "old", now.Add(-2*time.Hour), now.Add(-time.Hour))
	live, liveKey := filepath.Join(dir, "live.crt"), filepath.Join(dir, "live.key")
	copyFile(t, certA, live)
	copyFile(t, keyA, liveKey)
	m, err := New(Settings{CertFile: live, KeyFile: liveKey})
	if err != nil {
		t.Fatal(err)
	}
	clone := m.Config().Clone()
	served := func() string {
		c, err := clone.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if served() != "a" {
		t.Fatalf("serves %s", served())
	}
	copyFile(t, certB, live)
	copyFile(t, keyB, liveKey)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if served() != "b" || m.Certificate().Subject.CommonName != "b" {
		t.Fatalf("after reload serves %s", served())
	}
	for _, bad := range []struct{ name, cert, key string }{
		{"mismatched key", certA, keyB},
		{"expired", certOld, keyOld},
		{"garbage", keyA, keyA},
	} {
		copyFile(t, bad.cert, live)
		copyFile(t, bad.key, liveKey)
		if err := m.Reload(); err == nil {
			t.Fatalf("%s: reload accepted", bad.name)
		}
		if served() != "b" {
			t.Fatalf("%s: serves %s after a refused reload", bad.name, served())
		}
	}
}

func TestLoginName(t *testing.T) {
	u, _ := url.Parse("spiffe://example/app")
	cert := &x509.Certificate{
		Subject:        pkix.Name{CommonName: "app", Organization: []string{"Example"}},
		DNSNames:       []string{"app.example", "other.example"},
		EmailAddresses: []string{"app@example.com"},
		IPAddresses:    []net.IP{net.IPv4(10, 0, 0, 1)},
		URIs:           []*url.URL{u},
	}
	for _, c := range []struct{ from, san, want string }{
		{"common_name", "dns", "app"},
		{"distinguished_name", "dns", "CN=app,O=Example"},
		{"subject_alternative_name", "dns", "app.example"},
		{"subject_alt_name", "email", "app@example.com"},
		{"subject_alternative_name", "ip", "10.0.0.1"},
		{"subject_alternative_name", "uri", "spiffe://example/app"},
	} {
		l, err := ParseLogin(c.from, c.san)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := l.Name(cert); err != nil || got != c.want {
			t.Errorf("%s/%s: %q, %v; want %q", c.from, c.san, got, err, c.want)
		}
	}
	if _, err := ParseLogin("serial", "dns"); err == nil {
		t.Error("serial accepted")
	}
	if _, err := ParseLogin("common_name", "x400"); err == nil {
		t.Error("x400 accepted")
	}
	// A missing part is an error, never another part.
	l, _ := ParseLogin("subject_alternative_name", "email")
	if _, err := l.Name(&x509.Certificate{Subject: pkix.Name{CommonName: "x"}}); err == nil {
		t.Error("no email SAN: a name came back")
	}
	l, _ = ParseLogin("common_name", "dns")
	if _, err := l.Name(&x509.Certificate{Subject: pkix.Name{Organization: []string{"x"}}}); err == nil {
		t.Error("no CN: a name came back")
	}
}

func TestPeerNameNeedsVerifiedCertificate(t *testing.T) {
	m := &Manager{settings: Settings{Login: Login{From: LoginCommonName, SANType: SANDNS}}}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "app"}}
	if _, err := m.PeerName(nil); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("plain connection: %v", err)
	}
	// Presented but not verified (crypto/tls would not have let it
	// through with request or require, but it must not count anyway).
	if _, err := m.PeerName(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("unverified certificate: %v", err)
	}
	st := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
	if name, err := m.PeerName(st); err != nil || name != "app" {
		t.Fatalf("verified: %q, %v", name, err)
	}
}

func TestSuiteParts(t *testing.T) {
	for _, c := range []struct {
		id            uint16
		kx, ciph, mac string
	}{
		{tls.TLS_AES_128_GCM_SHA256, "any", "aes_128_gcm", "sha256"},
		{tls.TLS_CHACHA20_POLY1305_SHA256, "any", "chacha20_poly1305", "sha256"},
		{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ecdhe_rsa", "aes_256_gcm", "sha384"},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ecdhe_ecdsa", "aes_128_cbc", "sha"},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ecdhe_ecdsa", "chacha20_poly1305", "sha256"},
	} {
		kx, ciph, mac := SuiteParts(c.id)
		if kx != c.kx || ciph != c.ciph || mac != c.mac {
			t.Errorf("%s: %s %s %s", tls.CipherSuiteName(c.id), kx, ciph, mac)
		}
	}
	if ProtocolName(tls.VersionTLS13) != "tlsv1.3" || ProtocolName(tls.VersionTLS12) != "tlsv1.2" {
		t.Error("protocol names")
	}
}
