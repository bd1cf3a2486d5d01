package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"time"
)

// Listeners of one purpose each, on the ports RabbitMQ's plugins use, so
// that clients and scrapers set up for RabbitMQ find them unchanged:
//
//   - Web STOMP (15674; 15673 over TLS): STOMP over WebSocket at /ws, as
//     the rabbitmq_web_stomp plugin serves it (stomp.js's
//     `ws://host:15674/ws`). /ws stays on the HTTP listener too.
//   - Prometheus (15692; 15691 over TLS): /metrics, /metrics/per-object
//     and /metrics/detailed, as the rabbitmq_prometheus plugin serves
//     them. They stay on the HTTP listener too.
//
// Nothing else is served on them (404).

// sideListeners maps each such listener to what it serves; the TLS ones
// are in tlsListeners with their plain one.
var sideListeners = map[string]bool{"web-stomp": true, "web-stomps": true, "prometheus": true, "prometheus-tls": true}

// sideHandler is what listener name serves.
func (s *Server) sideHandler(name string) http.Handler {
	mux := http.NewServeMux()
	switch tlsBase(name) {
	case "web-stomp":
		mux.Handle("/ws", s.wsHandler)
	case "prometheus":
		for path, h := range s.metricsHandlers {
			mux.Handle("GET "+path, h)
		}
	}
	return mux
}

// tlsBase is the plain listener a TLS listener serves as, or name itself.
func tlsBase(name string) string {
	if base, ok := tlsListeners[name]; ok {
		return base
	}
	return name
}

// serveSide serves one of the side listeners, over TLS when it is one of
// the TLS listeners (HTTP/1.1 only: WebSocket needs it; handshakes count
// against --max-handshaking-connections as on the HTTPS listener).
func (s *Server) serveSide(name string, ln net.Listener) {
	srv := &http.Server{Handler: s.sideHandler(name), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: stdlog.New(httpErrorLog{s.log}, "", 0)}
	if _, isTLS := tlsListeners[name]; isTLS {
		cfg := s.tls.mgr.Config().Clone()
		cfg.NextProtos = []string{"http/1.1"}
		if s.cfg.HandshakeTimeout > 0 {
			srv.ReadHeaderTimeout = s.cfg.HandshakeTimeout
		}
		srv.ConnState = countHandshakes(s.tls.limits)
		ln = tls.NewListener(ln, cfg)
	}
	s.sideServers = append(s.sideServers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.listenerFailed(fmt.Errorf("%s: %w", name, err))
		}
	}()
}
