package broker

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// FuzzPolicyPattern: compilePattern (which takes a leading negative
// look-ahead apart) never panics; what it compiles matches without
// panicking; a pattern without the look-ahead means what Go's regexp
// says it means; with one, a name matching the look-ahead's body never
// matches.
func FuzzPolicyPattern(f *testing.F) {
	for _, s := range []string{`^(?!amq\.).*`, `.*`, `^orders\.`, `(`, `^(?!a[)]b)x`, `^(?!(a|b)c)\d+`, `^(?!\))`, `^(?!`, `[]a]`} {
		f.Add(s, "amq.direct")
		f.Add(s, "orders.eu")
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		p, err := compilePattern(pat)
		if err != nil {
			return
		}
		got := p.match(name)
		if !strings.HasPrefix(pat, "^(?!") {
			if want := regexp.MustCompile(pat).MatchString(name); got != want {
				t.Fatalf("pattern %q on %q: %v, regexp says %v", pat, name, got, want)
			}
			return
		}
		if got && p.not.MatchString(name) {
			t.Fatalf("pattern %q matched %q, which its look-ahead excludes", pat, name)
		}
	})
}

// FuzzPolicyDefinition feeds arbitrary JSON definitions through the
// checks, and a valid one through the merge with a queue's arguments:
// an error or a configuration, never a panic; an operator policy's
// numeric limits never raise the policy's.
func FuzzPolicyDefinition(f *testing.F) {
	f.Add(`{"max-length":5,"message-ttl":1000,"dead-letter-exchange":"dlx"}`, `{"max-length":3}`)
	f.Add(`{"ha-mode":"nodes","ha-params":["a"]}`, `{"expires":1}`)
	f.Add(`{"max-priority":1}`, `{"overflow":"x"}`)
	f.Add(`{"delivery-delay":0,"visibility-timeout":1,"cache-size":2,"message-groups":true}`, `{"delivery-limit":0}`)
	b := New(Config{})
	f.Fuzz(func(t *testing.T, def, opDef string) {
		decode := func(s string) map[string]any {
			d := json.NewDecoder(bytes.NewReader([]byte(s)))
			d.UseNumber()
			var m map[string]any
			if d.Decode(&m) != nil {
				return nil
			}
			return m
		}
		p := Policy{VHost: "/", Name: "p", Pattern: ".*", Definition: decode(def)}
		o := Policy{VHost: "/", Name: "o", Pattern: ".*", Definition: decode(opDef)}
		re, err := b.checkPolicy(&p, false)
		if err != nil {
			return
		}
		pol := &compiledPolicy{Policy: p, re: re}
		var op *compiledPolicy
		if re2, err := b.checkPolicy(&o, true); err == nil {
			op = &compiledPolicy{Policy: o, re: re2}
		}
		args := message.Table{"x-max-length": int64(4), "x-dead-letter-exchange": "mine"}
		base, err := parseQueueArgs("q", "/", args)
		if err != nil {
			t.Fatal(err)
		}
		cfg := withPolicies(base, args, pol, op, nil)
		if cfg.maxLength > 4 || cfg.dlx != "mine" {
			t.Fatalf("arguments lost to %v / %v: max %d dlx %q", p.Definition, o.Definition, cfg.maxLength, cfg.dlx)
		}
		merged := mergedDefinition(pol, op)
		for k, pv := range p.Definition {
			if n, ok := pv.(int64); ok && minPolicyKeys[k] {
				if m, _ := merged[k].(int64); m > n {
					t.Fatalf("%s: merged %d above the policy's %d", k, m, n)
				}
			}
		}
	})
}
