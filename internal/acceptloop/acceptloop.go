// Package acceptloop is the accept loop every protocol listener shares:
// temporary accept errors are retried with a capped backoff, as net/http
// does, and a listener closed for shutdown ends the loop quietly.
package acceptloop

import (
	"errors"
	"net"
	"time"
)

// Run accepts connections on ln and hands each to handle until ln is
// closed. closing tells a shutdown from a failure: when it reports true, or
// the listener is closed, Run returns nil.
func Run(ln net.Listener, closing func() bool, handle func(net.Conn)) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if closing() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		handle(nc)
	}
}
