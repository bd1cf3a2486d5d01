package broker

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// VHost is one virtual host: its own exchanges, queues and bindings.
type VHost struct {
	b    *Broker
	name string
	pol  vhostPolicies // guarded by mu (policy_store.go)

	// mu guards the name tables and every binding list; it is held for
	// lookups and topology changes, never while delivering.
	mu        sync.RWMutex
	exchanges map[string]*Exchange
	queues    map[string]*Queue
	// meta is what the management API sets on a vhost (vhost_admin.go).
	meta VHostMeta
	// retired holds the message counts of deleted queues and exchanges,
	// under mu; mono keeps the totals from falling (counters.go).
	retired MessageCounts
	mono    monotonic
}

// Predeclared exchanges every vhost has, as in RabbitMQ.
var predeclared = []struct{ name, kind string }{
	{"", ExchangeDirect},
	{"amq.direct", ExchangeDirect},
	{"amq.fanout", ExchangeFanout},
	{"amq.topic", ExchangeTopic},
	{"amq.headers", ExchangeHeaders},
	{"amq.match", ExchangeHeaders},
}

func newVHost(b *Broker, name string) *VHost {
	v := &VHost{b: b, name: name, exchanges: map[string]*Exchange{}, queues: map[string]*Queue{}}
	for _, p := range predeclared {
		v.exchanges[p.name] = v.newExchange(ExchangeDecl{Name: p.name, Type: p.kind, Durable: true})
	}
	return v
}

// Name is the vhost's name.
func (v *VHost) Name() string { return v.name }

func (v *VHost) newExchange(d ExchangeDecl) *Exchange {
	x := &Exchange{vh: v, name: d.Name, kind: d.Type, durable: d.Durable, autoDelete: d.AutoDelete,
		internal: d.Internal, args: d.Args, bindings: map[bindingKey]*binding{}, router: routerFor(d.Type, d.Args)}
	if ae, ok := message.String(d.Args["alternate-exchange"]); ok {
		x.argAlternate = ae
	}
	x.setPolicies(matchPolicy(v.pol.active, d.Name, false, false), matchPolicy(v.pol.activeOp, d.Name, false, false))
	x.setupPlugin()
	return x
}

// Exchange returns the named exchange.
func (v *VHost) Exchange(name string) (*Exchange, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	x, ok := v.exchanges[name]
	return x, ok
}

// Queue returns the named queue.
func (v *VHost) Queue(name string) (*Queue, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	q, ok := v.queues[name]
	return q, ok
}

// queueFor looks up a queue the connection owner may use.
func (v *VHost) queueFor(name string, owner ConnID) (*Queue, error) {
	v.mu.RLock()
	q, ok := v.queues[name]
	v.mu.RUnlock()
	if !ok {
		return nil, errNoQueue(name, v.name)
	}
	if !q.accessibleBy(owner) {
		return nil, errQueueLocked(name, v.name)
	}
	return q, nil
}

func reservedName(name string) bool { return strings.HasPrefix(name, "amq.") }

// DeclareExchange creates an exchange or checks an existing one is
// equivalent to the declaration.
func (v *VHost) DeclareExchange(d ExchangeDecl) (*Exchange, error) {
	x, created, err := v.declareExchange(d)
	if created && x.durable {
		if serr := v.b.saveDefinitions(); serr != nil {
			return x, serr
		}
	}
	return x, err
}

func (v *VHost) declareExchange(d ExchangeDecl) (*Exchange, bool, error) {
	if d.Name == "" {
		return nil, false, errorf(CodeAccessRefused, "operation not permitted on the default exchange")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	x, ok := v.exchanges[d.Name]
	if d.Passive {
		if !ok {
			return nil, false, errNoExchange(d.Name, v.name)
		}
		return x, false, nil
	}
	if ok {
		return x, false, x.checkEquivalent(d)
	}
	if reservedName(d.Name) {
		return nil, false, errorf(CodeAccessRefused, "exchange name '%s' contains reserved prefix 'amq.*'", d.Name)
	}
	if !knownExchangeType(d.Type) {
		return nil, false, errorf(CodeCommandInvalid, "unknown exchange type '%s'", d.Type)
	}
	if err := checkPluginArgs(d, v.name, v.b.cfg.MaxDedupCacheSize); err != nil {
		return nil, false, err
	}
	if ae, ok := d.Args["alternate-exchange"]; ok {
		if _, isStr := message.String(ae); !isStr {
			return nil, false, errorf(CodePreconditionFailed, "invalid arg 'alternate-exchange' for exchange '%s' in vhost '%s': {unacceptable_type,%s}", d.Name, v.name, message.TypeName(ae))
		}
	}
	x = v.newExchange(d)
	v.exchanges[d.Name] = x
	return x, true, nil
}

func (x *Exchange) checkEquivalent(d ExchangeDecl) error {
	diff := func(arg string, got, have any) error {
		return errorf(CodePreconditionFailed, "inequivalent arg '%s' for exchange '%s' in vhost '%s': received '%v' but current is '%v'",
			arg, x.name, x.vh.name, got, have)
	}
	switch {
	case d.Type != x.kind:
		return diff("type", d.Type, x.kind)
	case d.Durable != x.durable:
		return diff("durable", d.Durable, x.durable)
	case d.AutoDelete != x.autoDelete:
		return diff("auto_delete", d.AutoDelete, x.autoDelete)
	case d.Internal != x.internal:
		return diff("internal", d.Internal, x.internal)
	}
	return argsEquivalent("exchange", x.name, x.vh.name, x.args, d.Args, []string{"alternate-exchange"})
}

// DeleteExchange removes an exchange and its bindings. Deleting one that
// does not exist succeeds, as in RabbitMQ.
func (v *VHost) DeleteExchange(name string, ifUnused bool) error {
	if name == "" {
		return errorf(CodeAccessRefused, "operation not permitted on the default exchange")
	}
	if reservedName(name) {
		return errorf(CodeAccessRefused, "deletion of system exchange '%s' in vhost '%s' not allowed", name, v.name)
	}
	v.mu.Lock()
	x, ok := v.exchanges[name]
	if !ok {
		v.mu.Unlock()
		return nil
	}
	x.mu.RLock()
	inUse := len(x.bindings) > 0
	x.mu.RUnlock()
	if ifUnused && inUse {
		v.mu.Unlock()
		return errorf(CodePreconditionFailed, "exchange '%s' in vhost '%s' in use", name, v.name)
	}
	v.deleteExchangeLocked(x)
	v.mu.Unlock()
	if x.durable {
		return v.b.saveDefinitions()
	}
	return nil
}

// deleteExchangeLocked removes x, its bindings as source and as destination.
// v.mu held.
func (v *VHost) deleteExchangeLocked(x *Exchange) {
	delete(v.exchanges, x.name)
	v.retireExchangeLocked(x)
	if x.delayed != nil {
		x.delayed.stop()
	}
	x.mu.Lock()
	x.deleted = true
	bs := make([]*binding, 0, len(x.bindings))
	for _, b := range x.bindings {
		bs = append(bs, b)
	}
	x.bindings = map[bindingKey]*binding{}
	x.router = routerFor(x.kind, x.args) // a publisher may still hold x
	x.mu.Unlock()
	for _, b := range bs {
		if b.queue != nil {
			b.queue.bindings = removeBinding(b.queue.bindings, b)
		}
	}
	// Bindings where x is the destination.
	for _, src := range v.exchanges {
		src.mu.Lock()
		var gone []*binding
		for k, b := range src.bindings {
			if b.exch == x {
				delete(src.bindings, k)
				src.router.remove(b)
				gone = append(gone, b)
			}
		}
		empty := len(src.bindings) == 0
		src.mu.Unlock()
		if len(gone) > 0 && empty && src.autoDelete {
			v.deleteExchangeLocked(src)
		}
	}
}

// DeclareQueue creates a queue or checks an existing one is equivalent.
func (v *VHost) DeclareQueue(d QueueDecl) (QueueInfo, error) {
	info, created, err := v.declareQueue(d)
	v.b.countDeclare(d, created, err)
	if created && d.durable() {
		if serr := v.b.saveDefinitions(); serr != nil {
			return info, serr
		}
	}
	return info, err
}

func (v *VHost) declareQueue(d QueueDecl) (QueueInfo, bool, error) {
	v.mu.Lock()
	name := d.Name
	if q, ok := v.queues[name]; ok {
		v.mu.Unlock()
		if d.Admit != nil && !d.Passive {
			if err := d.Admit(name, false, 0); err != nil {
				return QueueInfo{}, false, err
			}
		}
		if !q.accessibleBy(d.Owner) || (!d.Passive && d.Exclusive != q.exclusive) {
			return QueueInfo{}, false, errQueueLocked(name, v.name)
		}
		if !d.Passive {
			if err := q.checkEquivalent(d); err != nil {
				return QueueInfo{}, false, err
			}
		}
		q.mu.Lock()
		q.touchLocked(time.Now().UnixNano())
		info := QueueInfo{Name: q.name, Messages: q.ready.count, Consumers: len(q.consumers)}
		q.mu.Unlock()
		return info, false, nil
	}
	defer v.mu.Unlock()
	if d.Passive {
		return QueueInfo{}, false, errNoQueue(name, v.name)
	}
	if name == "" {
		name = newName("amq.gen-")
	} else if reservedName(name) {
		return QueueInfo{}, false, errorf(CodeAccessRefused, "queue name '%s' contains reserved prefix 'amq.*'", name)
	}
	if d.Admit != nil {
		if err := d.Admit(name, true, len(v.queues)); err != nil {
			return QueueInfo{}, false, err
		}
	}
	if max := v.b.cfg.MaxQueues; max > 0 && len(v.queues) >= max {
		return QueueInfo{}, false, errorf(CodeResourceError, "cannot declare queue '%s' in vhost '%s': queue limit of %d reached", name, v.name, max)
	}
	cfg, err := parseQueueArgs(name, v.name, d.Args)
	if err != nil {
		return QueueInfo{}, false, err
	}
	if max := v.b.cfg.MaxDedupCacheSize; cfg.cacheSize > max {
		return QueueInfo{}, false, errorf(CodePreconditionFailed,
			"invalid arg 'x-cache-size' for queue '%s' in vhost '%s': %d is above this broker's limit of %d ids (--max-dedup-ids)",
			name, v.name, cfg.cacheSize, max)
	}
	if cfg.quorum {
		// A quorum queue is replicated and durable by nature; RabbitMQ
		// refuses the properties that contradict that, in these words and
		// in this order (rabbit_quorum_queue:declare's checks).
		switch {
		case d.AutoDelete:
			return QueueInfo{}, false, errorf(CodePreconditionFailed, "invalid property 'auto-delete' for queue '%s' in vhost '%s'", name, v.name)
		case d.Exclusive:
			return QueueInfo{}, false, errorf(CodePreconditionFailed, "invalid property 'exclusive-owner' for queue '%s' in vhost '%s'", name, v.name)
		case !d.Durable:
			return QueueInfo{}, false, errorf(CodePreconditionFailed, "invalid property 'non-durable' for queue '%s' in vhost '%s'", name, v.name)
		}
	}
	pol, op := v.matchQueue(name, cfg.quorum)
	cfg = withPolicies(cfg, d.Args, pol, op, nil)
	q := &Queue{vh: v, name: name, durable: d.durable(), exclusive: d.Exclusive, autoDelete: d.AutoDelete,
		args: d.Args, ready: newReadyList(cfg.maxPriority)}
	q.cfg.Store(&cfg)
	if d.Exclusive {
		q.owner = d.Owner
	}
	if cfg.dedup || cfg.contentDedup {
		q.dedup = newDedupCache(cfg.cacheTTL, cfg.cacheSize, cfg.contentDedup)
		q.dedup.byGroup = cfg.dedupByGroup
	}
	q.mu.Lock()
	q.touchLocked(time.Now().UnixNano())
	q.mu.Unlock()
	v.queues[name] = q
	return QueueInfo{Name: name}, true, nil
}

func (q *Queue) checkEquivalent(d QueueDecl) error {
	diff := func(arg string, got, have bool) error {
		return errorf(CodePreconditionFailed, "inequivalent arg '%s' for queue '%s' in vhost '%s': received '%t' but current is '%t'",
			arg, q.name, q.vh.name, got, have)
	}
	if d.durable() != q.durable {
		return diff("durable", d.durable(), q.durable)
	}
	if d.AutoDelete != q.autoDelete {
		return diff("auto_delete", d.AutoDelete, q.autoDelete)
	}
	return argsEquivalent("queue", q.name, q.vh.name, q.arguments(), d.Args, equivalentArgs)
}

// DeleteQueue deletes a queue and returns how many ready messages it held.
// A missing queue is not an error, as in RabbitMQ.
func (v *VHost) DeleteQueue(name string, ifUnused, ifEmpty bool, owner ConnID) (int, error) {
	v.mu.RLock()
	q, ok := v.queues[name]
	v.mu.RUnlock()
	if !ok {
		return 0, nil
	}
	if !q.accessibleBy(owner) {
		return 0, errQueueLocked(name, v.name)
	}
	q.mu.Lock()
	inUse, notEmpty := len(q.consumers) > 0, q.ready.count > 0
	q.mu.Unlock()
	if ifUnused && inUse {
		return 0, errorf(CodePreconditionFailed, "queue '%s' in vhost '%s' in use", name, v.name)
	}
	if ifEmpty && notEmpty {
		return 0, errorf(CodePreconditionFailed, "queue '%s' in vhost '%s' not empty", name, v.name)
	}
	return v.deleteQueue(q)
}

// deleteQueue removes q with its bindings and cancels its consumers.
// The error is that of saving the definitions when q was durable.
func (v *VHost) deleteQueue(q *Queue) (int, error) {
	v.mu.Lock()
	if v.queues[q.name] != q {
		v.mu.Unlock()
		return 0, nil
	}
	delete(v.queues, q.name)
	v.retireQueueLocked(q)
	v.b.churn.deleted.Add(1)
	for _, b := range q.bindings {
		v.removeBindingLocked(b)
	}
	q.bindings = nil
	v.mu.Unlock()
	n, cs := q.markDeleted()
	for _, c := range cs {
		c.s.consumerGone(c)
	}
	if q.durable {
		return n, v.b.saveDefinitions()
	}
	return n, nil
}

// removeBindingLocked drops b from its source, deleting an auto-delete
// source left without bindings. v.mu held.
func (v *VHost) removeBindingLocked(b *binding) {
	src := b.source
	src.mu.Lock()
	k := keyOf(b.destName(), b.exch != nil, b.key, b.args)
	if src.bindings[k] == b {
		delete(src.bindings, k)
		src.router.remove(b)
	}
	empty := len(src.bindings) == 0
	src.mu.Unlock()
	if empty && src.autoDelete && v.exchanges[src.name] == src {
		v.deleteExchangeLocked(src)
	}
}

func (b *binding) destName() string {
	if b.queue != nil {
		return b.queue.name
	}
	return b.exch.name
}

// PurgeQueue drops a queue's ready messages.
func (v *VHost) PurgeQueue(name string, owner ConnID) (int, error) {
	q, err := v.queueFor(name, owner)
	if err != nil {
		return 0, err
	}
	return q.purge(), nil
}

// BindSpec is a queue.bind or exchange.bind.
type BindSpec struct {
	Source         string
	Destination    string
	DestIsExchange bool
	Key            string
	Args           message.Table
	Owner          ConnID
}

func (v *VHost) bindEnds(s BindSpec) (*Exchange, *Queue, *Exchange, error) {
	if s.Source == "" || (s.DestIsExchange && s.Destination == "") {
		return nil, nil, nil, errorf(CodeAccessRefused, "operation not permitted on the default exchange")
	}
	// RabbitMQ names a missing source before a missing destination.
	src, ok := v.exchanges[s.Source]
	if !ok {
		return nil, nil, nil, errNoExchange(s.Source, v.name)
	}
	var q *Queue
	var dx *Exchange
	if s.DestIsExchange {
		if dx, ok = v.exchanges[s.Destination]; !ok {
			return nil, nil, nil, errNoExchange(s.Destination, v.name)
		}
	} else {
		if q, ok = v.queues[s.Destination]; !ok {
			return nil, nil, nil, errNoQueue(s.Destination, v.name)
		}
		if !q.accessibleBy(s.Owner) {
			return nil, nil, nil, errQueueLocked(s.Destination, v.name)
		}
	}
	return src, q, dx, nil
}

// Bind adds a binding; binding twice is a no-op.
func (v *VHost) Bind(s BindSpec) error {
	durable, err := v.bind(s)
	if durable && err == nil {
		return v.b.saveDefinitions()
	}
	return err
}

// bind adds a binding and reports whether it joins durable objects.
func (v *VHost) bind(s BindSpec) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	src, q, dx, err := v.bindEnds(s)
	if err != nil {
		return false, err
	}
	b := &binding{source: src, queue: q, exch: dx, key: s.Key, args: s.Args}
	if src.kind == ExchangeHeaders {
		if b.match, err = parseXMatch(s.Args); err != nil {
			return false, err
		}
	}
	if c, ok := src.router.(bindingChecker); ok {
		if err := c.check(b); err != nil {
			return false, err
		}
	}
	k := keyOf(s.Destination, s.DestIsExchange, s.Key, s.Args)
	src.mu.Lock()
	defer src.mu.Unlock()
	if _, exists := src.bindings[k]; exists {
		return false, nil
	}
	src.bindings[k] = b
	src.router.add(b)
	if q != nil {
		q.bindings = append(q.bindings, b)
	}
	return b.durable(), nil
}

// durable reports whether the binding survives a restart: both ends do.
func (b *binding) durable() bool {
	return b.source.durable && ((b.queue != nil && b.queue.durable) || (b.exch != nil && b.exch.durable))
}

// Unbind removes a binding; removing one that does not exist succeeds.
//
// Like RabbitMQ, unbinding tolerates a missing source or destination and
// another connection's exclusive queue: there is nothing to refuse when
// nothing is bound.
func (v *VHost) Unbind(s BindSpec) error {
	if s.Source == "" || (s.DestIsExchange && s.Destination == "") {
		return errorf(CodeAccessRefused, "operation not permitted on the default exchange")
	}
	v.mu.Lock()
	src, ok := v.exchanges[s.Source]
	if !ok {
		v.mu.Unlock()
		return nil
	}
	var q *Queue
	if !s.DestIsExchange {
		q = v.queues[s.Destination]
	}
	src.mu.RLock()
	b := src.bindings[keyOf(s.Destination, s.DestIsExchange, s.Key, s.Args)]
	src.mu.RUnlock()
	if b == nil {
		v.mu.Unlock()
		return nil
	}
	if q != nil {
		q.bindings = removeBinding(q.bindings, b)
	}
	v.removeBindingLocked(b)
	v.mu.Unlock()
	if b.durable() {
		return v.b.saveDefinitions()
	}
	return nil
}

// releaseOwner deletes a closed connection's exclusive queues.
func (v *VHost) releaseOwner(owner ConnID) {
	v.mu.RLock()
	var mine []*Queue
	for _, q := range v.queues {
		if q.exclusive && q.owner == owner {
			mine = append(mine, q)
		}
	}
	v.mu.RUnlock()
	for _, q := range mine {
		v.deleteQueue(q)
	}
}

// Queues lists the vhost's queues.
func (v *VHost) Queues() []*Queue { return snapshot(&v.mu, v.queues) }

// Exchanges returns the vhost's exchanges, the default one included, in
// no particular order.
func (v *VHost) Exchanges() []*Exchange { return snapshot(&v.mu, v.exchanges) }

func (v *VHost) String() string { return fmt.Sprintf("vhost %q", v.name) }

// DeclareReplyQueue creates the private queue behind a direct reply-to
// consumer (RabbitMQ's amq.rabbitmq.reply-to): exclusive to owner, gone
// with its consumer, and addressable through the default exchange by the
// name that replaces reply-to in the requests.
func (v *VHost) DeclareReplyQueue(owner ConnID) (string, error) {
	name := newName("amq.rabbitmq.reply-to.")
	v.mu.Lock()
	defer v.mu.Unlock()
	cfg, _ := parseQueueArgs(name, v.name, nil)
	q := &Queue{vh: v, name: name, exclusive: true, autoDelete: true, owner: owner, ready: newReadyList(0)}
	q.cfg.Store(&cfg)
	v.queues[name] = q
	return name, nil
}
