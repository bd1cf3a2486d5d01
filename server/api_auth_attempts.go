package server

import (
	"net/http"
)

// RabbitMQ's /api/auth/attempts/NODE: authentication attempts per protocol
// since the start or the last DELETE (auth.Attempts). /source would list
// them per client address and user, which RabbitMQ keeps only when
// track_auth_attempt_source is set and sluice does not keep: it answers an
// empty list, as RabbitMQ does by default.
func (s *Server) registerAuthAttemptsAPI() {
	s.mux.HandleFunc("GET /api/auth/attempts/{node}", s.apiAuth(accessMgmt, s.authAttempts))
	s.mux.HandleFunc("GET /api/auth/attempts/{node}/source", s.apiAuth(accessMgmt, s.authAttemptsBySource))
	s.mux.HandleFunc("DELETE /api/auth/attempts/{node}", s.apiAuth(accessAdmin, s.resetAuthAttempts))
}

// monitorOfNode answers for a request that needs a monitor and this node;
// false when it has answered with a refusal.
func monitorOfNode(w http.ResponseWriter, r *http.Request) bool {
	if !userOf(r).isMonitor() {
		apiError(w, http.StatusUnauthorized, "not_authorised", "Not monitor user")
		return false
	}
	if r.PathValue("node") != nodeName() {
		notFound(w)
		return false
	}
	return true
}

func (s *Server) authAttempts(w http.ResponseWriter, r *http.Request) {
	if !monitorOfNode(w, r) {
		return
	}
	counts := s.Users.Attempts().Snapshot()
	out := make([]ordered, 0, len(counts))
	for _, c := range counts {
		out = append(out, ordered{{"protocol", c.Protocol}, {"auth_attempts", c.Total},
			{"auth_attempts_failed", c.Failed}, {"auth_attempts_succeeded", c.Succeeded}})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) authAttemptsBySource(w http.ResponseWriter, r *http.Request) {
	if !monitorOfNode(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, []any{})
}

func (s *Server) resetAuthAttempts(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("node") != nodeName() {
		notFound(w)
		return
	}
	s.Users.Attempts().Reset()
	w.WriteHeader(http.StatusNoContent)
}
