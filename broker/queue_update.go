package broker

import (
	"maps"

	"github.com/sluice-mq/sluice/broker/message"
)

// Changing a live queue's arguments (the SQS API's SetQueueAttributes and
// tags). The new arguments go through the same recomputation as a policy
// change (policy_apply.go): the queue's configuration is replaced whole,
// so the publish and dead-letter paths, which read it without the queue's
// lock, see either the old or the new one. Arguments that shape the
// queue's structures — priorities, single active consumer, the queue
// type, de-duplication and message groups — stay fixed at declaration;
// arguments the core does not interpret (an adapter's own, such as
// x-sqs-*) change freely.

// fixedArgs are the core's arguments SetQueueArguments cannot change.
// x-content-deduplication and x-deduplication-scope can on a queue with
// x-message-deduplication (its cache exists; they change how ids are
// made), not on others.
var fixedArgs = map[string]bool{
	"x-max-priority": true, "x-single-active-consumer": true, "x-queue-type": true,
	"x-message-deduplication": true, "x-content-deduplication": true, "x-message-groups": true,
	"x-deduplication-scope": true,
}

// changeableWithDedup are the fixedArgs a queue with de-duplication on
// may change.
var changeableWithDedup = map[string]bool{"x-content-deduplication": true, "x-deduplication-scope": true}

// SetQueueArguments changes a live queue's arguments: set adds or
// replaces, unset removes. An argument in fixedArgs cannot change
// (PRECONDITION_FAILED naming it); new values are checked as at declare.
// A change applies as a policy change does (policy_apply.go): a lower
// length limit drops at once; messages already enqueued keep their expiry
// and delay, deliveries their lease. The new arguments are saved with the
// definitions when the queue is durable.
func (v *VHost) SetQueueArguments(name string, set message.Table, unset []string) error {
	q, ok := v.Queue(name)
	if !ok {
		return errNoQueue(name, v.name)
	}
	v.mu.Lock()
	if v.queues[name] != q {
		v.mu.Unlock()
		return errNoQueue(name, v.name)
	}
	old := q.arguments()
	args := maps.Clone(old)
	if args == nil {
		args = message.Table{}
	}
	for k, val := range set {
		args[k] = val
	}
	for _, k := range unset {
		delete(args, k)
	}
	withDedup := q.config().dedup
	for k := range fixedArgs {
		if withDedup && changeableWithDedup[k] {
			continue
		}
		hv, had := old[k]
		nv, has := args[k]
		if had == has && (!had || valuesEqual(hv, nv)) {
			continue
		}
		v.mu.Unlock()
		return errorf(CodePreconditionFailed, "arg '%s' of queue '%s' in vhost '%s' cannot be changed on a live queue", k, name, v.name)
	}
	cfg, err := parseQueueArgs(name, v.name, args)
	if err == nil && cfg.cacheSize > v.b.cfg.MaxDedupCacheSize {
		err = errorf(CodePreconditionFailed,
			"invalid arg 'x-cache-size' for queue '%s' in vhost '%s': %d is above this broker's limit of %d ids (--max-dedup-ids)",
			name, v.name, cfg.cacheSize, v.b.cfg.MaxDedupCacheSize)
	}
	if err != nil {
		v.mu.Unlock()
		return err
	}
	q.mu.Lock()
	q.args = args
	cur := q.config()
	q.reconfigureLocked(withPolicies(cfg, args, cur.policy, cur.opPolicy, cur))
	v.mu.Unlock()
	q.release() // off v.mu: what a lower limit dropped may be dead-lettered
	if q.durable {
		return v.b.saveDefinitions()
	}
	return nil
}
