package broker

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

func mustSetPolicy(t *testing.T, b *Broker, p Policy, operator bool) {
	t.Helper()
	if p.VHost == "" {
		p.VHost = "/"
	}
	if err := b.SetPolicy(p, operator); err != nil {
		t.Fatalf("SetPolicy(%+v): %v", p, err)
	}
}

func queueOf(t *testing.T, v *VHost, name string) *Queue {
	t.Helper()
	q, ok := v.Queue(name)
	if !ok {
		t.Fatalf("no queue %s", name)
	}
	return q
}

func TestPolicyMatchingAndPriority(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "orders.eu", nil)
	mustSetPolicy(t, b, Policy{Name: "low", Pattern: "^orders\\.", Priority: 1, Definition: map[string]any{"max-length": 10}}, false)
	mustSetPolicy(t, b, Policy{Name: "high", Pattern: "eu$", Priority: 5, Definition: map[string]any{"max-length": 20}}, false)
	mustSetPolicy(t, b, Policy{Name: "xs", Pattern: ".*", ApplyTo: "exchanges", Priority: 99, Definition: map[string]any{"alternate-exchange": "ae"}}, false)
	q := queueOf(t, v, "orders.eu")
	if got := q.Policy(); got != "high" {
		t.Fatalf("policy %q, want the higher priority's", got)
	}
	if d := q.EffectivePolicyDefinition(); d["max-length"] != int64(20) || len(d) != 1 {
		t.Fatalf("effective definition %v", d)
	}
	// Equal priorities: the name that sorts first.
	mustSetPolicy(t, b, Policy{Name: "a-same", Pattern: "orders", Priority: 5, Definition: map[string]any{"max-length": 30}}, false)
	if got := q.Policy(); got != "a-same" {
		t.Fatalf("tie went to %q", got)
	}
	// The exchange-only policy reaches exchanges, including new ones.
	x, _ := v.Exchange("amq.direct")
	if x.Policy() != "xs" {
		t.Fatalf("amq.direct has policy %q", x.Policy())
	}
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "later", Type: ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	later, _ := v.Exchange("later")
	if later.Policy() != "xs" || later.EffectivePolicyDefinition()["alternate-exchange"] != "ae" {
		t.Fatalf("new exchange: policy %q %v", later.Policy(), later.EffectivePolicyDefinition())
	}
	// A leading negative look-ahead, RabbitMQ's usual way to leave amq.* out.
	mustSetPolicy(t, b, Policy{Name: "not-amq", Pattern: `^(?!amq\.).*`, Priority: 100, Definition: map[string]any{"expires": 100000}}, false)
	if q.Policy() != "not-amq" || later.Policy() != "not-amq" {
		t.Fatalf("look-ahead pattern did not match orders.eu or later: %q %q", q.Policy(), later.Policy())
	}
	if x.Policy() != "xs" {
		t.Fatalf("look-ahead pattern matched amq.direct: %q", x.Policy())
	}
	// Deleting reverts to the next policy.
	if err := b.DeletePolicy("/", "not-amq", false); err != nil {
		t.Fatal(err)
	}
	if q.Policy() != "a-same" {
		t.Fatalf("after delete: %q", q.Policy())
	}
	if err := b.DeletePolicy("/", "not-amq", false); codeOf(err) != CodeNotFound {
		t.Fatalf("deleting a missing policy: %v", err)
	}
	if ps := b.Policies("/", false); len(ps) != 4 || ps[0].Name != "xs" || ps[1].Name != "a-same" || ps[2].Name != "high" {
		t.Fatalf("Policies: %+v", ps)
	}
}

// TestPolicyLiveMaxLength: a max-length policy on a queue holding
// messages drops the oldest at once, dead-lettering them when the queue
// has a dead-letter exchange; deleting it lets the queue grow again.
func TestPolicyLiveMaxLength(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "dlq", nil)
	mustDeclareQueue(t, v, "work", message.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	for _, body := range []string{"1", "2", "3", "4", "5"} {
		mustPublish(t, s, "", "work", msg(body))
	}
	mustSetPolicy(t, b, Policy{Name: "cap", Pattern: "^work$", Definition: map[string]any{"max-length": 2}}, false)
	if n := readyCount(t, v, "work"); n != 2 {
		t.Fatalf("work holds %d after a max-length 2 policy", n)
	}
	eventually(t, 5*time.Second, "3 dead letters", func() bool { return readyCount(t, v, "dlq") == 3 })
	d, _, ok, _ := s.Get("work", true)
	if !ok || string(d.Msg.Body) != "4" {
		t.Fatalf("oldest left is %q, want 4", d.Msg.Body)
	}
	if err := b.DeletePolicy("/", "cap", false); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"6", "7", "8"} {
		mustPublish(t, s, "", "work", msg(body))
	}
	if n := readyCount(t, v, "work"); n != 4 {
		t.Fatalf("work holds %d after the policy went, want 4", n)
	}
}

// TestPolicyLiveTTLAndDLX: a message-ttl policy applies to messages
// enqueued from then on and a dead-letter-exchange policy catches them;
// deleting the policy stops both.
func TestPolicyLiveTTLAndDLX(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "dead", nil)
	mustDeclareQueue(t, v, "q", nil)
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dlx", Type: ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	if err := v.Bind(BindSpec{Source: "dlx", Destination: "dead"}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	mustPublish(t, s, "", "q", msg("before"))
	mustSetPolicy(t, b, Policy{Name: "p", Pattern: "^q$", ApplyTo: "queues",
		Definition: map[string]any{"message-ttl": 30, "dead-letter-exchange": "dlx"}}, false)
	// As in RabbitMQ, a message keeps the deadline it got when enqueued.
	time.Sleep(80 * time.Millisecond)
	if n := readyCount(t, v, "q"); n != 1 {
		t.Fatalf("the message from before the TTL policy expired (q holds %d)", n)
	}
	mustPublish(t, s, "", "q", msg("after"))
	if d, _, ok, _ := s.Get("q", true); !ok || string(d.Msg.Body) != "before" {
		t.Fatalf("got %v %q, want before", ok, d.Msg.Body)
	}
	eventually(t, 5*time.Second, "the message to expire into dead", func() bool { return readyCount(t, v, "dead") == 1 })
	if d, _, ok, _ := s.Get("dead", true); !ok || string(d.Msg.Body) != "after" {
		t.Fatalf("dead got %v %q", ok, d.Msg.Body)
	}
	if err := b.DeletePolicy("/", "p", false); err != nil {
		t.Fatal(err)
	}
	purged, _ := v.PurgeQueue("q", 0)
	mustPublish(t, s, "", "q", msg("no-ttl"))
	time.Sleep(100 * time.Millisecond)
	if n := readyCount(t, v, "q"); n != 1 {
		t.Fatalf("q holds %d (purged %d) after the TTL policy went", n, purged)
	}
	// A rejected message now has no dead-letter exchange to go to.
	d, _, ok, _ := s.Get("q", false)
	if !ok {
		t.Fatal("nothing to get")
	}
	if err := s.Nack(d.Tag, false, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := readyCount(t, v, "dead"); n != 0 {
		t.Fatalf("dead got %d after the DLX policy went", n)
	}
}

// TestPolicyArgumentsAndOperatorPolicies: RabbitMQ's resolution — for
// numeric limits the lowest of argument, policy and operator policy; for
// the others the argument wins over the policy.
func TestPolicyArgumentsAndOperatorPolicies(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "argq", message.Table{"x-max-length": int64(5), "x-dead-letter-exchange": "mine", "x-overflow": "reject-publish"})
	mustDeclareQueue(t, v, "plain", nil)
	mustSetPolicy(t, b, Policy{Name: "p", Pattern: ".*", Definition: map[string]any{
		"max-length": 10, "dead-letter-exchange": "theirs", "overflow": "drop-head", "message-ttl": 60000, "visibility-timeout": 1000}}, false)
	c := queueOf(t, v, "argq").config()
	if c.maxLength != 5 || c.dlx != "mine" || c.overflow != OverflowRejectPublish || c.messageTTL != time.Minute {
		t.Fatalf("argq config: max %d dlx %q overflow %q ttl %v", c.maxLength, c.dlx, c.overflow, c.messageTTL)
	}
	mustSetPolicy(t, b, Policy{Name: "p", Pattern: ".*", Definition: map[string]any{"max-length": 3}}, false)
	if c := queueOf(t, v, "argq").config(); c.maxLength != 3 || c.dlx != "mine" || c.hasTTL {
		t.Fatalf("a lower policy limit: max %d dlx %q ttl %v", c.maxLength, c.dlx, c.hasTTL)
	}
	// The operator policy caps the policy's value, and is capped by it.
	mustSetPolicy(t, b, Policy{Name: "ops", Pattern: ".*", ApplyTo: "queues", Definition: map[string]any{"max-length": 2, "message-ttl": 1000}}, true)
	plain := queueOf(t, v, "plain")
	if plain.OperatorPolicy() != "ops" || plain.Policy() != "p" {
		t.Fatalf("plain: policy %q operator policy %q", plain.Policy(), plain.OperatorPolicy())
	}
	if d := plain.EffectivePolicyDefinition(); d["max-length"] != int64(2) || d["message-ttl"] != int64(1000) {
		t.Fatalf("merged definition %v", d)
	}
	if c := plain.config(); c.maxLength != 2 || c.messageTTL != time.Second {
		t.Fatalf("plain: max %d ttl %v", c.maxLength, c.messageTTL)
	}
	mustSetPolicy(t, b, Policy{Name: "ops", Pattern: ".*", Definition: map[string]any{"max-length": 50}}, true)
	if c := plain.config(); c.maxLength != 3 {
		t.Fatalf("a higher operator limit must not raise the policy's: %d", c.maxLength)
	}
	// An operator policy holds only the numeric limits.
	err := b.SetPolicy(Policy{VHost: "/", Name: "bad", Pattern: ".*", Definition: map[string]any{"dead-letter-exchange": "x"}}, true)
	if err == nil || !strings.Contains(err.Error(), `[{<<"dead-letter-exchange">>,<<"x">>}] are not recognised policy settings`) {
		t.Fatalf("operator policy with a DLX: %v", err)
	}
	// SetQueueArguments goes through the same recomputation and keeps the
	// policies.
	if err := v.SetQueueArguments("plain", message.Table{"x-max-length": int64(1), "x-max-message-size": int64(4)}, nil); err != nil {
		t.Fatal(err)
	}
	if c := plain.config(); c.maxLength != 1 || c.maxMsgSize != 4 || c.policy == nil {
		t.Fatalf("after SetQueueArguments: max %d size %d policy %v", c.maxLength, c.maxMsgSize, c.policy)
	}
}

func TestPolicyValidation(t *testing.T) {
	b := New(Config{})
	for _, tc := range []struct {
		p        Policy
		operator bool
		want     string
	}{
		{Policy{Pattern: ".*", Definition: map[string]any{"max-priority": 10}}, false, `[{<<"max-priority">>,10}] are not recognised policy settings`},
		{Policy{Pattern: ".*", Definition: map[string]any{"queue-type": "quorum"}}, false, `[{<<"queue-type">>,<<"quorum">>}] are not recognised policy settings`},
		{Policy{Pattern: ".*", Definition: map[string]any{"message-ttl": -1}}, false, "-1 is not a valid message TTL"},
		{Policy{Pattern: ".*", Definition: map[string]any{"message-ttl": "5"}}, false, `<<"5">> is not a valid message TTL`},
		{Policy{Pattern: ".*", Definition: map[string]any{"expires": 0}}, false, "0 is not a valid queue expiry"},
		{Policy{Pattern: ".*", Definition: map[string]any{"overflow": "drop-tail"}}, false, `<<"drop-tail">> is not a valid overflow value`},
		{Policy{Pattern: ".*", Definition: map[string]any{"max-length": 1.5}}, false, "1.5 is not a valid maximum length"},
		{Policy{Pattern: ".*", Definition: map[string]any{}}, false, "no policy provided"},
		{Policy{Pattern: "(", Definition: map[string]any{"max-length": 1}}, false, "pattern should be regular expression but is invalid"},
		{Policy{Pattern: ".*", ApplyTo: "streams", Definition: map[string]any{"max-length": 1}}, false, "apply-to 'streams' unrecognised"},
		{Policy{Pattern: ".*", Definition: map[string]any{"ha-params": 2}}, false, "ha-mode must be specified"},
		{Policy{Pattern: ".*", Definition: map[string]any{"cache-size": int64(1) << 40}}, false, "--max-dedup-ids"},
	} {
		tc.p.VHost, tc.p.Name = "/", "p"
		err := b.SetPolicy(tc.p, tc.operator)
		var pe *PolicyError
		if !errors.As(err, &pe) || !strings.HasPrefix(pe.Reason, "Validation failed\n\n") || !strings.Contains(pe.Reason, tc.want) {
			t.Errorf("SetPolicy(%+v) = %v, want a PolicyError with %q", tc.p, err, tc.want)
		}
	}
	// Keys RabbitMQ has and sluice does not use are accepted, so that
	// exported policies load.
	if err := b.SetPolicy(Policy{VHost: "/", Name: "ha", Pattern: ".*", Definition: map[string]any{
		"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic", "queue-mode": "lazy"}}, false); err != nil {
		t.Fatalf("a RabbitMQ 3 mirroring policy: %v", err)
	}
	if err := b.SetPolicy(Policy{VHost: "nope", Name: "p", Pattern: ".*", Definition: map[string]any{"max-length": 1}}, false); codeOf(err) != CodeNotFound {
		t.Fatalf("policy in a missing vhost: %v", err)
	}
}

// TestPolicyStructuralAtDeclare: de-duplication and message groups from a
// policy shape queues declared while it is in force, not live ones.
func TestPolicyStructuralAtDeclare(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "old", nil)
	mustSetPolicy(t, b, Policy{Name: "dedup", Pattern: ".*", Definition: map[string]any{"message-deduplication": true, "cache-ttl": 60000}}, false)
	mustDeclareQueue(t, v, "new", nil)
	if queueOf(t, v, "old").dedup != nil || queueOf(t, v, "old").config().dedup {
		t.Fatal("a live queue took de-duplication from a policy")
	}
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	for i := 0; i < 2; i++ {
		mustPublish(t, s, "", "new", msgWith("m", message.Table{"x-deduplication-header": "id-1"}))
	}
	if n := readyCount(t, v, "new"); n != 1 {
		t.Fatalf("new holds %d: de-duplication from the policy did not apply at declare", n)
	}
}

// TestPolicyDurableDefinitions: policies and operator policies are in the
// definitions, and a restore applies them to the restored queues.
func TestPolicyDurableDefinitions(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "d", Durable: true}); err != nil {
		t.Fatal(err)
	}
	mustSetPolicy(t, b, Policy{Name: "p", Pattern: "^d$", Priority: 2, Definition: map[string]any{"max-length": 7}}, false)
	mustSetPolicy(t, b, Policy{Name: "o", Pattern: ".*", Definition: map[string]any{"max-length": 4}}, true)
	v.SetMeta(VHostMeta{Description: "root", Tags: []string{"t"}})
	defs := b.Definitions()
	if len(defs.Policies) != 1 || len(defs.OperatorPolicies) != 1 || defs.VHostMeta["/"].Description != "root" {
		t.Fatalf("definitions %+v", defs)
	}
	b2 := New(Config{})
	if err := b2.Restore(defs, func(func(RecoveredMessage) bool) {}); err != nil {
		t.Fatal(err)
	}
	v2, _ := b2.VHost("/")
	q := queueOf(t, v2, "d")
	if q.Policy() != "p" || q.OperatorPolicy() != "o" || q.config().maxLength != 4 {
		t.Fatalf("restored queue: %q %q max %d", q.Policy(), q.OperatorPolicy(), q.config().maxLength)
	}
	if m := v2.Meta(); m.Description != "root" || len(m.Tags) != 1 {
		t.Fatalf("restored metadata %+v", m)
	}
}

// TestPolicyAlternateExchange: an exchange's alternate-exchange can come
// from a policy, and its own argument wins.
func TestPolicyAlternateExchange(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	for _, x := range []ExchangeDecl{{Name: "main", Type: ExchangeDirect}, {Name: "ae", Type: ExchangeFanout},
		{Name: "own", Type: ExchangeDirect, Args: message.Table{"alternate-exchange": "ae2"}}, {Name: "ae2", Type: ExchangeFanout}} {
		if _, err := v.DeclareExchange(x); err != nil {
			t.Fatal(err)
		}
	}
	mustDeclareQueue(t, v, "unrouted", nil)
	mustDeclareQueue(t, v, "unrouted2", nil)
	for _, bs := range []BindSpec{{Source: "ae", Destination: "unrouted"}, {Source: "ae2", Destination: "unrouted2"}} {
		if err := v.Bind(bs); err != nil {
			t.Fatal(err)
		}
	}
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	if r := mustPublish(t, s, "main", "nowhere", msg("a")); r.Routed {
		t.Fatal("routed without an alternate exchange")
	}
	mustSetPolicy(t, b, Policy{Name: "ae", Pattern: "^(main|own)$", ApplyTo: "exchanges", Definition: map[string]any{"alternate-exchange": "ae"}}, false)
	mustPublish(t, s, "main", "nowhere", msg("b"))
	mustPublish(t, s, "own", "nowhere", msg("c"))
	if readyCount(t, v, "unrouted") != 1 || readyCount(t, v, "unrouted2") != 1 {
		t.Fatalf("unrouted %d, unrouted2 %d", readyCount(t, v, "unrouted"), readyCount(t, v, "unrouted2"))
	}
	if err := b.DeletePolicy("/", "ae", false); err != nil {
		t.Fatal(err)
	}
	if r := mustPublish(t, s, "main", "nowhere", msg("d")); r.Routed {
		t.Fatal("the alternate exchange outlived its policy")
	}
}

// TestPolicyChangesWhilePublishing: policies flip while publishers,
// consumers and dead-lettering run (for the race detector: the hot paths
// read the configuration without the queue's lock).
func TestPolicyChangesWhilePublishing(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "hot", nil)
	mustDeclareQueue(t, v, "hot.dlq", nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := v.NewSession(ConnID(10+i), discardSink{})
			defer s.Close()
			// Bounded: a queue's dead letters are drained by whichever
			// caller finds them (the policy change too), so publishers
			// that never stopped could keep one draining for ever.
			for n := 0; n < 3000; n++ {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.Publish("", "hot", msg("m"), PublishOptions{}); err != nil && !strings.Contains(err.Error(), "max size") {
					t.Error(err)
					return
				}
				if d, _, ok, _ := s.Get("hot", false); ok {
					_ = s.Nack(d.Tag, false, d.Tag%2 == 0)
				}
			}
		}()
	}
	defs := []map[string]any{
		{"max-length": 3, "dead-letter-exchange": "", "dead-letter-routing-key": "hot.dlq", "delivery-limit": 1},
		{"message-ttl": 1, "overflow": "reject-publish-dlx", "max-message-size": 1},
		{"expires": 600000, "visibility-timeout": 5, "delivery-delay": 1},
	}
	for i := 0; i < 60; i++ {
		mustSetPolicy(t, b, Policy{Name: "flip", Pattern: "^hot$", Definition: defs[i%len(defs)]}, false)
		if i%7 == 0 {
			mustSetPolicy(t, b, Policy{Name: "cap", Pattern: ".*", Definition: map[string]any{"max-length": 2}}, true)
			_ = b.DeletePolicy("/", "cap", true)
		}
	}
	close(done)
	wg.Wait()
}
