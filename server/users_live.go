package server

import (
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/protocols/stomp"
)

// followUsers makes changes to the user database reach live connections,
// as RabbitMQ's do: a deleted user's connections are closed on every
// protocol with RabbitMQ's reason (AMQP: 320 CONNECTION_FORCED "user 'u'
// is deleted"). Permissions need nothing here: every operation checks
// them when it runs.
func (s *Server) followUsers() {
	s.Users.Subscribe(func(c auth.Change) {
		if c.UserDeleted == "" {
			return
		}
		name := c.UserDeleted
		match := func(user, _ string) bool { return user == name }
		reason := "user '" + name + "' is deleted"
		n := s.amqp.CloseConnections(match, reason)
		if st, ok := s.protos["stomp"].(*stomp.Server); ok {
			n += st.CloseConnections(match, reason)
		}
		s.log.Info().Str("user", name).Int("connections_closed", n).Msg("user deleted: its connections are closed")
	})
}
