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

// RabbitMQ's Web STOMP plugin listens on a port of its own (15674; 15673
// over TLS) and serves STOMP over WebSocket at /ws there; browser code
// written for it (stomp.js's `ws://host:15674/ws`) connects unchanged.
// Sluice serves the same handler on those listeners and, as before, at
// /ws on the HTTP listener. Nothing else is served on them.

// webSTOMPHandler serves /ws only; the rest is a 404.
func (s *Server) webSTOMPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", s.wsHandler)
	return mux
}

// serveWebSTOMP serves the plain Web STOMP listener.
func (s *Server) serveWebSTOMP(ln net.Listener) {
	s.webS = &http.Server{Handler: s.webSTOMPHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: stdlog.New(httpErrorLog{s.log}, "", 0)}
	go func() {
		if err := s.webS.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.listenerFailed(fmt.Errorf("web-stomp: %w", err))
		}
	}()
}

// serveWebSTOMPS serves Web STOMP over TLS, as serveHTTPS serves the HTTP
// listener's handlers (HTTP/1.1 only: WebSocket needs it).
func (s *Server) serveWebSTOMPS(ln net.Listener) {
	cfg := s.tls.mgr.Config().Clone()
	cfg.NextProtos = []string{"http/1.1"}
	timeout := s.cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s.tls.webS = &http.Server{Handler: s.webSTOMPHandler(), ReadHeaderTimeout: timeout,
		ConnState: countHandshakes(s.tls.limits), ErrorLog: stdlog.New(httpErrorLog{s.log}, "", 0)}
	go func() {
		if err := s.tls.webS.Serve(tls.NewListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.listenerFailed(fmt.Errorf("web-stomps: %w", err))
		}
	}()
}
