package broker

import (
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"
)

// Global runtime parameters: broker-wide name/value pairs, durable with
// the topology, as RabbitMQ's (rabbitmqctl set_global_parameter, the
// management API's /api/global-parameters). The broker reads one of them,
// cluster_name; the others are kept and given back, so that definitions
// taken from RabbitMQ round-trip.

// ClusterNameParameter is the global parameter that names the cluster.
const ClusterNameParameter = "cluster_name"

// GlobalParameter is one global runtime parameter; Value is its JSON.
type GlobalParameter struct {
	Name  string
	Value []byte
}

// globalParams holds the broker's global parameters.
type globalParams struct {
	mu     sync.Mutex
	values map[string][]byte
	// clusterName is cluster_name's string, nil when it is not set or not
	// a string: read on every AMQP handshake, so kept decoded.
	clusterName atomic.Pointer[string]
}

// noteLocked keeps the decoded cluster name in step with values[name].
// g.mu held.
func (g *globalParams) noteLocked(name string) {
	if name != ClusterNameParameter {
		return
	}
	var cn string
	if v, ok := g.values[name]; ok && json.Unmarshal(v, &cn) == nil {
		g.clusterName.Store(&cn)
		return
	}
	g.clusterName.Store(nil)
}

// GlobalParameters lists the global parameters, by name.
func (b *Broker) GlobalParameters() []GlobalParameter {
	b.globals.mu.Lock()
	out := make([]GlobalParameter, 0, len(b.globals.values))
	for name, v := range b.globals.values {
		out = append(out, GlobalParameter{Name: name, Value: v})
	}
	b.globals.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// GlobalParameter returns one global parameter's JSON value.
func (b *Broker) GlobalParameter(name string) ([]byte, bool) {
	b.globals.mu.Lock()
	defer b.globals.mu.Unlock()
	v, ok := b.globals.values[name]
	return v, ok
}

// SetGlobalParameter sets a global parameter to value, which must be JSON,
// and stores it; created reports that there was none of that name.
func (b *Broker) SetGlobalParameter(name string, value []byte) (created bool, err error) {
	if name == "" {
		return false, errorf(CodePreconditionFailed, "a global parameter needs a name")
	}
	if !json.Valid(value) {
		return false, errorf(CodePreconditionFailed, "the value of global parameter %q is not JSON", name)
	}
	b.globals.mu.Lock()
	if b.globals.values == nil {
		b.globals.values = map[string][]byte{}
	}
	_, had := b.globals.values[name]
	b.globals.values[name] = append([]byte(nil), value...)
	b.globals.noteLocked(name)
	b.globals.mu.Unlock()
	return !had, b.saveDefinitions()
}

// ClearGlobalParameter removes a global parameter; false when there was
// none.
func (b *Broker) ClearGlobalParameter(name string) (bool, error) {
	b.globals.mu.Lock()
	_, had := b.globals.values[name]
	delete(b.globals.values, name)
	b.globals.noteLocked(name)
	b.globals.mu.Unlock()
	if !had {
		return false, nil
	}
	return true, b.saveDefinitions()
}

// ClusterName is the cluster_name global parameter; ok is false when it
// is not set (or not a string): then each protocol reports its default.
func (b *Broker) ClusterName() (name string, ok bool) {
	if p := b.globals.clusterName.Load(); p != nil {
		return *p, true
	}
	return "", false
}

// restoreGlobals sets the global parameters read back from storage.
func (b *Broker) restoreGlobals(ps []GlobalParameter) {
	b.globals.mu.Lock()
	defer b.globals.mu.Unlock()
	for _, p := range ps {
		if b.globals.values == nil {
			b.globals.values = map[string][]byte{}
		}
		b.globals.values[p.Name] = p.Value
		b.globals.noteLocked(p.Name)
	}
}
