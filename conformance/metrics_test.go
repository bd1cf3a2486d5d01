package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// scrape GETs path on the broker's HTTP listener, without credentials as
// Prometheus scrapes RabbitMQ's plugin, and parses the text format.
func scrape(t testing.TB, b *brokertest.Broker, path string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTPAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, raw)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", path, err, raw)
	}
	return fams
}

// sample is the value of the family's sample whose labels include want
// (name=value pairs); it fails when there is none.
func sample(t testing.TB, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	t.Fatalf("no sample of %s with %v", name, want)
	return 0
}

func TestMetricsScrape(t *testing.T) {
	b := brokertest.New(t)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	must(t, ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 16))
	if _, err := ch.QueueDeclare("metrics-q", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, b, "/metrics")
	received0 := sample(t, before, "rabbitmq_global_messages_received_total", "protocol", "amqp091")

	// Ten persistent messages into a durable queue: each waits for an
	// fsync, so the histogram has observations.
	for i := 0; i < 10; i++ {
		pub(t, ch, "", "metrics-q", amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprint("m", i))})
		if c := nextConfirm(t, confirms); !c.Ack {
			t.Fatalf("publish %d nacked", i)
		}
	}
	// Three of them consumed and acknowledged (one at a time: the fourth
	// delivery goes back when its channel closes), one fetched and held.
	cch := amqpChan(t, conn)
	must(t, cch.Qos(1, 0, false), "basic.qos")
	ds := consume(t, cch, "metrics-q", "c1", false, nil)
	for i := 0; i < 3; i++ {
		d := next(t, ds)
		must(t, d.Ack(false), "ack")
	}
	next(t, ds)
	must(t, cch.Close(), "channel.close")
	ch2 := amqpChan(t, conn)
	d, ok, err := ch2.Get("metrics-q", false)
	if err != nil || !ok {
		t.Fatalf("basic.get: %v %v", ok, err)
	}
	_ = d

	var fams map[string]*dto.MetricFamily
	eventually(t, "the acks counted", func() bool {
		fams = scrape(t, b, "/metrics")
		return sample(t, fams, "rabbitmq_global_messages_acknowledged_total", "protocol", "amqp091") == 3
	})
	// Aggregated: one sample for the node.
	ready := sample(t, fams, "rabbitmq_queue_messages_ready")
	unacked := sample(t, fams, "rabbitmq_queue_messages_unacked")
	if ready != 6 || unacked != 1 {
		t.Fatalf("queue depth: ready %v unacked %v, want 6 and 1", ready, unacked)
	}
	if got := sample(t, fams, "rabbitmq_global_messages_received_total", "protocol", "amqp091") - received0; got != 10 {
		t.Fatalf("messages received went up by %v, want 10", got)
	}
	if got := sample(t, fams, "rabbitmq_global_messages_confirmed_total", "protocol", "amqp091"); got < 10 {
		t.Fatalf("messages confirmed %v, want at least 10", got)
	}
	if got := sample(t, fams, "rabbitmq_global_messages_delivered_consume_manual_ack_total", "protocol", "amqp091", "queue_type", "rabbit_classic_queue"); got != 4 {
		t.Fatalf("delivered with manual ack %v, want 4", got)
	}
	if got := sample(t, fams, "rabbitmq_global_messages_redelivered_total", "protocol", "amqp091"); got != 1 {
		t.Fatalf("redelivered %v, want 1 (the get of the message the closed channel returned)", got)
	}
	if got := sample(t, fams, "rabbitmq_global_messages_delivered_get_manual_ack_total", "protocol", "amqp091"); got != 1 {
		t.Fatalf("gets with manual ack %v, want 1", got)
	}
	if got := sample(t, fams, "rabbitmq_connections"); got != 1 {
		t.Fatalf("rabbitmq_connections %v, want 1", got)
	}
	if got := sample(t, fams, "rabbitmq_channels"); got != 2 {
		t.Fatalf("rabbitmq_channels %v, want 2", got)
	}
	if got := sample(t, fams, "rabbitmq_queues"); got < 1 {
		t.Fatalf("rabbitmq_queues %v", got)
	}
	if id := fams["rabbitmq_identity_info"]; id == nil || len(id.GetMetric()[0].GetLabel()) != 3 {
		t.Fatalf("rabbitmq_identity_info: %v", id)
	}
	if f := fams["rabbitmq_build_info"]; f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("rabbitmq_build_info: %v", f)
	}
	h := fams["sluice_wal_fsync_duration_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM || h.GetMetric()[0].GetHistogram().GetSampleCount() == 0 {
		t.Fatalf("sluice_wal_fsync_duration_seconds: no observations: %v", h)
	}
	if got := sample(t, fams, "sluice_queue_disk_bytes"); got <= 0 {
		t.Fatalf("sluice_queue_disk_bytes %v, want the queue's log bytes", got)
	}
	for _, name := range []string{"rabbitmq_alarms_memory_used_watermark", "rabbitmq_disk_space_available_bytes",
		"rabbitmq_process_open_fds", "process_resident_memory_bytes", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("no metric %s", name)
		}
	}

	// Per object: one sample per queue, labelled as the plugin labels them.
	per := scrape(t, b, "/metrics/per-object")
	if got := sample(t, per, "rabbitmq_queue_messages_unacked", "vhost", "/", "queue", "metrics-q"); got != 1 {
		t.Fatalf("per-object unacked %v, want 1", got)
	}
	if got := sample(t, per, "rabbitmq_queue_messages", "vhost", "/", "queue", "metrics-q"); got != ready+1 {
		t.Fatalf("per-object depth %v, want %v", got, ready+1)
	}
	// Bodies are "m0".."m9", 2 bytes each.
	if r, u, all := sample(t, per, "rabbitmq_queue_messages_ready_bytes", "vhost", "/", "queue", "metrics-q"),
		sample(t, per, "rabbitmq_queue_messages_unacked_bytes", "vhost", "/", "queue", "metrics-q"),
		sample(t, per, "rabbitmq_queue_messages_bytes", "vhost", "/", "queue", "metrics-q"); r != 2*ready || u != 2 || all != r+u {
		t.Fatalf("per-object bytes: ready %v unacked %v all %v, want %v, 2 and their sum", r, u, all, 2*ready)
	}
	det := scrape(t, b, "/metrics/detailed?family=queue_coarse_metrics&vhost=%2F")
	if got := sample(t, det, "rabbitmq_detailed_queue_messages_ready", "vhost", "/", "queue", "metrics-q"); got != ready {
		t.Fatalf("detailed ready %v, want %v", got, ready)
	}
	if det["rabbitmq_detailed_queue_consumers"] != nil {
		t.Fatal("a family that was not asked for is in /metrics/detailed")
	}
}

// With --metrics-auth the endpoints take a management user.
func TestMetricsAuth(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MetricsAuth = true })
	resp, err := http.Get("http://" + b.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without credentials: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+b.HTTPAddr()+"/metrics", nil)
	req.SetBasicAuth("guest", "guest")
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics as guest: %d, want 200", resp.StatusCode)
	}
}

// The metrics are also on a listener of their own, rabbitmq_prometheus's
// port (15692 by default), where scrapers set up for RabbitMQ look; the
// same endpoints, the same --metrics-auth, and nothing else.
func TestMetricsOnPrometheusPort(t *testing.T) {
	if server.Defaults().PrometheusAddr != ":15692" {
		t.Fatalf("default Prometheus address %q, want RabbitMQ's :15692", server.Defaults().PrometheusAddr)
	}
	b := brokertest.New(t)
	addr := b.Addr("prometheus").String()
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "scraped", nil)
	pubBody(t, ch, "", "scraped", "m")
	for _, path := range []string{"/metrics", "/metrics/per-object", "/metrics/detailed?family=queue_coarse_metrics"} {
		resp, err := http.Get("http://" + addr + path)
		mustOK(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte("rabbitmq_")) {
			t.Fatalf("GET %s on the Prometheus listener: %d %.200s", path, resp.StatusCode, raw)
		}
		if path == "/metrics/per-object" && !bytes.Contains(raw, []byte(`queue="scraped"`)) {
			t.Fatalf("per-object metrics without the queue: %.500s", raw)
		}
	}
	for _, path := range []string{"/api/overview", "/", "/ws"} {
		resp, err := http.Get("http://" + addr + path)
		mustOK(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s on the Prometheus listener: %d, want 404", path, resp.StatusCode)
		}
	}
	b2 := brokertest.New(t, func(c *server.Config) { c.MetricsAuth = true })
	resp, err := http.Get("http://" + b2.Addr("prometheus").String() + "/metrics")
	mustOK(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("--metrics-auth on the Prometheus listener: %d, want 401", resp.StatusCode)
	}
}

// A side listener whose port is taken (a RabbitMQ plugin on the same
// host, say) is skipped with a warning: its endpoints stay on the HTTP
// listener. A main listener's taken port still stops the start.
func TestSideListenerPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	mustOK(t, err)
	defer taken.Close()
	b := brokertest.New(t, func(c *server.Config) {
		c.PrometheusAddr = taken.Addr().String()
		c.WebSTOMPAddr = taken.Addr().String()
	})
	if b.Addr("prometheus") != nil || b.Addr("web-stomp") != nil {
		t.Fatal("a side listener on a taken port")
	}
	scrape(t, b, "/metrics") // still on the HTTP listener
	amqpDial(t, b).Close()

	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AMQPAddr = taken.Addr().String()
	cfg.STOMPAddr, cfg.HTTPAddr, cfg.SQSAddr, cfg.WebSTOMPAddr, cfg.PrometheusAddr = "", "", "", "", ""
	srv, err := server.New(cfg, zerolog.Nop())
	mustOK(t, err)
	if err := srv.Start(); err == nil {
		_ = srv.Shutdown(context.Background())
		t.Fatal("started with the AMQP port taken")
	}
	_ = srv.Shutdown(context.Background())
}
