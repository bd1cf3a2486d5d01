package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// metric is one figure of a scenario that the summary compares.
type metric struct {
	name   string
	unit   string
	higher bool // higher is better
	get    func(*report) float64
	// target, when set, says what the issue asks and whether a pair of
	// medians (sluice, rabbitmq; ratio = sluice/rabbitmq) meets it.
	target string
	holds  func(s, rmq, ratio float64) bool
}

var (
	mDelivered = metric{name: "delivered", unit: "msg/s", higher: true, get: func(r *report) float64 { return r.ConsumeRate }}
	mPublished = metric{name: "published", unit: "msg/s", higher: true, get: func(r *report) float64 { return r.PublishRate }}
	mP50       = metric{name: "p50", unit: "ms", get: func(r *report) float64 { return r.Latency.P50MS }}
	mP99       = metric{name: "p99", unit: "ms", get: func(r *report) float64 { return r.Latency.P99MS }}
	mP999      = metric{name: "p99.9", unit: "ms", get: func(r *report) float64 { return r.Latency.P999MS }}
	mMax       = metric{name: "max", unit: "ms", get: func(r *report) float64 { return r.Latency.MaxMS }}
	mCPU       = metric{name: "broker CPU", unit: "% of a core", get: func(r *report) float64 { return r.BrokerCPUPercent }}
	mGenCPU    = metric{name: "load generator CPU", unit: "% of a core", get: func(r *report) float64 { return r.LoadGenCPUPercent }}
	mPeakRSS   = metric{name: "peak RSS", unit: "MiB", get: func(r *report) float64 { return float64(r.PeakRSSKiB) / 1024 }}
)

// handshakeMetrics are a handshake run's figures (any scenario run with
// --handshake).
var handshakeMetrics = []metric{
	{name: "connections", unit: "conn/s", higher: true, get: func(r *report) float64 { return r.HandshakeRate }},
	{name: "connect p50", unit: "ms", get: func(r *report) float64 { return latencyField(r.ConnectLatency).P50MS }},
	{name: "connect p99", unit: "ms", get: func(r *report) float64 { return latencyField(r.ConnectLatency).P99MS }},
	{name: "broker CPU per connection", unit: "ms", get: func(r *report) float64 { return r.BrokerCPUPerHandshakeMS }},
	mGenCPU,
}

func latencyField(l *latency) latency {
	if l == nil {
		return latency{}
	}
	return *l
}

func ratioAtLeast(x float64) func(s, rmq, ratio float64) bool {
	return func(_, _, ratio float64) bool { return ratio >= x }
}

func with(m metric, target string, holds func(s, rmq, ratio float64) bool) metric {
	m.target, m.holds = target, holds
	return m
}

func named(m metric, name string) metric { m.name = name; return m }

// relative reports whether the metric's target compares the two brokers
// (a ratio or "RabbitMQ's") rather than sluice alone.
func (m metric) relative() bool {
	return strings.Contains(m.target, "x") || strings.Contains(m.target, "RabbitMQ")
}

// scenarioMetrics are the figures compared per built-in scenario.
func scenarioMetrics(name string) []metric {
	switch name {
	case "transient-1-1":
		return []metric{with(mDelivered, ">= 4x", ratioAtLeast(4)), mPublished, mP99, mCPU, mGenCPU}
	case "transient-16b":
		return []metric{with(mDelivered, "sluice >= 700,000 msg/s", func(s, _, _ float64) bool { return s >= 700000 }), mPublished, mCPU, mGenCPU}
	case "persistent-confirm-1", "persistent-confirm-16":
		return []metric{with(named(mPublished, "published+confirmed"), ">= 4x", ratioAtLeast(4)), mDelivered, mP99, mCPU, mGenCPU}
	case "latency-5k", "stomp-latency":
		p99 := mP99
		if name == "latency-5k" {
			p99 = with(mP99, "<= 1/4 of RabbitMQ's", func(_, _, ratio float64) bool { return ratio <= 0.25 })
		}
		return []metric{mP50, p99, mP999, mMax, mDelivered, mCPU, mGenCPU}
	case "fanout-1-10":
		return []metric{named(mDelivered, "delivered (10 queues)"), mPublished, mP99}
	case "queues-200":
		return []metric{mDelivered, mP50, mP99, mCPU}
	case "idle-amqp-2000", "idle-stomp-2000":
		return []metric{with(metric{name: "RSS per connection", unit: "KiB", get: func(r *report) float64 { return r.RSSPerConnKiB }},
			"sluice <= 10 KiB", func(s, _, _ float64) bool { return s <= 10 })}
	case "backlog":
		return []metric{
			with(named(mPublished, "publish (confirmed)"), ">= 4x", ratioAtLeast(4)),
			with(named(mDelivered, "drain"), ">= 4x", ratioAtLeast(4)),
			with(mPeakRSS, "sluice < 256 MiB", func(s, _, _ float64) bool { return s < 256 }),
		}
	case "stomp-throughput":
		return []metric{with(mDelivered, ">= 4x", ratioAtLeast(4)), mPublished, mP99, mCPU, mGenCPU}
	case "handshake-amqp":
		return append([]metric(nil), handshakeMetrics...)
	case "sqs-standard", "sqs-standard-16":
		return []metric{with(named(mDelivered, "delivered, durable"), "sluice >= 50,000 msg/s", func(s, _, _ float64) bool { return s >= 50000 }),
			mPublished, mP99, mCPU, mGenCPU}
	case "sqs-fifo":
		return []metric{mDelivered, mPublished, mP99, mCPU, mGenCPU}
	}
	return []metric{mDelivered, mPublished, mP99}
}

// metricsAgainst are the figures compared per scenario when the ratio's
// denominator is broker b. scenarioMetrics' targets are the issue's
// targets against RabbitMQ; against any other broker those that compare
// the two are dropped, and the targets against that broker are
// set instead (STOMP in and out "ahead of ActiveMQ").
func metricsAgainst(name, b string) []metric {
	// The targets are for plain TCP; a TLS row shows the figures
	// without them.
	overTLS := strings.HasSuffix(name, "tls)") || strings.Contains(name, "tls, ")
	base := baseScenario(name)
	ms := scenarioMetrics(base)
	if strings.Contains(base, "handshake") {
		ms = append([]metric(nil), handshakeMetrics...)
	}
	if overTLS {
		ms = append([]metric(nil), ms...)
		for i := range ms {
			ms[i].target, ms[i].holds = "", nil
		}
	}
	name = base
	if b == "rabbitmq" {
		return ms
	}
	for i := range ms {
		if ms[i].relative() {
			ms[i].target, ms[i].holds = "", nil
		}
	}
	if b == "goaws" && (name == "sqs-standard" || name == "sqs-standard-16") {
		// Issue 15: at least 10 times goaws's throughput, durable
		// against goaws's memory.
		ms = append([]metric{with(mDelivered, ">= 10x", ratioAtLeast(10))}, ms...)
	}
	if b == "activemq" && name == "stomp-throughput" {
		for i := range ms {
			if ms[i].unit == "msg/s" {
				ms[i] = with(ms[i], "> 1x (ahead of ActiveMQ)", func(_, _, ratio float64) bool { return ratio > 1 })
			}
		}
	}
	return ms
}

// fastSuffix marks a scenario run with --client fast in the summary: its
// runs are a population of their own, never pooled with amqp091-go's.
// Runs over TLS are marked " (tls)", or " (fast client, tls)", and are a
// population of their own too.
const fastSuffix = " (fast client)"

// scenarioKey is the row a report belongs to: its scenario, the AMQP
// client when it is not the default, and TLS when the run used it.
func scenarioKey(r *report) string {
	var marks []string
	if r.Config.Client == "fast" {
		marks = append(marks, "fast client")
	}
	if r.Config.TLS {
		marks = append(marks, "tls")
	}
	if r.Config.Handshake && r.Config.TLSOpts.Resume {
		marks = append(marks, "session resumption")
	}
	if len(marks) == 0 {
		return r.Scenario
	}
	return r.Scenario + " (" + strings.Join(marks, ", ") + ")"
}

// baseScenario is the scenario of a row, whatever the client and TLS.
// Scenario names have no spaces.
func baseScenario(key string) string {
	if i := strings.Index(key, " ("); i >= 0 {
		return key[:i]
	}
	return key
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func cmdSummarize(args []string) error {
	fs := flag.NewFlagSet("sluice-perf summarize", flag.ContinueOnError)
	out := fs.String("out", "", "write the markdown here (default: stdout)")
	a := fs.String("a", "sluice", "label of the broker the ratio's numerator is")
	b := fs.String("b", "rabbitmq", "label of the broker the ratio's denominator is (every other label gets a table of its own against -a)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var reports []*report
	var machine []string
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var kind struct {
			Kind string `json:"kind"`
		}
		_ = json.Unmarshal(data, &kind)
		switch kind.Kind {
		case "fsync":
			var f fsyncResult
			if err := json.Unmarshal(data, &f); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			machine = append(machine, fmt.Sprintf("| fdatasync, %d-byte appends (%s) | %.0f /s (mean %.3f ms) |", f.Size, f.Dir, f.AppendPerSec, f.AppendMeanMS),
				fmt.Sprintf("| fdatasync, %d-byte overwrites (%s) | %.0f /s (mean %.3f ms) |", f.Size, f.Dir, f.OverwritePerSc, f.OverwriteMean))
		case "loopback":
			var l loopbackResult
			if err := json.Unmarshal(data, &l); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			machine = append(machine, fmt.Sprintf("| loopback TCP, %d-byte messages, one write(2) each | %.0f msg/s (%.0f MiB/s) |", l.Size, l.UnbatchedMsgs, l.UnbatchedMiBps),
				fmt.Sprintf("| loopback TCP, %d-byte messages, 64 KiB buffered writes | %.0f msg/s (%.0f MiB/s) |", l.Size, l.BatchedMsgs, l.BatchedMiBps))
			if l.RelayRate > 0 {
				machine = append(machine, fmt.Sprintf("| loopback relay at %.0f msg/s (2 TCP hops, 1 forwarding goroutine, no broker): one-way p50 / p99 / p99.9 | %.3f / %.3f / %.3f ms |",
					l.RelayRate, l.RelayP50MS, l.RelayP99MS, l.RelayP999))
			}
		default:
			var r report
			if err := json.Unmarshal(data, &r); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			reports = append(reports, &r)
		}
	}
	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	writeSummary(w, reports, machine, *a, *b)
	return nil
}

// writeSummary writes the machine limits and, per scenario, the medians of
// brokers a and b with the ratio a/b. Every other broker in the reports
// (ActiveMQ, with make bench ACTIVEMQ=1) gets a table of its own against
// a, over the scenarios it ran.
func writeSummary(w io.Writer, reports []*report, machine []string, a, b string) {
	if len(machine) > 0 {
		fmt.Fprintf(w, "### Machine limits (same run)\n\n| what | measured |\n|---|---|\n%s\n\n", strings.Join(machine, "\n"))
	}
	// Scenario order: as built in, then others by name.
	order := map[string]int{}
	for i, s := range scenarios {
		order[s.name] = i
	}
	byScen := map[string]map[string][]*report{}
	var names, others []string
	seen := map[string]bool{a: true, b: true}
	for _, r := range reports {
		key := scenarioKey(r)
		if byScen[key] == nil {
			byScen[key] = map[string][]*report{}
			names = append(names, key)
		}
		byScen[key][r.Label] = append(byScen[key][r.Label], r)
		if !seen[r.Label] {
			seen[r.Label] = true
			others = append(others, r.Label)
		}
	}
	sort.Strings(others)
	sort.SliceStable(names, func(i, j int) bool {
		oi, iok := order[baseScenario(names[i])]
		oj, jok := order[baseScenario(names[j])]
		if iok && jok && oi != oj {
			return oi < oj
		}
		if iok && jok {
			return names[i] < names[j] // the amqp091 runs before the fast client's
		}
		if iok != jok {
			return iok
		}
		return names[i] < names[j]
	})
	fmt.Fprintf(w, "### Medians per scenario\n\n")
	writeTable(w, names, byScen, a, b)
	for _, c := range others {
		var ran []string
		for _, name := range names {
			if len(byScen[name][c]) > 0 {
				ran = append(ran, name)
			}
		}
		fmt.Fprintf(w, "\n### Medians per scenario: %s against %s\n\n", a, c)
		writeTable(w, ran, byScen, a, c)
	}
	var failures []string
	for _, name := range names {
		for _, label := range append([]string{a, b}, others...) {
			for _, r := range byScen[name][label] {
				if !r.OK {
					failures = append(failures, fmt.Sprintf("- %s against %s (%s): %s", name, r.Label, r.Started, strings.Join(r.Failures, "; ")))
				}
			}
		}
	}
	fmt.Fprintf(w, "\nMedians over the runs that passed the loss/duplicate check (k/n ok when fewer than all n runs passed).")
	if len(others) == 0 {
		fmt.Fprintf(w, " Ratios are %s/%s of the medians; for latency and memory lower is better.\n", a, b)
	} else {
		tables := "in its own table"
		if len(others) > 1 {
			tables = "in their own tables"
		}
		fmt.Fprintf(w, " Ratios are %s/%s (%s/%s %s) of the medians; for latency and memory lower is better.\n",
			a, b, a, strings.Join(others, ", "+a+"/"), tables)
	}
	if len(failures) > 0 {
		fmt.Fprintf(w, "\nFailed runs (no number taken from them):\n\n%s\n", strings.Join(failures, "\n"))
	}
}

// writeTable writes one table of medians, a against b, for the scenarios
// in names.
func writeTable(w io.Writer, names []string, byScen map[string]map[string][]*report, a, b string) {
	fmt.Fprintf(w, "| scenario | metric | %s | %s | ratio %s/%s | target | holds |\n|---|---|---:|---:|---:|---|---|\n", a, b, a, b)
	for _, name := range names {
		ra, rb := byScen[name][a], byScen[name][b]
		okA, okB := okOnly(ra), okOnly(rb)
		for _, m := range metricsAgainst(name, b) {
			va, vb := values(okA, m), values(okB, m)
			ma, mb := median(va), median(vb)
			cellA, cellB := cell(ma, va, len(ra), m), cell(mb, vb, len(rb), m)
			ratio, rcell := 0.0, "-"
			if len(va) > 0 && len(vb) > 0 && mb > 0 {
				ratio = ma / mb
				rcell = fmt.Sprintf("%.2fx", ratio)
			}
			holds := "-"
			if m.holds != nil && len(va) > 0 {
				switch {
				case m.relative() && rcell == "-":
					holds = "n/a"
				case m.holds(ma, mb, ratio):
					holds = "yes"
				default:
					holds = "**no**"
				}
			}
			fmt.Fprintf(w, "| %s | %s (%s) | %s | %s | %s | %s | %s |\n", name, m.name, m.unit, cellA, cellB, rcell, orDash(m.target), holds)
		}
	}
}

func okOnly(rs []*report) []*report {
	var out []*report
	for _, r := range rs {
		if r.OK {
			out = append(out, r)
		}
	}
	return out
}

func values(rs []*report, m metric) []float64 {
	var v []float64
	for _, r := range rs {
		v = append(v, m.get(r))
	}
	return v
}

func cell(med float64, vals []float64, runs int, m metric) string {
	if runs == 0 {
		return "-"
	}
	if len(vals) == 0 {
		return fmt.Sprintf("FAILED (0/%d)", runs)
	}
	s := formatValue(med, m.unit)
	if len(vals) < runs {
		s += fmt.Sprintf(" (%d/%d ok)", len(vals), runs)
	}
	return s
}

func formatValue(v float64, unit string) string {
	switch {
	case unit == "msg/s" || unit == "conn/s":
		return commas(int64(v + 0.5))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func commas(n int64) string {
	s := fmt.Sprintf("%d", n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
