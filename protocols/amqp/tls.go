package amqp

import (
	"crypto/tls"
	"errors"

	"github.com/sluice-mq/sluice/auth"
)

// tlsState is the connection's TLS state after its handshake; nil on a
// plain connection. It is read when asked for (log line, management API),
// so a connection keeps none of it.
func (c *conn) tlsState() *tls.ConnectionState {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}

// offersExternal reports whether connection.start offers EXTERNAL: only
// on a TLS listener that asks for client certificates, where it can
// succeed. Elsewhere EXTERNAL is an unknown mechanism, as in RabbitMQ
// when it is not enabled.
func (c *conn) offersExternal() bool { return c.tlsMgr != nil && c.tlsMgr.AsksClientCert() }

// authenticateExternal is SASL EXTERNAL (RabbitMQ's
// rabbit_auth_mechanism_ssl): the user is the one the verified client
// certificate names (--tls-cert-login-from); the response is ignored, as
// RabbitMQ ignores it. Without a verified certificate, or for a name
// that is no user, the login is refused like a wrong password: 403
// ACCESS_REFUSED "Login was refused using authentication mechanism
// EXTERNAL", and the log says why.
func (c *conn) authenticateExternal() (string, *auth.User, error) {
	name, err := c.tlsMgr.PeerName(c.tlsState())
	if err != nil {
		return "", nil, err
	}
	u, err := c.srv.users.AuthenticateExternal(name, c.nc.RemoteAddr())
	return name, u, err
}

// unlessRefused is err for the log when it says more than "refused"
// (no certificate, no name in it), nil otherwise.
func unlessRefused(err error) error {
	if errors.Is(err, auth.ErrRefused) {
		return nil
	}
	return err
}
