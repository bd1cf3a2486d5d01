package broker

import "slices"

// Virtual hosts as the management API handles them: created durably,
// described, and deleted with everything in them.

// VHostMeta is what an operator says about a vhost (RabbitMQ's vhost
// metadata). It is durable: saved with the definitions.
type VHostMeta struct {
	Description      string
	Tags             []string
	DefaultQueueType string
}

// Meta returns the vhost's metadata.
func (v *VHost) Meta() VHostMeta {
	v.mu.RLock()
	defer v.mu.RUnlock()
	m := v.meta
	m.Tags = slices.Clone(m.Tags)
	return m
}

// SetMeta replaces the vhost's metadata and saves it; a failed save is
// logged (by saveDefinitions). SaveMeta says whether it was saved.
func (v *VHost) SetMeta(m VHostMeta) { _ = v.SaveMeta(m) }

// SaveMeta replaces the vhost's metadata and makes it durable.
func (v *VHost) SaveMeta(m VHostMeta) error {
	m.Tags = slices.Clone(m.Tags)
	v.mu.Lock()
	v.meta = m
	v.mu.Unlock()
	return v.b.saveDefinitions()
}

// CreateVHost adds a vhost and makes it durable; created is false when it
// existed already (then nothing is saved).
func (b *Broker) CreateVHost(name string) (v *VHost, created bool, err error) {
	b.mu.Lock()
	if v, ok := b.vhosts[name]; ok {
		b.mu.Unlock()
		return v, false, nil
	}
	v = newVHost(b, name)
	b.vhosts[name] = v
	b.mu.Unlock()
	return v, true, b.saveDefinitions()
}

// DeleteVHost removes a vhost with everything in it, as RabbitMQ's vhost
// deletion: every queue (its messages settled in storage, as a queue
// delete does; its consumers cancelled), every exchange (a delayed
// exchange's held messages settled) and every binding. The change is made
// durable with one definitions save. found is false when there was no
// such vhost.
//
// Connections open on the vhost are the caller's to close first: a
// session that still holds the vhost after this returns works on objects
// no longer reachable from the broker, and nothing it declares is saved.
func (b *Broker) DeleteVHost(name string) (found bool, err error) {
	b.mu.Lock()
	v, ok := b.vhosts[name]
	if ok {
		delete(b.vhosts, name)
	}
	b.mu.Unlock()
	if !ok {
		return false, nil
	}
	v.mu.Lock()
	queues := make([]*Queue, 0, len(v.queues))
	for _, q := range v.queues {
		queues = append(queues, q)
	}
	for _, q := range queues {
		delete(v.queues, q.name)
		v.retireQueueLocked(q)
		b.churn.deleted.Add(1)
		for _, bd := range q.bindings {
			v.removeBindingLocked(bd)
		}
		q.bindings = nil
	}
	for len(v.exchanges) > 0 {
		for _, x := range v.exchanges {
			// deleteExchangeLocked may also delete auto-delete sources
			// it leaves without bindings: take one at a time.
			v.deleteExchangeLocked(x)
			break
		}
	}
	v.mu.Unlock()
	for _, q := range queues {
		_, cs := q.markDeleted()
		for _, c := range cs {
			c.s.consumerGone(c)
		}
	}
	b.retireVHost(v)
	b.log.Info().Str("vhost", name).Int("queues", len(queues)).Msg("vhost deleted")
	return true, b.saveDefinitions()
}
