package tlsconfig

import (
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// ConnInfo is what the management API shows of a connection's TLS, with
// the field names of RabbitMQ's /api/connections. Every field but SSL is
// null on a plain connection, and the peer_cert_* fields on a TLS
// connection without a client certificate, as in RabbitMQ.
type ConnInfo struct {
	SSL bool `json:"ssl"`
	// Protocol is "tlsv1.2" or "tlsv1.3".
	Protocol *string `json:"ssl_protocol"`
	// The suite in RabbitMQ's three parts: "ecdhe_rsa", "aes_128_gcm",
	// "sha256"; TLS 1.3 suites have key exchange "any", as RabbitMQ
	// reports them.
	KeyExchange *string `json:"ssl_key_exchange"`
	Cipher      *string `json:"ssl_cipher"`
	Hash        *string `json:"ssl_hash"`
	// The client certificate's subject and issuer in RFC 4514 form, and
	// its validity "NotBefore - NotAfter" in UTC RFC 3339.
	PeerCertSubject  *string `json:"peer_cert_subject"`
	PeerCertIssuer   *string `json:"peer_cert_issuer"`
	PeerCertValidity *string `json:"peer_cert_validity"`
}

// Describe returns the ConnInfo of a connection; st is nil for a plain one.
func Describe(st *tls.ConnectionState) ConnInfo {
	if st == nil {
		return ConnInfo{}
	}
	kx, cipher, hash := SuiteParts(st.CipherSuite)
	info := ConnInfo{SSL: true, Protocol: ptr(ProtocolName(st.Version)),
		KeyExchange: ptr(kx), Cipher: ptr(cipher), Hash: ptr(hash)}
	if len(st.PeerCertificates) > 0 {
		c := st.PeerCertificates[0]
		info.PeerCertSubject = ptr(c.Subject.String())
		info.PeerCertIssuer = ptr(c.Issuer.String())
		info.PeerCertValidity = ptr(c.NotBefore.UTC().Format(time.RFC3339) + " - " + c.NotAfter.UTC().Format(time.RFC3339))
	}
	return info
}

func ptr(s string) *string { return &s }

// ProtocolName is a TLS version as RabbitMQ names it: "tlsv1.3".
func ProtocolName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "tlsv1.3"
	case tls.VersionTLS12:
		return "tlsv1.2"
	case tls.VersionTLS11:
		return "tlsv1.1"
	case tls.VersionTLS10:
		return "tlsv1"
	}
	return strings.ToLower(tls.VersionName(v))
}

// SuiteParts splits a cipher suite into RabbitMQ's key exchange, cipher
// and hash: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 is ecdhe_rsa,
// aes_128_gcm, sha256; TLS_AES_128_GCM_SHA256 (TLS 1.3) is any,
// aes_128_gcm, sha256.
func SuiteParts(id uint16) (kx, cipher, hash string) {
	name := strings.ToLower(strings.TrimPrefix(tls.CipherSuiteName(id), "TLS_"))
	kx, rest, ok := strings.Cut(name, "_with_")
	if !ok {
		kx, rest = "any", name
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return kx, rest, ""
	}
	return kx, rest[:i], rest[i+1:]
}

// LogFields adds a TLS connection's version, suite and client
// certificate subject to the "connection opened" line; nothing for a
// plain connection but tls=false.
func LogFields(e *zerolog.Event, st *tls.ConnectionState) *zerolog.Event {
	if st == nil {
		return e.Bool("tls", false)
	}
	e = e.Bool("tls", true).Str("tls_version", ProtocolName(st.Version)).
		Str("tls_cipher", tls.CipherSuiteName(st.CipherSuite))
	if len(st.PeerCertificates) > 0 {
		e = e.Str("peer_cert_subject", st.PeerCertificates[0].Subject.String())
	}
	return e
}

// HandshakeFailed logs a failed TLS handshake. A client certificate
// that did not verify (untrusted, expired) is a failed login and is a
// warning with the certificate's subject; anything else (a port scan, a
// client without TLS 1.2, a timeout) is debug, since anyone can cause
// those as often as they like.
func HandshakeFailed(log *zerolog.Logger, peer string, err error) {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		e := log.Warn().Str("peer", peer).Err(ve.Err)
		if len(ve.UnverifiedCertificates) > 0 {
			e = e.Str("peer_cert_subject", ve.UnverifiedCertificates[0].Subject.String())
		}
		e.Msg("TLS handshake failed: client certificate refused")
		return
	}
	log.Debug().Str("peer", peer).Err(err).Msg("TLS handshake failed")
}
