package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
)

// The few management endpoints that exist so far, with RabbitMQ's paths and
// shapes so that tools written for its management API work: listing and
// closing connections. The full management API is a later piece of work.

func (s *Server) registerAPI() {
	s.registerConnectionAPI()
	s.registerQueueAPI()
	s.registerUserAPI()
	s.registerVHostAPI()
	s.registerPermissionAPI()
	s.registerLimitAPI()
	s.registerAccessKeyAPI()
	s.registerExchangeAPI()
	s.registerBindingAPI()
	s.registerChannelAPI()
	s.registerOverviewAPI()
	s.registerHealthAPI()
	s.registerPolicyAPI()
	s.registerDefinitionsAPI()
	s.registerMetrics()
	s.registerUI()
	s.mux.HandleFunc("/api/", s.apiSlashes)
	if s.cfg.Pprof {
		// Profiles for whoever can authenticate: CPU, heap, goroutines.
		s.mux.HandleFunc("GET /debug/pprof/", s.authed(pprof.Index))
		s.mux.HandleFunc("GET /debug/pprof/profile", s.authed(pprof.Profile))
		s.mux.HandleFunc("GET /debug/pprof/trace", s.authed(pprof.Trace))
	}
}

// authed requires HTTP basic credentials of a broker user with a
// management tag (api.go).
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc { return s.apiAuth(accessMgmt, h) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
