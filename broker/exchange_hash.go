package broker

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-mq/sluice/broker/message"
)

// Exchange types that pick one destination per message: RabbitMQ 4's
// built-in x-local-random and the x-consistent-hash of the
// rabbitmq_consistent_hash_exchange plugin that ships with RabbitMQ.
const (
	// ExchangeLocalRandom routes each message to one of its bound queues,
	// chosen at random. Bindings must have an empty key and a classic
	// queue as destination.
	ExchangeLocalRandom = "x-local-random"
	// ExchangeConsistentHash routes each message to one destination chosen
	// by a hash of its routing key (or of the header named by the
	// hash-header argument, or of the message_id, correlation_id or
	// timestamp property named by hash-property). A binding's key is its
	// weight: how many of the hash ring's buckets the destination owns.
	ExchangeConsistentHash = "x-consistent-hash"
)

// maxHashWeight is the largest binding key (weight) a consistent-hash
// exchange takes, as the plugin's MAX_BINDING_WEIGHT: it bounds the ring
// a client can build with one binding.
const maxHashWeight = 10_000

// hashProperties are the message properties hash-property may name.
var hashProperties = []string{"correlation_id", "message_id", "timestamp"}

// checkHashArgs validates a consistent-hash exchange's arguments with the
// plugin's texts (406 on exchange.declare).
func checkHashArgs(args message.Table) error {
	header, hasHeader := args["hash-header"]
	prop, hasProp := args["hash-property"]
	if hasHeader {
		if _, ok := message.String(header); !ok {
			return errorf(CodePreconditionFailed, "hash-header must be a string, not %s", message.TypeName(header))
		}
	}
	if hasProp {
		p, ok := message.String(prop)
		if !ok {
			return errorf(CodePreconditionFailed, "hash-property must be a string, not %s", message.TypeName(prop))
		}
		if !hasHeader && !slices.Contains(hashProperties, p) {
			return errorf(CodePreconditionFailed, "Unsupported property: %s", p)
		}
	}
	if hasHeader && hasProp {
		return errorf(CodePreconditionFailed, "hash-header and hash-property are mutually exclusive")
	}
	return nil
}

// routesOnce marks the routers that choose one destination per message:
// the route follows the publish's own routing key only, never each CC or
// BCC key (as RabbitMQ hashes only the first routing key, and the random
// pick ignores keys).
type routesOnce interface{ routeOnce() }

// orderedRouter is implemented by routers whose choices depend on the
// order the bindings came in: the saved topology lists their bindings in
// that order, so that a restart rebuilds the same router.
type orderedRouter interface{ inOrder() []*binding }

// bindingsInOrder lists x's bindings: in the router's order where it has
// one, else in no particular order. x.mu held.
func (x *Exchange) bindingsInOrder() []*binding {
	if o, ok := x.router.(orderedRouter); ok {
		if l := o.inOrder(); len(l) == len(x.bindings) {
			return l
		}
	}
	l := make([]*binding, 0, len(x.bindings))
	for _, b := range x.bindings {
		l = append(l, b)
	}
	return l
}

// bindingChecker is implemented by routers that refuse some bindings;
// check runs before the binding is added, under the vhost lock.
type bindingChecker interface{ check(b *binding) error }

// localRandomRouter picks one bound queue at random per message.
type localRandomRouter struct{ all []*binding }

func (r *localRandomRouter) routeOnce()        {}
func (r *localRandomRouter) add(b *binding)    { r.all = append(r.all, b) }
func (r *localRandomRouter) remove(b *binding) { r.all = removeBinding(r.all, b) }
func (r *localRandomRouter) route(_ string, _ message.Table, rs *routeState) {
	switch len(r.all) {
	case 0:
	case 1:
		rs.add(r.all[0])
	default:
		rs.add(r.all[rand.IntN(len(r.all))])
	}
}

// check refuses what RabbitMQ's local random exchange refuses: a key, a
// destination that is not a queue, a queue that is not classic.
func (r *localRandomRouter) check(b *binding) error {
	if b.key != "" {
		return errorf(CodePreconditionFailed, "Non empty binding '%s' key not permitted", b.key)
	}
	if b.queue == nil {
		return errorf(CodePreconditionFailed, "Destination not found")
	}
	if b.queue.config().quorum {
		return errorf(CodePreconditionFailed, "Queue type rabbit_quorum_queue not valid for this exchange type")
	}
	return nil
}

// hashRouter is the consistent-hash ring: the destinations in the order
// their bindings came, each owning weight consecutive buckets. A message's
// hash picks a bucket with jump consistent hashing, so adding a destination
// moves only the messages that now belong to it. Removing one moves its
// own messages and keeps those of the destinations before it; the buckets
// after it shift down, as in the plugin, so later destinations' messages
// may move too.
type hashRouter struct {
	header   string // hash-header ("" for none)
	property string // hash-property ("" for none)
	ring     []ringEntry
	buckets  int
	// others are the bindings to a destination already on the ring (the
	// same queue bound again under another weight): as in the plugin they
	// add no buckets, but one takes over when the owner is unbound.
	others []*binding
}

type ringEntry struct {
	b      *binding
	weight int
	end    int // one past the entry's last bucket
}

func newHashRouter(args message.Table) *hashRouter {
	r := &hashRouter{}
	if h, ok := message.String(args["hash-header"]); ok {
		r.header = h
	} else if p, ok := message.String(args["hash-property"]); ok {
		r.property = p
	}
	return r
}

func (r *hashRouter) routeOnce() {}

// inOrder is the ring's bindings in bucket order, then the ones waiting to
// take over a destination.
func (r *hashRouter) inOrder() []*binding {
	l := make([]*binding, 0, len(r.ring)+len(r.others))
	for _, e := range r.ring {
		l = append(l, e.b)
	}
	return append(l, r.others...)
}

// hashWeight reads a binding key as a weight, or says why it is not one in
// the plugin's words.
func hashWeight(key string) (int, error) {
	n, err := strconv.Atoi(key)
	if err != nil {
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			return 0, errorf(CodePreconditionFailed, "The binding key must be an integer: %s", erlangBinary(key))
		}
		n = maxHashWeight + 1 // an integer, out of range either way
		if strings.HasPrefix(key, "-") {
			n = 0
		}
	}
	if n < 1 {
		return 0, errorf(CodePreconditionFailed, "The binding key must be greater than 0")
	}
	if n > maxHashWeight {
		return 0, errorf(CodePreconditionFailed, "The binding key must not exceed %d", maxHashWeight)
	}
	return n, nil
}

// erlangBinary writes s as Erlang prints a binary (<<"abc">>), as the
// plugin's error text shows the key.
func erlangBinary(s string) string {
	if s == "" {
		return "<<>>"
	}
	return "<<" + strconv.Quote(s) + ">>"
}

func (r *hashRouter) check(b *binding) error {
	_, err := hashWeight(b.key)
	return err
}

func sameDestination(a, b *binding) bool { return a.queue == b.queue && a.exch == b.exch }

func (r *hashRouter) add(b *binding) {
	w, err := hashWeight(b.key)
	if err != nil {
		return // check refused it before it was added
	}
	for _, e := range r.ring {
		if sameDestination(e.b, b) {
			r.others = append(r.others, b)
			return
		}
	}
	r.buckets += w
	r.ring = append(r.ring, ringEntry{b: b, weight: w, end: r.buckets})
}

func (r *hashRouter) remove(b *binding) {
	if i := slices.Index(r.others, b); i >= 0 {
		r.others = slices.Delete(r.others, i, i+1)
		return
	}
	i := slices.IndexFunc(r.ring, func(e ringEntry) bool { return e.b == b })
	if i < 0 {
		return
	}
	// The buckets after the removed ones move down, as in the plugin.
	r.ring = slices.Delete(r.ring, i, i+1)
	r.buckets = 0
	for j := range r.ring {
		r.buckets += r.ring[j].weight
		r.ring[j].end = r.buckets
	}
	// Another binding to the same destination keeps it reachable.
	if j := slices.IndexFunc(r.others, func(o *binding) bool { return sameDestination(o, b) }); j >= 0 {
		next := r.others[j]
		r.others = slices.Delete(r.others, j, j+1)
		r.add(next)
	}
}

func (r *hashRouter) route(key string, headers message.Table, rs *routeState) {
	if r.buckets == 0 {
		return
	}
	h := r.hashOf(key, headers, rs.props)
	bucket := jumpHash(h, r.buckets)
	i, _ := slices.BinarySearchFunc(r.ring, bucket, func(e ringEntry, t int) int {
		if e.end <= t {
			return -1
		}
		return 1
	})
	rs.add(r.ring[i].b)
}

// hashOf hashes what the exchange hashes on: the routing key, a header's
// value or a property. A missing header or property hashes as a value of
// its own, so such messages all go to one destination.
func (r *hashRouter) hashOf(key string, headers message.Table, props *message.Properties) uint64 {
	const missing = "\x00undefined"
	switch {
	case r.header != "":
		v, ok := headers[r.header]
		if !ok {
			return fnv64(missing)
		}
		if l, isList := v.([]any); isList {
			// An array hashes on its first element, as in the plugin.
			if len(l) == 0 {
				return fnv64("\x00[]")
			}
			v = l[0]
		}
		return fnv64(valueString(v))
	case r.property != "":
		if props == nil {
			return fnv64(missing)
		}
		switch r.property {
		case "message_id":
			if props.MessageID != "" || props.Has(message.FlagMessageID) {
				return fnv64(props.MessageID)
			}
		case "correlation_id":
			if props.CorrelationID != "" || props.Has(message.FlagCorrelationID) {
				return fnv64(props.CorrelationID)
			}
		case "timestamp":
			if props.Timestamp != 0 || props.Has(message.FlagTimestamp) {
				return fnv64(strconv.FormatInt(props.Timestamp, 10))
			}
		}
		return fnv64(missing)
	}
	return fnv64(key)
}

// fnv64 is FNV-1a: cheap, allocation-free and stable across restarts and
// builds, so a key keeps its destination while the ring is unchanged.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// jumpHash is Lamping and Veach's jump consistent hash: a bucket in
// [0, n) for key, where growing n to n+1 moves only 1/(n+1) of the keys,
// all to the new bucket.
func jumpHash(key uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
