package broker

import (
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// What the management API reads of a vhost's topology: exchanges with
// their declared properties, every binding (the default exchange's
// implicit ones included, as RabbitMQ lists them), and a queue's figures
// taken under one lock.

// ExchangeInfo is an exchange's declared properties.
type ExchangeInfo struct {
	Name       string
	Type       string
	Durable    bool
	AutoDelete bool
	Internal   bool
	Args       message.Table // a copy
}

// Info returns the exchange's declared properties.
func (x *Exchange) Info() ExchangeInfo {
	return ExchangeInfo{Name: x.name, Type: x.kind, Durable: x.durable, AutoDelete: x.autoDelete,
		Internal: x.internal, Args: x.args.Clone()}
}

// BindingInfo is one binding as RabbitMQ lists it.
type BindingInfo struct {
	Source         string
	Destination    string
	DestIsExchange bool
	Key            string
	Args           message.Table // a copy
}

// Bindings lists every binding of the vhost: for each queue first its
// implicit binding from the default exchange (key: the queue's name), then
// the bindings of every other exchange. Unordered.
func (v *VHost) Bindings() []BindingInfo {
	return v.bindingsWhere(func(BindingInfo) bool { return true }, true)
}

// BindingsFrom lists the bindings whose source is the named exchange.
func (v *VHost) BindingsFrom(source string) []BindingInfo {
	return v.bindingsWhere(func(b BindingInfo) bool { return b.Source == source }, source == "")
}

// BindingsTo lists the bindings whose destination is the named queue (or
// exchange, with toExchange).
func (v *VHost) BindingsTo(dest string, toExchange bool) []BindingInfo {
	return v.bindingsWhere(func(b BindingInfo) bool {
		return b.Destination == dest && b.DestIsExchange == toExchange
	}, !toExchange)
}

// bindingsWhere collects the bindings keep accepts; implicit says whether
// the default exchange's implicit bindings may be among them.
func (v *VHost) bindingsWhere(keep func(BindingInfo) bool, implicit bool) []BindingInfo {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []BindingInfo
	if implicit {
		for name := range v.queues {
			b := BindingInfo{Source: "", Destination: name, Key: name}
			if keep(b) {
				out = append(out, b)
			}
		}
	}
	for _, x := range v.exchanges {
		if x.name == "" {
			continue
		}
		x.mu.RLock()
		for _, b := range x.bindings {
			bi := BindingInfo{Source: x.name, Destination: b.destName(), DestIsExchange: b.exch != nil, Key: b.key}
			if keep(bi) {
				bi.Args = b.args.Clone()
				out = append(out, bi)
			}
		}
		x.mu.RUnlock()
	}
	return out
}

// QueueDetails are a queue's properties and figures, read under one lock.
type QueueDetails struct {
	Name                      string
	Durable, AutoDelete       bool
	Exclusive                 bool
	Args                      message.Table // shared: the queue replaces it whole, never in place; do not modify
	Ready, Unacked, Consumers int
	ReadyBytes, UnackedBytes  int64
	Delayed                   int
	// IdleSince is when the queue was last used (declared, published to,
	// consumed from), the zero time when it has consumers.
	IdleSince time.Time
	// ConsumerCapacity is the share of recent time in which the queue
	// could hand a message to a consumer at once (consumer_capacity.go);
	// 0 without consumers.
	ConsumerCapacity float64
	// SingleActiveConsumer is the tag of the consumer that gets the
	// messages of a single-active-consumer queue, "" otherwise.
	SingleActiveConsumer string
	// Persistent messages the queue holds in the log, and their bytes.
	Persistent      int
	PersistentBytes int64
}

// Details returns the queue's properties and figures.
func (q *Queue) Details() QueueDetails {
	q.mu.Lock()
	d := QueueDetails{Name: q.name, Durable: q.durable, AutoDelete: q.autoDelete, Exclusive: q.exclusive,
		Ready: q.ready.count, ReadyBytes: q.ready.bytes, Unacked: q.unacked, UnackedBytes: q.unackedBytes, Consumers: len(q.consumers),
		Delayed: len(q.delayed), Args: q.args, Persistent: q.persistent, PersistentBytes: q.persistentBytes}
	if len(q.consumers) == 0 && q.lastUsed > 0 {
		d.IdleSince = time.Unix(0, q.lastUsed)
	}
	if len(q.consumers) > 0 {
		d.ConsumerCapacity = q.capacity.value(time.Now().UnixNano())
		if q.config().singleActive {
			d.SingleActiveConsumer = q.consumers[0].tag
		}
	}
	q.mu.Unlock()
	return d
}

// CanonicalArgs renders an argument table in key order, the same text for
// equal tables (what a binding's identity compares).
func CanonicalArgs(t message.Table) string { return canonicalArgs(t) }
