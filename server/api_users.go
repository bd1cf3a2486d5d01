package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sluice-mq/sluice/auth"
)

// Users in the management API: /api/whoami, /api/users[/NAME],
// /api/users/bulk-delete, /api/users/without-permissions, with
// rabbit_mgmt_wm_user*'s behaviour.

// userJSON is a user as RabbitMQ's management API shows it
// (rabbit_mgmt_format:internal_user).
type userJSON struct {
	Name             string           `json:"name"`
	PasswordHash     string           `json:"password_hash"`
	HashingAlgorithm string           `json:"hashing_algorithm"`
	Tags             []string         `json:"tags"`
	Limits           map[string]int64 `json:"limits"`
}

func toUserJSON(u auth.UserRecord) userJSON {
	j := userJSON{Name: u.Name, PasswordHash: u.PasswordHash, HashingAlgorithm: u.HashingAlgorithm,
		Tags: u.Tags, Limits: u.Limits}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if j.Limits == nil {
		j.Limits = map[string]int64{}
	}
	if j.HashingAlgorithm == "" {
		j.HashingAlgorithm = auth.HashSHA256
	}
	return j
}

func (s *Server) registerUserAPI() {
	s.mux.HandleFunc("GET /api/whoami", s.apiAuth(accessMgmt, s.whoami))
	s.mux.HandleFunc("GET /api/users", s.apiAuth(accessAdmin, s.listUsers))
	s.mux.HandleFunc("GET /api/users/without-permissions", s.apiAuth(accessAdmin, s.listUsersWithoutPermissions))
	s.mux.HandleFunc("POST /api/users/bulk-delete", s.apiAuth(accessAdmin, s.bulkDeleteUsers))
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		// Not the user "bulk-delete": RabbitMQ's route, POST only.
		s.mux.HandleFunc(m+" /api/users/bulk-delete", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusMethodNotAllowed)
		})
	}
	s.mux.HandleFunc("GET /api/users/{user}", s.apiAuth(accessAdmin, s.getUser))
	s.mux.HandleFunc("PUT /api/users/{user}", s.apiAuth(accessAdmin, s.putUser))
	s.mux.HandleFunc("DELETE /api/users/{user}", s.apiAuth(accessAdmin, s.deleteUser))
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	tags := u.Tags
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": u.Name, "tags": tags})
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	out := []userJSON{}
	for _, u := range s.Users.Users() {
		out = append(out, toUserJSON(u))
	}
	writePlainList(w, r, out)
}

func (s *Server) listUsersWithoutPermissions(w http.ResponseWriter, _ *http.Request) {
	has := map[string]bool{}
	for _, p := range s.Users.Permissions() {
		has[p.User] = true
	}
	out := []userJSON{}
	for _, u := range s.Users.Users() {
		if !has[u.Name] {
			out = append(out, toUserJSON(u))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.Users.User(r.PathValue("user"))
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
}

// putUser creates or replaces a user (rabbit_auth_backend_internal:put_user):
// tags are required (or the old boolean "administrator"); a password is
// hashed with SHA-256; a password_hash is taken as it is, under
// hashing_algorithm (SHA-256 when absent); neither leaves the user without a
// password (certificate login only); limits, when given, replace the
// user's limits.
func (s *Server) putUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	rec, errReason := userFromBody(name, b)
	if errReason != nil {
		badRequest(w, errReason)
		return
	}
	isNew, err := s.Users.PutUser(rec)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	s.log.Info().Str("user", name).Strs("tags", rec.Tags).Str("by", userOf(r).Name).Bool("created", isNew).Msg("user put through the HTTP API")
	created(w, isNew)
}

// userFromBody builds the user record a PUT asks for; a non-nil reason is
// the 400's.
func userFromBody(name string, b body) (auth.UserRecord, any) {
	rec := auth.UserRecord{Name: name}
	_, hasTags := b["tags"]
	admin, hasAdmin := b["administrator"]
	switch {
	case hasTags && b["tags"] != nil:
		tags, err := b.tags("tags")
		if err != nil {
			return rec, err.Error()
		}
		rec.Tags = tags
	case hasAdmin && admin != nil:
		s, _ := b.str("administrator")
		if v, err := strconv.ParseBool(s); err == nil && v {
			rec.Tags = []string{auth.TagAdministrator}
		} else {
			rec.Tags = []string{}
		}
	default:
		return rec, "tags_not_present"
	}
	_, hasPassword := b["password"]
	_, hasHash := b["password_hash"]
	switch {
	case hasPassword && hasHash:
		return rec, "both_password_and_password_hash_are_provided"
	case hasPassword:
		pw, err := b.str("password")
		if err != nil {
			return rec, err.Error()
		}
		if rec.PasswordHash, err = auth.HashPassword(auth.HashSHA256, pw); err != nil {
			return rec, err.Error()
		}
		rec.HashingAlgorithm = auth.HashSHA256
	case hasHash:
		h, err := b.str("password_hash")
		if err != nil {
			return rec, err.Error()
		}
		if _, err := base64.StdEncoding.DecodeString(h); err != nil {
			return rec, []string{"not_base64", h}
		}
		alg, err := b.str("hashing_algorithm")
		if err != nil {
			return rec, err.Error()
		}
		if alg == "" {
			alg = auth.HashSHA256
		}
		if err := auth.CheckHash(alg, h); err != nil {
			return rec, err.Error()
		}
		rec.PasswordHash, rec.HashingAlgorithm = h, alg
	default:
		rec.HashingAlgorithm = auth.HashSHA256 // no password: certificate login only
	}
	if lv, ok := b["limits"]; ok && lv != nil {
		m, isObj := lv.(map[string]any)
		if !isObj {
			return rec, "limits must be an object"
		}
		rec.Limits = map[string]int64{}
		for k, v := range m {
			n, reason := limitValue(k, v, userLimitNames)
			if reason != "" {
				return rec, reason
			}
			rec.Limits[k] = n
		}
	}
	return rec, nil
}

// deleteUser deletes a user with its permissions; the registry tells its
// subscribers, which close the user's connections.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	if err := s.Users.DeleteUser(name); err != nil {
		if errors.Is(err, auth.ErrNoUser) {
			notFound(w)
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("user", name).Str("by", userOf(r).Name).Msg("user deleted through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

// bulkDeleteUsers deletes {"users": [...]} in order; as RabbitMQ, a name
// that is not a user stops it with a 400 naming it (those before it are
// deleted).
func (s *Server) bulkDeleteUsers(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, "users")
	if !ok {
		return
	}
	list, isList := b["users"].([]any)
	if !isList {
		badRequest(w, "users must be a list of user names")
		return
	}
	for _, e := range list {
		name, isStr := e.(string)
		if !isStr {
			badRequest(w, fmt.Sprintf("users must be a list of user names, not %v", e))
			return
		}
		if err := s.Users.DeleteUser(name); err != nil {
			if errors.Is(err, auth.ErrNoUser) {
				badRequest(w, []string{"no_such_user", name})
				return
			}
			s.serverError(w, r, err)
			return
		}
		s.log.Info().Str("user", name).Str("by", userOf(r).Name).Msg("user deleted through the HTTP API (bulk)")
	}
	w.WriteHeader(http.StatusNoContent)
}
