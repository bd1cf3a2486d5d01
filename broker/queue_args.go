package broker

import (
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// Overflow behaviours for x-overflow.
const (
	OverflowDropHead         = "drop-head"
	OverflowRejectPublish    = "reject-publish"
	OverflowRejectPublishDLX = "reject-publish-dlx"
)

// MaxShortString is the longest AMQP short string, the encoding of
// exchange names, queue names and routing keys on the wire: a name or key
// an argument makes inside the broker must fit it.
const MaxShortString = 255

// queueConfig is a queue's configuration: its arguments, parsed and
// checked, with its policies applied (policy_apply.go). A value in use by
// a queue is never changed: a change makes a new one.
type queueConfig struct {
	messageTTL     time.Duration // x-message-ttl; hasTTL says whether set
	hasTTL         bool
	expires        time.Duration // x-expires; 0 = never
	maxLength      int64         // x-max-length; -1 = none
	maxLengthBytes int64         // x-max-length-bytes; -1 = none
	overflow       string
	hasDLX         bool
	// keepExpired is x-dead-letter-expired false (ours): messages that
	// expire are dropped, not dead-lettered, as SQS deletes what passes
	// its retention period whatever the queue's RedrivePolicy.
	keepExpired  bool
	dlx          string
	hasDLRK      bool
	dlrk         string
	maxPriority  uint8 // 0 = not a priority queue
	singleActive bool

	quorum        bool
	deliveryLimit int64         // x-delivery-limit; -1 = none
	hasDelay      bool          // x-delivery-delay set: delays are honoured
	delay         time.Duration // x-delivery-delay, the default delay
	visibility    time.Duration // x-visibility-timeout; 0 = no lease
	maxMsgSize    int64         // x-max-message-size; 0 = broker default only
	dedup         bool          // x-message-deduplication
	contentDedup  bool          // x-content-deduplication (ours)
	dedupByGroup  bool          // x-deduplication-scope "message-group" (ours)
	cacheSize     int64         // x-cache-size
	cacheTTL      time.Duration // x-cache-ttl
	groups        bool          // x-message-groups (ours)

	// The policy and operator policy applied, and their merged
	// definition (nil without either).
	policy, opPolicy *compiledPolicy
	policyDef        map[string]any
}

// queueArgChecks validates each argument RabbitMQ knows for classic queues.
// Unknown arguments are kept and ignored, as RabbitMQ does, so clients that
// send optional hints keep working.
func parseQueueArgs(name, vhost string, args message.Table) (queueConfig, error) {
	cfg := queueConfig{maxLength: -1, maxLengthBytes: -1, overflow: OverflowDropHead, deliveryLimit: -1,
		cacheSize: defaultCacheSize, cacheTTL: defaultCacheTTL}
	bad := func(arg string, why string) error {
		return errorf(CodePreconditionFailed, "invalid arg '%s' for queue '%s' in vhost '%s': %s", arg, name, vhost, why)
	}
	nonNeg := func(arg string, v any, allowZero bool) (int64, error) {
		n, ok := message.Int(v)
		if !ok {
			return 0, bad(arg, fmt.Sprintf("\"expected integer, got %s\"", message.TypeName(v)))
		}
		if n < 0 {
			return 0, bad(arg, fmt.Sprintf("{value_negative,%d}", n))
		}
		if n == 0 && !allowZero {
			return 0, bad(arg, "{value_zero,0}")
		}
		return n, nil
	}
	// millis reads a time in milliseconds. RabbitMQ bounds x-message-ttl
	// and x-expires at 2^32-1 ms (about 49.7 days) with value_too_large;
	// sluice's own time arguments get the same bound, so that no value
	// overflows a time.Duration (2^62 ms wrapped to 0: "never").
	millis := func(arg string, v any, zeroOK bool) (int64, error) {
		n, err := nonNeg(arg, v, zeroOK)
		if err == nil && n > maxMillisArg {
			err = bad(arg, fmt.Sprintf("{value_too_large,%d,%d}", n, int64(maxMillisArg)))
		}
		return n, err
	}
	str := func(arg string, v any) (string, error) {
		s, ok := v.(string)
		if !ok {
			if b, isBytes := v.([]byte); isBytes {
				return string(b), nil
			}
			return "", bad(arg, fmt.Sprintf("{unacceptable_type,%s}", message.TypeName(v)))
		}
		return s, nil
	}
	for k, v := range args {
		var err error
		switch k {
		case "x-message-ttl":
			var n int64
			if n, err = millis(k, v, true); err == nil {
				cfg.messageTTL, cfg.hasTTL = time.Duration(n)*time.Millisecond, true
			}
		case "x-expires":
			var n int64
			if n, err = millis(k, v, false); err == nil {
				cfg.expires = time.Duration(n) * time.Millisecond
			}
		case "x-max-length":
			cfg.maxLength, err = nonNeg(k, v, true)
		case "x-max-length-bytes":
			cfg.maxLengthBytes, err = nonNeg(k, v, true)
		case "x-overflow":
			var s string
			if s, err = str(k, v); err == nil {
				switch s {
				case OverflowDropHead, OverflowRejectPublish, OverflowRejectPublishDLX:
					cfg.overflow = s
				default:
					err = bad(k, "invalid_overflow")
				}
			}
		case "x-dead-letter-exchange", "x-dead-letter-routing-key":
			sv, ok := message.String(v)
			if !ok {
				err = errorf(CodePreconditionFailed, "invalid type '%s' for arg '%s' in queue '%s' in vhost '%s'", message.TypeName(v), k, name, vhost)
			} else if len(sv) > MaxShortString {
				// It becomes the exchange or routing key of every message
				// the queue dead-letters, which AMQP carries as a short
				// string: a longer one could never be delivered.
				err = bad(k, fmt.Sprintf("%d bytes, longer than the %d an AMQP exchange name or routing key can hold", len(sv), MaxShortString))
			} else if k == "x-dead-letter-exchange" {
				cfg.dlx, cfg.hasDLX = sv, true
			} else {
				cfg.dlrk, cfg.hasDLRK = sv, true
			}
		case "x-queue-mode":
			// Lazy mode is how sluice pages anyway; the value is checked
			// as RabbitMQ does.
			if sv, _ := message.String(v); sv != "default" && sv != "lazy" {
				err = bad(k, fmt.Sprintf("\"unsupported queue mode '%s'\"", sv))
			}
		case "x-max-priority":
			var n int64
			if n, err = nonNeg(k, v, true); err == nil {
				if n > 255 {
					err = bad(k, fmt.Sprintf("{max_value_exceeded,%d}", n))
				}
				cfg.maxPriority = uint8(n)
			}
		case "x-single-active-consumer":
			b, ok := v.(bool)
			if !ok {
				err = bad(k, fmt.Sprintf("{unacceptable_type,%s}", message.TypeName(v)))
			}
			cfg.singleActive = b
		case "x-queue-type":
			var s string
			if s, err = str(k, v); err == nil {
				switch s {
				case "classic":
				case "quorum":
					cfg.quorum = true
				case "stream":
					err = bad(k, "\"unsupported queue type 'stream'\": sluice has classic and quorum queues, no streams")
				default:
					err = bad(k, fmt.Sprintf("\"unsupported queue type '%s'\"", s))
				}
			}
		case "x-delivery-limit":
			cfg.deliveryLimit, err = nonNeg(k, v, true)
		case "x-delivery-delay":
			var n int64
			if n, err = millis(k, v, true); err == nil {
				cfg.hasDelay, cfg.delay = true, time.Duration(n)*time.Millisecond
			}
		case "x-visibility-timeout":
			var n int64
			if n, err = millis(k, v, false); err == nil {
				cfg.visibility = time.Duration(n) * time.Millisecond
			}
		case "x-max-message-size":
			cfg.maxMsgSize, err = nonNeg(k, v, false)
		case "x-message-deduplication", "x-content-deduplication", "x-message-groups":
			b, ok := v.(bool)
			if !ok {
				err = bad(k, fmt.Sprintf("{unacceptable_type,%s}", message.TypeName(v)))
			}
			switch k {
			case "x-message-deduplication":
				cfg.dedup = b
			case "x-content-deduplication":
				cfg.contentDedup = b
			default:
				cfg.groups = b
			}
		case "x-dead-letter-expired":
			b, ok := v.(bool)
			if !ok {
				err = bad(k, fmt.Sprintf("{unacceptable_type,%s}", message.TypeName(v)))
			}
			cfg.keepExpired = !b
		case "x-deduplication-scope":
			switch s, _ := message.String(v); s {
			case "queue":
				cfg.dedupByGroup = false
			case "message-group":
				cfg.dedupByGroup = true
			default:
				err = bad(k, fmt.Sprintf("%v (want queue or message-group)", v))
			}
		case "x-cache-size":
			cfg.cacheSize, err = nonNeg(k, v, false)
		case "x-cache-ttl":
			var n int64
			if n, err = millis(k, v, false); err == nil {
				cfg.cacheTTL = time.Duration(n) * time.Millisecond
			}
		}
		if err != nil {
			return cfg, err
		}
	}
	if cfg.hasDLRK && !cfg.hasDLX {
		return cfg, bad("x-dead-letter-routing-key", "routing_key_but_no_dlx_defined")
	}
	if cfg.quorum && cfg.maxPriority > 0 {
		return cfg, errorf(CodePreconditionFailed, "invalid arg 'x-max-priority' for queue '%s' in vhost '%s' of queue type rabbit_quorum_queue", name, vhost)
	}
	if cfg.quorum && cfg.deliveryLimit < 0 {
		// RabbitMQ 4's default for quorum queues: poison messages stop
		// after 20 returns instead of looping forever.
		cfg.deliveryLimit = defaultQuorumDeliveryLimit
	}
	return cfg, nil
}

const (
	defaultQuorumDeliveryLimit = 20
	defaultCacheSize           = 100000
	defaultCacheTTL            = 5 * time.Minute // SQS's de-duplication window
)

// equivalentArgs are the queue arguments RabbitMQ compares on a redeclare;
// others may differ between declarations.
var equivalentArgs = []string{
	"x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-overflow",
	"x-dead-letter-exchange", "x-dead-letter-routing-key", "x-max-priority",
	"x-single-active-consumer", "x-queue-type", "x-delivery-limit", "x-delivery-delay",
	"x-visibility-timeout", "x-max-message-size", "x-message-deduplication", "x-content-deduplication",
	"x-message-groups", "x-deduplication-scope",
}

// argsEquivalent checks a redeclare's arguments against the queue's and
// names the first difference in RabbitMQ's words.
func argsEquivalent(kind, name, vhost string, have, got message.Table, keys []string) error {
	for _, k := range keys {
		hv, hok := have[k]
		gv, gok := got[k]
		if k == "x-queue-type" {
			// An absent type and "classic" are the same queue.
			if !hok {
				hv, hok = "classic", true
			}
			if !gok {
				gv, gok = "classic", true
			}
		}
		if hok == gok && (!hok || valuesEqual(hv, gv)) {
			continue
		}
		if k == "x-queue-type" {
			// Report what was really sent and stored.
			hv, hok = have[k]
			gv, gok = got[k]
		}
		if hok && gok {
			return errorf(CodePreconditionFailed, "inequivalent arg '%s' for %s '%s' in vhost '%s': received '%s' but current is '%s'",
				k, kind, name, vhost, valueString(gv), valueString(hv))
		}
		return errorf(CodePreconditionFailed, "inequivalent arg '%s' for %s '%s' in vhost '%s': received %s but current is %s",
			k, kind, name, vhost, describeArg(gv, gok), describeArg(hv, hok))
	}
	return nil
}

func describeArg(v any, present bool) string {
	if !present {
		return "none"
	}
	return fmt.Sprintf("the value '%s' of type '%s'", valueString(v), message.TypeName(v))
}

// maxMillisArg is the largest time argument in milliseconds, RabbitMQ's
// bound for x-message-ttl and x-expires.
const maxMillisArg = 1<<32 - 1
