package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/pprof"
)

// The HTTP listeners' routes: RabbitMQ's management API (one file per
// part: api_queues.go, api_exchanges.go, api_bindings.go,
// api_connections.go, api_channels.go, api_overview.go, api_health.go,
// api_users.go, api_vhosts.go, api_permissions.go, api_limits.go,
// api_policies.go, api_definitions.go; common parts in api.go and
// api_list.go), sluice's access keys, /metrics (metrics.go) and the web UI
// at / (ui.go). The API keeps RabbitMQ's paths and shapes so that tools
// written for its management plugin work unchanged.

func (s *Server) registerAPI() {
	s.registerConnectionAPI()
	s.registerQueueAPI()
	s.registerUserAPI()
	s.registerVHostAPI()
	s.registerPermissionAPI()
	s.registerLimitAPI()
	s.registerAccessKeyAPI()
	s.registerExchangeAPI()
	s.registerBindingAPI()
	s.registerChannelAPI()
	s.registerOverviewAPI()
	s.registerHealthAPI()
	s.registerAuthAttemptsAPI()
	s.registerPolicyAPI()
	s.registerGlobalParameterAPI()
	s.registerParameterAPI()
	s.registerDefinitionsAPI()
	s.registerMetrics()
	s.registerUI()
	s.mux.HandleFunc("/api/", s.apiSlashes)
	if s.cfg.Pprof {
		// Profiles for whoever can authenticate: CPU, heap, goroutines.
		s.mux.HandleFunc("GET /debug/pprof/", s.authed(pprof.Index))
		s.mux.HandleFunc("GET /debug/pprof/profile", s.authed(pprof.Profile))
		s.mux.HandleFunc("GET /debug/pprof/trace", s.authed(pprof.Trace))
	}
}

// authed requires HTTP basic credentials of a broker user with a
// management tag (api.go).
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc { return s.apiAuth(accessMgmt, h) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// marshalJSON is json.Marshal without its HTML escaping: RabbitMQ's API
// writes <, > and & as they are ("127.0.0.1:5 -> 127.0.0.1:6", not
// "-\u003e"), and scripts that grep its answers rely on it.
// ordered is a JSON object whose keys keep their order, for answers that
// RabbitMQ writes in an order of its own (a map's would be sorted).
type ordered []field

type field struct {
	key string
	val any
}

// MarshalJSON writes the fields in order.
func (o ordered) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := marshalJSON(f.key)
		if err != nil {
			return nil, err
		}
		v, err := marshalJSON(f.val)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
