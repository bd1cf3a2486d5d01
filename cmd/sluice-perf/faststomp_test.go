package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestFastStompClientAgainstSluice runs tiny STOMP loads with --client fast
// against a real sluice and checks every message is accounted for. No
// timing is asserted.
func TestFastStompClientAgainstSluice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.New(t)
	base := func(name string) config { return tinyRun(t, b, name, "fast") }
	cases := []struct {
		name   string
		cfg    func() config
		expect uint64
	}{
		{"throughput", func() config { return base("stomp-throughput") }, 300},
		{"latency", func() config {
			c := base("stomp-latency")
			c.Rate = 3000
			return c
		}, 300},
		{"transient-no-receipts", func() config {
			c := base("stomp-throughput")
			c.Persistent, c.Confirm = false, 0
			return c
		}, 300},
		{"transient-paced", func() config {
			c := base("stomp-latency")
			c.Persistent, c.Rate = false, 2000
			return c
		}, 300},
		{"autoack", func() config {
			c := base("stomp-throughput")
			c.AutoAck = true
			return c
		}, 300},
		{"queues-and-consumers", func() config {
			c := base("stomp-throughput")
			c.Queues, c.Producers, c.Consumers, c.Confirm = 4, 3, 2, 5
			return c
		}, 300},
		{"prefetch-below-ack-batch", func() config {
			// Only the ACKs flushed before a read free the prefetch window.
			c := base("stomp-throughput")
			c.Prefetch = 10
			return c
		}, 300},
		{"large-bodies", func() config {
			c := base("stomp-throughput")
			c.Size, c.Count, c.Confirm = 200_000, 40, 4
			return c
		}, 40},
		{"no-amqp-setup", func() config {
			c := base("stomp-throughput")
			c.URI, c.Queues, c.Consumers = "", 2, 2
			return c
		}, 300},
		{"backlog", func() config {
			c := base("stomp-throughput")
			c.Backlog = true
			return c
		}, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			rep := runAccounted(t, &cfg, tc.expect)
			if rep.Config.Client != "fast" || rep.Protocol != "stomp" {
				t.Fatalf("report says %s, client %q", rep.Protocol, rep.Config.Client)
			}
			if cfg.NoAMQPSetup != rep.Config.NoAMQPSetup {
				t.Fatalf("no-amqp-setup %v in the report, %v asked", rep.Config.NoAMQPSetup, cfg.NoAMQPSetup)
			}
		})
	}

	t.Run("handshake", func(t *testing.T) {
		c, err := dialFastSTOMP(b.STOMPAddr(), nil, consumerSTOMPVersions, consumerReadBuffer)
		if err != nil {
			t.Fatal(err)
		}
		defer c.nc.Close()
		if c.version.String() != "1.2" {
			t.Errorf("negotiated %s, want 1.2", c.version)
		}
	})

	// An ERROR from the broker fails the run with its message, and the run
	// ends.
	failing := []struct {
		name string
		cfg  func() config
		wrap func(driver) driver
		want string
	}{
		{"send-to-invalid-destination", func() config {
			c := base("stomp-throughput")
			c.Count, c.DrainTimeout = 50, time.Second
			return c
		}, sendTo("/foo/bar"), "ERROR"},
		{"send-to-invalid-destination-without-receipts", func() config {
			c := base("stomp-throughput")
			c.Count, c.Confirm, c.Persistent, c.DrainTimeout = 50, 0, false, time.Second
			return c
		}, sendTo("/foo/bar"), "ERROR"},
		{"send-to-invalid-destination-paced", func() config {
			c := base("stomp-latency")
			c.Count, c.DrainTimeout = 50, time.Second
			return c
		}, sendTo("/foo/bar"), "ERROR"},
	}
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			cfg.Prefix = "sluice-perf-" + tc.name
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			done := make(chan *report, 1)
			go func() { done <- executeWith(context.Background(), cfg, nil, tc.wrap) }()
			var rep *report
			select {
			case rep = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("the run did not end")
			}
			rep.finish()
			if rep.OK {
				t.Fatalf("the run passed: %+v", rep)
			}
			all := strings.Join(rep.Failures, "\n")
			t.Logf("failures:\n%s", all)
			if !strings.Contains(all, tc.want) {
				t.Fatalf("failures do not mention %q:\n%s", tc.want, all)
			}
		})
	}
}

// sendTo points the fast STOMP producers at dest.
func sendTo(dest string) func(driver) driver {
	return func(d driver) driver {
		d.(*fastStompDriver).sendDest = func(int) string { return dest }
		return d
	}
}
