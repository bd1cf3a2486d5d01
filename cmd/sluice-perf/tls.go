package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
)

// tlsOptions are the client's TLS settings, from the --tls-* flags. AMQP
// uses TLS when --uri is amqps://, STOMP when --stomp-tls is given; both
// take the same settings.
type tlsOptions struct {
	// CAFile is a PEM file of the CAs that sign the broker's certificate;
	// empty: the system's roots.
	CAFile string `json:"-"`
	// CertFile and KeyFile are the client certificate and its key,
	// presented when the broker asks for one.
	CertFile string `json:"-"`
	KeyFile  string `json:"-"`
	// ServerName is the name the broker's certificate must carry; empty:
	// the host of the URI (or of --stomp-addr).
	ServerName string `json:"server_name,omitempty"`
	// InsecureSkipVerify accepts any broker certificate. For benchmarks
	// on a private machine only: the connection is encrypted, but to
	// whoever answers.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// Resume keeps a client session cache, so that a new connection to
	// the same broker may resume an earlier TLS session instead of doing
	// a full handshake. Off: every handshake is a full one.
	Resume bool `json:"resume,omitempty"`
}

// usesTLS reports whether a run's connections are TLS: an amqps:// URI for
// AMQP, --stomp-tls for STOMP.
func (c *config) usesTLS() bool {
	if c.Protocol == "stomp" {
		return c.StompTLS
	}
	return isAMQPS(c.URI)
}

func isAMQPS(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Scheme == "amqps"
}

// clientConfig builds the *tls.Config that every TLS connection of a run
// shares (one session cache with Resume).
func (o tlsOptions) clientConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if o.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if o.Resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	}
	return cfg, nil
}

// forHost is cfg with ServerName set to host when cfg names none, as
// amqp091-go does for amqps:// URIs.
func forHost(cfg *tls.Config, hostport string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName != "" || cfg.InsecureSkipVerify {
		return cfg
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// dialSocket opens a TCP connection to hostport and, with tc, does the TLS
// handshake on it before it returns; both within fastSetupTimeout.
func dialSocket(hostport string, tc *tls.Config) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fastSetupTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil || tc == nil {
		return nc, err
	}
	tlc := tls.Client(nc, forHost(tc, hostport))
	if err := tlc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", hostport, err)
	}
	return tlc, nil
}

// stompTLS is the TLS configuration of the run's STOMP connections; nil:
// plain TCP.
func (c *config) stompTLS() *tls.Config {
	if !c.StompTLS {
		return nil
	}
	if c.tlsConf == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return c.tlsConf
}
