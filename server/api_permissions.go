package server

import (
	"errors"
	"net/http"

	"github.com/sluice-mq/sluice/auth"
)

// Permissions and topic permissions in the management API:
// /api/permissions[/VHOST/USER], /api/users/USER/permissions,
// /api/topic-permissions[/VHOST/USER[/EXCHANGE]],
// /api/users/USER/topic-permissions (rabbit_mgmt_wm_permission*,
// rabbit_mgmt_wm_topic_permission*). All for administrators.

func (s *Server) registerPermissionAPI() {
	s.mux.HandleFunc("GET /api/permissions", s.apiAuth(accessAdmin, s.listPermissions))
	s.mux.HandleFunc("GET /api/permissions/{vhost}/{user}", s.apiAuth(accessAdmin, s.getPermission))
	s.mux.HandleFunc("PUT /api/permissions/{vhost}/{user}", s.apiAuth(accessAdmin, s.putPermission))
	s.mux.HandleFunc("DELETE /api/permissions/{vhost}/{user}", s.apiAuth(accessAdmin, s.deletePermission))
	s.mux.HandleFunc("GET /api/users/{user}/permissions", s.apiAuth(accessAdmin, s.userPermissions))

	s.mux.HandleFunc("GET /api/topic-permissions", s.apiAuth(accessAdmin, s.listTopicPermissions))
	s.mux.HandleFunc("GET /api/topic-permissions/{vhost}/{user}", s.apiAuth(accessAdmin, s.getTopicPermissions))
	s.mux.HandleFunc("PUT /api/topic-permissions/{vhost}/{user}", s.apiAuth(accessAdmin, s.putTopicPermission))
	s.mux.HandleFunc("DELETE /api/topic-permissions/{vhost}/{user}", s.apiAuth(accessAdmin, s.deleteTopicPermissions))
	s.mux.HandleFunc("DELETE /api/topic-permissions/{vhost}/{user}/{exchange}", s.apiAuth(accessAdmin, s.deleteTopicPermissions))
	s.mux.HandleFunc("GET /api/users/{user}/topic-permissions", s.apiAuth(accessAdmin, s.userTopicPermissions))
}

func (s *Server) listPermissions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Users.Permissions())
}

func (s *Server) getPermission(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Users.Permission(r.PathValue("user"), r.PathValue("vhost"))
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// userAndVHost reports whether both exist; RabbitMQ refuses a permission
// for a missing one with 400 vhost_or_user_not_found.
func (s *Server) userAndVHost(user, vhost string) bool {
	_, u := s.Users.User(user)
	_, v := s.Broker.VHost(vhost)
	return u && v
}

// putPermission sets {"configure","write","read"}: 201 when the user had
// no permission in the vhost, 204 when it replaced one.
func (s *Server) putPermission(w http.ResponseWriter, r *http.Request) {
	user, vhost := r.PathValue("user"), r.PathValue("vhost")
	if !s.userAndVHost(user, vhost) {
		badRequest(w, "vhost_or_user_not_found")
		return
	}
	b, ok := readBody(w, r, "configure", "write", "read")
	if !ok {
		return
	}
	p := auth.Permission{User: user, VHost: vhost}
	for key, dst := range map[string]*string{"configure": &p.Configure, "write": &p.Write, "read": &p.Read} {
		v, err := b.str(key)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		*dst = v
	}
	_, existed := s.Users.Permission(user, vhost)
	if err := s.Users.SetPermission(p); err != nil {
		s.permissionError(w, r, err)
		return
	}
	s.log.Info().Str("user", user).Str("vhost", vhost).Str("configure", p.Configure).Str("write", p.Write).
		Str("read", p.Read).Str("by", userOf(r).Name).Msg("permissions set through the HTTP API")
	created(w, !existed)
}

// permissionError answers a refused permission change: a bad pattern or
// a user deleted meanwhile is the client's, anything else the server's.
func (s *Server) permissionError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, auth.ErrBadPattern):
		badRequest(w, err.Error())
	case errors.Is(err, auth.ErrNoUser):
		badRequest(w, "vhost_or_user_not_found")
	default:
		s.serverError(w, r, err)
	}
}

func (s *Server) deletePermission(w http.ResponseWriter, r *http.Request) {
	user, vhost := r.PathValue("user"), r.PathValue("vhost")
	found, err := s.Users.ClearPermission(user, vhost)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !found {
		notFound(w)
		return
	}
	s.log.Info().Str("user", user).Str("vhost", vhost).Str("by", userOf(r).Name).Msg("permissions cleared through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) userPermissions(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if _, ok := s.Users.User(user); !ok {
		notFound(w)
		return
	}
	out := []auth.Permission{}
	for _, p := range s.Users.Permissions() {
		if p.User == user {
			out = append(out, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listTopicPermissions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Users.TopicPermissions())
}

func (s *Server) topicPermissionsOf(user, vhost string) []auth.TopicPermission {
	out := []auth.TopicPermission{}
	for _, p := range s.Users.TopicPermissions() {
		if p.User == user && (vhost == "" || p.VHost == vhost) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) getTopicPermissions(w http.ResponseWriter, r *http.Request) {
	out := s.topicPermissionsOf(r.PathValue("user"), r.PathValue("vhost"))
	if !s.userAndVHost(r.PathValue("user"), r.PathValue("vhost")) || len(out) == 0 {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// putTopicPermission sets {"exchange","write","read"} for one exchange:
// 201 when the user had no topic permission in the vhost, 204 otherwise.
func (s *Server) putTopicPermission(w http.ResponseWriter, r *http.Request) {
	user, vhost := r.PathValue("user"), r.PathValue("vhost")
	if !s.userAndVHost(user, vhost) {
		badRequest(w, "vhost_or_user_not_found")
		return
	}
	b, ok := readBody(w, r, "exchange", "write", "read")
	if !ok {
		return
	}
	p := auth.TopicPermission{User: user, VHost: vhost}
	for key, dst := range map[string]*string{"exchange": &p.Exchange, "write": &p.Write, "read": &p.Read} {
		v, err := b.str(key)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		*dst = v
	}
	existed := len(s.topicPermissionsOf(user, vhost)) > 0
	if err := s.Users.SetTopicPermission(p); err != nil {
		s.permissionError(w, r, err)
		return
	}
	s.log.Info().Str("user", user).Str("vhost", vhost).Str("exchange", p.Exchange).Str("write", p.Write).
		Str("read", p.Read).Str("by", userOf(r).Name).Msg("topic permissions set through the HTTP API")
	created(w, !existed)
}

// deleteTopicPermissions clears a user's topic permissions in a vhost: all
// of them, or one exchange's. 404 when there were none.
func (s *Server) deleteTopicPermissions(w http.ResponseWriter, r *http.Request) {
	user, vhost, exchange := r.PathValue("user"), r.PathValue("vhost"), r.PathValue("exchange")
	if len(s.topicPermissionsOf(user, vhost)) == 0 {
		notFound(w)
		return
	}
	if _, err := s.Users.ClearTopicPermission(user, vhost, exchange); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("user", user).Str("vhost", vhost).Str("exchange", exchange).Str("by", userOf(r).Name).Msg("topic permissions cleared through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) userTopicPermissions(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if _, ok := s.Users.User(user); !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.topicPermissionsOf(user, ""))
}
