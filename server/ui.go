package server

// registerUI registers the web UI at / (being built).
func (s *Server) registerUI() {}
