package server

// registerChannelAPI registers the /api/channels endpoints (being built).
func (s *Server) registerChannelAPI() {}
