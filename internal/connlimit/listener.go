package connlimit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listener bounds the connections an HTTP listener (the management API,
// the SQS API) holds open at once. net/http has no such bound: every
// accepted socket gets a goroutine and buffers until its timeouts, so a
// client that opens sockets and sends nothing could hold any number. Past
// Max a new connection is closed as soon as it is accepted (an HTTP client
// sees the connection reset and may retry); the ones open are served as
// before. These connections are not sessions, so --max-connections (AMQP,
// STOMP) does not count them.
type Listener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64
}

// NewListener wraps ln; max <= 0 is no bound (ln itself is returned
// wrapped all the same, so that Open counts).
func NewListener(ln net.Listener, max int) *Listener {
	return &Listener{Listener: ln, max: int64(max)}
}

// Open is the number of connections open now.
func (l *Listener) Open() int64 { return l.open.Load() }

// Refused is the number of connections closed because Max was reached.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Accept returns the next connection within the bound, closing those past
// it.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.open.Add(1); l.max > 0 && n > l.max {
			l.open.Add(-1)
			l.refused.Add(1)
			c.Close()
			continue
		}
		lc := &limitedConn{Conn: c, l: l}
		if cw, ok := c.(closeWriter); ok {
			// net/http half-closes a TCP connection before it closes it
			// after an error answer; keep that possible.
			return &limitedTCPConn{limitedConn: lc, cw: cw}, nil
		}
		return lc, nil
	}
}

type closeWriter interface{ CloseWrite() error }

type limitedConn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

type limitedTCPConn struct {
	*limitedConn
	cw closeWriter
}

func (c *limitedTCPConn) CloseWrite() error { return c.cw.CloseWrite() }
