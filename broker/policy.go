package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"

	"github.com/sluice-mq/sluice/broker/message"
)

// Policies and operator policies, as RabbitMQ has them (rabbit_policy,
// rabbit_policies): per vhost, a named pattern over queue and exchange
// names with an apply-to, a priority and a definition of optional
// arguments. Of the policies that match an object, the one with the
// highest priority applies; likewise one operator policy, whose numeric
// limits cap the policy's (see policy_apply.go for how a definition meets
// a queue's own arguments, and live changes).
//
// Equal priorities: RabbitMQ takes whichever its parameter table lists
// first, an order it does not define; sluice takes the policy whose name
// sorts first, so that the choice is the same on every start.

// Policy is one policy or operator policy.
type Policy struct {
	VHost, Name, Pattern, ApplyTo string
	Priority                      int
	// Definition holds the policy's keys (message-ttl, max-length, ...)
	// with values normalised by SetPolicy: integers int64, strings,
	// booleans, lists []any.
	Definition map[string]any
}

// Apply-to values. classic_queues and quorum_queues are RabbitMQ 3.12's.
const (
	ApplyToAll           = "all"
	ApplyToQueues        = "queues"
	ApplyToClassicQueues = "classic_queues"
	ApplyToQuorumQueues  = "quorum_queues"
	ApplyToExchanges     = "exchanges"
)

// compiledPolicy is a policy in force: its pattern compiled.
type compiledPolicy struct {
	Policy
	re *policyPattern
}

// policyPattern is a pattern compiled to Go regular expressions. Go has
// no look-around; the one form of it policies commonly use — a leading
// negative look-ahead, as in "^(?!amq\.).*", which keeps a policy off
// the amq.* names — is taken apart: the name must match the rest of the
// pattern and must not match the look-ahead's body at the start.
type policyPattern struct {
	re  *regexp.Regexp
	not *regexp.Regexp // nil when the pattern has no leading look-ahead
}

func (p *policyPattern) match(name string) bool {
	return p.re.MatchString(name) && (p.not == nil || !p.not.MatchString(name))
}

// compilePattern compiles a policy pattern, or says what is wrong with it.
func compilePattern(pat string) (*policyPattern, error) {
	if rest, ok := strings.CutPrefix(pat, "^(?!"); ok {
		end := lookaheadEnd(rest)
		if end < 0 {
			return nil, fmt.Errorf("missing ) at position %d", len(pat))
		}
		not, err := regexp.Compile(`^(?:` + rest[:end] + `)`)
		if err != nil {
			return nil, err
		}
		re, err := regexp.Compile(`^(?:` + rest[end+1:] + `)`)
		if err != nil {
			return nil, err
		}
		return &policyPattern{re: re, not: not}, nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, err
	}
	return &policyPattern{re: re}, nil
}

// lookaheadEnd finds the parenthesis that closes a group whose opening
// precedes s, skipping escapes and bracket expressions; -1 if none.
func lookaheadEnd(s string) int {
	depth, inClass := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			if i+1 < len(s) && s[i+1] == ']' {
				i++ // "[]...]": a leading ] is a member
			}
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

// appliesTo reports whether a policy with apply-to a covers a queue
// (quorum says which kind) or, with isQueue false, an exchange.
func appliesTo(a string, isQueue, quorum bool) bool {
	switch a {
	case ApplyToAll:
		return true
	case ApplyToExchanges:
		return !isQueue
	case ApplyToQueues:
		return isQueue
	case ApplyToClassicQueues:
		return isQueue && !quorum
	case ApplyToQuorumQueues:
		return isQueue && quorum
	}
	return false
}

// sortPolicies orders policies as they are tried: highest priority first,
// then by name.
func sortPolicies(ps []*compiledPolicy) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Priority != ps[j].Priority {
			return ps[i].Priority > ps[j].Priority
		}
		return ps[i].Name < ps[j].Name
	})
}

// matchPolicy is the policy among ps (sorted) that applies to the named
// object, or nil.
func matchPolicy(ps []*compiledPolicy, name string, isQueue, quorum bool) *compiledPolicy {
	for _, p := range ps {
		if appliesTo(p.ApplyTo, isQueue, quorum) && p.re.match(name) {
			return p
		}
	}
	return nil
}

// noPolicy says whether a queue named name never takes policies: the
// private queues behind direct reply-to, which RabbitMQ has no queue for.
func noPolicy(name string) bool { return strings.HasPrefix(name, "amq.rabbitmq.reply-to.") }

// ---- validation, in rabbit_policy's and rabbit_policies' words ----

// minPolicyKeys are the numeric limits where the lowest value wins: when
// a policy meets an operator policy (merge_policy_value) and when either
// meets a queue's argument (the classic queue's res_min). max-message-size
// is sluice's own.
var minPolicyKeys = map[string]bool{
	"message-ttl": true, "expires": true, "max-length": true, "max-length-bytes": true,
	"max-in-memory-length": true, "max-in-memory-bytes": true, "delivery-limit": true,
	"max-message-size": true,
}

// operatorPolicyKeys are the keys an operator policy may hold.
var operatorPolicyKeys = map[string]bool{
	"expires": true, "message-ttl": true, "max-length": true, "max-length-bytes": true,
	"max-in-memory-length": true, "max-in-memory-bytes": true, "delivery-limit": true,
	"max-message-size": true,
}

// keyCheck validates one definition value; ok false makes the error
// "<value> is not a valid <what>".
type keyCheck struct {
	what string
	ok   func(v any) bool
}

func intAtLeast(lo int64) func(any) bool {
	return func(v any) bool { n, ok := v.(int64); return ok && n >= lo }
}

func intIn(lo, hi int64) func(any) bool {
	return func(v any) bool { n, ok := v.(int64); return ok && n >= lo && n <= hi }
}

func isString(v any) bool { _, ok := v.(string); return ok }

func isBool(v any) bool { _, ok := v.(bool); return ok }

func oneOf(vals ...string) func(any) bool {
	return func(v any) bool { s, ok := v.(string); return ok && slices.Contains(vals, s) }
}

func shortString(v any) bool { s, ok := v.(string); return ok && len(s) <= MaxShortString }

// policyKeys are the keys a policy may hold. Some are RabbitMQ's for
// features sluice has no use for (mirroring, queue versions, in-memory
// limits, streams): they are checked as RabbitMQ checks them and then
// have no effect, so that policies exported from RabbitMQ load unchanged
// (docs/ARCHITECTURE.md lists them).
var policyKeys = map[string]keyCheck{
	"alternate-exchange":      {"alternate exchange name", shortString},
	"dead-letter-exchange":    {"dead letter exchange name", shortString},
	"dead-letter-routing-key": {"dead letter routing key", shortString},
	// RabbitMQ checks no upper bound; sluice keeps time values within
	// what a queue argument may hold (maxMillisArg).
	"message-ttl":      {"message TTL", intIn(0, maxMillisArg)},
	"expires":          {"queue expiry", intIn(1, maxMillisArg)},
	"max-length":       {"maximum length", intAtLeast(0)},
	"max-length-bytes": {"maximum length in bytes", intAtLeast(0)},
	"overflow":         {"overflow value", oneOf(OverflowDropHead, OverflowRejectPublish, OverflowRejectPublishDLX)},
	"delivery-limit":   {"delivery limit", intAtLeast(0)},
	// Sluice's own queue features, under their argument names without x-.
	"delivery-delay":        {"delivery delay", intIn(0, maxMillisArg)},
	"visibility-timeout":    {"visibility timeout", intIn(1, maxMillisArg)},
	"max-message-size":      {"maximum message size", intAtLeast(1)},
	"message-deduplication": {"message deduplication flag", isBool},
	"message-groups":        {"message groups flag", isBool},
	"cache-ttl":             {"deduplication cache TTL", intIn(1, maxMillisArg)},
	"cache-size":            {"deduplication cache size", intAtLeast(1)},
	// RabbitMQ's, without effect here.
	"dead-letter-strategy":          {"dead letter strategy", oneOf("at-most-once", "at-least-once")},
	"max-in-memory-length":          {"maximum memory in bytes", intAtLeast(0)},
	"max-in-memory-bytes":           {"maximum memory in bytes", intAtLeast(0)},
	"queue-mode":                    {"queue-mode value", oneOf("default", "lazy")},
	"queue-version":                 {"queue-version value", func(v any) bool { n, ok := v.(int64); return ok && (n == 1 || n == 2) }},
	"queue-leader-locator":          {"queue leader locator value", oneOf("client-local", "balanced", "random", "least-leaders")},
	"initial-cluster-size":          {"cluster size", intAtLeast(0)},
	"max-age":                       {"max age", validMaxAge},
	"stream-max-segment-size-bytes": {"segment size", intIn(0, 3_000_000_000)},
	"queue-master-locator":          {"queue-master-locator", oneOf("min-masters", "client-local", "random")},
	"ha-mode":                       {"ha-mode", oneOf("all", "exactly", "nodes")},
	"ha-params":                     {"ha-params", func(any) bool { return true }},
	"ha-sync-mode":                  {"ha-sync-mode", oneOf("manual", "automatic")},
	"ha-sync-batch-size":            {"ha-sync-batch-size", intAtLeast(1)},
	"ha-promote-on-shutdown":        {"ha-promote-on-shutdown", oneOf("always", "when-synced")},
	"ha-promote-on-failure":         {"ha-promote-on-failure", oneOf("always", "when-synced")},
}

// validMaxAge is rabbit_amqqueue:check_max_age: a number and a unit.
func validMaxAge(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	for _, u := range []string{"Y", "M", "D", "h", "m", "s"} {
		if n, cut := strings.CutSuffix(s, u); cut && n != "" && strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	return false
}

// checkDefinition validates a normalised definition and returns the
// error line RabbitMQ would write, or "".
func checkDefinition(def map[string]any, operator bool, maxCacheSize int64) string {
	if len(def) == 0 {
		return "no policy provided"
	}
	keys := slices.Sorted(maps.Keys(def))
	var unknown []string
	for _, k := range keys {
		c, known := policyKeys[k]
		if operator && !operatorPolicyKeys[k] {
			known = false
		}
		if !known {
			unknown = append(unknown, "{<<\""+k+"\">>,"+erlangTerm(def[k])+"}")
			continue
		}
		v := def[k]
		if k == "ha-mode" || k == "ha-params" {
			if msg := checkHA(def); msg != "" {
				return msg
			}
			continue
		}
		if strings.HasPrefix(k, "ha-") && def["ha-mode"] == nil {
			return "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
		}
		if !c.ok(v) {
			return erlangTerm(v) + " is not a valid " + c.what
		}
		if k == "cache-size" && v.(int64) > maxCacheSize {
			return fmt.Sprintf("%d is not a valid %s: this broker's limit is %d ids (--max-dedup-ids)", v, c.what, maxCacheSize)
		}
	}
	if len(unknown) > 0 {
		return "[" + strings.Join(unknown, ",") + "] are not recognised policy settings"
	}
	return ""
}

// checkHA checks ha-mode and ha-params together, as rabbit_mirror_queue_misc.
func checkHA(def map[string]any) string {
	mode, hasMode := def["ha-mode"]
	params, hasParams := def["ha-params"]
	if !hasMode {
		return "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
	}
	switch mode {
	case "all":
		if hasParams {
			return "ha-mode=\"all\" does not take parameters"
		}
	case "exactly":
		if n, ok := params.(int64); !ok || n <= 0 {
			return "ha-mode=\"exactly\" takes an integer, " + erlangTerm(params) + " given"
		}
	case "nodes":
		l, ok := params.([]any)
		if ok && len(l) > 0 {
			for _, e := range l {
				if !isString(e) {
					ok = false
				}
			}
		}
		if !ok || len(l) == 0 {
			return "ha-mode=\"nodes\" takes a non-empty list of nodes, " + erlangTerm(params) + " given"
		}
	default:
		return erlangTerm(mode) + " is not a valid ha-mode value"
	}
	return ""
}

// erlangTerm writes a JSON value as RabbitMQ's ~p shows it in a message:
// strings as binaries, null as the atom.
func erlangTerm(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "<<\"" + v + "\">>"
	case bool:
		return fmt.Sprint(v)
	case int64:
		return fmt.Sprint(v)
	case float64:
		s := fmt.Sprint(v)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = erlangTerm(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case message.Table:
		keys := slices.Sorted(maps.Keys(v))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "<<\"" + k + "\">> => " + erlangTerm(v[k])
		}
		return "#{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprint(v)
}

// normalizeValue turns a definition value from any source (JSON decoded
// with or without UseNumber, Go literals, the storage codec) into the
// forms the checks expect: integers int64, other numbers float64, lists
// []any, objects message.Table.
func normalizeValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			if n, err := v.Int64(); err == nil {
				return n
			}
		}
		f, _ := v.Float64()
		return f
	case float64:
		// A caller that decoded JSON without UseNumber has only float64:
		// a whole number is taken for the integer it was.
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
		return v
	case float32:
		return normalizeValue(float64(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalizeValue(e)
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out
	case map[string]any:
		return normalizeTable(v)
	case message.Table:
		return normalizeTable(v)
	case []byte:
		return string(v)
	}
	if n, ok := message.Int(v); ok {
		return n
	}
	return v
}

func normalizeTable(m map[string]any) message.Table {
	out := make(message.Table, len(m))
	for k, e := range m {
		out[k] = normalizeValue(e)
	}
	return out
}

// checkPolicy normalises p and validates it. The error lists every
// problem as RabbitMQ's runtime parameter validation does: "Validation
// failed", a blank line, one line each (the definition's first, then
// apply-to's, the pattern's, the priority's).
func (b *Broker) checkPolicy(p *Policy, operator bool) (*policyPattern, error) {
	re, lines := b.policyProblems(p, operator)
	if len(lines) > 0 {
		return nil, &PolicyError{Reason: "Validation failed\n\n" + strings.Join(lines, "\n") + "\n"}
	}
	return re, nil
}

// PolicyProblems lists what is wrong with p, one line each as RabbitMQ
// words them (definition, apply-to, pattern), for a caller that has
// problems of its own to add (the HTTP API's priority of the wrong type).
func (b *Broker) PolicyProblems(p Policy, operator bool) []string {
	_, lines := b.policyProblems(&p, operator)
	return lines
}

func (b *Broker) policyProblems(p *Policy, operator bool) (*policyPattern, []string) {
	if p.ApplyTo == "" {
		p.ApplyTo = ApplyToAll
	}
	def := make(map[string]any, len(p.Definition))
	for k, v := range p.Definition {
		def[k] = normalizeValue(v)
	}
	p.Definition = def
	var lines []string
	if msg := checkDefinition(def, operator, b.cfg.MaxDedupCacheSize); msg != "" {
		lines = append(lines, msg)
	}
	switch p.ApplyTo {
	case ApplyToAll, ApplyToQueues, ApplyToExchanges, ApplyToClassicQueues, ApplyToQuorumQueues:
	default:
		lines = append(lines, fmt.Sprintf("apply-to '%s' unrecognised; should be 'queues', 'classic_queues', 'quorum_queues', 'exchanges' or 'all'", p.ApplyTo))
	}
	re, err := compilePattern(p.Pattern)
	if err != nil {
		lines = append(lines, fmt.Sprintf("pattern should be regular expression but is invalid: {%q,%d}", pcreMessage(err), len(p.Pattern)))
	}
	return re, lines
}

// pcreMessage words a pattern's error as PCRE (Erlang's re) does for the
// common mistakes, so that the 400 reads as RabbitMQ's; Go's own text
// otherwise. (The offset given with it is the pattern's length: Go's
// parser does not say where.)
func pcreMessage(err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	switch se.Code {
	case syntax.ErrMissingParen:
		return "missing )"
	case syntax.ErrUnexpectedParen:
		return "unmatched parentheses"
	case syntax.ErrMissingBracket:
		return "missing terminating ] for character class"
	case syntax.ErrMissingRepeatArgument:
		return "nothing to repeat"
	case syntax.ErrTrailingBackslash:
		return "\\ at end of pattern"
	}
	return se.Error()
}

// PolicyError is a policy refused by validation; Reason is the text
// RabbitMQ's HTTP API gives in its 400.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }
