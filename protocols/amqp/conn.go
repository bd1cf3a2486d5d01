package amqp

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/internal/conninfo"
	"github.com/sluice-mq/sluice/internal/panics"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// conn is one client connection: a goroutine that runs the handshake
// (serve), then a reader goroutine (run) that parses frames and runs the
// state machines, and an output with its writer.
//
// An idle connection is what thousands of clients cost, so it keeps
// little: what only some connections use (the method decoder, the alarm's
// wait channel) is made when first needed, the log context only for what
// is logged, and the client properties stay encoded until the management
// API asks for them.
type conn struct {
	srv *Server
	nc  net.Conn
	id  broker.ConnID
	out *output
	fr  *wire.FrameReader
	md  *wire.MethodDecoder // made by the first method on an open channel
	// flow is the gate of a congested queue the last publish went to;
	// the reader waits at it before the next frame. Reader goroutine only.
	flow *broker.FlowGate

	lastRead atomic.Int64 // unix nanos of the last read that returned data
	// readPaused is set while the reader deliberately reads nothing (a
	// resource alarm, the flow gate, a commit it waits for): the silence
	// is the broker's, and heartbeatTick does not count it.
	readPaused atomic.Bool
	heartbeat  atomic.Int64 // negotiated interval in nanoseconds; 0 = off
	frameMax   atomic.Uint32
	// openedAt is when connection.open-ok was queued, in unix millis; 0
	// during the handshake. user, vhost and clientProps are set before it
	// and never change after, so other goroutines may read them once it
	// is set.
	openedAt atomic.Int64

	done      chan struct{}
	closeOnce sync.Once

	// Reader-goroutine state.
	vhost       *broker.VHost
	user        string
	clientProps []byte // client-properties, encoded
	channelMax  uint16
	caps        clientCaps
	reason      string

	chMu sync.Mutex // guards changes to chans, and reads from other goroutines
	// chans are the open channels, sorted by id. Only the reader changes
	// it (under chMu), so the reader reads it without the lock.
	chans []*channel

	blocked     atomic.Bool // the client is told it is blocked
	alarmMu     sync.Mutex
	unblock     chan struct{} // closed when the alarm clears; nil until a publish waits
	alarmSet    string
	toldBlocked bool // connection.blocked sent, unblocked owed
	alarmHeld   bool // the reader waits in waitUnblocked (state "blocked")

	hbTimer atomic.Pointer[time.Timer] // heartbeatTick; nil when heartbeats are off

	// tlsMgr is the TLS listener's configuration; nil on a plain
	// listener. nc is then a *tls.Conn.
	tlsMgr *tlsconfig.Manager

	// io counts socket reads and writes for the management API.
	io conninfo.Counters
	// authMech is the SASL mechanism the client logged in with (one of
	// the constant names, so it holds no memory); set before openedAt.
	authMech string
}

// clientCaps are the capabilities from the client's properties that
// change what the broker sends it.
type clientCaps struct {
	blocked      bool // connection.blocked
	cancelNotify bool // consumer_cancel_notify
	authFailure  bool // authentication_failure_close
}

// readCounter records when data last arrived, for heartbeat enforcement,
// without a deadline syscall per read.
type readCounter struct{ c *conn }

func (r readCounter) Read(p []byte) (int, error) {
	n, err := r.c.nc.Read(p)
	if n > 0 {
		r.c.lastRead.Store(time.Now().UnixNano())
		r.c.io.Read(n)
	}
	return n, err
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, id: broker.ConnID(s.nextID.Add(1)), done: make(chan struct{})}
	c.out = &output{c: c}
	c.fr = wire.NewFrameReader(readCounter{c})
	// Until tune-ok the client has agreed to no frame_max, and until
	// start-ok it is nobody: only small frames, as RabbitMQ takes 4,096
	// bytes before tuning. The handshake raises it to the frame_max.
	c.fr.SetMaxFrameSize(s.cfg.MaxHandshakeFrame)
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

// errClosed ends the reader loop after an orderly close.
var errClosed = errors.New("connection closed")

// errHandOff ends the reader loop of a goroutine whose stack grew, when
// the connection is about to wait: run continues in a new goroutine. A Go
// stack grows (doubling) to fit the deepest call the goroutine has made,
// and a GC halves it only while less than a quarter of it is in use, so
// never back to 2 KiB: a connection idle after a deep method (a declare, a
// consume) would keep 4-16 KiB of stack through the wait where a new
// goroutine waits in its starting 2 KiB.
var errHandOff = errors.New("reader handed off")

// serve runs the handshake, then hands an opened connection to a new
// goroutine for the rest of its life (run). The handshake's calls go deep
// (field tables, authentication) and grow this goroutine's stack, which
// Go gives back only partly and only when a GC finds it mostly unused; the
// reader, which waits through an idle connection's life, starts with a
// small stack instead. A panic is logged with its stack and closes only
// this connection.
//
// Connections in their handshake are counted against
// --max-handshaking-connections (shared with STOMP): until a client has
// logged in nothing else bounds how many sockets anyone holds open.
func (c *conn) serve() {
	opened, handshaking := false, false
	defer func() {
		if p := recover(); p != nil {
			c.panicked(p)
		}
		if handshaking {
			c.srv.cfg.Limits.EndHandshake()
		}
		if !opened {
			c.finish()
		}
	}()
	if err := c.srv.cfg.Limits.StartHandshake(); err != nil {
		c.refuseHandshake(err)
		return
	}
	handshaking = true
	opened = c.open()
	handshaking = false
	c.srv.cfg.Limits.EndHandshake()
	if opened {
		go c.run()
	}
}

// refuseHandshake closes a connection that arrives while
// max-handshaking-connections others are in their handshake, before
// anything is read: AMQP has no way to refuse before connection.start.
// The warning is logged at most every ten seconds, since such refusals
// come in floods.
func (c *conn) refuseHandshake(err error) {
	c.reason = err.Error() + " (max-handshaking-connections)"
	now := time.Now().UnixNano()
	if last := c.srv.lastRefusalLog.Load(); now-last > int64(10*time.Second) && c.srv.lastRefusalLog.CompareAndSwap(last, now) {
		c.event(c.srv.log.Warn()).Int("max", c.srv.cfg.Limits.MaxHandshaking).
			Msg("AMQP connection refused: too many connections in handshake (max-handshaking-connections)")
	}
}

// run is the reader goroutine of an open connection: it reads frames until
// the connection ends, then releases it. When its stack has grown and it is
// about to wait, it continues in a new goroutine instead (errHandOff).
func (c *conn) run() {
	handedOff := false
	defer func() {
		if p := recover(); p != nil {
			c.panicked(p)
		}
		if !handedOff {
			c.finish()
		}
	}()
	err := c.loop()
	if err == errHandOff {
		handedOff = true
		go c.run()
		return
	}
	c.ended(err)
}

// panicked applies the panic policy (internal/panics): a panic through the
// core crashes the process, any other closes this connection only.
func (c *conn) panicked(p any) {
	panics.Recovered(c.event(c.srv.log.Error()), p, "AMQP connection handler")
	c.reason = "internal error"
}

// finish releases the connection and stops counting it.
func (c *conn) finish() {
	c.teardown()
	c.srv.untrack(c)
}

// event adds the connection's context to a log event. The context is
// built only for events that are logged, so a connection keeps none.
func (c *conn) event(e *zerolog.Event) *zerolog.Event {
	if !e.Enabled() {
		return e
	}
	e = e.Str("proto", "amqp").Str("peer", c.nc.RemoteAddr().String())
	if c.openedAt.Load() != 0 {
		e = e.Str("user", c.user).Str("vhost", c.vhost.Name())
	}
	return e
}

// open reads the protocol header and runs the handshake. It reports
// whether the connection opened; if not, c.reason says why.
func (c *conn) open() bool {
	deadline := time.Now().Add(c.srv.cfg.HandshakeTimeout)
	if tc, ok := c.nc.(*tls.Conn); ok {
		// The TLS handshake is part of the handshake: one timeout for both.
		if err := tlsconfig.Handshake(tc, deadline); err != nil {
			tlsconfig.HandshakeFailed(&c.srv.log, c.nc.RemoteAddr().String(), err)
			c.reason = "TLS handshake: " + err.Error()
			return false
		}
	}
	_ = c.nc.SetReadDeadline(deadline)
	if err := wire.ReadProtocolHeader(c.nc); err != nil {
		if errors.Is(err, wire.ErrProtocolHeader) {
			// Tell the peer which protocol we speak, then hang up, as the
			// spec asks.
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.nc.Write([]byte(wire.ProtocolHeader))
			c.reason = "wrong protocol header"
		} else {
			c.reason = "handshake: " + err.Error()
		}
		return false
	}
	if err := c.handshake(); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			// A frame the handshake could not take (too large for
			// MaxHandshakeFrame, malformed): RabbitMQ answers it with
			// connection.close, as after the handshake.
			c.closeWith(we)
		}
		if c.reason == "" {
			c.reason = "handshake: " + err.Error()
		}
		return false
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	tlsconfig.LogFields(c.event(c.srv.log.Info()), c.tlsState()).Msg("connection opened")
	return true
}

// ended records why the reader loop ended, and for a hard error tells the
// client with connection.close.
func (c *conn) ended(err error) {
	switch {
	case err == errClosed:
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		if c.reason == "" {
			c.reason = "client closed the socket without connection.close"
		}
	default:
		var we *wire.Error
		if errors.As(err, &we) {
			c.closeWith(we)
		} else if c.reason == "" {
			c.reason = err.Error()
		}
	}
}

// closeChannels closes every channel: their sessions' unacked messages go
// back to their queues and their consumers are cancelled.
func (c *conn) closeChannels() {
	for _, ch := range c.chans {
		ch.close()
	}
	c.uncountChannels(len(c.chans))
	c.chMu.Lock()
	c.chans = nil
	c.chMu.Unlock()
}

// teardown releases everything the connection held: channels' unacked
// messages go back to their queues, exclusive queues are deleted.
func (c *conn) teardown() {
	c.closeChannels()
	c.closeOnce.Do(func() { close(c.done) })
	if t := c.hbTimer.Load(); t != nil {
		t.Stop()
	}
	c.out.drop()
	c.nc.Close()
	c.srv.broker.ReleaseOwner(c.id)
	if c.vhost != nil {
		c.srv.cfg.Limits.Opened.Leave(c.user, c.vhost.Name())
		c.event(c.srv.log.Info()).Str("reason", c.reason).Msg("connection closed")
	} else {
		c.event(c.srv.log.Debug()).Str("reason", c.reason).Msg("connection closed during handshake")
	}
}

// abort closes the socket from any goroutine; the reader then tears down.
func (c *conn) abort(reason string) {
	c.closeOnce.Do(func() {
		if c.reason == "" {
			c.reason = reason
		}
		close(c.done)
	})
	c.nc.Close()
}

// forceClose is the broker shutting down: connection.close with 320, a
// short wait for the client to see it, then the socket closes.
func (c *conn) forceClose(text string) {
	c.out.method(0, &wire.ConnectionClose{ReplyCode: wire.ConnectionForced, ReplyText: text})
	c.out.flush(2 * time.Second)
	// Give a well-behaved client a moment to answer close-ok.
	select {
	case <-c.done:
	case <-time.After(500 * time.Millisecond):
	}
	c.abort("broker shutdown")
}

// readMethod reads the next frame, which must be a method on channel 0,
// during the handshake. It returns the frame's payload too, valid until
// the next read.
func (c *conn) readMethod() (wire.Method, []byte, error) {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return nil, nil, err
		}
		if f.Type == wire.FrameHeartbeat {
			continue
		}
		if f.Type != wire.FrameMethod || f.Channel != 0 {
			return nil, nil, wire.NewError(wire.UnexpectedFrame, "expected a connection method on channel 0 during the handshake")
		}
		m, err := wire.DecodeMethod(f.Payload)
		return m, f.Payload, err
	}
}

// mechanisms are the SASL mechanisms connection.start offers everywhere;
// EXTERNAL is added on TLS listeners that ask for client certificates.
const mechanisms = "PLAIN AMQPLAIN"

// connectionStart is the server's connection.start, the same for every
// connection of a kind of listener: it is encoded once for a cluster name.
func connectionStart(cfg *Config, clusterName, mechanisms string) *wire.Preencoded {
	caps := message.Table{
		"publisher_confirms":           true,
		"exchange_exchange_bindings":   true,
		"basic.nack":                   true,
		"consumer_cancel_notify":       true,
		"connection.blocked":           true,
		"authentication_failure_close": true,
		"per_consumer_qos":             true,
		"direct_reply_to":              true,
		"consumer_priorities":          true,
	}
	props := message.Table{
		"product":      "sluice",
		"version":      cfg.Version,
		"platform":     "Go " + runtime.Version(),
		"cluster_name": clusterName,
		"information":  "https://github.com/sluice-mq/sluice",
		"copyright":    "Copyright (c) the Sluice authors",
		"capabilities": caps,
	}
	start, err := wire.Preencode(&wire.ConnectionStart{VersionMajor: 0, VersionMinor: 9,
		ServerProperties: props, Mechanisms: mechanisms, Locales: "en_US"})
	if err != nil {
		// Unreachable: the table holds only strings and booleans.
		panic("amqp: encoding connection.start: " + err.Error())
	}
	return start
}

// handshake runs start / start-ok / tune / tune-ok / open / open-ok.
func (c *conn) handshake() error {
	starts := c.srv.connectionStarts()
	start := starts.plain
	if c.offersExternal() {
		start = starts.external
	}
	c.out.method(0, start)
	m, p, err := c.readMethod()
	if err != nil {
		return err
	}
	so, ok := m.(*wire.ConnectionStartOk)
	if !ok {
		return c.handshakeError(wire.NewError(wire.CommandInvalid, "expected connection.start-ok"))
	}
	if caps, ok := so.ClientProperties["capabilities"].(message.Table); ok {
		c.caps = clientCaps{blocked: caps["connection.blocked"] == true,
			cancelNotify: caps["consumer_cancel_notify"] == true,
			authFailure:  caps["authentication_failure_close"] == true}
	}
	// The client properties are kept as the client encoded them (the
	// table is start-ok's first argument, after the class and method ids):
	// decoded they take several times the room, and only the management
	// API reads them.
	c.clientProps = bytes.Clone(p[4 : 8+binary.BigEndian.Uint32(p[4:8])])
	var user string
	var u *auth.User
	var aerr error
	if so.Mechanism == "EXTERNAL" && c.offersExternal() {
		user, u, aerr = c.authenticateExternal()
	} else {
		var pass string
		if user, pass, err = parseSASL(so.Mechanism, so.Response); err != nil {
			return c.handshakeError(err.(*wire.Error))
		}
		u, aerr = c.srv.users.Authenticate(user, pass, c.nc.RemoteAddr())
	}
	c.srv.users.RecordAttempt(auth.ProtocolAMQP, aerr == nil)
	if aerr != nil {
		c.event(c.srv.log.Warn()).Str("user", user).Str("mechanism", so.Mechanism).AnErr("reason", unlessRefused(aerr)).Msg("authentication failed")
		c.reason = "authentication failed for user '" + user + "'"
		if !c.caps.authFailure {
			// A client that did not ask to be told gets the socket
			// closed, as RabbitMQ does (the spec's behaviour).
			return errClosed
		}
		return c.handshakeError(wire.NewError(wire.AccessRefused, fmt.Sprintf(
			"Login was refused using authentication mechanism %s. For details see the broker logfile.", so.Mechanism)))
	}
	if err := c.srv.cfg.Limits.Admit(u.Name); err != nil {
		c.reason = err.Error()
		return c.handshakeError(wire.NewError(wire.NotAllowed, err.Error()))
	}
	c.user = u.Name
	c.authMech = mechanismName(so.Mechanism)

	cfg := c.srv.cfg
	hb := uint16(0)
	if cfg.Heartbeat > 0 {
		hb = uint16(cfg.Heartbeat / time.Second)
	}
	c.out.method(0, &wire.ConnectionTune{ChannelMax: cfg.ChannelMax, FrameMax: cfg.FrameMax, Heartbeat: hb})
	m, _, err = c.readMethod()
	if err != nil {
		return err
	}
	to, ok := m.(*wire.ConnectionTuneOk)
	if !ok {
		return c.handshakeError(wire.NewError(wire.CommandInvalid, "expected connection.tune-ok"))
	}
	// The client may lower what was offered, never raise it; zero means
	// "no limit" and takes the server's.
	c.channelMax = negotiate16(cfg.ChannelMax, to.ChannelMax)
	if to.ChannelMax > cfg.ChannelMax {
		return c.handshakeError(negotiationError("channel_max", to.ChannelMax, cfg.ChannelMax, true))
	}
	frameMax := to.FrameMax
	if frameMax == 0 || frameMax > cfg.FrameMax {
		if frameMax > cfg.FrameMax {
			return c.handshakeError(negotiationError("frame_max", frameMax, cfg.FrameMax, true))
		}
		frameMax = cfg.FrameMax
	}
	if frameMax < 4096 {
		return c.handshakeError(negotiationError("frame_max", frameMax, 4096, false))
	}
	c.frameMax.Store(frameMax)
	c.fr.SetMaxFrameSize(frameMax)
	if to.Heartbeat > 0 {
		hb := time.Duration(to.Heartbeat) * time.Second
		c.heartbeat.Store(int64(hb))
		c.hbTimer.Store(time.AfterFunc(hb/2, c.heartbeatTick))
	}

	m, _, err = c.readMethod()
	if err != nil {
		return err
	}
	op, ok := m.(*wire.ConnectionOpen)
	if !ok {
		return c.handshakeError(wire.NewError(wire.CommandInvalid, "expected connection.open"))
	}
	v, ok := c.srv.broker.VHost(op.VirtualHost)
	if !ok {
		c.reason = "vhost not found: " + op.VirtualHost
		return c.handshakeError(openError(wire.NewError(wire.NotAllowed, fmt.Sprintf("vhost %s not found", op.VirtualHost))))
	}
	if e := c.admitOpen(v.Name()); e != nil {
		c.reason = e.Text
		return c.handshakeError(openError(e))
	}
	c.vhost = v // from here on the connection counts against its limits (teardown)
	c.openedAt.Store(time.Now().UnixMilli())
	c.out.method(0, &wire.ConnectionOpenOk{})
	if reason := c.srv.alarm(); reason != "" {
		c.alarmChanged(reason)
	}
	return nil
}

// negotiationError refuses a tune-ok value in RabbitMQ's words ("negotiated
// frame_max = 1024 is lower than the minimum allowed value (4096)"), which
// clients and their tests match on.
func negotiationError[T uint16 | uint32](field string, got, limit T, higher bool) *wire.Error {
	e := wire.NewError(wire.NotAllowed, fmt.Sprintf("negotiated %s = %d is lower than the minimum allowed value (%d)", field, got, limit))
	if higher {
		e = wire.NewError(wire.NotAllowed, fmt.Sprintf("negotiated %s = %d is higher than the maximum allowed value (%d)", field, got, limit))
	}
	e.ClassID, e.MethodID = wire.ClassConnection, wire.MethodConnectionTuneOk
	return e
}

// openError names connection.open as the method that failed, as RabbitMQ's
// connection.close does for every refused open.
func openError(e *wire.Error) *wire.Error {
	e.ClassID, e.MethodID = wire.ClassConnection, wire.MethodConnectionOpen
	return e
}

func negotiate16(server, client uint16) uint16 {
	if client == 0 || client > server {
		return server
	}
	return client
}

// handshakeError sends connection.close and waits briefly for close-ok.
func (c *conn) handshakeError(e *wire.Error) error {
	c.closeWith(e)
	return errClosed
}

// closeWith sends connection.close for a hard error, then waits (bounded)
// for close-ok, discarding other frames as the spec requires.
func (c *conn) closeWith(e *wire.Error) {
	if c.reason == "" {
		c.reason = e.Text
	}
	c.out.method(0, &wire.ConnectionClose{ReplyCode: e.Code, ReplyText: e.Text, FailedClassID: e.ClassID, FailedMethodID: e.MethodID})
	c.out.flush(time.Second)
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		if f.Type == wire.FrameMethod && f.Channel == 0 && len(f.Payload) >= 4 &&
			bytes.Equal(f.Payload[:4], []byte{0, 10, 0, 51}) {
			return
		}
	}
}

// afterFrame says what the reader does before it reads the frame after f:
// whether it releases its read buffer, and whether it may then hand off to
// a new goroutine if its stack grew. Acks come as often as deliveries go
// out, a few microseconds apart, and a consumer's reader often waits
// between two: handing off then would start a goroutine and grow its stack
// again per ack or so (one hand-off per five acks in a transient-1-1 run
// with --multi-ack 1). After the other methods, and after the heartbeats
// that an idle connection keeps getting, it may.
func afterFrame(f wire.Frame) (release, handOff bool) {
	switch {
	case f.Type == wire.FrameHeartbeat:
		return true, true
	case f.Type != wire.FrameMethod:
		return false, false
	case len(f.Payload) < 4 || f.Payload[0] != 0 || f.Payload[1] != 60 || f.Payload[2] != 0:
		return true, true
	}
	switch f.Payload[3] {
	case 40: // basic.publish: its content follows at once
		return false, false
	case 80, 90, 120: // basic.ack, basic.reject, basic.nack
		return true, false
	}
	return true, true
}

// stackAddr returns an address in its own frame. Called twice from one
// function frame it returns the same address, unless the goroutine's stack
// moved in between, which Go does only to grow it or to shrink a grown
// one: loop calls it to learn that its stack grew.
//
//go:noinline
func stackAddr() uintptr {
	var b byte
	return uintptr(unsafe.Pointer(&b))
}

// parseSASL extracts user and password from PLAIN or AMQPLAIN.
func parseSASL(mechanism, response string) (string, string, error) {
	switch mechanism {
	case "PLAIN":
		// authzid NUL authcid NUL passwd
		parts := strings.SplitN(response, "\x00", 3)
		if len(parts) != 3 {
			return "", "", wire.NewError(wire.AccessRefused, "Login was refused using authentication mechanism PLAIN. For details see the broker logfile.")
		}
		return parts[1], parts[2], nil
	case "AMQPLAIN":
		// A field table without its length prefix.
		buf := make([]byte, 4+len(response))
		buf[0], buf[1], buf[2], buf[3] = byte(len(response)>>24), byte(len(response)>>16), byte(len(response)>>8), byte(len(response))
		copy(buf[4:], response)
		t, err := wire.DecodeTable(buf)
		if err != nil {
			return "", "", wire.NewError(wire.AccessRefused, "Login was refused using authentication mechanism AMQPLAIN. For details see the broker logfile.")
		}
		user, _ := message.String(t["LOGIN"])
		pass, _ := message.String(t["PASSWORD"])
		return user, pass, nil
	}
	return "", "", wire.NewError(wire.CommandInvalid, fmt.Sprintf("unknown authentication mechanism '%s'", mechanism))
}

// loop reads frames until the connection ends, or until a goroutine whose
// stack grew would wait (errHandOff).
func (c *conn) loop() error {
	frame := stackAddr()
	release, handOff := true, false // a new reader: wait for the first frame small
	for {
		if release {
			// After a control method or a heartbeat (not a publish, whose
			// header and body follow at once) the connection is likely to
			// wait: it waits holding a 128-byte array instead of its read
			// buffer. Small frames such as acks arrive whole in that array.
			c.fr.Release()
			if handOff && c.fr.Buffered() == 0 && stackAddr() != frame {
				return errHandOff
			}
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		release, handOff = afterFrame(f)
		switch f.Type {
		case wire.FrameHeartbeat:
			if f.Channel != 0 {
				return unexpectedFrame(f) // RabbitMQ: 505, not a framing error
			}
		case wire.FrameMethod:
			if f.Channel == 0 {
				if err := c.connectionMethod(f.Payload); err != nil {
					return err
				}
				continue
			}
			if err := c.channelFrame(f); err != nil {
				return err
			}
		case wire.FrameHeader, wire.FrameBody:
			if f.Channel == 0 {
				return unexpectedFrame(f) // RabbitMQ: 505 UNEXPECTED_FRAME
			}
			if err := c.channelFrame(f); err != nil {
				return err
			}
		default:
			return wire.NewError(wire.FrameError, fmt.Sprintf("unknown frame type %d", f.Type))
		}
		if c.flow != nil {
			c.waitFlow()
		}
	}
}

// pauseReading marks the start (on) and end of a wait in which the reader
// deliberately reads nothing. At the end the wait counts as a read: a
// heartbeat the client sent meanwhile is still in the socket.
func (c *conn) pauseReading(on bool) {
	if !on {
		c.lastRead.Store(time.Now().UnixNano())
	}
	c.readPaused.Store(on)
}

// waitFlow holds the reader back while a queue it published into is
// congested (broker/flow.go), unless the connection consumes: its acks
// are what drains queues, and they arrive on this reader.
func (c *conn) waitFlow() {
	g := c.flow
	c.flow = nil
	for _, ch := range c.chans {
		if ch.session != nil && ch.session.Consuming() {
			return
		}
	}
	c.pauseReading(true)
	g.Wait(c.done)
	c.pauseReading(false) // stores lastRead: see waitUnblocked
}

func (c *conn) connectionMethod(payload []byte) error {
	m, err := wire.DecodeMethod(payload)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *wire.ConnectionClose:
		// The reason is set before close-ok is queued: once the client
		// has it, it may hang up, and the writer's abort then reads the
		// reason from its own goroutine.
		c.reason = fmt.Sprintf("client closed: %d %s", m.ReplyCode, m.ReplyText)
		// As RabbitMQ's reader, close every channel first: once the
		// client has close-ok its consumers are gone and its unacked
		// messages are back, so a client that reconnects at once and
		// consumes exclusively again finds the queue free.
		c.closeChannels()
		c.out.method(0, &wire.ConnectionCloseOk{})
		c.out.flush(time.Second)
		return errClosed
	case *wire.ConnectionCloseOk:
		return errClosed
	case *wire.ConnectionUpdateSecret:
		// Passwords do not expire, so a new secret has nothing to renew;
		// RabbitMQ answers the same way for non-token backends.
		c.out.method(0, &wire.ConnectionUpdateSecretOk{})
		return nil
	case *wire.ConnectionBlocked, *wire.ConnectionUnblocked:
		return nil // a client's own blocked notices mean nothing to a broker
	}
	// RabbitMQ's answer to any other method on channel 0 (rabbit_reader's
	// handle_method0): a channel error, which closes the connection.
	e := wire.NewError(wire.ChannelError, "unexpected method in connection state running")
	e.ClassID, e.MethodID = m.ClassID(), m.MethodID()
	return e
}

// unexpectedFrame is RabbitMQ's 505 for a frame that has no place where it
// arrived (a heartbeat off channel 0, content on channel 0), in its words:
// "type 8, all octets = <<>>", the payload printed as Erlang prints binaries.
func unexpectedFrame(f wire.Frame) *wire.Error {
	which, p := "all", f.Payload
	if len(p) > 16 {
		which, p = "first 16", p[:16]
	}
	return wire.NewError(wire.UnexpectedFrame, fmt.Sprintf("type %d, %s octets = %s", f.Type, which, erlangBinary(p)))
}

// erlangBinary formats p as Erlang's ~p does: <<"text">> when every byte
// is printable ASCII, <<1,2,3>> otherwise.
func erlangBinary(p []byte) string {
	printable := len(p) > 0
	for _, b := range p {
		if b < 32 || b > 126 {
			printable = false
			break
		}
	}
	var sb strings.Builder
	sb.WriteString("<<")
	if printable {
		sb.WriteByte('"')
		for _, b := range p {
			if b == '"' || b == '\\' {
				sb.WriteByte('\\')
			}
			sb.WriteByte(b)
		}
		sb.WriteByte('"')
	} else {
		for i, b := range p {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(int(b)))
		}
	}
	sb.WriteString(">>")
	return sb.String()
}

func (c *conn) channelFrame(f wire.Frame) error {
	i, found := c.findChannel(f.Channel)
	if found {
		return c.chans[i].frame(f)
	}
	// RabbitMQ limits how many channels are open at once, not their
	// numbers, and reports it before looking at the frame; its texts name
	// no channel.
	if len(c.chans) >= int(c.channelMax) {
		return wire.NewError(wire.NotAllowed, fmt.Sprintf("number of channels opened (%d) has reached the negotiated channel_max (%d)", len(c.chans), c.channelMax))
	}
	if f.Type != wire.FrameMethod {
		return wire.NewError(wire.ChannelError, "expected 'channel.open'")
	}
	m, err := wire.DecodeMethod(f.Payload) // not c.decoder(): an idle connection has none
	if err != nil {
		return err
	}
	if _, ok := m.(*wire.ChannelOpen); !ok {
		e := wire.NewError(wire.ChannelError, "expected 'channel.open'")
		e.ClassID, e.MethodID = m.ClassID(), m.MethodID()
		return e
	}
	if err := c.countChannel(); err != nil { // the user's max-channels
		return err
	}
	ch := newChannel(c, f.Channel)
	c.chMu.Lock()
	c.chans = slices.Insert(c.chans, i, ch)
	c.chMu.Unlock()
	c.out.method(f.Channel, &wire.ChannelOpenOk{})
	return nil
}

// findChannel returns the index of channel id in c.chans, or where it
// would go, and whether it is open. Reader goroutine only.
func (c *conn) findChannel(id uint16) (int, bool) {
	if len(c.chans) == 1 { // the usual case
		if c.chans[0].id >= id {
			return 0, c.chans[0].id == id
		}
		return 1, false
	}
	return slices.BinarySearchFunc(c.chans, id, func(ch *channel, id uint16) int { return cmp.Compare(ch.id, id) })
}

// decoder returns the connection's method decoder, which reuses the
// structs of the frequent methods; a connection that never uses a channel
// has none.
func (c *conn) decoder() *wire.MethodDecoder {
	if c.md == nil {
		c.md = new(wire.MethodDecoder)
	}
	return c.md
}

// removeChannel forgets a closed channel so its id can be reused.
func (c *conn) removeChannel(ch *channel) {
	i, found := c.findChannel(ch.id)
	if !found || c.chans[i] != ch {
		return
	}
	c.chMu.Lock()
	c.chans = slices.Delete(c.chans, i, i+1)
	if len(c.chans) == 0 {
		c.chans = nil
	}
	c.chMu.Unlock()
	c.uncountChannels(1)
}

// resumeSessions is the writer telling that the output drained.
func (c *conn) resumeSessions() {
	c.chMu.Lock()
	list := slices.Clone(c.chans)
	c.chMu.Unlock()
	for _, ch := range list {
		ch.session.Resume()
	}
}

// alarmChanged sends connection.blocked/unblocked when the client asked for
// them; the reader stops at its next publish while blocked.
func (c *conn) alarmChanged(reason string) {
	c.alarmMu.Lock()
	defer c.alarmMu.Unlock()
	if reason == c.alarmSet {
		return
	}
	c.alarmSet = reason
	if reason != "" {
		// Like RabbitMQ, only a connection that publishes during the alarm
		// is blocked and told so (waitUnblocked); consumers carry on.
		c.blocked.Store(true)
		return
	}
	c.blocked.Store(false)
	if c.unblock != nil {
		close(c.unblock)
		c.unblock = nil
	}
	if c.toldBlocked {
		c.toldBlocked = false
		c.out.method(0, &wire.ConnectionUnblocked{})
	}
}

// blockedReason is RabbitMQ's wording of the alarms in connection.blocked.
func blockedReason(alarms string) string {
	switch alarms {
	case "memory":
		return "low on memory"
	case "disk":
		return "low on disk"
	}
	return "low on memory & disk"
}

// waitUnblocked parks the reader while a resource alarm is on: the client's
// publishes then back up in TCP, as with RabbitMQ.
func (c *conn) waitUnblocked() {
	if c.blocked.Load() {
		// Not reading is the broker's choice: heartbeats the client sends
		// meanwhile wait in the socket, and the silence must not close
		// the connection. Ending the pause also stores lastRead: frames
		// read before the wait arrive now, and publishes take the read
		// time as their arrival (channel.route), for TTLs.
		c.pauseReading(true)
		defer c.pauseReading(false)
	}
	c.alarmMu.Lock()
	if c.blocked.Load() && !c.toldBlocked && c.caps.blocked {
		c.toldBlocked = true
		c.out.method(0, &wire.ConnectionBlocked{Reason: blockedReason(c.alarmSet)})
	}
	c.alarmHeld = c.blocked.Load()
	c.alarmMu.Unlock()
	defer func() {
		c.alarmMu.Lock()
		c.alarmHeld = false
		c.alarmMu.Unlock()
	}()
	for c.blocked.Load() {
		c.alarmMu.Lock()
		if !c.blocked.Load() {
			c.alarmMu.Unlock()
			return
		}
		if c.unblock == nil {
			c.unblock = make(chan struct{})
		}
		ch := c.unblock
		c.alarmMu.Unlock()
		select {
		case <-ch:
		case <-c.done:
			return
		}
	}
}
