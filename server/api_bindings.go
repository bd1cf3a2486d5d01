package server

// registerBindingAPI registers the /api/bindings endpoints (being built).
func (s *Server) registerBindingAPI() {}
