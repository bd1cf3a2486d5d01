package server

// registerHealthAPI registers the /api/health endpoints (being built).
func (s *Server) registerHealthAPI() {}
