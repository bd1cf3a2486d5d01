package server

import (
	"net/http"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// /metrics in the Prometheus text format, with the names and labels of
// RabbitMQ's rabbitmq_prometheus plugin (3.10.8) where the concept is the
// same, so that its Grafana dashboards show sluice, and sluice_* names for
// what only sluice has (docs/METRICS.md lists them all).
//
// The endpoints are the plugin's:
//
//	/metrics             aggregated: one sample per metric for the node
//	                     (rabbitmq_queue_messages_ready is the sum over
//	                     every queue), cheap whatever the number of queues
//	/metrics/per-object  the same metrics with one sample per queue
//	                     (labels vhost, queue)
//	/metrics/detailed    the per-object queue families only, chosen with
//	                     ?family=queue_coarse_metrics&family=queue_metrics
//	                     and filtered with ?vhost=NAME, named
//	                     rabbitmq_detailed_*
//
// Everything is read from the broker when Prometheus scrapes: a custom
// Collector walks the queues (one short lock each), so a message pays
// nothing for metrics beyond the core's counters (broker/counters.go).
// The one thing observed as it happens is the log's fdatasync: one
// histogram observation per fsync, not per message.
//
// Like RabbitMQ's plugin, which serves them on a port of their own without
// authentication, the endpoints need none unless --metrics-auth is set;
// then they take a broker user with a management tag, as the API does.

// rabbitmqCompatVersion is the plugin release whose metrics these copy.
const rabbitmqCompatVersion = "3.10.8"

// clientGolangVersion is the pinned prometheus/client_golang (go.mod),
// shown as build_info's prometheus_client_version.
const clientGolangVersion = "1.25.0"

// registerMetrics serves /metrics, /metrics/per-object and
// /metrics/detailed, and hooks the fsync histogram to the store.
func (s *Server) registerMetrics() {
	fsync := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sluice_wal_fsync_duration_seconds",
		Help: "Time one fdatasync of the write-ahead log took",
		// 50µs (page cache, fast NVMe) to about 3 s (a disk in trouble).
		Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 13),
	})
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sluice_wal_fsync_batch_records",
		Help:    "Records one fdatasync of the write-ahead log made durable (the group commit's size)",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 to 65536
	})
	if s.store != nil {
		s.store.SetSyncObserver(func(took time.Duration, records int) {
			s.syncNanos.Add(uint64(took))
			fsync.Observe(took.Seconds())
			batch.Observe(float64(records))
		})
	}
	process := collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	goRuntime := collectors.NewGoCollector()
	opts := promhttp.HandlerOpts{ErrorLog: promLogger{s}, ErrorHandling: promhttp.ContinueOnError}
	aggregated := prometheus.NewRegistry()
	aggregated.MustRegister(&brokerCollector{s: s, mode: metricsAggregated}, fsync, batch, process, goRuntime)
	handlers := map[string]http.Handler{"/metrics": promhttp.HandlerFor(aggregated, opts)}
	// The per-object endpoints sample the queues once a request and write
	// their samples themselves (metrics_text.go).
	handlers["/metrics/per-object"] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		queues := s.sampleQueues(nil)
		r := prometheus.NewRegistry()
		r.MustRegister(&brokerCollector{s: s, mode: metricsPerObject, queues: queues}, fsync, batch, process, goRuntime)
		serveObjects(w, r, queues, "rabbitmq_", perQueueMetrics, promLogger{s})
	})
	// The detailed endpoint's families and vhosts come with each request.
	handlers["/metrics/detailed"] = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var vhosts map[string]bool
		if vs := req.URL.Query()["vhost"]; len(vs) > 0 {
			vhosts = map[string]bool{}
			for _, v := range vs {
				vhosts[v] = true
			}
		}
		defs := detailedDefs(req.URL.Query()["family"])
		var queues []queueSample
		if len(defs) > 0 {
			queues = s.sampleQueues(vhosts)
		}
		r := prometheus.NewRegistry()
		r.MustRegister(&brokerCollector{s: s, mode: metricsDetailed, queues: []queueSample{}})
		serveObjects(w, r, queues, "rabbitmq_detailed_", defs, promLogger{s})
	})
	s.metricsHandlers = map[string]http.Handler{}
	for path, h := range handlers {
		if s.cfg.MetricsAuth {
			h = s.authed(h.ServeHTTP)
		}
		s.mux.Handle("GET "+path, h)
		s.metricsHandlers[path] = h // also on the Prometheus listener (side_listeners.go)
	}
}

// promLogger takes promhttp's errors (a collector that failed) into the log.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Warn().Interface("error", v).Msg("metrics") }

// metricsMode is which endpoint a collector serves.
type metricsMode int

const (
	metricsAggregated metricsMode = iota
	metricsPerObject
	metricsDetailed
)

// hostUsage is what the node reports about its process and disk.
type hostUsage struct {
	openFDs, maxFDs float64
	diskFree        float64
	diskOK          bool
}

func (s *Server) hostUsage() hostUsage {
	var u hostUsage
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		u.openFDs = float64(len(ents))
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		u.maxFDs = float64(lim.Cur)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.DataDir, &st); err == nil {
		u.diskFree, u.diskOK = float64(st.Bavail*uint64(st.Bsize)), true
	}
	return u
}

// goVersion is the Go release, shown where RabbitMQ shows Erlang's.
var goVersion = runtime.Version()
