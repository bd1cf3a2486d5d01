package server

import "net/http"

func (s *Server) registerConnectionAPI() {
	s.mux.HandleFunc("GET /api/connections", s.authed(s.listConnections))
	s.mux.HandleFunc("GET /api/connections/", s.authed(s.listConnections))
	s.mux.HandleFunc("DELETE /api/connections/{name}", s.authed(s.closeConnection))
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
