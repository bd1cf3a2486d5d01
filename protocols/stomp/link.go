package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/sluice-mq/sluice/internal/conninfo"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// frameSink writes frames during one batch of the writer goroutine.
type frameSink interface {
	WriteFrame(cmd frame.Command, headers []frame.Field, body []byte) error
	WriteHeartbeat() error
	SetVersion(v frame.Version)
}

// link is the transport under a STOMP session: a TCP socket, or a
// WebSocket carrying frames in its messages.
type link interface {
	// Read reads the client's bytes as one stream. Only the reader
	// goroutine calls it.
	Read(p []byte) (int, error)
	RemoteAddr() net.Addr
	// LocalAddr is the broker's end: the listener's address.
	LocalAddr() net.Addr
	// countWrites makes the link count what it writes in io.
	countWrites(io *conninfo.Counters)
	// tlsState is the TLS state once the handshake is done; nil on a
	// plain transport.
	tlsState() *tls.ConnectionState
	// Close closes the transport at once; it may be called from any
	// goroutine, and unblocks Read and writes.
	Close() error
	// begin starts a batch of writes and returns the sink for it, which
	// ends each frame with an LF when trailingLF is set; flush ends the
	// batch and sends what it holds. Only the writer goroutine calls them.
	begin(v frame.Version, trailingLF bool, timeout time.Duration) frameSink
	flush() error
	// closeAfterError closes the transport after an ERROR frame has been
	// flushed, in a way that lets the peer read it; called by the reader
	// goroutine once the writer has stopped.
	closeAfterError(timeout time.Duration)
}

// tcpLink is a STOMP session over a plain socket.
type tcpLink struct {
	nc net.Conn
	w  *frame.Writer // during a batch
	// cw is nc counting writes; a field, so that handing it to the frame
	// writer of each batch allocates nothing.
	cw conninfo.Writer
}

func newTCPLink(nc net.Conn) *tcpLink {
	return &tcpLink{nc: nc, cw: conninfo.Writer{W: nc}} // newConn sets cw.C
}

// writerPool holds frame writers between batches, so an idle connection
// keeps no write buffer.
var writerPool = sync.Pool{New: func() any { return frame.NewWriterSize(nil, 32<<10) }}

func (l *tcpLink) Read(p []byte) (int, error) { return l.nc.Read(p) }
func (l *tcpLink) RemoteAddr() net.Addr       { return l.nc.RemoteAddr() }
func (l *tcpLink) LocalAddr() net.Addr        { return l.nc.LocalAddr() }

func (l *tcpLink) Close() error { return l.nc.Close() }

func (l *tcpLink) countWrites(io *conninfo.Counters) { l.cw.C = io }

func (l *tcpLink) begin(v frame.Version, trailingLF bool, timeout time.Duration) frameSink {
	w := writerPool.Get().(*frame.Writer)
	w.Reset(&l.cw)
	w.SetVersion(v)
	w.SetTrailingLF(trailingLF)
	if timeout > 0 {
		_ = l.nc.SetWriteDeadline(time.Now().Add(timeout))
	}
	l.w = w
	return w
}

func (l *tcpLink) flush() error {
	w := l.w
	l.w = nil
	err := w.Flush()
	w.Reset(nil)
	writerPool.Put(w)
	return err
}

// closeAfterError half-closes the socket and reads what the client still
// sends for a moment, so that the kernel does not answer unread input with
// a reset that could destroy the ERROR frame before the client reads it.
func (l *tcpLink) closeAfterError(timeout time.Duration) {
	if cw, ok := l.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = l.nc.SetReadDeadline(time.Now().Add(timeout))
		_, _ = io.CopyN(io.Discard, l.nc, 64<<20)
	}
	l.nc.Close()
}

// wsLink is a STOMP session over WebSocket: client messages, text or
// binary, are read as one byte stream (so a message may hold several
// frames or part of one), and each server frame is one message — text when
// it is valid UTF-8, binary otherwise — with heart-beats as "\n" messages.
type wsLink struct {
	c      *websocket.Conn
	remote net.Addr
	local  net.Addr
	io     *conninfo.Counters   // counts the frames' bytes written, not the WebSocket framing
	tls    *tls.ConnectionState // the HTTPS request's; nil over HTTP
	in     wsStream

	// writer-goroutine state
	buf        []byte
	ver        frame.Version
	trailingLF bool
	ctx        context.Context
	cancel     context.CancelFunc
	err        error
}

func newWSLink(c *websocket.Conn, r *http.Request) *wsLink {
	l := &wsLink{c: c, remote: remoteAddr(r.RemoteAddr), tls: r.TLS} // newConn sets io
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		l.local = a
	} else {
		l.local = stringAddr("")
	}
	l.in.next = func() (io.Reader, error) {
		_, r, err := c.Reader(context.Background())
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil, io.EOF // the client closed: a clean end of input
		}
		return r, err
	}
	return l
}

// wsStream reads a WebSocket's messages, text or binary, as one byte
// stream, since STOMP over WebSocket clients differ in how they cut
// frames into messages: one frame per message, several, or parts (and
// heart-beats as messages of their own). Message boundaries carry no
// meaning; the frame reader finds the frames.
type wsStream struct {
	next func() (io.Reader, error) // the next message; io.EOF at a close
	r    io.Reader                 // the message being read
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			r, err := s.next()
			if err != nil {
				return 0, err
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			// An empty message, or the end of one: go on with the next
			// rather than return 0, nil, which io.Reader discourages.
			s.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// remoteAddr turns an http.Request's RemoteAddr into a *net.TCPAddr, so
// loopback checks see the client's address.
func remoteAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return stringAddr(s)
	}
	return net.TCPAddrFromAddrPort(ap)
}

type stringAddr string

func (a stringAddr) Network() string { return "websocket" }
func (a stringAddr) String() string  { return string(a) }

func (l *wsLink) Read(p []byte) (int, error) { return l.in.Read(p) }

func (l *wsLink) RemoteAddr() net.Addr { return l.remote }
func (l *wsLink) LocalAddr() net.Addr  { return l.local }

func (l *wsLink) countWrites(io *conninfo.Counters) { l.io = io }
func (l *wsLink) Close() error                      { return l.c.CloseNow() }

func (l *wsLink) tlsState() *tls.ConnectionState { return l.tls }

func (l *wsLink) begin(v frame.Version, trailingLF bool, timeout time.Duration) frameSink {
	l.ver = v
	l.trailingLF = trailingLF
	l.err = nil
	if timeout > 0 {
		l.ctx, l.cancel = context.WithTimeout(context.Background(), timeout)
	} else {
		l.ctx, l.cancel = context.Background(), func() {}
	}
	return l
}

func (l *wsLink) SetVersion(v frame.Version) { l.ver = v }

func (l *wsLink) WriteFrame(cmd frame.Command, headers []frame.Field, body []byte) error {
	if l.err != nil {
		return l.err
	}
	// One frame per message, with RabbitMQ's trailing LF inside it.
	l.buf = frame.Encoder{Version: l.ver, TrailingLF: l.trailingLF}.Append(l.buf[:0], cmd, headers, body)
	typ := websocket.MessageText
	if !utf8.Valid(l.buf) {
		typ = websocket.MessageBinary
	}
	l.err = l.c.Write(l.ctx, typ, l.buf)
	if l.err == nil {
		l.io.Wrote(len(l.buf))
	}
	if cap(l.buf) > 1<<20 {
		l.buf = nil
	}
	return l.err
}

// heartbeatMsg is a heart-beat message; the library does not modify what
// a server writes (only client frames are masked).
var heartbeatMsg = []byte{'\n'}

func (l *wsLink) WriteHeartbeat() error {
	if l.err != nil {
		return l.err
	}
	l.err = l.c.Write(l.ctx, websocket.MessageText, heartbeatMsg)
	if l.err == nil {
		l.io.Wrote(len(heartbeatMsg))
	}
	return l.err
}

func (l *wsLink) flush() error {
	l.cancel()
	l.ctx, l.cancel = nil, nil
	return l.err
}

func (l *wsLink) closeAfterError(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		_ = l.c.Close(websocket.StatusNormalClosure, "")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		_ = l.c.CloseNow()
	}
}
