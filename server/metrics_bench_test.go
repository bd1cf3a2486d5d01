package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// metricsServer is a server with a broker of n queues, each holding one
// message, and the metrics endpoints on its mux.
func metricsServer(tb testing.TB, n int) *Server {
	b := broker.New(broker.Config{})
	v, _ := b.VHost("/")
	sess := v.NewSession(1, nopSink{})
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("queue-%05d", i)
		if _, err := v.DeclareQueue(broker.QueueDecl{Name: name}); err != nil {
			tb.Fatal(err)
		}
		if _, err := sess.Publish("", name, &message.Message{Body: []byte("x")}, broker.PublishOptions{}); err != nil {
			tb.Fatal(err)
		}
	}
	s := &Server{Broker: b, cfg: Config{DataDir: tb.TempDir()}, log: zerolog.Nop(), mux: http.NewServeMux()}
	s.registerMetrics()
	return s
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func scrapeOnce(tb testing.TB, s *Server, path string) int {
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	n, _ := io.Copy(io.Discard, rec.Body)
	return int(n)
}

// BenchmarkScrape10kQueues is the cost of one scrape of a broker with
// 10,000 queues (docs/METRICS.md quotes it).
func BenchmarkScrape10kQueues(b *testing.B) {
	s := metricsServer(b, 10_000)
	for _, path := range []string{"/metrics", "/metrics/per-object", "/metrics/detailed?family=queue_coarse_metrics"} {
		b.Run(path, func(b *testing.B) {
			size := 0
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				size = scrapeOnce(b, s, path)
			}
			// CPU time as well as wall time: on a loaded machine the
			// wall time says more about the neighbours.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// The per-object endpoint has one sample per queue and metric.
func TestScrapePerObjectHasEveryQueue(t *testing.T) {
	s := metricsServer(t, 50)
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics/per-object", nil))
	body := rec.Body.String()
	for i := 0; i < 50; i++ {
		want := fmt.Sprintf(`rabbitmq_queue_messages_ready{vhost="/",queue="queue-%05d"} 1`, i)
		if !strings.Contains(body, want) {
			t.Fatalf("no %s in the per-object scrape", want)
		}
	}
}
