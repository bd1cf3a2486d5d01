package server

// registerDefinitionsAPI registers the /api/definitions endpoints (being built).
func (s *Server) registerDefinitionsAPI() {}
