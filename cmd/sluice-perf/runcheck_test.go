package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// tinyRun is scenario name shrunk to 300 messages with client against
// the test broker b, which runs in this process; no timing, no warm-up.
func tinyRun(t *testing.T, b *brokertest.Broker, name, client string) config {
	t.Helper()
	c := defaultConfig()
	s, ok := findScenario(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	s.apply(&c)
	c.Scenario, c.Client = name, client
	c.URI, c.StompAddr = b.AMQPURL(), b.STOMPAddr()
	c.PID = os.Getpid()
	c.Duration, c.Count, c.Warmup = 0, 300, 0
	c.DrainTimeout = 20 * time.Second
	return c
}

// runAccounted validates and runs cfg (validate fills in derived
// settings, which the caller sees) and fails t unless the run passed with exactly
// expect deliveries accounted for, every publish (and, with a window,
// every confirm or receipt) counted, and the figures filled in.
func runAccounted(t *testing.T, cfg *config, expect uint64) *report {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := execute(context.Background(), *cfg, nil)
	rep.finish()
	if !rep.OK {
		var sb strings.Builder
		rep.print(&sb)
		t.Fatalf("run failed:\n%s", sb.String())
	}
	a := rep.Accounting
	if a.Expected != expect || a.Received != expect || a.Lost != 0 || a.Duplicates != 0 || a.Misrouted != 0 {
		t.Fatalf("accounting %+v, want %d delivered", a, expect)
	}
	if rep.Published != cfg.Count {
		t.Fatalf("published %d, want %d", rep.Published, cfg.Count)
	}
	if cfg.Confirm > 0 && (rep.Confirmed != cfg.Count || rep.ConfirmLatency == nil || rep.ConfirmLatency.Count != uint64(cfg.Count)) {
		t.Fatalf("confirmed %d of %d, confirm latency %+v", rep.Confirmed, cfg.Count, rep.ConfirmLatency)
	}
	if rep.Latency.Count != expect || rep.PublishRate <= 0 || rep.ConsumeRate <= 0 {
		t.Fatalf("figures missing: %+v", rep)
	}
	return rep
}
