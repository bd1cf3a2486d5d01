// Package brokertest starts a real sluice broker for tests, the way
// net/http/httptest starts a server: listeners on 127.0.0.1:0, a temporary
// data directory, and cleanup through t.Cleanup.
package brokertest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/server"
)

// Broker is a running test broker.
type Broker struct {
	*server.Server
	Config server.Config
}

// Option adjusts the configuration before the broker starts.
type Option func(*server.Config)

// New starts a broker for t and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AMQPAddr = "127.0.0.1:0"
	cfg.STOMPAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.SQSAddr = "127.0.0.1:0"
	cfg.WebSTOMPAddr = "127.0.0.1:0"
	cfg.WebSTOMPSAddr = "127.0.0.1:0"
	cfg.PrometheusAddr = "127.0.0.1:0"
	cfg.PrometheusTLSAddr = "127.0.0.1:0"
	// The TLS listeners open only when an option sets a certificate.
	cfg.AMQPSAddr = "127.0.0.1:0"
	cfg.STOMPSAddr = "127.0.0.1:0"
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.SQSSAddr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	// Small log segments: quick to preallocate and to scan on a restart.
	cfg.SegmentSize = 4 << 20
	for _, o := range opts {
		o(&cfg)
	}
	log := zerolog.Nop()
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &Broker{Server: srv, Config: cfg}
}

// AMQPURL is the amqp:// URL for guest on the default vhost.
func (b *Broker) AMQPURL() string {
	return fmt.Sprintf("amqp://guest:guest@%s/", b.Addr("amqp"))
}

// AMQPAddr is the AMQP listener's host:port.
func (b *Broker) AMQPAddr() string { return b.Addr("amqp").String() }

// STOMPAddr is the STOMP listener's host:port ("" when STOMP is off).
func (b *Broker) STOMPAddr() string {
	if a := b.Addr("stomp"); a != nil {
		return a.String()
	}
	return ""
}

// SQSURL is the SQS endpoint's URL, http://127.0.0.1:PORT ("" when off).
func (b *Broker) SQSURL() string {
	if a := b.Addr("sqs"); a != nil {
		return "http://" + a.String()
	}
	return ""
}

// HTTPAddr is the HTTP listener's host:port.
func (b *Broker) HTTPAddr() string { return b.Addr("http").String() }

// WithDataDir makes the broker keep its data in dir, so a test can stop it
// and start another on the same data.
func WithDataDir(dir string) Option { return func(c *server.Config) { c.DataDir = dir } }

// Stop shuts the broker down now (t.Cleanup would do it at the end).
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("brokertest: shutdown: %v", err)
	}
}
