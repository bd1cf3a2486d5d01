// Package acceptloop is the accept loop every protocol listener shares:
// temporary accept errors are retried with a capped backoff, as net/http
// does, and a listener closed for shutdown ends the loop quietly.
package acceptloop

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Run accepts connections on ln and hands each to handle until ln is
// closed. closing tells a shutdown from a failure: when it reports true, or
// the listener is closed, Run returns nil. Temporary errors are retried
// after a pause that doubles up to a second; onRetry, if given, hears each
// of them (the caller decides how often to log).
func Run(ln net.Listener, closing func() bool, handle func(net.Conn), onRetry ...func(error)) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if closing() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporary(err) {
				return err
			}
			for _, fn := range onRetry {
				fn(err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		handle(nc)
	}
}

// temporary reports whether an accept error will pass by itself: a
// timeout, a connection aborted before it was accepted, or the process or
// system out of file descriptors, buffers or memory, which connections
// ending give back. A broker must ride these out, not stop listening.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range [...]syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// WarnEvery returns an onRetry for Run that logs at most one warning per
// interval: a listener out of file descriptors fails every accept.
func WarnEvery(log zerolog.Logger, listener string, interval time.Duration) func(error) {
	var last time.Time
	return func(err error) {
		if now := time.Now(); now.Sub(last) >= interval {
			last = now
			log.Warn().Err(err).Str("listener", listener).Msg("cannot accept connections; retrying")
		}
	}
}
