package server

// registerOverviewAPI registers the /api/overview endpoints (being built).
func (s *Server) registerOverviewAPI() {}
