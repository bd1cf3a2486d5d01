package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// Policies and operator policies in the management API:
// /api/policies[/VHOST[/NAME]] and /api/operator-policies[/VHOST[/NAME]]
// (rabbit_mgmt_wm_policies, _policy, _operator_policies,
// _operator_policy). Lists need a management tag and show the vhosts the
// user can see; reading, setting and clearing one policy needs
// administrator, or policymaker with access to its vhost; one operator
// policy needs administrator.

func (s *Server) registerPolicyAPI() {
	for _, op := range []bool{false, true} {
		base := "/api/policies"
		item := accessMgmt // checked per request: policymaker or administrator
		if op {
			base, item = "/api/operator-policies", accessAdmin
		}
		s.mux.HandleFunc("GET "+base, s.apiAuth(accessMgmt, s.listPolicies(op)))
		s.mux.HandleFunc("GET "+base+"/{vhost}", s.apiAuth(accessMgmt, s.listPolicies(op)))
		s.mux.HandleFunc("GET "+base+"/{vhost}/{name}", s.apiAuth(item, s.policyItem(op, s.getPolicy)))
		s.mux.HandleFunc("PUT "+base+"/{vhost}/{name}", s.apiAuth(item, s.policyItem(op, s.putPolicy)))
		s.mux.HandleFunc("DELETE "+base+"/{vhost}/{name}", s.apiAuth(item, s.policyItem(op, s.deletePolicy)))
	}
}

// policyJSON is a policy as rabbit_policy lists it.
type policyJSON struct {
	VHost      string         `json:"vhost"`
	Name       string         `json:"name"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
}

func policyOut(p broker.Policy) policyJSON {
	def := p.Definition
	if def == nil {
		def = map[string]any{}
	}
	return policyJSON{VHost: p.VHost, Name: p.Name, Pattern: p.Pattern, ApplyTo: p.ApplyTo, Definition: def, Priority: p.Priority}
}

// listPolicies lists the policies of the vhosts the user can see, or of
// one vhost (404 when it does not exist; 401 when the user may not see
// it), lowest priority first as RabbitMQ's default sort.
func (s *Server) listPolicies(op bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		visible := map[string]bool{}
		if name := r.PathValue("vhost"); name != "" {
			if _, ok := s.Broker.VHost(name); !ok {
				notFound(w)
				return
			}
			if !s.vhostVisible(u, name) {
				apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access virtual host")
				return
			}
			visible[name] = true
		} else {
			for _, v := range s.visibleVHosts(u) {
				visible[v] = true
			}
		}
		out := []policyJSON{}
		for _, p := range s.Broker.Policies(r.PathValue("vhost"), op) {
			if visible[p.VHost] {
				out = append(out, policyOut(p))
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
		writeJSON(w, http.StatusOK, out)
	}
}

// policyItem checks what one policy's endpoints ask beyond apiAuth: for
// a policy, administrator or policymaker with access to the vhost
// (rabbit_mgmt_util:is_authorized_policies).
func (s *Server) policyItem(op bool, h func(w http.ResponseWriter, r *http.Request, op bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		if !op && !u.isAdmin() {
			vhost := r.PathValue("vhost")
			_, exists := s.Broker.VHost(vhost)
			if !u.has(auth.TagPolicymaker) || (exists && s.Users.VHostAccess(u.Name, vhost) != nil) {
				s.log.Warn().Str("user", u.Name).Str("path", r.URL.Path).Msg("HTTP access denied: policies need policymaker")
				apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access object")
				return
			}
		}
		h(w, r, op)
	}
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, op bool) {
	p, ok := s.Broker.LookupPolicy(r.PathValue("vhost"), r.PathValue("name"), op)
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, policyOut(p))
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request, op bool) {
	vhost, name := r.PathValue("vhost"), r.PathValue("name")
	err := s.Broker.DeletePolicy(vhost, name, op)
	var be *broker.Error
	switch {
	case errors.As(err, &be) && be.Code == broker.CodeNotFound:
		notFound(w)
	case err != nil:
		s.serverError(w, r, err)
	default:
		s.log.Info().Str("vhost", vhost).Str("policy", name).Bool("operator", op).Str("by", userOf(r).Name).Msg("policy cleared through the HTTP API")
		w.WriteHeader(http.StatusNoContent)
	}
}

// putPolicy sets a policy from {"pattern", "definition", "priority",
// "apply-to"}: 201 when new, 204 when replaced, 400 with RabbitMQ's
// validation text (HTML tags escaped for policies, as
// rabbit_mgmt_wm_policy does; not for operator policies).
func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request, op bool) {
	vhost, name := r.PathValue("vhost"), r.PathValue("name")
	if _, ok := s.Broker.VHost(vhost); !ok {
		apiError(w, http.StatusNotFound, "not_found", "vhost_not_found")
		return
	}
	b, ok := readBody(w, r, "pattern", "definition")
	if !ok {
		return
	}
	refuse := func(line string) {
		reason := "Validation failed\n\n" + line + "\n"
		if !op {
			reason = escapeHTMLTags(reason)
		}
		badRequest(w, reason)
	}
	p, line, prioLine := policyFromBody(b)
	if line != "" {
		refuse(line)
		return
	}
	p.VHost, p.Name = vhost, name
	if prioLine != "" {
		// RabbitMQ lists every field's problem, the priority's last.
		refuse(strings.Join(append(s.Broker.PolicyProblems(p, op), prioLine), "\n"))
		return
	}
	_, existed := s.Broker.LookupPolicy(vhost, name, op)
	err := s.Broker.SetPolicy(p, op)
	var pe *broker.PolicyError
	switch {
	case errors.As(err, &pe):
		reason := pe.Reason
		if !op {
			reason = escapeHTMLTags(reason)
		}
		badRequest(w, reason)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("vhost", vhost).Str("policy", name).Bool("operator", op).Str("by", userOf(r).Name).Msg("policy set through the HTTP API")
	created(w, !existed)
}

// policyFromBody reads a PUT body. line says what is wrong with the type
// of the pattern, definition or apply-to; prioLine with the priority's
// (the broker checks the values).
func policyFromBody(b body) (p broker.Policy, line, prioLine string) {
	pat, isStr := b["pattern"].(string)
	if !isStr {
		return p, "pattern should be a binary but is " + jsonTerm(b["pattern"]), ""
	}
	p.Pattern = pat
	def, isObj := b["definition"].(map[string]any)
	if !isObj {
		return p, "definition must be a dictionary: " + jsonTerm(b["definition"]), ""
	}
	p.Definition = def
	switch v := b["apply-to"].(type) {
	case nil:
	case string:
		p.ApplyTo = v
	default:
		return p, "apply-to '" + jsonTerm(v) + "' unrecognised; should be 'queues', 'classic_queues', 'quorum_queues', 'exchanges' or 'all'", ""
	}
	switch v := b["priority"].(type) {
	case nil:
	case json.Number:
		n, err := v.Int64()
		if err != nil || n != int64(int(n)) {
			// RabbitMQ takes any number; sluice's priorities are integers.
			return p, "", "priority should be an integer, actually was " + v.String()
		}
		p.Priority = int(n)
	default:
		return p, "", "priority should be a number, actually was " + jsonTerm(v)
	}
	return p, "", ""
}

// jsonTerm shows a decoded JSON value as RabbitMQ's ~p would.
func jsonTerm(v any) string {
	switch v := v.(type) {
	case string:
		return `<<"` + v + `">>`
	case nil:
		return "null"
	case json.Number:
		return v.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// escapeHTMLTags is rabbit_mgmt_format:escape_html_tags.
func escapeHTMLTags(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
