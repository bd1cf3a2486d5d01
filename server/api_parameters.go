package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// Runtime parameters in the management API: /api/parameters[/COMPONENT
// [/VHOST[/NAME]]] (rabbit_mgmt_wm_parameters, _parameter). Sluice has the
// two components RabbitMQ has without plugins: vhost-limits (one parameter
// per vhost, named "limits": the vhost's limits, the same as
// /api/vhost-limits) and operator_policy (the operator policies, the same
// as /api/operator-policies). Any other component (shovel,
// federation-upstream: RabbitMQ's plugins) lists nothing and is refused on
// PUT with RabbitMQ's "component ... not found".
//
// Reading needs policymaker or administrator, and access to the vhost
// (is_authorized_policies); changing either component needs administrator,
// as its own endpoint does.

const (
	componentVHostLimits    = "vhost-limits"
	componentOperatorPolicy = "operator_policy"
	vhostLimitsParamName    = "limits"
)

func (s *Server) registerParameterAPI() {
	s.mux.HandleFunc("GET /api/parameters", s.apiAuth(accessMgmt, s.policymaker(s.listParameters)))
	s.mux.HandleFunc("GET /api/parameters/{component}", s.apiAuth(accessMgmt, s.policymaker(s.listParameters)))
	s.mux.HandleFunc("GET /api/parameters/{component}/{vhost}", s.apiAuth(accessMgmt, s.policymaker(s.listParameters)))
	item := func(h http.HandlerFunc) http.HandlerFunc {
		return s.apiAuth(accessMgmt, s.policyItem(false, func(w http.ResponseWriter, r *http.Request, _ bool) { h(w, r) }))
	}
	s.mux.HandleFunc("GET /api/parameters/{component}/{vhost}/{name}", item(s.getParameter))
	s.mux.HandleFunc("PUT /api/parameters/{component}/{vhost}/{name}", item(s.putParameter))
	s.mux.HandleFunc("DELETE /api/parameters/{component}/{vhost}/{name}", item(s.deleteParameter))
}

// parameterJSON is a runtime parameter as rabbit_mgmt_format formats one.
type parameterJSON struct {
	Value     any    `json:"value"`
	VHost     string `json:"vhost"`
	Component string `json:"component"`
	Name      string `json:"name"`
}

// operatorPolicyValue is an operator policy as the value of its parameter.
type operatorPolicyValue struct {
	Pattern    string         `json:"pattern"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
	ApplyTo    string         `json:"apply-to"`
}

// parametersOf lists the parameters of component (all when ""), in the
// vhosts given, by vhost, component and name.
func (s *Server) parametersOf(component string, vhosts []string) []parameterJSON {
	out := []parameterJSON{}
	limits := s.Users.VHostLimits()
	for _, v := range vhosts {
		if component == "" || component == componentOperatorPolicy {
			for _, p := range s.Broker.Policies(v, true) {
				out = append(out, operatorPolicyParam(p))
			}
		}
		if l, ok := limits[v]; ok && (component == "" || component == componentVHostLimits) {
			out = append(out, parameterJSON{Value: l, VHost: v, Component: componentVHostLimits, Name: vhostLimitsParamName})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.VHost != b.VHost {
			return a.VHost < b.VHost
		}
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		return a.Name < b.Name
	})
	return out
}

func operatorPolicyParam(p broker.Policy) parameterJSON {
	def := p.Definition
	if def == nil {
		def = map[string]any{}
	}
	return parameterJSON{Value: operatorPolicyValue{p.Pattern, def, p.Priority, p.ApplyTo},
		VHost: p.VHost, Component: componentOperatorPolicy, Name: p.Name}
}

// listParameters: every parameter, a component's, or a component's in one
// vhost (404 when the vhost does not exist), over the vhosts the user can
// see.
func (s *Server) listParameters(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	vhosts := s.visibleVHosts(u)
	if v := r.PathValue("vhost"); v != "" {
		if _, ok := s.Broker.VHost(v); !ok {
			notFound(w)
			return
		}
		vhosts = nil
		if s.vhostVisible(u, v) {
			vhosts = []string{v}
		}
	}
	writeJSON(w, http.StatusOK, s.parametersOf(r.PathValue("component"), vhosts))
}

func (s *Server) getParameter(w http.ResponseWriter, r *http.Request) {
	component, vhost, name := r.PathValue("component"), r.PathValue("vhost"), r.PathValue("name")
	switch component {
	case componentVHostLimits:
		if l, ok := s.Users.VHostLimits()[vhost]; ok && name == vhostLimitsParamName {
			writeJSON(w, http.StatusOK, parameterJSON{Value: l, VHost: vhost, Component: component, Name: name})
			return
		}
	case componentOperatorPolicy:
		if p, ok := s.Broker.LookupPolicy(vhost, name, true); ok {
			writeJSON(w, http.StatusOK, operatorPolicyParam(p))
			return
		}
	}
	notFound(w)
}

// refuseParameter answers a PUT RabbitMQ's validation refuses.
func refuseParameter(w http.ResponseWriter, line string) {
	badRequest(w, "Validation failed\n\n"+line+"\n")
}

func (s *Server) putParameter(w http.ResponseWriter, r *http.Request) {
	component, vhost, name := r.PathValue("component"), r.PathValue("vhost"), r.PathValue("name")
	if _, ok := s.Broker.VHost(vhost); !ok {
		apiError(w, http.StatusNotFound, "not_found", "vhost_not_found")
		return
	}
	if component != componentVHostLimits && component != componentOperatorPolicy {
		// Read the body first: RabbitMQ decodes it before it validates.
		if _, ok := readBody(w, r, "value"); ok {
			refuseParameter(w, "component "+component+" not found")
		}
		return
	}
	if !s.parameterWriter(w, r) {
		return
	}
	b, ok := readBody(w, r, "value")
	if !ok {
		return
	}
	value, isObj := b["value"].(map[string]any)
	if !isObj {
		refuseParameter(w, "value of "+name+" must be a dictionary: "+jsonTerm(b["value"]))
		return
	}
	if component == componentOperatorPolicy {
		if _, has := value["priority"]; !has {
			refuseParameter(w, `Key "priority" not found in `+name)
			return
		}
		// The operator policy endpoint does the rest, from the value.
		raw, err := json.Marshal(value)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(raw))
		r2.ContentLength = int64(len(raw))
		s.putPolicy(w, r2, true)
		return
	}
	if name != vhostLimitsParamName {
		refuseParameter(w, "vhost limits are one parameter named "+vhostLimitsParamName+", not "+name)
		return
	}
	limits := map[string]int64{}
	for k, v := range value {
		n, reason := limitValue(k, v, vhostLimitNames)
		if reason != "" {
			badRequest(w, reason)
			return
		}
		limits[k] = n
	}
	// The whole set replaces the vhost's limits, as RabbitMQ's parameter.
	_, existed := s.Users.VHostLimits()[vhost]
	if err := s.Users.Apply(auth.Batch{VHostLimits: map[string]map[string]int64{vhost: limits}}); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("vhost", vhost).Interface("limits", limits).Str("by", userOf(r).Name).Msg("vhost limits set through the parameters API")
	created(w, !existed)
}

func (s *Server) deleteParameter(w http.ResponseWriter, r *http.Request) {
	component, vhost, name := r.PathValue("component"), r.PathValue("vhost"), r.PathValue("name")
	switch component {
	case componentOperatorPolicy:
		if !s.parameterWriter(w, r) {
			return
		}
		s.deletePolicy(w, r, true)
		return
	case componentVHostLimits:
		if _, ok := s.Users.VHostLimits()[vhost]; !ok || name != vhostLimitsParamName {
			break
		}
		if !s.parameterWriter(w, r) {
			return
		}
		if err := s.Users.Apply(auth.Batch{VHostLimits: map[string]map[string]int64{vhost: {}}}); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.log.Info().Str("vhost", vhost).Str("by", userOf(r).Name).Msg("vhost limits cleared through the parameters API")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	notFound(w)
}

// parameterWriter lets administrators change vhost limits and operator
// policies through /api/parameters, as their own endpoints do: a
// policymaker must not lift an operator's caps.
func (s *Server) parameterWriter(w http.ResponseWriter, r *http.Request) bool {
	if u := userOf(r); !u.isAdmin() {
		s.log.Warn().Str("user", u.Name).Str("path", r.URL.Path).Msg("HTTP access denied: this parameter needs administrator")
		apiError(w, http.StatusUnauthorized, "not_authorised", "Not administrator user")
		return false
	}
	return true
}
