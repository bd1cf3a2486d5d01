package server

// registerPolicyAPI registers the /api/policies endpoints (being built).
func (s *Server) registerPolicyAPI() {}
