// Package server assembles a running broker: the core, the protocol
// listeners, the HTTP endpoint and their orderly shutdown. cmd/sluice is a
// thin main around it and brokertest starts one for tests.
package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/connlimit"
	"github.com/sluice-mq/sluice/protocols/amqp"
	"github.com/sluice-mq/sluice/protocols/sqs"
	"github.com/sluice-mq/sluice/protocols/stomp"
	"github.com/sluice-mq/sluice/storage"
)

// Version is the release, set at build time with -ldflags.
var Version = "0.1.0-dev"

// protocolServer is what each protocol adapter offers the server.
type protocolServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// Server is a running broker.
type Server struct {
	cfg    Config
	log    zerolog.Logger
	Broker *broker.Broker
	Users  *auth.Registry

	amqp  *amqp.Server
	mux   *http.ServeMux
	httpS *http.Server
	// churn and io sample the counters the API shows with rates, and
	// syncNanos sums the log's fdatasync time (churn_rates.go).
	churn, io counterRates
	syncNanos atomic.Uint64
	// sideServers serve the Web STOMP and Prometheus listeners
	// (side_listeners.go). wsHandler is the Web STOMP listener's STOMP over
	// WebSocket (pages of the same host on any port may use it; on the
	// HTTP listener, pages of its own origin); metricsHandlers the
	// Prometheus endpoints, by path.
	sideServers     []*http.Server
	wsHandler       http.Handler
	metricsHandlers map[string]http.Handler
	tls             tlsState

	store *storage.Store

	// The message_stats sampler (message_stats.go).
	statsOnce sync.Once
	stats     *statsSampler

	mu        sync.Mutex
	listeners map[string]net.Listener
	protos    map[string]protocolServer
	serveErr  chan error
	stopped   bool
	stopWatch chan struct{}

	// connection byte rates and message depth rates (conn_rates.go)
	ioRates ioRates
}

// New builds a server from cfg; Start opens its listeners.
func New(cfg Config, log zerolog.Logger) (*Server, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &Server{cfg: cfg, log: log, Users: auth.NewRegistry(splitList(cfg.LoopbackUsers)...),
		listeners: map[string]net.Listener{}, protos: map[string]protocolServer{}, serveErr: make(chan error, 4)}
	s.Broker = broker.New(broker.Config{MaxConsumersPerSession: cfg.ConsumersPerChannel, MaxQueues: cfg.MaxQueues,
		ResidentBytes: int64(cfg.QueueResidentBytes), FlowMessages: cfg.QueueFlowMessages,
		MaxDedupCacheSize: cfg.MaxDedupCacheSize, Logger: log})
	s.applyMemoryLimit()
	// TLS first: a certificate that does not load stops the start before
	// storage is opened (and locked).
	if err := s.setupTLS(); err != nil {
		return nil, err
	}
	if err := s.openStorage(); err != nil {
		return nil, err
	}
	if err := s.loadDefinitionsAtStart(); err != nil {
		s.store.Close()
		return nil, err
	}
	// One limiter for every listener: the limits are the broker's.
	limits := &connlimit.Limiter{Max: cfg.MaxConnections, MaxPerUser: cfg.MaxConnectionsPerUser,
		MaxHandshaking: cfg.MaxHandshaking}
	s.tls.limits = limits
	hb := cfg.Heartbeat
	if hb == 0 {
		hb = -1 // the adapter's zero means "default"; the operator's means off
	}
	s.amqp = amqp.NewServer(amqp.Config{
		FrameMax:          uint32(cfg.FrameMax),
		ChannelMax:        uint16(cfg.ChannelMax),
		Heartbeat:         hb,
		MaxMessageSize:    uint64(cfg.MaxMessageSize),
		Limits:            limits,
		HandshakeTimeout:  cfg.HandshakeTimeout,
		OutputHighWater:   int64(cfg.OutputHighWater),
		TxMaxOperations:   cfg.TxMaxOperations,
		TxMaxBytes:        int64(cfg.TxMaxBytes),
		MaxHandshakeFrame: uint32(cfg.AMQPMaxHandshakeFrame),
		Version:           Version,
		ClusterName:       nodeName(),
	}, s.Broker, s.Users, log)
	s.protos["amqp"] = s.amqp
	s.Broker.Alarms.OnChange(s.amqp.SetAlarm)
	s.mux = http.NewServeMux()
	stompSrv := stomp.NewServer(stomp.Config{
		MaxFrameSize:        int(cfg.STOMPMaxFrameSize),
		MaxHeaders:          cfg.STOMPMaxHeaders,
		MaxHeaderLine:       int(cfg.STOMPMaxHeaderLine),
		MaxSubscriptions:    cfg.STOMPMaxSubscriptions,
		MaxTransactions:     cfg.STOMPMaxTransactions,
		MaxTransactionBytes: int64(cfg.TxMaxBytes),
		TrailingLF:          cfg.STOMPTrailingLF,
		MaxHandshakeFrame:   int(cfg.STOMPMaxHandshakeFrame),
		WebSocketOrigins:    splitList(cfg.WSAllowedOrigins),
		MaxMessageSize:      int(cfg.MaxMessageSize),
		Limits:              limits,
		HandshakeTimeout:    cfg.HandshakeTimeout,
		OutputHighWater:     int64(cfg.OutputHighWater),
		Version:             Version,
	}, s.Broker, s.Users, log)
	s.protos["stomp"] = stompSrv
	s.protos["sqs"] = sqs.NewServer(sqs.Config{Region: cfg.SQSRegion}, s.Broker, s.Users, s.Users, log)
	s.wsHandler = stompSrv.WebSocketHandler(true)
	s.Handle("/ws", stompSrv.WebSocketHandler(false))
	s.mux.HandleFunc("GET /healthz", s.health)
	s.registerAPI()
	s.followUsers()
	return s, nil
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Handle adds an HTTP handler (STOMP over WebSocket registers /ws).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}

// httpListeners are the listeners net/http serves; --max-http-connections
// bounds each (connlimit.Listener).
var httpListeners = map[string]bool{"http": true, "https": true, "sqs": true, "sqss": true,
	"web-stomp": true, "web-stomps": true, "prometheus": true, "prometheus-tls": true}

// Start opens every configured listener and serves in the background. An
// address that cannot be bound is an error and nothing is left running,
// but for the side listeners (Web STOMP, Prometheus: side_listeners.go),
// whose endpoints the HTTP listener serves too: those are skipped with a
// warning.
func (s *Server) Start() error {
	addrs := map[string]string{"amqp": s.cfg.AMQPAddr, "stomp": s.cfg.STOMPAddr, "http": s.cfg.HTTPAddr, "sqs": s.cfg.SQSAddr,
		"web-stomp": s.cfg.WebSTOMPAddr, "prometheus": s.cfg.PrometheusAddr}
	for name, addr := range s.tlsAddrs() {
		addrs[name] = addr
	}
	for _, name := range []string{"amqp", "stomp", "http", "sqs", "web-stomp", "prometheus",
		"amqps", "stomps", "https", "sqss", "web-stomps", "prometheus-tls"} {
		addr := addrs[name]
		if addr == "" {
			continue
		}
		if proto := cmp.Or(tlsListeners[name], name); proto != "http" && !sideListeners[proto] && s.protos[proto] == nil {
			s.log.Warn().Str("listener", name).Msg("protocol not available in this build; listener off")
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil && sideListeners[name] {
			// What a side listener serves is on the HTTP listener too:
			// a port taken (by a RabbitMQ plugin on the same host, say)
			// costs the convenience, not the broker.
			s.log.Warn().Err(err).Str("listener", name).Str("addr", addr).Msg("listener not opened; its endpoints stay on the HTTP listener")
			continue
		}
		if err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			return fmt.Errorf("%s listener on %s: %w", name, addr, err)
		}
		if httpListeners[name] {
			ln = connlimit.NewListener(ln, s.cfg.MaxHTTPConnections)
		}
		s.listeners[name] = ln
	}
	for name, ln := range s.listeners {
		s.log.Info().Str("listener", name).Str("addr", ln.Addr().String()).Msg("listening")
		if name == "http" {
			s.httpS = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
			go func(ln net.Listener) {
				if err := s.httpS.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.listenerFailed(fmt.Errorf("http: %w", err))
				}
			}(ln)
			continue
		}
		if sideListeners[name] {
			s.serveSide(name, ln)
			continue
		}
		if s.serveTLSListener(name, ln) {
			continue
		}
		p := s.protos[name]
		go func(name string, ln net.Listener) {
			if err := p.Serve(ln); err != nil {
				s.listenerFailed(fmt.Errorf("%s: %w", name, err))
			}
		}(name, ln)
	}
	s.stopWatch = make(chan struct{})
	go s.watchResources(s.stopWatch)
	go s.sampleMessageStats(s.stopWatch)
	go s.sampleIO(s.stopWatch)
	s.log.Info().Str("data_dir", s.cfg.DataDir).Str("version", Version).Msg("sluice started")
	return nil
}

// Addr is the bound address of a listener ("amqp", "stomp", "http",
// "sqs", "web-stomp", "prometheus", "amqps", "stomps", "https", "sqss",
// "web-stomps", "prometheus-tls"), or nil.
func (s *Server) Addr(name string) net.Addr {
	if ln := s.listeners[name]; ln != nil {
		return ln.Addr()
	}
	return nil
}

// Err delivers a listener's fatal error.
func (s *Server) Err() <-chan error { return s.serveErr }

// listenerFailed reports a listener's failure on Err without blocking:
// the first one stops the broker, and a goroutine waiting to report a
// later one (there are more listeners than the channel holds) would never
// end.
func (s *Server) listenerFailed(err error) {
	select {
	case s.serveErr <- err:
	default:
		s.log.Error().Err(err).Msg("listener failed")
	}
}

// Shutdown stops accepting, closes every connection with its protocol's
// own close (AMQP 320, STOMP ERROR) and waits for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	if s.stopWatch != nil {
		close(s.stopWatch)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, 0, 3)
	var emu sync.Mutex
	for name, p := range s.protos {
		wg.Add(1)
		go func(name string, p protocolServer) {
			defer wg.Done()
			if err := p.Shutdown(ctx); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				emu.Unlock()
			}
		}(name, p)
	}
	if s.httpS != nil {
		_ = s.httpS.Shutdown(ctx)
	}
	if s.tls.https != nil {
		_ = s.tls.https.Shutdown(ctx)
	}
	for _, srv := range s.sideServers {
		_ = srv.Shutdown(ctx)
	}
	wg.Wait()
	// Adapters first (no client calls any more), then the broker's own
	// timers and read-aheads, then storage, which they write to.
	s.Broker.Close()
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("storage: %w", err))
		}
	}
	s.log.Info().Msg("sluice stopped")
	return errors.Join(errs...)
}
