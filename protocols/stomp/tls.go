package stomp

import (
	"crypto/tls"
	"errors"
	"time"

	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// errTLSHandshake ends a connection whose TLS handshake failed; the
// reason is set already.
var errTLSHandshake = errors.New("TLS handshake failed")

func (l *tcpLink) tlsState() *tls.ConnectionState {
	tc, ok := l.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}

// tlsHandshake runs the TLS handshake of a connection from a TLS
// listener, within the handshake timeout; it does nothing on a plain one.
// A failure ends the connection without an ERROR frame, which could not
// be sent without TLS.
func (c *conn) tlsHandshake() error {
	tl, ok := c.link.(*tcpLink)
	if !ok {
		return nil
	}
	tc, ok := tl.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	err := tlsconfig.Handshake(tc, time.Now().Add(c.srv.cfg.HandshakeTimeout))
	if err != nil {
		tlsconfig.HandshakeFailed(&c.srv.log, tl.nc.RemoteAddr().String(), err)
		c.setReason("TLS handshake: " + err.Error())
		return errTLSHandshake
	}
	return nil
}

// certName is the user a CONNECT without a login header logs in as on a
// TLS connection with a verified client certificate: the one the
// certificate names (--tls-cert-login-from), as RabbitMQ's
// ssl_cert_login. ok is false when the CONNECT has a login, the
// connection has no verified certificate, or the certificate names no
// one; the usual login applies then.
//
// Only over TCP: over WebSocket a browser presents its user's
// certificate to any page that opens a socket to the broker, the reason
// WebSocket sessions get no default login either.
func (c *conn) certName(hasLogin bool) (name string, ok bool) {
	if hasLogin || c.tlsMgr == nil || !c.tlsMgr.AsksClientCert() {
		return "", false
	}
	name, err := c.tlsMgr.PeerName(c.link.tlsState())
	if err != nil {
		c.log.Debug().Err(err).Msg("STOMP: no login by certificate")
		return "", false
	}
	return name, true
}
