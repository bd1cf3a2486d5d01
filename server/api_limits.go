package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/sluice-mq/sluice/auth"
)

// Limits in the management API: /api/vhost-limits[/VHOST[/NAME]] and
// /api/user-limits[/USER[/NAME]] (rabbit_mgmt_wm_limit*, _user_limit*).
// A negative value means no limit, as in RabbitMQ.

var (
	vhostLimitNames = []string{auth.LimitMaxConnections, auth.LimitMaxQueues}
	userLimitNames  = []string{auth.LimitMaxConnections, auth.LimitMaxChannels}
)

// limitValue checks one limit; a non-empty reason is the 400's, in
// RabbitMQ's words (rabbit_vhost_limit and rabbit_auth_backend_internal
// word them slightly differently).
func limitValue(name string, v any, allowed []string) (int64, string) {
	prefix, suffix, what := "Validation failed\n\n", "\n", "limits"
	if slices.Equal(allowed, userLimitNames) {
		prefix, suffix, what = "", "", "user-limits"
	}
	shown := fmt.Sprint(v)
	if s, isStr := v.(string); isStr {
		shown = "<<\"" + s + "\">>" // an Erlang binary
	}
	if !slices.Contains(allowed, name) {
		return 0, fmt.Sprintf("%sUnrecognised terms [{<<\"%s\">>,%s}] in %s%s", prefix, name, shown, what, suffix)
	}
	if num, ok := v.(json.Number); ok {
		if n, err := num.Int64(); err == nil {
			return n, ""
		}
	}
	return 0, fmt.Sprintf("%s%s should be a number, actually was %s%s", prefix, name, shown, suffix)
}

func (s *Server) registerLimitAPI() {
	s.mux.HandleFunc("GET /api/vhost-limits", s.apiAuth(accessMgmt, s.listVHostLimits))
	s.mux.HandleFunc("GET /api/vhost-limits/{vhost}", s.apiAuth(accessMgmt, s.listVHostLimits))
	s.mux.HandleFunc("PUT /api/vhost-limits/{vhost}/{name}", s.apiAuth(accessAdmin, s.putVHostLimit))
	s.mux.HandleFunc("DELETE /api/vhost-limits/{vhost}/{name}", s.apiAuth(accessAdmin, s.putVHostLimit))
	s.mux.HandleFunc("GET /api/user-limits", s.apiAuth(accessAdmin, s.listUserLimits))
	s.mux.HandleFunc("GET /api/user-limits/{user}", s.apiAuth(accessMgmt, s.listUserLimits))
	s.mux.HandleFunc("PUT /api/user-limits/{user}/{name}", s.apiAuth(accessAdmin, s.putUserLimit))
	s.mux.HandleFunc("DELETE /api/user-limits/{user}/{name}", s.apiAuth(accessAdmin, s.putUserLimit))
}

type vhostLimitsJSON struct {
	VHost string           `json:"vhost"`
	Value map[string]int64 `json:"value"`
}

// listVHostLimits lists the limits of the vhosts the user can see, or of
// one vhost (404 when it does not exist or is not visible to the user).
func (s *Server) listVHostLimits(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	all := s.Users.VHostLimits()
	out := []vhostLimitsJSON{}
	if name := r.PathValue("vhost"); name != "" {
		if !s.vhostVisible(u, name) {
			notFound(w)
			return
		}
		if l, ok := all[name]; ok {
			out = append(out, vhostLimitsJSON{VHost: name, Value: l})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	for _, v := range s.visibleVHosts(u) {
		if l, ok := all[v]; ok {
			out = append(out, vhostLimitsJSON{VHost: v, Value: l})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// limitChange reads a limit request: a DELETE clears (clear), a PUT
// carries {"value": N}, checked for the limit name among names. ok is
// false when the answer (400) has been written.
func limitChange(w http.ResponseWriter, r *http.Request, name string, names []string) (n int64, clear, ok bool) {
	if r.Method == http.MethodDelete {
		return 0, true, true
	}
	b, ok := readBody(w, r, "value")
	if !ok {
		return 0, false, false
	}
	n, reason := limitValue(name, b["value"], names)
	if reason != "" {
		badRequest(w, reason)
		return 0, false, false
	}
	return n, false, true
}

// putVHostLimit sets ({"value": N}, PUT) or clears (DELETE) one limit of a
// vhost; both answer 204, as RabbitMQ.
func (s *Server) putVHostLimit(w http.ResponseWriter, r *http.Request) {
	vhost, name := r.PathValue("vhost"), r.PathValue("name")
	if _, ok := s.Broker.VHost(vhost); !ok {
		apiError(w, http.StatusNotFound, "not_found", "vhost_not_found")
		return
	}
	n, clear, ok := limitChange(w, r, name, vhostLimitNames)
	if !ok {
		return
	}
	if err := s.Users.SetVHostLimit(vhost, name, n, clear); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("vhost", vhost).Str("limit", name).Int64("value", n).Bool("cleared", clear).Str("by", userOf(r).Name).Msg("vhost limit changed through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

type userLimitsJSON struct {
	User  string           `json:"user"`
	Value map[string]int64 `json:"value"`
}

// listUserLimits lists every user's limits (administrators), or one
// user's (administrators, monitoring users, and the user itself).
func (s *Server) listUserLimits(w http.ResponseWriter, r *http.Request) {
	out := []userLimitsJSON{}
	if name := r.PathValue("user"); name != "" {
		if u := userOf(r); !u.isMonitor() && u.Name != name {
			apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access object")
			return
		}
		rec, ok := s.Users.User(name)
		if !ok {
			notFound(w)
			return
		}
		if len(rec.Limits) > 0 {
			out = append(out, userLimitsJSON{User: name, Value: rec.Limits})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	for _, u := range s.Users.Users() {
		if len(u.Limits) > 0 {
			out = append(out, userLimitsJSON{User: u.Name, Value: u.Limits})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	writeJSON(w, http.StatusOK, out)
}

// putUserLimit sets (PUT {"value": N}) or clears (DELETE) one limit of a
// user: 204 either way; an unknown user is RabbitMQ's 400 no_such_user.
func (s *Server) putUserLimit(w http.ResponseWriter, r *http.Request) {
	user, name := r.PathValue("user"), r.PathValue("name")
	n, clear, ok := limitChange(w, r, name, userLimitNames)
	if !ok {
		return
	}
	if _, ok := s.Users.User(user); !ok {
		if clear {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		badRequest(w, []string{"no_such_user", user})
		return
	}
	if err := s.Users.SetUserLimit(user, name, n, clear); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("user", user).Str("limit", name).Int64("value", n).Bool("cleared", clear).Str("by", userOf(r).Name).Msg("user limit changed through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}
