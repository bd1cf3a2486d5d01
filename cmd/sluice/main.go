// Command sluice runs the broker. With no arguments it serves AMQP on :5672,
// STOMP on :61613 and HTTP on :15672 with its data in ./data; --help lists
// every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/server"
)

func main() { os.Exit(run()) }

func run() int {
	cfg, showVersion, err := server.Load(os.Args[1:], os.Environ(), os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		return 2
	}
	if showVersion {
		fmt.Println("sluice", server.Version)
		return 0
	}
	log, err := newLogger(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		return 2
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	if err := srv.Start(); err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := waitForStop(srv, log, sigs, hup)
	go func() {
		<-sigs
		log.Warn().Msg("second signal: exiting now")
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error().Err(err).Msg("shutdown incomplete")
	}
	return code
}

// running is what waitForStop needs of the server.
type running interface {
	Err() <-chan error
	ReloadKeyring() error
	ReloadTLS() error
}

// waitForStop serves SIGHUP (reloads) until a signal asks the broker to
// stop (exit status 0 after a clean shutdown) or a listener fails (status
// 1: a broker that stopped serving must not look like one that was asked
// to stop, to its supervisor).
func waitForStop(srv running, log zerolog.Logger, sigs, hup <-chan os.Signal) int {
	for {
		select {
		case <-hup:
			if err := srv.ReloadKeyring(); err != nil {
				log.Error().Err(err).Msg("SIGHUP: keyring not reloaded")
			} else {
				log.Info().Msg("SIGHUP: keyring reloaded")
			}
			_ = srv.ReloadTLS() // it logs the outcome
		case sig := <-sigs:
			log.Info().Str("signal", sig.String()).Msg("shutting down; a second signal exits at once")
			return 0
		case err := <-srv.Err():
			log.Error().Err(err).Msg("listener failed; shutting down")
			return 1
		}
	}
}

func newLogger(cfg server.Config) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log-level: %w", err)
	}
	var log zerolog.Logger
	console := cfg.LogFormat == "console" || (cfg.LogFormat == "auto" && isatty.IsTerminal(os.Stderr.Fd()))
	switch cfg.LogFormat {
	case "auto", "console", "json":
	default:
		return log, fmt.Errorf("log-format must be auto, console or json, not %q", cfg.LogFormat)
	}
	if console {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339})
	} else {
		log = zerolog.New(os.Stderr)
	}
	return log.Level(level).With().Timestamp().Logger(), nil
}
