package definitions

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// RabbitVersion is the RabbitMQ version whose management API sluice
// follows, written as rabbit_version and rabbitmq_version: RabbitMQ's
// import reads the version only to guess the hashing of passwords given
// without an algorithm (every user here names its algorithm).
const RabbitVersion = "3.10.8"

// The exported shapes, in RabbitMQ's field order.

// Full is GET /api/definitions.
type Full struct {
	RabbitVersion    string           `json:"rabbit_version"`
	RabbitMQVersion  string           `json:"rabbitmq_version"`
	ProductName      string           `json:"product_name"`
	ProductVersion   string           `json:"product_version"`
	Users            []UserOut        `json:"users"`
	VHosts           []VHostOut       `json:"vhosts"`
	Permissions      []PermissionOut  `json:"permissions"`
	TopicPermissions []TopicPermOut   `json:"topic_permissions"`
	Parameters       []ParameterOut   `json:"parameters"`
	GlobalParameters []GlobalParamOut `json:"global_parameters"`
	Policies         []PolicyOut      `json:"policies"`
	Queues           []QueueOut       `json:"queues"`
	Exchanges        []ExchangeOut    `json:"exchanges"`
	Bindings         []BindingOut     `json:"bindings"`
}

// VHostOnly is GET /api/definitions/VHOST: objects without their vhost
// field, and no users, vhosts or permissions, as RabbitMQ.
type VHostOnly struct {
	RabbitVersion string         `json:"rabbit_version"`
	Parameters    []ParameterOut `json:"parameters"`
	Policies      []PolicyOut    `json:"policies"`
	Queues        []QueueOut     `json:"queues"`
	Exchanges     []ExchangeOut  `json:"exchanges"`
	Bindings      []BindingOut   `json:"bindings"`
}

type UserOut struct {
	Name             string           `json:"name"`
	PasswordHash     string           `json:"password_hash"`
	HashingAlgorithm string           `json:"hashing_algorithm"`
	Tags             []string         `json:"tags"`
	Limits           map[string]int64 `json:"limits"`
}

// VHostOut is 4.x's shape (name, limits, metadata), which 3.x imports
// too: its add_vhost reads description and tags from the metadata.
type VHostOut struct {
	Name     string           `json:"name"`
	Limits   map[string]int64 `json:"limits"`
	Metadata VHostMetaOut     `json:"metadata"`
}

type VHostMetaOut struct {
	Description      string   `json:"description"`
	Tags             []string `json:"tags"`
	DefaultQueueType string   `json:"default_queue_type,omitempty"`
}

type PermissionOut struct {
	User      string `json:"user"`
	VHost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

type TopicPermOut struct {
	User     string `json:"user"`
	VHost    string `json:"vhost"`
	Exchange string `json:"exchange"`
	Write    string `json:"write"`
	Read     string `json:"read"`
}

type ParameterOut struct {
	Value     any    `json:"value"`
	VHost     string `json:"vhost,omitempty"`
	Component string `json:"component"`
	Name      string `json:"name"`
}

type GlobalParamOut struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

type PolicyOut struct {
	VHost      string         `json:"vhost,omitempty"`
	Name       string         `json:"name"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
}

// policyValue is an operator policy's parameter value.
type policyValue struct {
	Pattern    string         `json:"pattern"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
	ApplyTo    string         `json:"apply-to"`
}

type QueueOut struct {
	Name       string         `json:"name"`
	VHost      string         `json:"vhost,omitempty"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Arguments  map[string]any `json:"arguments"`
}

type ExchangeOut struct {
	Name       string         `json:"name"`
	VHost      string         `json:"vhost,omitempty"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

type BindingOut struct {
	Source          string         `json:"source"`
	VHost           string         `json:"vhost,omitempty"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"`
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
}

// Exporter reads a broker and its user database.
type Exporter struct {
	Broker *broker.Broker
	Users  *auth.Registry
	// Policies as for Importer (nil: none to export).
	Policies func(b *broker.Broker) PolicyStore
	// ProductVersion is sluice's version.
	ProductVersion string
}

// Export writes the whole broker.
func (e *Exporter) Export() Full {
	f := Full{RabbitVersion: RabbitVersion, RabbitMQVersion: RabbitVersion, ProductName: "Sluice",
		ProductVersion: e.ProductVersion, Users: []UserOut{}, VHosts: []VHostOut{}, Permissions: []PermissionOut{},
		TopicPermissions: []TopicPermOut{}, GlobalParameters: []GlobalParamOut{}}
	for _, g := range e.Broker.GlobalParameters() {
		f.GlobalParameters = append(f.GlobalParameters, GlobalParamOut{Name: g.Name, Value: json.RawMessage(g.Value)})
	}
	for _, u := range e.Users.Users() {
		l := u.Limits
		if l == nil {
			l = map[string]int64{}
		}
		alg := u.HashingAlgorithm
		if alg == "" {
			alg = auth.HashSHA256
		}
		f.Users = append(f.Users, UserOut{Name: u.Name, PasswordHash: u.PasswordHash, HashingAlgorithm: alg, Tags: u.Tags, Limits: l})
	}
	limits := e.Users.VHostLimits()
	for _, name := range e.Broker.VHosts() {
		v, ok := e.Broker.VHost(name)
		if !ok {
			continue
		}
		m := v.Meta()
		if m.Tags == nil {
			m.Tags = []string{}
		}
		l := limits[name]
		if l == nil {
			l = map[string]int64{}
		}
		f.VHosts = append(f.VHosts, VHostOut{Name: name, Limits: l,
			Metadata: VHostMetaOut{Description: m.Description, Tags: m.Tags, DefaultQueueType: m.DefaultQueueType}})
	}
	for _, p := range e.Users.Permissions() {
		f.Permissions = append(f.Permissions, PermissionOut(p))
	}
	for _, p := range e.Users.TopicPermissions() {
		f.TopicPermissions = append(f.TopicPermissions, TopicPermOut(p))
	}
	sort.Slice(f.Permissions, func(i, j int) bool {
		return f.Permissions[i].VHost+"\x00"+f.Permissions[i].User < f.Permissions[j].VHost+"\x00"+f.Permissions[j].User
	})
	f.Parameters, f.Policies, f.Queues, f.Exchanges, f.Bindings = e.topology("", true)
	return f
}

// ExportVHost writes one vhost; ok is false when it does not exist.
func (e *Exporter) ExportVHost(vhost string) (VHostOnly, bool) {
	if _, ok := e.Broker.VHost(vhost); !ok {
		return VHostOnly{}, false
	}
	out := VHostOnly{RabbitVersion: RabbitVersion}
	out.Parameters, out.Policies, out.Queues, out.Exchanges, out.Bindings = e.topology(vhost, false)
	return out, true
}

// topology gathers parameters, policies, queues, exchanges and bindings
// of one vhost (all when vhost is ""), naming the vhost of each when
// withVHost.
func (e *Exporter) topology(vhost string, withVHost bool) ([]ParameterOut, []PolicyOut, []QueueOut, []ExchangeOut, []BindingOut) {
	in := func(v string) bool { return vhost == "" || v == vhost }
	tag := func(v string) string {
		if withVHost {
			return v
		}
		return ""
	}
	params, pols := []ParameterOut{}, []PolicyOut{}
	qs, xs, bs := []QueueOut{}, []ExchangeOut{}, []BindingOut{}
	limits := e.Users.VHostLimits()
	vhosts := e.Broker.VHosts()
	for _, v := range vhosts {
		if l := limits[v]; in(v) && len(l) > 0 {
			params = append(params, ParameterOut{Value: l, VHost: tag(v), Component: "vhost-limits", Name: "limits"})
		}
	}
	if e.Policies != nil {
		store := e.Policies(e.Broker)
		for _, v := range vhosts {
			if !in(v) {
				continue
			}
			for _, p := range store.Policies(v, true) {
				params = append(params, ParameterOut{Value: policyValue{Pattern: p.Pattern, Definition: p.Definition,
					Priority: p.Priority, ApplyTo: p.ApplyTo}, VHost: tag(v), Component: "operator_policy", Name: p.Name})
			}
			for _, p := range store.Policies(v, false) {
				pols = append(pols, PolicyOut{VHost: tag(v), Name: p.Name, Pattern: p.Pattern, ApplyTo: p.ApplyTo,
					Definition: p.Definition, Priority: p.Priority})
			}
		}
	}
	for _, name := range vhosts {
		v, ok := e.Broker.VHost(name)
		if !in(name) || !ok {
			continue
		}
		q, x, b := vhostTopology(v, tag(name))
		qs, xs, bs = append(qs, q...), append(xs, x...), append(bs, b...)
	}
	sort.SliceStable(bs, func(i, j int) bool {
		a, b := bs[i], bs[j]
		if a.VHost != b.VHost {
			return a.VHost < b.VHost
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Destination != b.Destination {
			return a.Destination < b.Destination
		}
		if a.DestinationType != b.DestinationType {
			return a.DestinationType < b.DestinationType
		}
		if a.RoutingKey != b.RoutingKey {
			return a.RoutingKey < b.RoutingKey
		}
		// Bindings that differ only in their arguments (a headers
		// exchange's): the arguments as JSON, whose keys are sorted.
		x, _ := json.Marshal(a.Arguments)
		y, _ := json.Marshal(b.Arguments)
		return string(x) < string(y)
	})
	return params, pols, qs, xs, bs
}

// vhostTopology is a vhost's exchanges, queues and bindings as RabbitMQ
// exports them: transient ones too, but no exclusive queue (it belongs to
// a connection) nor a binding to one, no predeclared exchange (the
// default, amq.*) and none of the default exchange's implicit bindings.
func vhostTopology(v *broker.VHost, vhost string) ([]QueueOut, []ExchangeOut, []BindingOut) {
	qs, xs, bs := []QueueOut{}, []ExchangeOut{}, []BindingOut{}
	exclusive := map[string]bool{}
	for _, q := range v.Queues() {
		d := q.Details()
		if d.Exclusive {
			exclusive[d.Name] = true
			continue
		}
		qs = append(qs, QueueOut{Name: d.Name, VHost: vhost, Durable: d.Durable, AutoDelete: d.AutoDelete, Arguments: TableToJSON(d.Args)})
	}
	for _, x := range v.Exchanges() {
		i := x.Info()
		if i.Name == "" || strings.HasPrefix(i.Name, "amq.") {
			continue
		}
		xs = append(xs, ExchangeOut{Name: i.Name, VHost: vhost, Type: i.Type, Durable: i.Durable, AutoDelete: i.AutoDelete,
			Internal: i.Internal, Arguments: TableToJSON(i.Args)})
	}
	for _, b := range v.Bindings() {
		if b.Source == "" || (!b.DestIsExchange && exclusive[b.Destination]) {
			continue
		}
		dt := "queue"
		if b.DestIsExchange {
			dt = "exchange"
		}
		bs = append(bs, BindingOut{Source: b.Source, VHost: vhost, Destination: b.Destination, DestinationType: dt,
			RoutingKey: b.Key, Arguments: TableToJSON(b.Args)})
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].Name < qs[j].Name })
	sort.Slice(xs, func(i, j int) bool { return xs[i].Name < xs[j].Name })
	return qs, xs, bs
}
