package server

// registerMetrics registers /metrics (being built).
func (s *Server) registerMetrics() {}
