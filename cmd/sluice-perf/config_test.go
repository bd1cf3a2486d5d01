package main

import (
	"strings"
	"testing"
)

func TestParseRunAMQPSetup(t *testing.T) {
	cases := []struct {
		args  []string
		code  int
		noAMQ bool
	}{
		// The default: queues declared over AMQP, also for STOMP.
		{[]string{"--scenario", "stomp-throughput"}, -1, false},
		{[]string{"--scenario", "stomp-throughput", "--uri", "amqp://u:p@127.0.0.1:1/"}, -1, false},
		{[]string{"--scenario", "stomp-throughput", "--no-amqp-setup"}, -1, true},
		{[]string{"--scenario", "stomp-latency", "--uri", ""}, -1, true},
		{[]string{"--protocol", "stomp", "--no-amqp-setup", "--count", "10"}, -1, true},
		// AMQP runs cannot do without AMQP.
		{[]string{"--scenario", "transient-1-1", "--no-amqp-setup"}, 2, false},
		{[]string{"--scenario", "transient-1-1", "--uri", ""}, 2, false},
	}
	for _, tc := range cases {
		c, _, _, code := parseRun(tc.args)
		if code != tc.code {
			t.Errorf("%q: exit code %d, want %d", tc.args, code, tc.code)
			continue
		}
		if code < 0 && c.NoAMQPSetup != tc.noAMQ {
			t.Errorf("%q: NoAMQPSetup %v, want %v", tc.args, c.NoAMQPSetup, tc.noAMQ)
		}
		if code < 0 && c.Prefix != "sluice-perf" {
			t.Errorf("%q: prefix %q changed before the run", tc.args, c.Prefix)
		}
	}
}

func TestRunUniquePrefix(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		p := runUniquePrefix("sluice-perf")
		if !strings.HasPrefix(p, "sluice-perf-") || len(p) <= len("sluice-perf-") || strings.ContainsAny(p, "/ ") {
			t.Fatalf("prefix %q", p)
		}
		if seen[p] {
			t.Fatalf("prefix %q came twice", p)
		}
		seen[p] = true
	}
}
