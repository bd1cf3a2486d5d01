package server

import (
	"encoding/json"
	"net"
	"net/http"
)

// The few management endpoints that exist so far, with RabbitMQ's paths and
// shapes so that tools written for its management API work: listing and
// closing connections. The full management API is a later piece of work.

func (s *Server) registerAPI() {
	s.mux.HandleFunc("GET /api/connections", s.authed(s.listConnections))
	s.mux.HandleFunc("GET /api/connections/", s.authed(s.listConnections))
	s.mux.HandleFunc("DELETE /api/connections/{name}", s.authed(s.closeConnection))
}

// authed requires HTTP basic credentials of a broker user.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok {
			var remote net.Addr
			if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				if addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, port)); err == nil {
					remote = addr
				}
			}
			if _, err := s.Users.Authenticate(user, pass, remote); err == nil {
				h(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="sluice"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not_authorized", "reason": "Login failed"})
	}
}

func (s *Server) listConnections(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.amqp.Connections())
}

func (s *Server) closeConnection(w http.ResponseWriter, r *http.Request) {
	reason := r.Header.Get("X-Reason")
	if reason == "" {
		reason = "Closed via management plugin"
	}
	if !s.amqp.CloseConnection(r.PathValue("name"), reason) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Object Not Found", "reason": "Not Found"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
