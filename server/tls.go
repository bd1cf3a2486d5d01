package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/internal/connlimit"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// tlsListeners are the listeners that exist only with a certificate, and
// the plain listener whose protocol each serves.
var tlsListeners = map[string]string{"amqps": "amqp", "stomps": "stomp", "https": "http", "sqss": "sqs",
	"web-stomps": "web-stomp", "prometheus-tls": "prometheus"}

// tlsServe is what an adapter offers for a TLS listener: it runs each
// connection's handshake in that connection's goroutine.
type tlsServe interface {
	ServeTLS(net.Listener, *tlsconfig.Manager) error
}

// tlsState is the server's TLS: nil mgr when no certificate is set.
type tlsState struct {
	mgr    *tlsconfig.Manager
	https  *http.Server
	limits *connlimit.Limiter // the listeners' shared limiter
}

// setupTLS loads the certificate, key and CA when tls-cert is set.
func (s *Server) setupTLS() error {
	if s.cfg.TLSCert == "" {
		return nil
	}
	clientAuth, err := tlsconfig.ParseClientAuth(s.cfg.TLSClientAuth)
	if err != nil {
		return err
	}
	login, err := tlsconfig.ParseLogin(s.cfg.TLSCertLoginFrom, s.cfg.TLSCertLoginSANType)
	if err != nil {
		return err
	}
	mgr, err := tlsconfig.New(tlsconfig.Settings{CertFile: s.cfg.TLSCert, KeyFile: s.cfg.TLSKey,
		CAFile: s.cfg.TLSCA, ClientAuth: clientAuth, Login: login})
	if err != nil {
		return err
	}
	s.tls.mgr = mgr
	s.logCertificate("TLS certificate loaded")
	return nil
}

func (s *Server) logCertificate(msg string) {
	leaf := s.tls.mgr.Certificate()
	s.log.Info().Str("subject", leaf.Subject.String()).Str("issuer", leaf.Issuer.String()).
		Time("not_after", leaf.NotAfter).Str("client_auth", s.cfg.TLSClientAuth).Msg(msg)
}

// tlsAddrs are the TLS listeners' configured addresses; none without a
// certificate, so that the defaults (:5671, :61614, :15671, :9325, :15673,
// :15691) open nothing on a broker that has no TLS.
func (s *Server) tlsAddrs() map[string]string {
	if s.tls.mgr == nil {
		return nil
	}
	return map[string]string{"amqps": s.cfg.AMQPSAddr, "stomps": s.cfg.STOMPSAddr, "https": s.cfg.HTTPSAddr, "sqss": s.cfg.SQSSAddr,
		"web-stomps": s.cfg.WebSTOMPSAddr, "prometheus-tls": s.cfg.PrometheusTLSAddr}
}

// ReloadTLS reads the certificate and key files again (SIGHUP) and logs
// the outcome. New handshakes present the new pair; open connections keep
// theirs. A pair that does not load, match or is expired is refused and
// the old one stays. Without TLS it does nothing.
func (s *Server) ReloadTLS() error {
	if s.tls.mgr == nil {
		return nil
	}
	if err := s.tls.mgr.Reload(); err != nil {
		s.log.Error().Err(err).Msg("TLS certificate not reloaded; the one loaded before stays in use")
		return err
	}
	s.logCertificate("TLS certificate reloaded")
	return nil
}

// serveTLSListener serves a TLS listener and reports whether name was one.
func (s *Server) serveTLSListener(name string, ln net.Listener) bool {
	base, ok := tlsListeners[name]
	if !ok {
		return false
	}
	if name == "https" {
		s.serveHTTPS(ln)
		return true
	}
	p := s.protos[base].(tlsServe)
	go func() {
		if err := p.ServeTLS(ln, s.tls.mgr); err != nil {
			s.listenerFailed(fmt.Errorf("%s: %w", name, err))
		}
	}()
	return true
}

// serveHTTPS serves the HTTP listener's handlers over TLS. net/http runs
// each connection's TLS handshake in the connection's goroutine, bounded
// by ReadHeaderTimeout; countHandshakes holds it to
// --max-handshaking-connections as well. HTTP/1.1 only: WebSocket needs it.
func (s *Server) serveHTTPS(ln net.Listener) {
	cfg := s.tls.mgr.Config().Clone()
	cfg.NextProtos = []string{"http/1.1"}
	timeout := s.cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s.tls.https = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: timeout,
		ConnState: countHandshakes(s.tls.limits), ErrorLog: stdlog.New(httpErrorLog{s.log}, "", 0)}
	go func() {
		if err := s.tls.https.Serve(tls.NewListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.listenerFailed(fmt.Errorf("https: %w", err))
		}
	}()
}

// httpErrorLog routes net/http's own messages (TLS handshake errors,
// mostly) into the broker's log: a refused client certificate as a
// warning, as on the other TLS listeners, the rest at debug, since anyone
// can cause them.
type httpErrorLog struct{ log zerolog.Logger }

func (l httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	e := l.log.Debug()
	if strings.Contains(msg, "failed to verify certificate") {
		e = l.log.Warn()
	}
	e.Str("listener", "https").Msg(msg)
	return len(p), nil
}

// countHandshakes counts an HTTPS connection as handshaking from its
// accept until its first request arrives (after the TLS handshake) or it
// closes, and closes it at once when max-handshaking-connections are
// already handshaking. A WebSocket upgraded from it is counted again by
// the STOMP adapter until its CONNECT.
func countHandshakes(limits *connlimit.Limiter) func(net.Conn, http.ConnState) {
	var mu sync.Mutex
	counted := map[net.Conn]bool{}
	return func(c net.Conn, state http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if state == http.StateNew {
			if err := limits.StartHandshake(); err != nil {
				c.Close()
				return
			}
			counted[c] = true
			return
		}
		if counted[c] {
			delete(counted, c)
			limits.EndHandshake()
		}
	}
}
