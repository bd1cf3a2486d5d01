package main

import (
	"strings"
	"testing"
)

// fakeReport is a passed (or failed) run with the given rates and p99.
func fakeReport(scenario, label string, delivered, published, p99 float64, ok bool) *report {
	r := &report{Scenario: scenario, Label: label, Protocol: "stomp", Started: "2026-11-22T00:00:00Z", OK: ok,
		ConsumeRate: delivered, PublishRate: published, Latency: latency{P50MS: p99 / 2, P99MS: p99, P999MS: p99, MaxMS: p99}}
	if !ok {
		r.Failures = []string{"accounting: lost 3"}
	}
	return r
}

func summary(reports []*report) string {
	var b strings.Builder
	writeSummary(&b, reports, nil, "sluice", "rabbitmq")
	return b.String()
}

func TestSummaryTwoBrokersHasNoThirdTable(t *testing.T) {
	md := summary([]*report{
		fakeReport("stomp-throughput", "sluice", 40000, 40000, 5, true),
		fakeReport("stomp-throughput", "rabbitmq", 8000, 8000, 20, true),
	})
	for _, want := range []string{
		"| scenario | metric | sluice | rabbitmq | ratio sluice/rabbitmq | target | holds |",
		"| stomp-throughput | delivered (msg/s) | 40,000 | 8,000 | 5.00x | >= 4x | yes |",
		" Ratios are sluice/rabbitmq of the medians;",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "against") {
		t.Errorf("a table or failure that was not asked for:\n%s", md)
	}
}

func TestSummaryActiveMQTable(t *testing.T) {
	md := summary([]*report{
		fakeReport("transient-1-1", "sluice", 80000, 90000, 3, true),
		fakeReport("transient-1-1", "rabbitmq", 20000, 20000, 2, true),
		fakeReport("stomp-throughput", "sluice", 30000, 31000, 5, true),
		fakeReport("stomp-throughput", "sluice", 40000, 41000, 6, true),
		fakeReport("stomp-throughput", "rabbitmq", 8000, 8000, 20, true),
		fakeReport("stomp-throughput", "activemq", 2000, 2100, 50, true),
		fakeReport("stomp-throughput", "activemq", 99000, 99000, 1, false), // failed: not in the median
		fakeReport("stomp-throughput", "activemq", 1000, 1100, 70, true),
		fakeReport("stomp-latency", "sluice", 5000, 5000, 2, true),
		fakeReport("stomp-latency", "rabbitmq", 5000, 5000, 4, true),
		fakeReport("stomp-latency", "activemq", 5000, 5000, 8, true),
	})
	_, amq, found := strings.Cut(md, "### Medians per scenario: sluice against activemq")
	if !found {
		t.Fatalf("no ActiveMQ table:\n%s", md)
	}
	for _, want := range []string{
		"| scenario | metric | sluice | activemq | ratio sluice/activemq | target | holds |",
		// medians: sluice 35,000; activemq (2,000, 1,000) 1,500, 2 of 3 ok
		"| stomp-throughput | delivered (msg/s) | 35,000 | 1,500 (2/3 ok) | 23.33x | > 1x (ahead of ActiveMQ) | yes |",
		"| stomp-throughput | published (msg/s) | 36,000 | 1,600 (2/3 ok) | 22.50x | > 1x (ahead of ActiveMQ) | yes |",
		"| stomp-latency | p99 (ms) | 2.00 | 8.00 | 0.25x | - | - |",
		"(sluice/activemq in its own table)",
		"- stomp-throughput against activemq (2026-11-22T00:00:00Z): accounting: lost 3",
	} {
		if !strings.Contains(amq, want) {
			t.Errorf("ActiveMQ table or footer lacks %q:\n%s", want, amq)
		}
	}
	if strings.Contains(amq, "transient-1-1") || strings.Contains(amq, ">= 4x") {
		t.Errorf("the ActiveMQ table shows a scenario it did not run, or RabbitMQ's target:\n%s", amq)
	}
	// The RabbitMQ table is as without ActiveMQ.
	main, _, _ := strings.Cut(md, "### Medians per scenario: sluice against activemq")
	if !strings.Contains(main, "| stomp-throughput | delivered (msg/s) | 35,000 | 8,000 | 4.38x | >= 4x | yes |") || strings.Contains(main, "activemq") {
		t.Errorf("RabbitMQ table:\n%s", main)
	}
	if strings.Count(md, "- stomp-throughput against activemq") != 1 {
		t.Errorf("the failed run is not listed exactly once:\n%s", md)
	}
}

func TestSummaryActiveMQBehind(t *testing.T) {
	md := summary([]*report{
		fakeReport("stomp-throughput", "sluice", 1000, 1000, 5, true),
		fakeReport("stomp-throughput", "activemq", 2000, 2000, 5, true),
	})
	if !strings.Contains(md, "| stomp-throughput | delivered (msg/s) | 1,000 | 2,000 | 0.50x | > 1x (ahead of ActiveMQ) | **no** |") {
		t.Errorf("summary:\n%s", md)
	}
	// No RabbitMQ run: its target cannot be judged.
	if !strings.Contains(md, "| stomp-throughput | delivered (msg/s) | 1,000 | - | - | >= 4x | n/a |") {
		t.Errorf("summary:\n%s", md)
	}
}

func TestSummaryKeepsClientsApart(t *testing.T) {
	fast := func(r *report) *report { r.Protocol, r.Config.Client = "amqp", "fast"; return r }
	md := summary([]*report{
		fakeReport("transient-1-1", "sluice", 90000, 90000, 3, true),
		fakeReport("transient-1-1", "rabbitmq", 30000, 30000, 2, true),
		fast(fakeReport("transient-1-1", "sluice", 250000, 260000, 3, true)),
		fast(fakeReport("transient-1-1", "rabbitmq", 50000, 50000, 2, true)),
	})
	for _, want := range []string{
		"| transient-1-1 | delivered (msg/s) | 90,000 | 30,000 | 3.00x | >= 4x | **no** |",
		"| transient-1-1 (fast client) | delivered (msg/s) | 250,000 | 50,000 | 5.00x | >= 4x | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	if i, j := strings.Index(md, "| transient-1-1 |"), strings.Index(md, "| transient-1-1 (fast client) |"); i > j {
		t.Errorf("the fast client's rows come before amqp091-go's:\n%s", md)
	}
}

// TestSummaryTLSAndHandshakeRows: runs over TLS are rows of their own,
// without the (plain TCP) targets, and a handshake run's row has
// connections per second and connect latency.
func TestSummaryTLSAndHandshakeRows(t *testing.T) {
	plain := fakeReport("transient-1-1", "sluice", 500000, 500000, 1, true)
	plain.Protocol, plain.Config.Client = "amqp", "fast"
	overTLS := func(label string, rate float64) *report {
		r := fakeReport("transient-1-1", label, rate, rate, 2, true)
		r.Protocol, r.Config.Client, r.Config.TLS = "amqp", "fast", true
		return r
	}
	hs := func(label string, rate float64) *report {
		r := &report{Scenario: "handshake-amqp", Label: label, Protocol: "amqp", OK: true, HandshakeRate: rate,
			ConnectLatency: &latency{P50MS: 3, P99MS: 9}, BrokerCPUPerHandshakeMS: 1.5}
		r.Config.Handshake, r.Config.TLS, r.Config.Client = true, true, "fast"
		return r
	}
	md := summary([]*report{plain, overTLS("sluice", 300000), overTLS("rabbitmq", 60000), hs("sluice", 1200), hs("rabbitmq", 400)})
	for _, want := range []string{
		"| transient-1-1 (fast client) | delivered (msg/s) | 500,000 | - | - | >= 4x | n/a |",
		"| transient-1-1 (fast client, tls) | delivered (msg/s) | 300,000 | 60,000 | 5.00x | - | - |",
		"| handshake-amqp (fast client, tls) | connections (conn/s) | 1,200 | 400 | 3.00x | - | - |",
		"| handshake-amqp (fast client, tls) | connect p99 (ms) | 9.00 | 9.00 | 1.00x | - | - |",
		"| handshake-amqp (fast client, tls) | broker CPU per connection (ms) | 1.50 | 1.50 | 1.00x | - | - |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	if k := baseScenario("handshake-amqp (fast client, tls)"); k != "handshake-amqp" {
		t.Errorf("baseScenario: %q", k)
	}
}
