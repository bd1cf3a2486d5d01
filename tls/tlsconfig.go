// Package tlsconfig is the server side of sluice's TLS listeners (AMQPS,
// STOMP over TLS, HTTPS with secure WebSocket): it loads the certificate,
// key and client CA named by --tls-cert, --tls-key and --tls-ca, builds the
// crypto/tls configuration every TLS listener shares, swaps the certificate
// on a reload without touching open connections, and reads a client's
// identity and the connection's TLS facts for login and for the logs.
//
// The directory is tls/, as the design names it, but the package is
// tlsconfig: a package named tls would shadow crypto/tls in every file that
// needs both, and those are exactly the files that use this one.
//
// # What the configuration is
//
//   - TLS 1.2 and 1.3 only: MinVersion is TLS 1.2, so SSLv3, TLS 1.0 and
//     1.1 clients fail the handshake with a protocol_version alert.
//   - Cipher suites are Go's defaults (CipherSuites left nil): for TLS 1.2
//     ECDHE key exchange only (RSA key exchange and 3DES left the defaults
//     in Go 1.22 and 1.23, RC4 and CBC-SHA256 were never in them), AES-GCM
//     and ChaCha20-Poly1305 preferred over the remaining AES-CBC-SHA
//     suites; TLS 1.3's three AEAD suites, which are not configurable.
//   - Session resumption: Go's server keeps no session cache; it resumes
//     with session tickets, on by default and kept on (SessionTicketsDisabled
//     false). The ticket keys are made at start and rotated by crypto/tls;
//     a certificate reload does not change them.
//   - The certificate is served through GetCertificate from an atomic
//     pointer, so Reload changes what new handshakes present while every
//     open connection keeps its session.
//   - Client certificates: none (not asked for), request (asked for,
//     verified against --tls-ca when given, optional) or require (a
//     verified one is needed to finish the handshake).
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// ClientAuth is whether a listener asks clients for a certificate.
type ClientAuth string

// The --tls-client-auth values.
const (
	ClientAuthNone    ClientAuth = "none"
	ClientAuthRequest ClientAuth = "request"
	ClientAuthRequire ClientAuth = "require"
)

// ParseClientAuth checks a --tls-client-auth value.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch a := ClientAuth(s); a {
	case ClientAuthNone, ClientAuthRequest, ClientAuthRequire:
		return a, nil
	}
	return "", fmt.Errorf("tls-client-auth must be none, request or require, not %q", s)
}

// goClientAuth is crypto/tls's policy for a. request verifies a
// certificate that is given (RabbitMQ's verify_peer without
// fail_if_no_peer_cert): an unverified certificate must never reach
// EXTERNAL.
func (a ClientAuth) goClientAuth() tls.ClientAuthType {
	switch a {
	case ClientAuthRequest:
		return tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		return tls.RequireAndVerifyClientCert
	}
	return tls.NoClientCert
}

// Settings are the operator's TLS settings.
type Settings struct {
	CertFile, KeyFile string
	// CAFile holds the CAs that sign client certificates (PEM, one or more).
	CAFile     string
	ClientAuth ClientAuth
	// Login says how a client certificate names its user (EXTERNAL, STOMP).
	Login Login
}

// Manager holds the listeners' TLS configuration and the certificate
// they present, which Reload replaces. It is safe for concurrent use.
type Manager struct {
	settings Settings
	cert     atomic.Pointer[tls.Certificate]
	config   *tls.Config
	// now is the clock for the expiry check; tests move it.
	now func() time.Time
}

// New loads the certificate, key and CA that s names.
func New(s Settings) (*Manager, error) {
	if s.ClientAuth == "" {
		s.ClientAuth = ClientAuthNone
	}
	if _, err := ParseClientAuth(string(s.ClientAuth)); err != nil {
		return nil, err
	}
	if s.ClientAuth != ClientAuthNone && s.CAFile == "" {
		// Without a CA, crypto/tls would verify client certificates
		// against the system's public roots: anyone with a certificate
		// from a public CA could then log in with EXTERNAL as the user
		// its CN names.
		return nil, fmt.Errorf("tls-client-auth %s needs tls-ca: the CAs that sign client certificates", s.ClientAuth)
	}
	m := &Manager{settings: s, now: time.Now}
	cert, err := m.loadPair()
	if err != nil {
		return nil, err
	}
	m.cert.Store(cert)
	m.config = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     s.ClientAuth.goClientAuth(),
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.cert.Load(), nil },
	}
	if s.CAFile != "" {
		pool, err := loadCAs(s.CAFile)
		if err != nil {
			return nil, err
		}
		m.config.ClientCAs = pool
	}
	return m, nil
}

// Config is the configuration every TLS listener serves with. Callers
// may Clone it to add NextProtos; GetCertificate keeps following reloads
// in a clone.
func (m *Manager) Config() *tls.Config { return m.config }

// AsksClientCert reports whether handshakes ask for a client certificate
// (request or require): only then can SASL EXTERNAL succeed.
func (m *Manager) AsksClientCert() bool { return m.settings.ClientAuth != ClientAuthNone }

// Settings returns the settings the manager was made from.
func (m *Manager) Settings() Settings { return m.settings }

// Certificate is the leaf certificate new handshakes present.
func (m *Manager) Certificate() *x509.Certificate { return m.cert.Load().Leaf }

// Reload reads the certificate and key files again and, if they make a
// valid pair, presents them from the next handshake on. Open connections
// are not touched. On an error the old pair stays.
func (m *Manager) Reload() error {
	cert, err := m.loadPair()
	if err != nil {
		return err
	}
	m.cert.Store(cert)
	return nil
}

// loadPair reads and checks the certificate and key: they must parse,
// match, and the certificate must be within its validity period, since
// presenting an expired certificate would fail every client.
func (m *Manager) loadPair() (*tls.Certificate, error) {
	s := m.settings
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert %s / tls-key %s: %w", s.CertFile, s.KeyFile, err)
	}
	if cert.Leaf == nil {
		// Go 1.23 and later fill Leaf; parse it for older toolchains.
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls-cert %s: %w", s.CertFile, err)
		}
	}
	now := m.now()
	if now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("tls-cert %s expired at %s", s.CertFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.Leaf.NotBefore) {
		return nil, fmt.Errorf("tls-cert %s is not valid before %s", s.CertFile, cert.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls-ca %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// ErrNoCertificate is a login by certificate on a connection that has no
// verified client certificate.
var ErrNoCertificate = errors.New("connection peer presented no TLS (x.509) certificate")

// Handshake runs the server side of tc's handshake, bounded by deadline,
// in the caller's goroutine: the adapters call it in the connection's own
// goroutine after counting it as handshaking, so that a slow or silent
// TLS client is held to the handshake timeout and to
// --max-handshaking-connections like any other unauthenticated socket
// (a listener that handshook in Accept would let one stall every other).
// The deadlines are cleared afterwards.
func Handshake(tc *tls.Conn, deadline time.Time) error {
	_ = tc.SetDeadline(deadline)
	err := tc.Handshake()
	_ = tc.SetDeadline(time.Time{})
	return err
}
