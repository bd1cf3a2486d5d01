package server

// registerExchangeAPI registers the /api/exchanges endpoints (being built).
func (s *Server) registerExchangeAPI() {}
