package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// testCA is a certificate authority made for one test, with crypto/x509.
type testCA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
}

// testCert is a certificate and its key, in memory and as PEM files.
type testCert struct {
	Cert     *x509.Certificate
	TLS      tls.Certificate
	CertFile string
	KeyFile  string
}

var certSerial atomic.Int64

// newTestCA makes a CA whose files live in the test's temporary directory.
func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(certSerial.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"sluice tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, cert: cert, key: key, dir: t.TempDir()}
	writePEM(t, ca.CAFile(), "CERTIFICATE", der)
	return ca
}

// CAFile is the CA certificate's PEM file.
func (ca *testCA) CAFile() string {
	return filepath.Join(ca.dir, "ca-"+ca.cert.Subject.CommonName+".pem")
}

// Pool is a pool holding only this CA, for clients.
func (ca *testCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// certOpts shape a leaf certificate.
type certOpts struct {
	cn        string
	org       string
	dns       []string
	emails    []string
	ips       []net.IP
	notBefore time.Time
	notAfter  time.Time
	client    bool
}

// Server issues a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) Server(cn string) *testCert {
	return ca.issue(certOpts{cn: cn, dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

// Client issues a client certificate with common name cn.
func (ca *testCA) Client(cn string) *testCert {
	return ca.issue(certOpts{cn: cn, org: "sluice clients", client: true})
}

func (ca *testCA) issue(o certOpts) *testCert {
	t := ca.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(24 * time.Hour)
	}
	usage := x509.ExtKeyUsageServerAuth
	if o.client {
		usage = x509.ExtKeyUsageClientAuth
	}
	subject := pkix.Name{CommonName: o.cn}
	if o.org != "" {
		subject.Organization = []string{o.org}
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(certSerial.Add(1)),
		Subject:        subject,
		NotBefore:      o.notBefore,
		NotAfter:       o.notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{usage},
		DNSNames:       o.dns,
		EmailAddresses: o.emails,
		IPAddresses:    o.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	n := certSerial.Add(1)
	tc := &testCert{Cert: cert,
		CertFile: filepath.Join(ca.dir, big.NewInt(n).String()+"-cert.pem"),
		KeyFile:  filepath.Join(ca.dir, big.NewInt(n).String()+"-key.pem"),
		TLS:      tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}
	writePEM(t, tc.CertFile, "CERTIFICATE", der)
	writePEM(t, tc.KeyFile, "PRIVATE KEY", keyDER)
	return tc
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsPKI is a CA with a server certificate and a client certificate for
// the user guest (who may connect from loopback, as the tests do).
type tlsPKI struct {
	CA     *testCA
	Server *testCert
	Guest  *testCert
}

func newTLSPKI(t testing.TB) *tlsPKI {
	ca := newTestCA(t, "sluice test CA")
	return &tlsPKI{CA: ca, Server: ca.Server("sluice test server"), Guest: ca.Client("guest")}
}

// withTLS configures a broker's TLS listeners from p with client
// authentication mode auth (none, request, require).
func withTLS(p *tlsPKI, auth string) brokertest.Option {
	return func(c *server.Config) {
		c.TLSCert, c.TLSKey = p.Server.CertFile, p.Server.KeyFile
		c.TLSClientAuth = auth
		if auth != "none" {
			c.TLSCA = p.CA.CAFile()
		}
	}
}

// clientTLS is a client configuration that trusts p's CA and presents
// cert (none when nil). It presents cert even when the server's list of
// acceptable CAs does not name its issuer, which a Go client with
// Certificates would not: an untrusted certificate must reach the server.
func (p *tlsPKI) clientTLS(cert *testCert) *tls.Config {
	cfg := &tls.Config{RootCAs: p.CA.Pool(), ServerName: "localhost"}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
	}
	return cfg
}
