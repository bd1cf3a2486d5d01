package server

import (
	"encoding/json"
	"net/http"

	"github.com/sluice-mq/sluice/auth"
)

// Global runtime parameters in the management API:
// /api/global-parameters[/NAME] (rabbit_mgmt_wm_global_parameters,
// _global_parameter). Every method needs policymaker or administrator;
// cluster_name is the one /api/cluster-name and AMQP's connection.start
// report.

func (s *Server) registerGlobalParameterAPI() {
	s.mux.HandleFunc("GET /api/global-parameters", s.apiAuth(accessMgmt, s.policymaker(s.listGlobalParameters)))
	s.mux.HandleFunc("GET /api/global-parameters/{name}", s.apiAuth(accessMgmt, s.policymaker(s.getGlobalParameter)))
	s.mux.HandleFunc("PUT /api/global-parameters/{name}", s.apiAuth(accessMgmt, s.policymaker(s.putGlobalParameter)))
	s.mux.HandleFunc("DELETE /api/global-parameters/{name}", s.apiAuth(accessMgmt, s.policymaker(s.deleteGlobalParameter)))
}

// policymaker lets through administrators and policymakers only, with
// RabbitMQ's 401 for the others (is_authorized_global_parameters).
func (s *Server) policymaker(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u := userOf(r); !u.has(auth.TagAdministrator, auth.TagPolicymaker) {
			s.log.Warn().Str("user", u.Name).Str("path", r.URL.Path).Msg("HTTP access denied: global parameters need policymaker")
			apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access object")
			return
		}
		h(w, r)
	}
}

// globalParamJSON is a global parameter as RabbitMQ formats one.
type globalParamJSON struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

func (s *Server) listGlobalParameters(w http.ResponseWriter, _ *http.Request) {
	out := []globalParamJSON{}
	for _, p := range s.Broker.GlobalParameters() {
		out = append(out, globalParamJSON{p.Name, p.Value})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getGlobalParameter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := s.Broker.GlobalParameter(name)
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, globalParamJSON{name, v})
}

func (s *Server) putGlobalParameter(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, "value")
	if !ok {
		return
	}
	value, err := json.Marshal(b["value"])
	if err != nil {
		badRequest(w, "value: "+err.Error())
		return
	}
	name := r.PathValue("name")
	isNew, err := s.Broker.SetGlobalParameter(name, value)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("parameter", name).Str("by", userOf(r).Name).Msg("global parameter set through the HTTP API")
	created(w, isNew)
}

func (s *Server) deleteGlobalParameter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	had, err := s.Broker.ClearGlobalParameter(name)
	switch {
	case err != nil:
		s.serverError(w, r, err)
	case !had:
		notFound(w)
	default:
		s.log.Info().Str("parameter", name).Str("by", userOf(r).Name).Msg("global parameter cleared through the HTTP API")
		w.WriteHeader(http.StatusNoContent)
	}
}
