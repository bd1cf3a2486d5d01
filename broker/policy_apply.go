package broker

import (
	"maps"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// How policies reach queues and exchanges.
//
// A queue's configuration in force (queueConfig) is computed from three
// things — its arguments, the policy and the operator policy that match it
// — whenever any of them changes, and published through an atomic pointer
// as an immutable value. The hot paths (publish, delivery, dead-lettering)
// load it once per operation and never see half a change; the publish path
// stays free of locks and allocations for it. What changes takes effect as
// RabbitMQ's classic queue applies it (rabbit_amqqueue_process's
// process_args_policy): a lower max-length drops (or dead-letters) the
// oldest messages at once, a new expiry re-arms the idle timer, a new
// message TTL applies to messages enqueued from then on (those already in
// the queue keep the deadline they got), a new dead-letter exchange
// receives whatever dies from then on.
//
// A definition meets a queue's arguments as in RabbitMQ: for the numeric
// limits (minPolicyKeys) the lowest of argument, policy and operator
// policy applies; for the other keys the argument wins over the policy.
//
// Fixed at declaration (a later policy does not change them on a live
// queue; a queue declared, or recreated at start-up, while the policy is
// in force gets them): message-deduplication and message-groups, which
// shape the queue's structures. The arguments a policy cannot set at all
// (x-max-priority, x-queue-type, x-single-active-consumer) are refused in
// a policy as RabbitMQ refuses them.

// mergedDefinition is RabbitMQ's effective_definition: the policy's keys,
// with the operator policy's numeric limits capping them (the lower
// wins) and its booleans replacing them. nil when neither applies.
func mergedDefinition(pol, op *compiledPolicy) map[string]any {
	if pol == nil && op == nil {
		return nil
	}
	out := map[string]any{}
	if pol != nil {
		maps.Copy(out, pol.Definition)
	}
	if op != nil {
		for k, ov := range op.Definition {
			pv, both := out[k]
			if !both {
				out[k] = ov
				continue
			}
			pn, pInt := pv.(int64)
			on, oInt := ov.(int64)
			switch {
			case minPolicyKeys[k] && pInt && oInt:
				out[k] = min(pn, on)
			case isBool(pv) && isBool(ov):
				out[k] = ov
			}
		}
	}
	return out
}

// queueArgKey is the queue argument a definition key stands for.
func queueArgKey(k string) string { return "x-" + k }

// withPolicies returns cfg, parsed from args, with the merged definition
// def applied. fixed, when set, is the queue's configuration at
// declaration, whose structural fields stay.
func withPolicies(cfg queueConfig, args message.Table, pol, op *compiledPolicy, fixed *queueConfig) queueConfig {
	def := mergedDefinition(pol, op)
	cfg.policy, cfg.opPolicy, cfg.policyDef = pol, op, def
	for k, v := range def {
		_, hasArg := args[queueArgKey(k)]
		n, isInt := v.(int64)
		if minPolicyKeys[k] && isInt {
			applyLimit(&cfg, k, n, hasArg)
			continue
		}
		if hasArg {
			continue // the queue's own argument wins
		}
		switch k {
		case "overflow":
			cfg.overflow, _ = v.(string)
		case "dead-letter-exchange":
			cfg.dlx, cfg.hasDLX = v.(string), true
		case "dead-letter-routing-key":
			cfg.dlrk, cfg.hasDLRK = v.(string), true
		case "delivery-delay":
			cfg.hasDelay, cfg.delay = true, millisDuration(n)
		case "visibility-timeout":
			cfg.visibility = millisDuration(n)
		case "cache-ttl":
			cfg.cacheTTL = millisDuration(n)
		case "cache-size":
			cfg.cacheSize = n
		case "message-deduplication":
			cfg.dedup, _ = v.(bool)
		case "message-groups":
			cfg.groups, _ = v.(bool)
		}
	}
	if fixed != nil {
		cfg.maxPriority, cfg.singleActive, cfg.quorum = fixed.maxPriority, fixed.singleActive, fixed.quorum
		cfg.dedup, cfg.groups = fixed.dedup, fixed.groups
		if !fixed.dedup {
			// Without x-message-deduplication the cache exists only
			// for content de-duplication, so that stays as declared;
			// with it, content and scope follow the arguments.
			cfg.contentDedup, cfg.dedupByGroup = fixed.contentDedup, fixed.dedupByGroup
		}
	}
	return cfg
}

// applyLimit sets a numeric limit: the lower of the argument (when the
// queue has one) and the policy's value.
func applyLimit(cfg *queueConfig, k string, n int64, hasArg bool) {
	switch k {
	case "message-ttl":
		d := millisDuration(n)
		if !hasArg || d < cfg.messageTTL {
			cfg.messageTTL, cfg.hasTTL = d, true
		}
	case "expires":
		if d := millisDuration(n); !hasArg || d < cfg.expires {
			cfg.expires = d
		}
	case "max-length":
		if !hasArg || n < cfg.maxLength {
			cfg.maxLength = n
		}
	case "max-length-bytes":
		if !hasArg || n < cfg.maxLengthBytes {
			cfg.maxLengthBytes = n
		}
	case "delivery-limit":
		if !hasArg || n < cfg.deliveryLimit {
			cfg.deliveryLimit = n
		}
	case "max-message-size":
		if !hasArg || n < cfg.maxMsgSize {
			cfg.maxMsgSize = n
		}
	}
}

func millisDuration(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// matchQueue finds the policy and operator policy for a queue. v.mu held.
func (v *VHost) matchQueue(name string, quorum bool) (pol, op *compiledPolicy) {
	if noPolicy(name) {
		return nil, nil
	}
	return matchPolicy(v.pol.active, name, true, quorum), matchPolicy(v.pol.activeOp, name, true, quorum)
}

// reconfigureLocked makes cfg the queue's configuration and carries out
// what the change means for the messages it holds now. q.mu held; the
// caller releases (dead letters may be waiting).
func (q *Queue) reconfigureLocked(cfg queueConfig) {
	old := q.config()
	c := &cfg
	q.cfg.Store(c)
	now := time.Now().UnixNano()
	if q.dedup != nil {
		q.dedup.ttl, q.dedup.size = c.cacheTTL, int(c.cacheSize)
		q.dedup.content, q.dedup.byGroup = c.contentDedup, c.dedupByGroup
	}
	if c.expires != old.expires {
		q.rearmIdleLocked(now)
	}
	if c.overflow == OverflowDropHead {
		for q.overLimit(c) {
			q.dropLocked(q.ready.popOldest(), "maxlen")
		}
	}
	q.updateFlowLocked(now)
	q.armExpiryLocked(now)
}

// rearmIdleLocked points the x-expires timer at the queue's expiry as it
// is now, counted from its last use. q.mu held.
func (q *Queue) rearmIdleLocked(now int64) {
	exp := q.config().expires
	if exp == 0 || q.deleted {
		if q.idleTimer != nil {
			q.idleTimer.Stop()
		}
		return
	}
	if len(q.consumers) > 0 {
		return // armed again when the last consumer leaves
	}
	left := max(exp-time.Duration(now-q.lastUsed), 0)
	if q.idleTimer == nil {
		q.idleTimer = time.AfterFunc(left, q.idleCheck)
	} else {
		q.idleTimer.Reset(left)
	}
}

// applyPolicies brings every queue and exchange of v in line with v's
// policies, after a change to them. The caller holds b.policyMu, so that
// changes apply in the order they were made.
func (v *VHost) applyPolicies() {
	type change struct {
		q       *Queue
		pol, op *compiledPolicy
	}
	var changes []change
	v.mu.Lock()
	v.pol.active = sortedPolicies(v.pol.policies)
	v.pol.activeOp = sortedPolicies(v.pol.opPolicies)
	for _, x := range v.exchanges {
		x.setPolicies(matchPolicy(v.pol.active, x.name, false, false), matchPolicy(v.pol.activeOp, x.name, false, false))
	}
	for _, q := range v.queues {
		quorum := q.config().quorum
		pol, op := v.matchQueue(q.name, quorum)
		if c := q.config(); c.policy != pol || c.opPolicy != op {
			changes = append(changes, change{q, pol, op})
		}
	}
	v.mu.Unlock()
	// Off v.mu: a queue's release may dead-letter, which routes.
	for _, ch := range changes {
		q := ch.q
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			continue
		}
		cfg, err := parseQueueArgs(q.name, v.name, q.args)
		if err == nil {
			q.reconfigureLocked(withPolicies(cfg, q.args, ch.pol, ch.op, q.config()))
		}
		q.release()
	}
}

func sortedPolicies(m map[string]*compiledPolicy) []*compiledPolicy {
	out := slices.Collect(maps.Values(m))
	sortPolicies(out)
	return out
}

// setPolicies applies a policy and an operator policy to x: today the
// alternate exchange, which the exchange's own argument overrides.
// v.mu held.
func (x *Exchange) setPolicies(pol, op *compiledPolicy) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.policy, x.opPolicy = pol, op
	x.alternate = x.argAlternate
	if x.alternate == "" {
		if ae, ok := mergedDefinition(pol, op)["alternate-exchange"].(string); ok {
			x.alternate = ae
		}
	}
}

// Policy is the name of the policy applied to the queue, "" for none.
func (q *Queue) Policy() string { return policyName(q.config().policy) }

// OperatorPolicy is the name of the operator policy applied to the queue.
func (q *Queue) OperatorPolicy() string { return policyName(q.config().opPolicy) }

// EffectivePolicyDefinition is the definition the queue's policy and
// operator policy make together (RabbitMQ's effective_policy_definition;
// the queue's own arguments are not in it). Empty, not nil, when none.
func (q *Queue) EffectivePolicyDefinition() map[string]any {
	return maps.Clone(nonNilDef(q.config().policyDef))
}

// Policy is the name of the policy applied to the exchange, "" for none.
func (x *Exchange) Policy() string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return policyName(x.policy)
}

// OperatorPolicy is the name of the operator policy applied to the exchange.
func (x *Exchange) OperatorPolicy() string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return policyName(x.opPolicy)
}

// EffectivePolicyDefinition is the exchange's merged policy definition.
func (x *Exchange) EffectivePolicyDefinition() map[string]any {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return maps.Clone(nonNilDef(mergedDefinition(x.policy, x.opPolicy)))
}

func policyName(p *compiledPolicy) string {
	if p == nil {
		return ""
	}
	return p.Name
}

func nonNilDef(d map[string]any) map[string]any {
	if d == nil {
		return map[string]any{}
	}
	return d
}
