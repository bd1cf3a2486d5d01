package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// latency is a summary of end-to-end latency in milliseconds.
type latency struct {
	Count  uint64  `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func latencyOf(h *hist) latency {
	return latency{Count: h.n, MeanMS: ms(h.mean()), P50MS: ms(h.quantile(0.5)), P99MS: ms(h.quantile(0.99)),
		P999MS: ms(h.quantile(0.999)), MaxMS: ms(time.Duration(h.max))}
}

// report is a run's outcome. When OK is false the numbers are not results:
// Failures says why.
type report struct {
	Scenario string   `json:"scenario"`
	Label    string   `json:"label,omitempty"`
	Protocol string   `json:"protocol"`
	Started  string   `json:"started"`
	OK       bool     `json:"ok"`
	Failures []string `json:"failures,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Config   config   `json:"config"`

	Published      int64      `json:"published"`
	Confirmed      int64      `json:"confirmed"`
	Consumed       int64      `json:"consumed"`
	Accounting     accounting `json:"accounting"`
	PublishSeconds float64    `json:"publish_seconds"`
	ConsumeSeconds float64    `json:"consume_seconds"`
	PublishRate    float64    `json:"publish_rate"`
	ConsumeRate    float64    `json:"consume_rate"`
	Latency        latency    `json:"latency"`
	// ConfirmLatency is publish to confirm (STOMP: SEND to RECEIPT).
	ConfirmLatency *latency `json:"confirm_latency,omitempty"`

	RSSStartKiB       int64   `json:"rss_start_kib,omitempty"`
	RSSEndKiB         int64   `json:"rss_end_kib,omitempty"`
	PeakRSSKiB        int64   `json:"peak_rss_kib,omitempty"`
	PeakRSSPublishKiB int64   `json:"peak_rss_after_publish_kib,omitempty"`
	HWMReset          bool    `json:"hwm_reset,omitempty"`
	BrokerCPUSeconds  float64 `json:"broker_cpu_seconds,omitempty"`
	BrokerCPUPercent  float64 `json:"broker_cpu_percent,omitempty"`
	// The load generator's own CPU (this process) over the same span: when
	// it nears 100% of its core, the generator bounds the figures.
	LoadGenCPUSeconds float64 `json:"loadgen_cpu_seconds,omitempty"`
	LoadGenCPUPercent float64 `json:"loadgen_cpu_percent,omitempty"`
	IdleConns         int     `json:"idle_conns,omitempty"`
	RSSPerConnKiB     float64 `json:"rss_per_conn_kib,omitempty"`

	// A handshake run: connections opened and closed, per second over
	// HandshakeSeconds; ConnectLatency is from the TCP connect to
	// connection.open-ok (STOMP: CONNECTED), CloseLatency from close to
	// close-ok (RECEIPT).
	Handshakes              int64    `json:"handshakes,omitempty"`
	HandshakeFailures       int64    `json:"handshake_failures,omitempty"`
	HandshakeSeconds        float64  `json:"handshake_seconds,omitempty"`
	HandshakeRate           float64  `json:"handshake_rate,omitempty"`
	ConnectLatency          *latency `json:"connect_latency,omitempty"`
	CloseLatency            *latency `json:"close_latency,omitempty"`
	BrokerCPUPerHandshakeMS float64  `json:"broker_cpu_per_handshake_ms,omitempty"`

	failed bool
}

func (r *report) fail(format string, args ...any) {
	r.failed = true
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *report) finish() { r.OK = !r.failed && len(r.Failures) == 0 }

// print writes the final table.
func (r *report) print(w io.Writer) {
	title := r.Scenario
	if r.Label != "" {
		title += " against " + r.Label
	}
	proto := r.Protocol
	if r.Config.TLS {
		proto += " over TLS"
	}
	if cl := r.Config.Client; cl != "" {
		proto += ", " + cl + " client"
	}
	fmt.Fprintf(w, "\n== %s (%s) ==\n", title, proto)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "  %-24s %s\n", k, fmt.Sprintf(format, args...)) }
	c := r.Config
	if c.Handshake {
		what := "TCP connect, AMQP handshake to connection.open-ok, connection.close"
		if c.Protocol == "stomp" {
			what = "TCP connect, CONNECT/CONNECTED, DISCONNECT with a receipt"
		}
		if c.TLS {
			what = strings.Replace(what, "TCP connect,", "TCP connect, TLS handshake ("+tlsHandshakeKind(c)+"),", 1)
		}
		row("load", "%d dialer(s), each in a loop: %s; %s", c.Dialers, what, persistence(c))
		row("connections", "%d opened and closed in %.2f s = %.0f conn/s", r.Handshakes, r.HandshakeSeconds, r.HandshakeRate)
		row("failed connections", "%d", r.HandshakeFailures)
		if l := r.ConnectLatency; l != nil {
			row("connect latency (ms)", "p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f  (%d samples)", l.P50MS, l.P99MS, l.P999MS, l.MaxMS, l.MeanMS, l.Count)
		}
		if l := r.CloseLatency; l != nil {
			row("close latency (ms)", "p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f", l.P50MS, l.P99MS, l.P999MS, l.MaxMS, l.MeanMS)
		}
		if r.RSSStartKiB > 0 {
			row("broker RSS", "start %s, end %s, peak %s", kib(r.RSSStartKiB), kib(r.RSSEndKiB), kib(r.PeakRSSKiB))
			row("broker CPU", "%.1f s (%.0f%% of one core), %.3f ms per connection", r.BrokerCPUSeconds, r.BrokerCPUPercent, r.BrokerCPUPerHandshakeMS)
			row("load generator CPU", "%.1f s (%.0f%% of one core)", r.LoadGenCPUSeconds, r.LoadGenCPUPercent)
		}
	} else if r.IdleConns > 0 || c.IdleConns > 0 {
		row("idle connections", "%d (%s)", c.IdleConns, c.Protocol)
		row("broker RSS before", "%s", kib(r.RSSStartKiB))
		row("broker RSS after", "%s", kib(r.RSSEndKiB))
		row("RSS per connection", "%.1f KiB", r.RSSPerConnKiB)
		row("time to open", "%.2f s", r.PublishSeconds)
	} else {
		row("load", "%d producer(s), %d consumer(s), %d queue(s), %s routing, %d-byte bodies, %s",
			c.Producers, c.Consumers, c.Queues, c.Routing, c.Size, persistence(c))
		rate := "unbounded"
		if c.Rate > 0 {
			rate = fmt.Sprintf("%.0f msg/s", c.Rate)
		}
		ack := fmt.Sprintf("prefetch %d, multi-ack %d", c.Prefetch, c.MultiAck)
		if c.AutoAck {
			ack = "auto-ack"
		}
		if c.Protocol == "stomp" {
			ack = fmt.Sprintf("client-individual acks, prefetch-count %d", c.Prefetch)
		}
		if c.Protocol == "sqs" {
			ack = sqsLoad(c)
		}
		row("rate / acks", "%s; %s", rate, ack)
		if c.NoAMQPSetup {
			row("queues", "/queue/%s-N, new to this run, created by the broker on first use (no AMQP)", c.Prefix)
		}
		row("published", "%d in %.2f s = %.0f msg/s", r.Published, r.PublishSeconds, r.PublishRate)
		row("delivered (unique)", "%d of %d expected in %.2f s = %.0f msg/s", r.Accounting.Received, r.Accounting.Expected, r.ConsumeSeconds, r.ConsumeRate)
		row("lost/dup/misrouted", "%d / %d / %d", r.Accounting.Lost, r.Accounting.Duplicates, r.Accounting.Misrouted)
		l := r.Latency
		row("latency (ms)", "p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f  (%d samples)", l.P50MS, l.P99MS, l.P999MS, l.MaxMS, l.MeanMS, l.Count)
		if cl := r.ConfirmLatency; cl != nil {
			row("confirm latency (ms)", "p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f", cl.P50MS, cl.P99MS, cl.P999MS, cl.MaxMS, cl.MeanMS)
		}
		if r.RSSStartKiB > 0 {
			row("broker RSS", "start %s, end %s, peak %s", kib(r.RSSStartKiB), kib(r.RSSEndKiB), kib(r.PeakRSSKiB))
			if r.PeakRSSPublishKiB > 0 {
				row("peak RSS after publish", "%s", kib(r.PeakRSSPublishKiB))
			}
			row("broker CPU", "%.1f s (%.0f%% of one core)", r.BrokerCPUSeconds, r.BrokerCPUPercent)
			row("load generator CPU", "%.1f s (%.0f%% of one core)", r.LoadGenCPUSeconds, r.LoadGenCPUPercent)
		}
	}
	for _, wn := range r.Warnings {
		row("warning", "%s", wn)
	}
	if r.OK {
		row("result", "OK")
	} else {
		row("result", "FAILED: the numbers above are not results")
		for _, f := range r.Failures {
			fmt.Fprintf(w, "    - %s\n", f)
		}
	}
}

// tlsHandshakeKind says whether a run's TLS handshakes are full ones.
func tlsHandshakeKind(c config) string {
	if c.TLSOpts.Resume {
		return "session resumption allowed"
	}
	return "full, no session resumption"
}

func persistence(c config) string {
	if c.Handshake {
		if c.Count > 0 {
			return fmt.Sprintf("%d connections", c.Count)
		}
		return c.Duration.String()
	}
	var parts []string
	if c.Persistent {
		parts = append(parts, "persistent")
	} else {
		parts = append(parts, "transient")
	}
	if c.Confirm > 0 {
		if c.Protocol == "stomp" {
			parts = append(parts, fmt.Sprintf("receipt per SEND, %d in flight", c.Confirm))
		} else {
			parts = append(parts, fmt.Sprintf("confirms, window %d", c.Confirm))
		}
	}
	if c.Backlog {
		parts = append(parts, fmt.Sprintf("backlog of %d then drain", c.Count))
	} else if c.Count > 0 {
		parts = append(parts, fmt.Sprintf("%d messages", c.Count))
	} else {
		parts = append(parts, c.Duration.String())
	}
	return strings.Join(parts, ", ")
}

func kib(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/1024)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
