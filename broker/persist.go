package broker

import (
	"iter"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// QueueRef names a queue across vhosts.
type QueueRef struct {
	VHost string
	Queue string
}

// Persister is what the core needs from storage. Durability is decided here,
// in the core: a persistent message routed to durable queues is logged once
// before any of those queues can hand it out, and each queue's settling of
// it (ack, drop, expiry, purge, delete) is logged after.
type Persister interface {
	// LogMessage logs message id for the given durable queues; done is
	// called once it is durable (or failed), from a storage goroutine. It
	// is called before the message is visible to consumers, so every later
	// LogSettled or LogDelivered of the same id follows it in the log.
	// An error returned means the message was refused at once (e.g. its
	// record cannot fit the log); done is called with it too, and the
	// broker keeps the message as if it were not logged.
	// LogMessage keeps room in its size limit for the growth of the
	// message's later copies (LogCopy).
	LogMessage(id uint64, publishedAt int64, targets []QueueRef, m *message.Message, done func(error)) error
	// LogCopy is LogMessage for a copy the core made of a message it had
	// already accepted, such as a dead-lettered copy with its x-death
	// headers: it may use the room LogMessage keeps free, so that a
	// confirmed message can always be dead-lettered durably.
	LogCopy(id uint64, publishedAt int64, targets []QueueRef, m *message.Message, done func(error)) error
	// LogSettled records that queue q is done with messages ids. No fsync
	// is waited for: losing it in a crash only causes an allowed
	// redelivery.
	LogSettled(q QueueRef, ids ...uint64)
	// LogDelivered records first deliveries, so that a restart marks the
	// messages redelivered. No fsync is waited for.
	LogDelivered(q QueueRef, ids ...uint64)
	// LogReturned records that a delivered message came back unacked, so
	// its x-delivery-limit count survives a restart. No fsync is waited for.
	LogReturned(id uint64, q QueueRef)
	// LogDedup remembers a de-duplication id of a durable queue or
	// exchange (scope) until expiresAt (unix nanos), so the window holds
	// across a restart. No fsync is waited for.
	LogDedup(scope QueueRef, key string, expiresAt int64, answer string)
	// SaveDefinitions durably replaces the stored topology.
	SaveDefinitions(Definitions) error
	// ReadMessage reads back a logged or spilled message that a queue
	// paged out; it is called with the queue's lock held, so it must not
	// call into the broker.
	ReadMessage(id uint64) (*message.Message, error)
	// Spill registers transient message m under id so that its queue can
	// drop it from memory; ReadMessage serves m until its record is
	// written. It is called under a queue's lock, so it must not block or
	// do I/O: WriteSpills, called once the lock is gone, writes the records
	// (no fsync; never recovered).
	Spill(id uint64, m *message.Message) error
	// WriteSpills writes the records of spilled messages ids; those that
	// left their queue meanwhile (Unspill) are skipped. It may wait for
	// the log's back-pressure.
	WriteSpills(ids []uint64)
	// Unspill forgets a spilled message that left its queue.
	Unspill(id uint64)
}

// RecoveredDedup is a remembered de-duplication id still inside its window.
type RecoveredDedup struct {
	Scope     QueueRef // a queue, or dedupExchangePrefix + an exchange name
	Key       string
	ExpiresAt int64
	// Answer is PublishOptions.DedupAnswer of the id's first publish, or
	// "" (records written before it existed have none).
	Answer string
}

// dedupExchangePrefix names an exchange's de-duplication scope in storage.
const dedupExchangePrefix = "\x00exchange:"

// RestoreDedup refills de-duplication caches after Restore.
func (b *Broker) RestoreDedup(ids []RecoveredDedup) {
	now := time.Now().UnixNano()
	for _, r := range ids {
		if r.ExpiresAt <= now {
			continue
		}
		v, ok := b.VHost(r.Scope.VHost)
		if !ok {
			continue
		}
		if name, isX := strings.CutPrefix(r.Scope.Queue, dedupExchangePrefix); isX {
			if x, ok := v.Exchange(name); ok && x.dedup != nil {
				x.dedupMu.Lock()
				x.dedup.remember(r.Key, r.ExpiresAt, now, r.Answer)
				x.dedupMu.Unlock()
			}
			continue
		}
		if q, ok := v.Queue(r.Scope.Queue); ok && q.dedup != nil {
			q.mu.Lock()
			q.dedup.remember(r.Key, r.ExpiresAt, now, r.Answer)
			q.mu.Unlock()
		}
	}
}

// Definitions is the durable topology: what survives a restart besides
// messages.
type Definitions struct {
	VHosts []string
	// VHostMeta is the metadata of the vhosts that have some, by name.
	VHostMeta map[string]VHostMeta
	Exchanges []ExchangeDef
	Queues    []QueueDef
	Bindings  []BindingDef
	// Policies and OperatorPolicies, sorted by vhost, then as they are
	// tried (Broker.Policies).
	Policies, OperatorPolicies []Policy
	// GlobalParameters, by name.
	GlobalParameters []GlobalParameter
}

// ExchangeDef is a durable exchange.
type ExchangeDef struct {
	VHost, Name, Type    string
	AutoDelete, Internal bool
	Args                 message.Table
}

// QueueDef is a durable queue.
type QueueDef struct {
	VHost, Name string
	AutoDelete  bool
	Args        message.Table
}

// BindingDef is a binding between durable objects.
type BindingDef struct {
	VHost, Source, Destination string
	DestIsExchange             bool
	Key                        string
	Args                       message.Table
}

// RecoveredMessage is a logged message still owed to some queues.
type RecoveredMessage struct {
	ID          uint64
	PublishedAt int64 // unix nanos, for TTLs
	Msg         *message.Message
	Queues      []RecoveredTarget
}

// RecoveredTarget is one queue a recovered message waits in.
type RecoveredTarget struct {
	QueueRef
	Delivered bool
	Returns   uint32 // times it came back unacked (x-delivery-limit)
}

// SetPersister attaches storage. It must be called before any traffic.
func (b *Broker) SetPersister(p Persister) { b.store = p }

// Definitions snapshots the durable topology of every vhost.
func (b *Broker) Definitions() Definitions {
	var d Definitions
	b.mu.RLock()
	vs := make([]*VHost, 0, len(b.vhosts))
	for _, v := range b.vhosts {
		vs = append(vs, v)
	}
	b.mu.RUnlock()
	sort.Slice(vs, func(i, j int) bool { return vs[i].name < vs[j].name })
	if gs := b.GlobalParameters(); len(gs) > 0 {
		d.GlobalParameters = gs
	}
	for _, v := range vs {
		d.VHosts = append(d.VHosts, v.name)
		v.mu.RLock()
		if m := v.meta; m.Description != "" || len(m.Tags) > 0 || m.DefaultQueueType != "" {
			if d.VHostMeta == nil {
				d.VHostMeta = map[string]VHostMeta{}
			}
			m.Tags = slices.Clone(m.Tags)
			d.VHostMeta[v.name] = m
		}
		for _, p := range sortedPolicies(v.pol.policies) {
			d.Policies = append(d.Policies, p.export())
		}
		for _, p := range sortedPolicies(v.pol.opPolicies) {
			d.OperatorPolicies = append(d.OperatorPolicies, p.export())
		}
		for _, x := range v.exchanges {
			if !x.durable || x.name == "" || reservedName(x.name) {
				continue
			}
			d.Exchanges = append(d.Exchanges, ExchangeDef{VHost: v.name, Name: x.name, Type: x.kind,
				AutoDelete: x.autoDelete, Internal: x.internal, Args: x.args})
		}
		for _, q := range v.queues {
			if q.durable {
				d.Queues = append(d.Queues, QueueDef{VHost: v.name, Name: q.name, AutoDelete: q.autoDelete, Args: q.args})
			}
		}
		for _, x := range v.exchanges {
			if !x.durable {
				continue
			}
			x.mu.RLock()
			for _, bd := range x.bindingsInOrder() {
				if (bd.queue != nil && !bd.queue.durable) || (bd.exch != nil && !bd.exch.durable) {
					continue
				}
				d.Bindings = append(d.Bindings, BindingDef{VHost: v.name, Source: x.name, Destination: bd.destName(),
					DestIsExchange: bd.exch != nil, Key: bd.key, Args: bd.args})
			}
			x.mu.RUnlock()
		}
		v.mu.RUnlock()
	}
	sort.Slice(d.Exchanges, func(i, j int) bool {
		return d.Exchanges[i].VHost+"\x00"+d.Exchanges[i].Name < d.Exchanges[j].VHost+"\x00"+d.Exchanges[j].Name
	})
	sort.Slice(d.Queues, func(i, j int) bool {
		return d.Queues[i].VHost+"\x00"+d.Queues[i].Name < d.Queues[j].VHost+"\x00"+d.Queues[j].Name
	})
	return d
}

// saveDefinitions stores the topology after a durable change and reports
// whether it is durable. Saves are batched: while one is being written,
// the changes that arrive wait and one later save, whose snapshot is taken
// after all of them, covers them all, so a burst of declares costs a few
// file writes instead of one (two fsyncs) each. A failure is logged and
// returned, so that the client whose change it was learns that it is not
// durable (AMQP 541, STOMP ERROR); the change itself stays in memory and
// is written with the next save that succeeds.
func (b *Broker) saveDefinitions() error {
	if b.store == nil {
		return nil
	}
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	if b.saveCond == nil {
		b.saveCond = sync.NewCond(&b.saveMu)
	}
	b.saveWanted++
	mine := b.saveWanted
	for b.saveDone < mine {
		if b.saving {
			b.saveCond.Wait()
			continue
		}
		b.saving = true
		covers := b.saveWanted
		b.saveMu.Unlock()
		err := b.store.SaveDefinitions(b.Definitions())
		b.saveMu.Lock()
		b.saving = false
		b.saveDone, b.saveErr = covers, err
		b.saveCond.Broadcast()
	}
	if b.saveErr != nil {
		b.log.Error().Err(b.saveErr).Msg("cannot save definitions; the durable topology change is not durable")
		return errorf(CodeInternalError, "cannot store the durable topology: %v", b.saveErr)
	}
	return nil
}

// Restore rebuilds durable topology and messages from storage. It runs
// before any client connects and logs nothing back.
// msgs yields the messages in id order; they are consumed one at a time,
// so that a queue can page each out before the next is read.
func (b *Broker) Restore(d Definitions, msgs iter.Seq[RecoveredMessage]) error {
	b.restoreGlobals(d.GlobalParameters)
	for _, name := range d.VHosts {
		b.AddVHost(name)
	}
	for name, m := range d.VHostMeta {
		v := b.AddVHost(name)
		m.Tags = slices.Clone(m.Tags)
		v.mu.Lock()
		v.meta = m
		v.mu.Unlock()
	}
	// Policies first, so that each queue and exchange is declared with
	// its own.
	b.restorePolicies(d.Policies, false)
	b.restorePolicies(d.OperatorPolicies, true)
	for _, x := range d.Exchanges {
		v := b.AddVHost(x.VHost)
		if _, _, err := v.declareExchange(ExchangeDecl{Name: x.Name, Type: x.Type, Durable: true, AutoDelete: x.AutoDelete,
			Internal: x.Internal, Args: x.Args}); err != nil {
			b.log.Error().Err(err).Str("vhost", x.VHost).Str("exchange", x.Name).Msg("cannot restore exchange")
		}
	}
	for _, q := range d.Queues {
		v := b.AddVHost(q.VHost)
		if _, _, err := v.declareQueue(QueueDecl{Name: q.Name, Durable: true, AutoDelete: q.AutoDelete, Args: q.Args}); err != nil {
			b.log.Error().Err(err).Str("vhost", q.VHost).Str("queue", q.Name).Msg("cannot restore queue")
		}
	}
	for _, bd := range d.Bindings {
		v := b.AddVHost(bd.VHost)
		if _, err := v.bind(BindSpec{Source: bd.Source, Destination: bd.Destination, DestIsExchange: bd.DestIsExchange,
			Key: bd.Key, Args: bd.Args}); err != nil {
			b.log.Error().Err(err).Str("vhost", bd.VHost).Str("source", bd.Source).Str("destination", bd.Destination).Msg("cannot restore binding")
		}
	}
	var maxID uint64
	for m := range msgs {
		rm := &m
		maxID = max(maxID, rm.ID)
		for _, t := range rm.Queues {
			if b.restoreDelayed(rm, t.QueueRef) {
				continue
			}
			v, ok := b.VHost(t.VHost)
			if !ok {
				continue
			}
			q, ok := v.Queue(t.Queue)
			if !ok || !q.durable {
				if b.store != nil {
					b.store.LogSettled(t.QueueRef, rm.ID) // its queue is gone: let the space go
				}
				continue
			}
			if !q.restore(rm, t.Delivered, t.Returns) && b.store != nil {
				b.store.LogSettled(t.QueueRef, rm.ID) // a duplicate: see Queue.restore
			}
		}
	}
	if maxID >= b.nextMsgID.Load() {
		b.nextMsgID.Store(maxID)
	}
	return nil
}
