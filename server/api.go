package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/sluice-mq/sluice/auth"
)

// The management API's common parts, with RabbitMQ's management plugin's
// behaviour (rabbit_web_dispatch_access_control, rabbit_mgmt_util): basic
// auth with broker users, who need a management tag; RabbitMQ's error
// bodies ({"error": ..., "reason": ...}) and status codes; bounded JSON
// bodies. Every handler of the API (users, vhosts, permissions, limits,
// and the rest of the management API later) goes through apiAuth.

// maxAPIBody bounds a management API request body (RabbitMQ's
// max_http_body_size is 10 MiB, for definitions; these objects are small).
const maxAPIBody = 1 << 20

// access is what an endpoint asks of the user, as RabbitMQ's is_authorized
// variants.
type access int

const (
	// accessMgmt: any user with a management tag (is_authorized).
	accessMgmt access = iota
	// accessAdmin: administrators only (is_authorized_admin).
	accessAdmin
)

type apiUserKey struct{}

// apiUser is the authenticated user of a request.
type apiUser struct {
	Name string
	Tags []string
}

func (u apiUser) has(tags ...string) bool {
	for _, t := range tags {
		if slices.Contains(u.Tags, t) {
			return true
		}
	}
	return false
}

func (u apiUser) isAdmin() bool { return u.has(auth.TagAdministrator) }

// isMonitor: sees every vhost (RabbitMQ's is_monitor).
func (u apiUser) isMonitor() bool { return u.has(auth.TagAdministrator, auth.TagMonitoring) }

func userOf(r *http.Request) apiUser {
	u, _ := r.Context().Value(apiUserKey{}).(apiUser)
	return u
}

// apiAuth authenticates a request with HTTP basic auth against the broker's
// users (the loopback rule included) and checks the user's tags: without a
// management tag, or without administrator where the endpoint needs it, the
// answer is RabbitMQ's 401.
func (s *Server) apiAuth(need access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, pass, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="RabbitMQ Management"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var remote net.Addr
		if ap, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
			remote = ap
		}
		u, err := s.Users.Authenticate(name, pass, remote)
		s.Users.RecordAttempt(auth.ProtocolHTTP, err == nil)
		if err != nil {
			s.log.Warn().Str("user", name).Str("peer", r.RemoteAddr).Str("path", r.URL.Path).Msg("HTTP access denied: login failed")
			w.Header().Set("WWW-Authenticate", `Basic realm="RabbitMQ Management"`)
			apiError(w, http.StatusUnauthorized, "not_authorized", "Login failed")
			return
		}
		au := apiUser{Name: u.Name, Tags: u.Tags}
		reason := ""
		switch {
		case !au.has(auth.TagAdministrator, auth.TagMonitoring, auth.TagPolicymaker, auth.TagManagement):
			reason = "Not management user"
		case need == accessAdmin && !au.isAdmin():
			reason = "Not administrator user"
		}
		if reason != "" {
			s.log.Warn().Str("user", name).Str("peer", r.RemoteAddr).Str("path", r.URL.Path).Str("reason", reason).Msg("HTTP access denied")
			apiError(w, http.StatusUnauthorized, "not_authorised", reason)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), apiUserKey{}, au))
		restoreSlashes(r)
		h(w, r)
	}
}

// A name that is just "/" — vhost "/", the most common of all — travels
// as "%2F", a path segment Go's ServeMux cannot match (it takes a segment
// that unescapes to "/" for the end of the path). apiSlashes, the
// fallback for /api/ paths nothing else matched, gives such segments
// another spelling (slashSentinel) and routes the request again;
// restoreSlashes turns the path values back into "/".
const slashSentinel = "/\x00"

func (s *Server) apiSlashes(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(r.URL.EscapedPath(), "/")
	changed := false
	for i, seg := range segs {
		if strings.EqualFold(seg, "%2F") {
			segs[i] = "%2F%00"
			changed = true
		}
	}
	if !changed {
		s.apiNoRoute(w, r)
		return
	}
	raw := strings.Join(segs, "/")
	path, err := url.PathUnescape(raw)
	if err != nil {
		notFound(w)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = path, raw
	s.mux.ServeHTTP(w, r2)
}

// apiNoRoute answers a request no API route took: 405 with Allow when the
// path has routes for other methods, else RabbitMQ's 404 (the "/api/"
// fallback would otherwise hide the 405s ServeMux gives).
func (s *Server) apiNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "PUT", "POST", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := s.mux.Handler(probe); pat != "" && pat != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		notFound(w)
		return
	}
	if slices.Contains(allow, "GET") {
		allow = append(allow, "HEAD")
	}
	w.Header().Set("Allow", strings.Join(append(allow, "OPTIONS"), ", "))
	w.WriteHeader(http.StatusMethodNotAllowed)
}

// restoreSlashes undoes apiSlashes in the request's path values.
func restoreSlashes(r *http.Request) {
	pat := r.Pattern
	for {
		i := strings.IndexByte(pat, '{')
		if i < 0 {
			return
		}
		j := strings.IndexByte(pat[i:], '}')
		if j < 0 {
			return
		}
		name := strings.TrimSuffix(pat[i+1:i+j], "...")
		if r.PathValue(name) == slashSentinel {
			r.SetPathValue(name, "/")
		}
		pat = pat[i+j:]
	}
}

// apiError writes RabbitMQ's error body.
func apiError(w http.ResponseWriter, status int, kind string, reason any) {
	writeJSON(w, status, map[string]any{"error": kind, "reason": reason})
}

// notFound is RabbitMQ's answer for a missing object.
func notFound(w http.ResponseWriter) {
	apiError(w, http.StatusNotFound, "Object Not Found", "Not Found")
}

func badRequest(w http.ResponseWriter, reason any) {
	apiError(w, http.StatusBadRequest, "bad_request", reason)
}

// created answers a PUT: 201 for a new object, 204 for an update.
func created(w http.ResponseWriter, isNew bool) {
	if isNew {
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serverError answers a change that could not be made (a failed save).
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("management API request failed")
	apiError(w, http.StatusInternalServerError, "internal_server_error", err.Error())
}

// body is a decoded JSON request body: an object, as RabbitMQ's
// rabbit_mgmt_util:decode requires.
type body map[string]any

// readBody reads and decodes a request body of at most maxAPIBody bytes.
// An empty body, "null" and "undefined" are an empty object, as in
// RabbitMQ; the keys named in required must be present (and not null).
// On failure the 400 has been written and ok is false.
func readBody(w http.ResponseWriter, r *http.Request, required ...string) (b body, ok bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			badRequest(w, "Exceeded HTTP request body size limit")
		} else {
			badRequest(w, "cannot read the request body: "+err.Error())
		}
		return nil, false
	}
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "", "null", "undefined":
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		badRequest(w, "not_json")
		return nil, false
	}
	switch v := v.(type) {
	case map[string]any:
		b = v
	case string:
		badRequest(w, "invalid payload: the request body JSON-decoded to a string. Is the input doubly-JSON-encoded?")
		return nil, false
	default:
		badRequest(w, "not_json")
		return nil, false
	}
	var missing []string
	for _, k := range required {
		if b[k] == nil {
			missing = append(missing, "{key_missing,"+k+"}")
		}
	}
	if len(missing) > 0 {
		badRequest(w, "["+strings.Join(missing, ",")+"]")
		return nil, false
	}
	return b, true
}

// str returns key as a string: a JSON string as it is, a number or boolean
// as text (RabbitMQ coerces them), absent or null as "".
func (b body) str(key string) (string, error) {
	switch v := b[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("%s must be a string", key)
}

// tags returns a list of tags given as a comma-separated string or as a
// list of strings, trimmed, blanks dropped (rabbit_auth_backend_internal's
// tag_list_from, rabbit_vhost:parse_tags).
func (b body) tags(key string) ([]string, error) {
	var parts []string
	switch v := b[key].(type) {
	case nil:
	case string:
		parts = strings.Split(v, ",")
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be a string or a list of strings", key)
			}
			parts = append(parts, s)
		}
	default:
		return nil, fmt.Errorf("%s must be a string or a list of strings", key)
	}
	out := []string{}
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// nodeName is what RabbitMQ calls the node (rabbit@host); cluster_state
// and the rest of the management API name it.
func nodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	return "sluice@" + host
}

// httpHandler is the HTTP listeners' handler: the mux, behind one rule of
// RabbitMQ's router (cowboy) — an API path with a trailing slash is the
// path without it (GET /api/connections/ lists the connections;
// amqp091-go's recovery tests ask exactly that). The slash is judged on
// the escaped path, so a name that ends in an escaped "/" keeps it.
func (s *Server) httpHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		esc := r.URL.EscapedPath()
		if len(esc) > len("/api/") && strings.HasPrefix(esc, "/api/") && strings.HasSuffix(esc, "/") {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path = strings.TrimSuffix(u.Path, "/")
			if u.RawPath != "" {
				u.RawPath = strings.TrimSuffix(u.RawPath, "/")
			}
			r2.URL = &u
			r = r2
		}
		s.mux.ServeHTTP(w, r)
	})
}
