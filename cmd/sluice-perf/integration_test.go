package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestScenariosAgainstSluice runs tiny loads against a real sluice and
// checks the reports: everything accounted for, the figures filled in. No
// timing is asserted; this is not a benchmark.
func TestScenariosAgainstSluice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.New(t)
	base := func(name string) config { return tinyRun(t, b, name, "amqp091") }
	cases := []struct {
		name   string
		cfg    func() config
		expect uint64
	}{
		{"transient", func() config { return base("transient-1-1") }, 300},
		{"persistent-confirms-3-producers", func() config {
			c := base("persistent-confirm-16")
			c.Producers, c.Confirm = 3, 10
			return c
		}, 300},
		{"fanout", func() config {
			c := base("fanout-1-10")
			c.Queues, c.Consumers = 3, 3
			return c
		}, 900},
		{"topic-more-queues-than-consumers", func() config {
			c := base("transient-1-1")
			c.Routing, c.Queues, c.Producers, c.Consumers, c.MultiAck = "topic", 4, 2, 2, 7
			return c
		}, 300},
		{"backlog", func() config {
			c := base("backlog")
			c.Count = 500
			return c
		}, 500},
		{"stomp", func() config { return base("stomp-throughput") }, 300},
		{"stomp-rate-transient", func() config {
			c := base("stomp-latency")
			c.Persistent, c.Rate = false, 2000
			return c
		}, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			rep := execute(context.Background(), cfg, nil)
			rep.finish()
			if !rep.OK {
				var sb strings.Builder
				rep.print(&sb)
				t.Fatalf("run failed:\n%s", sb.String())
			}
			a := rep.Accounting
			if a.Expected != tc.expect || a.Received != tc.expect || a.Lost != 0 || a.Duplicates != 0 {
				t.Fatalf("accounting %+v, want %d delivered", a, tc.expect)
			}
			if rep.Published != cfg.Count {
				t.Fatalf("published %d, want %d", rep.Published, cfg.Count)
			}
			if cfg.Confirm > 0 && (rep.Confirmed != cfg.Count || rep.ConfirmLatency == nil) {
				t.Fatalf("confirmed %d of %d, confirm latency %v", rep.Confirmed, cfg.Count, rep.ConfirmLatency)
			}
			if rep.Latency.Count == 0 || rep.Latency.MaxMS < rep.Latency.P50MS || rep.PublishRate <= 0 || rep.ConsumeRate <= 0 {
				t.Fatalf("figures missing: %+v", rep)
			}
			if rep.RSSStartKiB <= 0 || rep.PeakRSSKiB <= 0 {
				t.Fatalf("no RSS: %+v", rep)
			}
		})
	}

	t.Run("idle", func(t *testing.T) {
		for _, proto := range []string{"amqp", "stomp"} {
			cfg := base("idle-" + proto + "-2000")
			cfg.IdleConns, cfg.IdleSettle = 20, 300*time.Millisecond
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			rep := execute(context.Background(), cfg, nil)
			rep.finish()
			if !rep.OK || rep.IdleConns != 20 || rep.RSSEndKiB <= 0 {
				t.Fatalf("%s idle run: %+v", proto, rep)
			}
		}
	})

	t.Run("stomp-no-amqp-setup", func(t *testing.T) {
		// No AMQP at all (an empty URI: any AMQP dial would fail the
		// setup); the broker creates each /queue on first use, and each
		// run has queues of its own.
		var prefixes []string
		for i := 0; i < 2; i++ {
			cfg := base("stomp-throughput")
			cfg.URI, cfg.Queues, cfg.Consumers = "", 2, 2
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			if !cfg.NoAMQPSetup {
				t.Fatal("an empty --uri did not mean --no-amqp-setup")
			}
			rep := execute(context.Background(), cfg, nil)
			rep.finish()
			if !rep.OK || rep.Accounting.Received != 300 || rep.Confirmed != 300 {
				var sb strings.Builder
				rep.print(&sb)
				t.Fatalf("run %d:\n%s", i, sb.String())
			}
			p := rep.Config.Prefix
			if !strings.HasPrefix(p, "sluice-perf-") || !rep.Config.NoAMQPSetup {
				t.Fatalf("run %d: report config %+v", i, rep.Config)
			}
			prefixes = append(prefixes, p)
		}
		if prefixes[0] == prefixes[1] {
			t.Fatalf("two runs used the same queues %q", prefixes[0])
		}
	})

	t.Run("loss-is-a-failure", func(t *testing.T) {
		// Consumers read a queue that no message is routed to: every
		// message is unroutable and dropped, and the run must fail.
		cfg := base("transient-1-1")
		cfg.Routing, cfg.Count, cfg.DrainTimeout = "topic", 50, 500*time.Millisecond
		cfg.Prefix = "sluice-perf-lossy"
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		rep := executeWith(context.Background(), cfg, nil, func(d driver) driver { return unbindingDriver{d} })
		rep.finish()
		if rep.OK || rep.Accounting.Lost != 50 {
			t.Fatalf("a run that lost every message passed: %+v", rep.Accounting)
		}
	})

	t.Run("json-and-summary", func(t *testing.T) {
		dir := t.TempDir()
		var files []string
		for i, label := range []string{"sluice", "rabbitmq", "sluice", "rabbitmq"} {
			cfg := base("transient-1-1")
			cfg.Label, cfg.Count = label, 100
			_ = cfg.validate()
			rep := execute(context.Background(), cfg, nil)
			rep.finish()
			p := filepath.Join(dir, label+string(rune('0'+i))+".json")
			if err := writeJSON(p, rep); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		}
		var back report
		data, _ := os.ReadFile(files[0])
		if err := json.Unmarshal(data, &back); err != nil || !back.OK || back.Accounting.Received != 100 {
			t.Fatalf("JSON round trip: %v %+v", err, back)
		}
		out := filepath.Join(dir, "summary.md")
		if err := cmdSummarize(append([]string{"--out", out}, files...)); err != nil {
			t.Fatal(err)
		}
		md, _ := os.ReadFile(out)
		if !strings.Contains(string(md), "| transient-1-1 | delivered (msg/s) |") || !strings.Contains(string(md), "x |") {
			t.Fatalf("summary:\n%s", md)
		}
	})
}

// unbindingDriver removes the topic bindings after setup, so that nothing
// published reaches a queue.
type unbindingDriver struct{ driver }

func (u unbindingDriver) setup(ctx context.Context) error {
	if err := u.driver.setup(ctx); err != nil {
		return err
	}
	d := u.driver.(*amqpDriver)
	conn, err := dialAMQP(d.r.cfg.URI, d.r.cfg.tlsConf, "unbind")
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	for q := 0; q < d.r.cfg.Queues; q++ {
		if err := ch.QueueUnbind(d.r.queueName(q), "perf.q0.#", d.exchange(), nil); err != nil {
			return err
		}
	}
	return nil
}
