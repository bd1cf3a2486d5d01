package broker

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sluice-mq/sluice/broker/message"
)

// Exchange types built into the core.
const (
	ExchangeDirect  = "direct"
	ExchangeFanout  = "fanout"
	ExchangeTopic   = "topic"
	ExchangeHeaders = "headers"
)

// ExchangeDecl is an exchange.declare: what the client asked for.
type ExchangeDecl struct {
	Name       string
	Type       string
	Passive    bool
	Durable    bool
	AutoDelete bool
	Internal   bool
	Args       message.Table
}

// Exchange routes published messages to queues and other exchanges through
// its bindings. Its declared fields never change after creation.
type Exchange struct {
	vh         *VHost
	name       string
	kind       string
	durable    bool
	autoDelete bool
	internal   bool
	args       message.Table
	// argAlternate is the alternate-exchange argument ("" for none).
	argAlternate string

	// mu guards the binding table and the router built from it, and the
	// alternate exchange in force with the policies behind it (a policy's
	// alternate-exchange applies when the argument is absent; see
	// policy_apply.go). Publishers hold it for reading while they route.
	mu               sync.RWMutex
	alternate        string
	policy, opPolicy *compiledPolicy
	bindings         map[bindingKey]*binding
	router           router
	deleted          bool

	// Plugin exchange types (exchange_plugins.go).
	delayed *delayedHolder
	dedupMu sync.Mutex
	dedup   *dedupCache

	counts exchangeCounts // message counters (counters.go)
}

// Name is the exchange's name ("" for the default exchange).
func (x *Exchange) Name() string { return x.name }

// Type is the exchange type.
func (x *Exchange) Type() string { return x.kind }

// Durable reports whether the exchange survives a restart.
func (x *Exchange) Durable() bool { return x.durable }

// binding is one edge from an exchange to a queue or an exchange.
type binding struct {
	source *Exchange
	queue  *Queue    // exactly one of queue and exch is set
	exch   *Exchange // exchange-to-exchange binding
	key    string
	args   message.Table
	// For headers exchanges: the parsed x-match rule.
	match headersMatch
}

// bindingKey identifies a binding the way RabbitMQ does: source,
// destination, routing key and arguments.
type bindingKey struct {
	dest   string
	destEx bool
	key    string
	args   string
}

func keyOf(dest string, destEx bool, key string, args message.Table) bindingKey {
	return bindingKey{dest: dest, destEx: destEx, key: key, args: canonicalArgs(args)}
}

// canonicalArgs renders a table in key order so equal tables compare equal.
func canonicalArgs(t message.Table) string {
	if len(t) == 0 {
		return ""
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(valueString(t[k]))
		sb.WriteByte(';')
	}
	return sb.String()
}

// router is the per-type index of an exchange's bindings.
type router interface {
	add(b *binding)
	remove(b *binding)
	// route calls fn for each binding matching the routing key and headers;
	// a binding may be reported more than once.
	route(key string, headers message.Table, rs *routeState)
}

func newRouter(kind string, args message.Table) router {
	switch kind {
	case ExchangeDirect:
		return &directRouter{byKey: map[string][]*binding{}}
	case ExchangeFanout:
		return &fanoutRouter{}
	case ExchangeTopic:
		return newTopicRouter()
	case ExchangeHeaders:
		return &headersRouter{}
	case ExchangeLocalRandom:
		return &localRandomRouter{}
	case ExchangeConsistentHash:
		return newHashRouter(args)
	}
	return nil
}

// knownExchangeType reports whether the core can route for kind.
func knownExchangeType(kind string) bool {
	return newRouter(kind, nil) != nil || kind == ExchangeDelayed || kind == ExchangeDedup
}

type directRouter struct{ byKey map[string][]*binding }

func (r *directRouter) add(b *binding) { r.byKey[b.key] = append(r.byKey[b.key], b) }
func (r *directRouter) remove(b *binding) {
	l := removeBinding(r.byKey[b.key], b)
	if len(l) == 0 {
		delete(r.byKey, b.key)
	} else {
		r.byKey[b.key] = l
	}
}
func (r *directRouter) route(key string, _ message.Table, rs *routeState) {
	for _, b := range r.byKey[key] {
		rs.add(b)
	}
}

type fanoutRouter struct{ all []*binding }

func (r *fanoutRouter) add(b *binding)    { r.all = append(r.all, b) }
func (r *fanoutRouter) remove(b *binding) { r.all = removeBinding(r.all, b) }
func (r *fanoutRouter) route(_ string, _ message.Table, rs *routeState) {
	for _, b := range r.all {
		rs.add(b)
	}
}

func removeBinding(l []*binding, b *binding) []*binding {
	if i := slices.Index(l, b); i >= 0 {
		return slices.Delete(l, i, i+1)
	}
	return l
}
