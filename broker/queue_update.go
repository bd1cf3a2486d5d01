package broker

import (
	"maps"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// Changing a live queue's arguments (the SQS API's SetQueueAttributes and
// tags; what RabbitMQ does with policies). Only arguments the queue reads
// under its own lock may change — the visibility lease, the default delay,
// the message TTL and the delivery limit — and arguments the core does not
// interpret (an adapter's own, such as x-sqs-*). The others are read
// without the queue's lock on the publish and dead-letter paths, or shape
// the queue's structure (priorities, groups, de-duplication), and are
// fixed at declaration.

// liveArgs are the core's arguments SetQueueArguments may change.
var liveArgs = map[string]bool{
	"x-visibility-timeout": true, "x-delivery-delay": true, "x-message-ttl": true, "x-delivery-limit": true,
}

// coreArgs are every argument the core interprets (parseQueueArgs).
var coreArgs = map[string]bool{
	"x-message-ttl": true, "x-expires": true, "x-max-length": true, "x-max-length-bytes": true, "x-overflow": true,
	"x-dead-letter-exchange": true, "x-dead-letter-routing-key": true, "x-queue-mode": true, "x-max-priority": true,
	"x-single-active-consumer": true, "x-queue-type": true, "x-delivery-limit": true, "x-delivery-delay": true,
	"x-visibility-timeout": true, "x-max-message-size": true, "x-message-deduplication": true,
	"x-content-deduplication": true, "x-message-groups": true, "x-cache-size": true, "x-cache-ttl": true,
}

// SetQueueArguments changes a live queue's arguments: set adds or
// replaces, unset removes. A core argument outside liveArgs cannot change
// (PRECONDITION_FAILED naming it); new values are checked as at declare.
// A change applies to what happens from then on: messages already
// enqueued keep their expiry and delay, deliveries their lease. The new
// arguments are saved with the definitions when the queue is durable.
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
	for k := range coreArgs {
		hv, had := old[k]
		nv, has := args[k]
		if had == has && (!had || valuesEqual(hv, nv)) {
			continue
		}
		if !liveArgs[k] {
			v.mu.Unlock()
			return errorf(CodePreconditionFailed, "arg '%s' of queue '%s' in vhost '%s' cannot be changed on a live queue", k, name, v.name)
		}
	}
	cfg, err := parseQueueArgs(name, v.name, args)
	if err != nil {
		v.mu.Unlock()
		return err
	}
	q.mu.Lock()
	q.args = args
	// Field by field: the other fields are read without q.mu elsewhere.
	q.cfg.visibility = cfg.visibility
	q.cfg.hasDelay, q.cfg.delay = cfg.hasDelay, cfg.delay
	q.cfg.hasTTL, q.cfg.messageTTL = cfg.hasTTL, cfg.messageTTL
	q.cfg.deliveryLimit = cfg.deliveryLimit
	q.armExpiryLocked(time.Now().UnixNano())
	q.mu.Unlock()
	v.mu.Unlock()
	if q.durable {
		return v.b.saveDefinitions()
	}
	return nil
}
