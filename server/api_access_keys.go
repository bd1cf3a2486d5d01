package server

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/sluice-mq/sluice/auth"
)

// Access keys in the management API: the key pairs that sign SQS requests
// (AWS Signature Version 4) as a user. RabbitMQ has no such objects; the
// endpoints are named and shaped in its style:
//
//	GET    /api/users/NAME/access-keys     the user's keys: access_key_id, created
//	POST   /api/users/NAME/access-keys     a new key: 201 with its secret
//	DELETE /api/users/NAME/access-keys/ID  204; 404 Object Not Found
//
// The secret is shown once, in the POST's answer, and never again: the
// list, GET /api/users and GET /api/users/NAME leave it out. An
// administrator may manage any user's keys; any other management user
// (management, policymaker or monitoring tag) only its own, as with
// GET /api/user-limits/USER; a user without a management tag cannot use
// the API at all, so an administrator makes its keys.

// accessKeyJSON is a key in a list: never the secret.
type accessKeyJSON struct {
	User        string `json:"user"`
	AccessKeyID string `json:"access_key_id"`
	Created     int64  `json:"created"` // unix seconds
}

// newAccessKeyJSON is the POST's answer, the only one with the secret.
type newAccessKeyJSON struct {
	User            string `json:"user"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Created         int64  `json:"created"`
}

func (s *Server) registerAccessKeyAPI() {
	s.mux.HandleFunc("GET /api/users/{user}/access-keys", s.apiAuth(accessMgmt, s.listAccessKeys))
	s.mux.HandleFunc("POST /api/users/{user}/access-keys", s.apiAuth(accessMgmt, s.createAccessKey))
	s.mux.HandleFunc("DELETE /api/users/{user}/access-keys/{id}", s.apiAuth(accessMgmt, s.deleteAccessKey))
}

// mayManageKeys: administrators any user's keys, other management users
// their own. Otherwise it answers 401 as listUserLimits does (before
// looking the user up, so that the answer does not tell whether it
// exists).
func mayManageKeys(w http.ResponseWriter, r *http.Request, name string) bool {
	if u := userOf(r); u.isAdmin() || u.Name == name {
		return true
	}
	apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access object")
	return false
}

func (s *Server) listAccessKeys(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	if !mayManageKeys(w, r, name) {
		return
	}
	rec, ok := s.Users.User(name)
	if !ok {
		notFound(w)
		return
	}
	out := []accessKeyJSON{}
	for _, k := range rec.AccessKeys {
		out = append(out, accessKeyJSON{User: name, AccessKeyID: k.ID, Created: k.Created})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createAccessKey(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	if !mayManageKeys(w, r, name) {
		return
	}
	k, err := s.Users.CreateAccessKey(name, time.Now().Unix())
	if err != nil {
		switch {
		case errors.Is(err, auth.ErrNoUser):
			notFound(w)
			return
		case errors.Is(err, auth.ErrTooManyAccessKeys):
			badRequest(w, "access_key_limit_exceeded")
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("user", name).Str("access_key_id", k.ID).Str("by", userOf(r).Name).Msg("access key created through the HTTP API")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/api/users/"+url.PathEscape(name)+"/access-keys/"+url.PathEscape(k.ID))
	writeJSON(w, http.StatusCreated, newAccessKeyJSON{User: name, AccessKeyID: k.ID, SecretAccessKey: k.Secret, Created: k.Created})
}

func (s *Server) deleteAccessKey(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("user"), r.PathValue("id")
	if !mayManageKeys(w, r, name) {
		return
	}
	found, err := s.Users.DeleteAccessKey(name, id)
	if err != nil && !errors.Is(err, auth.ErrNoUser) {
		s.serverError(w, r, err)
		return
	}
	if !found {
		notFound(w)
		return
	}
	s.log.Info().Str("user", name).Str("access_key_id", id).Str("by", userOf(r).Name).Msg("access key deleted through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}
