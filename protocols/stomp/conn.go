package stomp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/internal/conninfo"
	"github.com/sluice-mq/sluice/internal/panics"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// supportedVersions is the version header of ERROR frames.
const supportedVersions = "1.0,1.1,1.2"

// stompError is a refusal sent to the client as an ERROR frame. msg is
// the message header, detail the body. A refusal of one frame by the
// session (a missing or invalid header, an unknown destination,
// subscription or transaction) leaves the connection open, as RabbitMQ's
// plugin does (its processor's error/3: the ERROR goes out, the frame is
// dropped without its RECEIPT, and the next frame is read); closes marks
// the refusals after which RabbitMQ closes the connection as well. Errors
// of the core (a channel error in RabbitMQ: not_found,
// precondition_failed, access_refused, ...) and of the handshake always
// close it.
type stompError struct {
	msg    string
	detail string
	extra  []frame.Field
	closes bool
	// noReceipt: no RECEIPT follows this closing ERROR (receiptAfterError).
	noReceipt bool
}

func (e *stompError) Error() string { return e.msg + ": " + strings.TrimSpace(e.detail) }

// processingError is the message header RabbitMQ 3.10's plugin gives
// every ERROR for a header value it fails to read (an integer that is not
// one, an unknown ack mode): the frame is refused and the session goes on.
// sluice gives the same message, and a body that says what was wrong.
const processingError = "Processing error"

func errorf(msg, format string, args ...any) *stompError {
	return &stompError{msg: msg, detail: fmt.Sprintf(format, args...)}
}

// brokerError turns a refusal from the core into the ERROR RabbitMQ's
// plugin sends when its channel dies: the error's name in lower case as
// the message, and "NAME - text" as the body.
func brokerError(e *broker.Error) *stompError {
	return &stompError{msg: strings.ToLower(broker.CodeName(e.Code)), detail: e.Error()}
}

// errDisconnect ends the reader loop after DISCONNECT.
var errDisconnect = errors.New("client sent DISCONNECT")

// conn is one STOMP session: a reader goroutine (serve) that parses frames
// and calls the broker, and an output with its writer goroutine. It is the
// broker.Sink of its session.
type conn struct {
	srv  *Server
	link link
	id   broker.ConnID
	log  zerolog.Logger
	out  *output
	fr   *frame.Reader

	lastRead atomic.Int64 // unix nanos of the last read that returned data
	// Negotiated heart-beat intervals in nanoseconds (0 = none): how often
	// the server sends, and how often it expects to hear from the client.
	hbSend, hbRecv atomic.Int64
	connected      atomic.Bool
	sessionRef     atomic.Pointer[broker.Session]

	done      chan struct{}
	closeOnce sync.Once
	reasonMu  sync.Mutex
	reason    string

	// Receipts of SEND and COMMIT frames wait for storage to make their
	// persistent messages durable: confirms maps a publish's sequence number
	// to the receipt it holds back.
	confirmMu sync.Mutex
	confirms  map[uint64]*heldReceipt

	// subMu guards subs and each subscription's pending tags: deliveries
	// arrive on other goroutines.
	subMu sync.Mutex
	subs  map[string]*subscription // by consumer tag

	// Reader-goroutine state.
	ws          bool // over WebSocket: no default login
	handshaking bool // counted in Limits as handshaking
	version     frame.Version
	vhost       *broker.VHost
	user        string
	admitted    bool
	sessionID   string
	session     *broker.Session
	// flow is the gate of a congested queue the last SEND went to; the
	// reader waits at it before the next frame. Reader goroutine only.
	flow     *broker.FlowGate
	txns     map[string]*txn
	declared map[string]struct{}    // /queue names declared on this connection
	dests    map[string]destination // parsed destination headers
	temp     map[string]string      // temp-queue id -> its queue
	in       interner
	tags     []uint64 // scratch for cumulative acks
	// An idle connection waits for input in idleBuf instead of its frame
	// reader's buffer; pre holds what arrived until the reader takes it.
	idleBuf   [256]byte
	pre       []byte
	idleOK    bool   // after the handshake
	lastShort bool   // the last transport read did not fill its buffer
	nextSeq   uint64 // publish sequence numbers for confirms
	// graceful asks teardown to close so that the client can read the
	// last frame (ERROR, or the RECEIPT of DISCONNECT).
	graceful bool
	// tlsMgr is the TLS listener's configuration; nil on a plain
	// listener and over WebSocket. The link's socket is then a *tls.Conn.
	tlsMgr *tlsconfig.Manager

	// io counts transport reads and writes for the management API.
	io conninfo.Counters
	// connectedAt is when CONNECTED was queued, in unix millis.
	connectedAt int64
	alarmHeld   atomic.Bool // the reader waits for an alarm to clear before a SEND
}

// readTracker is the frame reader's source. It serves what idleWait read
// first, notes when data last arrived (heart-beat enforcement), wakes the
// writer before the reader may block so the replies to the frames read so
// far go out, and sends the reader idle when it would block between frames.
type readTracker struct{ c *conn }

// errIdle tells the loop that the frame reader would wait for the client
// between frames: the loop then parks the connection in idleWait.
var errIdle = errors.New("idle")

func (r readTracker) Read(p []byte) (int, error) {
	c := r.c
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	// The last read did not fill its buffer, so the client had paused,
	// and nothing of a next frame is buffered: wait without the reader's
	// buffer. Under streaming load reads fill the buffer and this is
	// skipped, so it costs no extra system calls there.
	if c.idleOK && c.lastShort && c.fr.Buffered() == 0 {
		return 0, errIdle
	}
	n, err := c.rawRead(p)
	c.lastShort = n < len(p)
	return n, err
}

// rawRead reads from the transport.
func (c *conn) rawRead(p []byte) (int, error) {
	if c.out.dirty.Load() {
		c.out.kick()
	}
	n, err := c.link.Read(p)
	if n > 0 {
		c.lastRead.Store(time.Now().UnixNano())
		c.io.Read(n)
	}
	return n, err
}

func newConn(s *Server, l link) *conn {
	c := &conn{srv: s, link: l, id: s.newConnID(), done: make(chan struct{}),
		subs: map[string]*subscription{}}
	c.log = s.log.With().Str("proto", "stomp").Str("peer", l.RemoteAddr().String()).Logger()
	c.out = newOutput(c)
	l.countWrites(&c.io)
	c.takeReader()
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

func (c *conn) setReason(r string) {
	c.reasonMu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.reasonMu.Unlock()
}

func (c *conn) getReason() string {
	c.reasonMu.Lock()
	defer c.reasonMu.Unlock()
	return c.reason
}

// serve runs the connection to its end. A panic is logged with its stack
// and closes only this connection.
func (c *conn) serve() {
	defer c.srv.untrack(c)
	defer func() {
		if p := recover(); p != nil {
			panics.Recovered(c.log.Error(), p, "STOMP connection handler") // see internal/panics
			c.setReason("internal error")
		}
		c.teardown()
	}()
	go c.out.run()
	if err := c.srv.cfg.Limits.StartHandshake(); err != nil {
		c.refuseHandshake(err)
		return
	}
	c.handshaking = true
	hs := time.AfterFunc(c.srv.cfg.HandshakeTimeout, func() { c.abort("handshake timeout") })
	err := c.tlsHandshake()
	if err == nil {
		err = c.handshake()
	}
	hs.Stop()
	c.endHandshake()
	if err == nil {
		tlsconfig.LogFields(c.log.Info(), c.link.tlsState()).Str("version", c.version.String()).Msg("connection opened")
		err = c.loop()
	}
	c.finish(err)
}

// endHandshake uncounts the connection as handshaking, once.
func (c *conn) endHandshake() {
	if c.handshaking {
		c.handshaking = false
		c.srv.cfg.Limits.EndHandshake()
	}
}

// refuseHandshake answers a connection that arrives while
// max-handshaking-connections others are still handshaking: an ERROR and
// close, before anything is read. The warning is logged at most every
// ten seconds, since such refusals come in floods.
func (c *conn) refuseHandshake(err error) {
	now := time.Now().UnixNano()
	if last := c.srv.lastRefusalLog.Load(); now-last > int64(10*time.Second) && c.srv.lastRefusalLog.CompareAndSwap(last, now) {
		c.log.Warn().Int("max", c.srv.cfg.Limits.MaxHandshaking).Msg("STOMP connection refused: too many connections in handshake (max-handshaking-connections)")
	}
	if c.tlsMgr != nil {
		// An ERROR frame would need the TLS handshake this refusal is
		// meant to spare: the socket just closes.
		c.setReason(err.Error() + " (max-handshaking-connections)")
		return
	}
	c.sendError(&stompError{msg: err.Error(), detail: fmt.Sprintf(
		"The server has %d connections that have not logged in yet (max-handshaking-connections); try again later.\n",
		c.srv.cfg.Limits.MaxHandshaking)})
}

// finish reports how the loop ended: an ERROR frame for a protocol error,
// RECEIPT already queued for DISCONNECT, or nothing for a dropped socket.
func (c *conn) finish(err error) {
	var se *stompError
	var le *frame.LimitError
	var sx *frame.SyntaxError
	var ce *frame.CommandError
	switch {
	case err == nil:
	case errors.Is(err, errDisconnect):
		c.setReason("client sent DISCONNECT")
		c.out.flush(c.srv.cfg.WriteTimeout)
		c.graceful = true
	case errors.As(err, &se):
		c.sendError(se)
	case errors.As(err, &ce) && !c.connected.Load():
		// RabbitMQ's words for any command before CONNECT.
		c.sendError(&stompError{msg: "Illegal command", detail: "You must log in using CONNECT first\n"})
	case errors.As(err, &ce):
		// %q: the line may be anything, and the body should stay readable.
		c.sendError(errorf("Bad command", "Could not interpret command %q\n", ce.Command))
	case errors.As(err, &le) && !c.connected.Load():
		c.sendError(&stompError{msg: le.Error(), detail: fmt.Sprintf("Before CONNECTED a frame may be at most %d bytes (stomp-max-handshake-frame); the session is closed.\n",
			c.srv.handshakeLimits.MaxFrameSize)})
	case errors.As(err, &le):
		c.sendError(&stompError{msg: le.Error(), detail: "The frame is larger than the server allows (" + le.Limit + "); the session is closed.\n"})
	case errors.As(err, &sx):
		c.sendError(&stompError{msg: sx.Error(), detail: "The frame could not be parsed; the session is closed.\n"})
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		c.setReason("client closed the socket")
	default:
		c.setReason(err.Error())
	}
}

// sendError queues an ERROR frame and waits (bounded) for it to be written.
func (c *conn) sendError(e *stompError) {
	c.setReason(e.Error())
	c.out.frame(frame.Error, errorFields(e), []byte(e.detail))
	c.out.flush(time.Second)
	c.graceful = true
}

// receiptAfterError sends the RECEIPT that RabbitMQ's plugin still sends
// after an ERROR that closes the connection: its error path runs the
// frame's receipt step as well, for every frame but SEND (whose receipt
// only a settled publish earns), CONNECT, and ACK and NACK (whose RECEIPT
// went out before the settle that failed). sluice's own "Message
// rejected", which names the receipt that will not come, has none.
func (c *conn) receiptAfterError(f *frame.Frame, e *stompError) {
	switch f.Command {
	case frame.Send, frame.Connect, frame.Stomp, frame.Ack, frame.Nack:
		return
	}
	if e != nil && e.noReceipt {
		return
	}
	if r, ok := f.GetString(hReceipt); ok {
		c.out.receipt(r)
		c.out.flush(time.Second)
	}
}

// refuseFrame answers a frame the session refused without ending it: an
// ERROR frame and no RECEIPT.
func (c *conn) refuseFrame(e *stompError) {
	c.log.Debug().Str("refusal", e.Error()).Msg("frame refused")
	c.out.frame(frame.Error, errorFields(e), []byte(e.detail))
}

// errorFields are an ERROR's headers: RabbitMQ's message, content-type and
// version, and e's own. Like RabbitMQ's, an ERROR does not carry the
// refused frame's receipt as receipt-id (STOMP 1.2 says it SHOULD; the
// clients do not read it there, and tests written against RabbitMQ see
// ERRORs without it); only sluice's own "Message rejected" names the
// receipt that will not come.
func errorFields(e *stompError) []frame.Field {
	fields := []frame.Field{{Name: hMessage, Value: e.msg}, {Name: hContentType, Value: "text/plain"},
		{Name: hVersion, Value: supportedVersions}}
	return append(fields, e.extra...)
}

// teardown releases everything the connection held: unacked messages go
// back to their queues, exclusive and auto-delete queues are deleted.
func (c *conn) teardown() {
	c.endHandshake()
	if c.session != nil {
		c.session.Close()
	}
	c.closeOnce.Do(func() { close(c.done) })
	c.out.drop()
	c.releaseReader()
	if c.graceful {
		c.link.closeAfterError(time.Second)
	} else {
		c.link.Close()
	}
	c.srv.broker.ReleaseOwner(c.id)
	if c.connected.Load() {
		c.log.Info().Str("reason", c.getReason()).Msg("connection closed")
	} else {
		c.log.Debug().Str("reason", c.getReason()).Msg("connection closed before CONNECT completed")
	}
}

// abort closes the transport from any goroutine; the reader then tears
// down.
func (c *conn) abort(reason string) {
	c.setReason(reason)
	c.closeOnce.Do(func() { close(c.done) })
	c.link.Close()
}

// shutdown is the broker stopping: an ERROR frame, a short wait for it to
// be written, then the transport closes.
func (c *conn) shutdown() {
	if c.connected.Load() {
		c.out.push(outItem{kind: outFrame, cmd: frame.Error, fields: []frame.Field{
			{Name: hMessage, Value: "Server shutdown"}, {Name: hContentType, Value: "text/plain"},
			{Name: hVersion, Value: supportedVersions}},
			body: []byte("The server is shutting down; the session is closed.\n")}, true)
		c.out.flush(2 * time.Second)
	}
	c.abort("broker shutdown")
}

// handshake reads CONNECT (or STOMP), authenticates, opens the session and
// queues CONNECTED.
func (c *conn) handshake() error {
	f, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	if f.Command != frame.Connect && f.Command != frame.Stomp {
		return &stompError{msg: "Illegal command", detail: "You must log in using CONNECT first\n"}
	}
	accept, _ := f.GetString(hAcceptVersion)
	v, ok := frame.NegotiateVersion(accept)
	if !ok {
		return errorf("Version mismatch", "Supported versions are %s\n", supportedVersions)
	}
	c.version = v
	hbText, _ := f.GetString(hHeartBeat)
	clientHB, err := frame.ParseHeartBeat(hbText)
	if err != nil {
		return errorf(processingError, "Invalid heart-beat header '%s'\n", hbText)
	}
	cfg := &c.srv.cfg
	login, hasLogin := f.GetString(hLogin)
	if !hasLogin && !c.ws {
		login = cfg.DefaultLogin
	}
	passcode, ok := f.GetString(hPasscode)
	if !ok && !c.ws {
		passcode = cfg.DefaultPasscode
	}
	host, ok := f.GetString(hHost)
	if !ok || host == "" {
		host = cfg.DefaultVHost
	}
	var u *auth.User
	var aerr error
	if name, ok := c.certName(hasLogin); ok {
		login = name
		u, aerr = c.srv.users.AuthenticateExternal(name, c.link.RemoteAddr())
	} else {
		u, aerr = c.srv.users.Authenticate(login, passcode, c.link.RemoteAddr())
	}
	c.srv.users.RecordAttempt(auth.ProtocolSTOMP, aerr == nil)
	if aerr != nil {
		c.log.Warn().Str("user", login).Msg("STOMP login failed: authentication failed")
		return errorf("Bad CONNECT", "Access refused for user '%s'\n", login)
	}
	vh, ok := c.srv.broker.VHost(host)
	if !ok {
		c.log.Warn().Str("user", login).Str("vhost", host).Msg("STOMP login failed: virtual host access not allowed")
		return errorf("Bad CONNECT", "Virtual host '%s' access denied", host)
	}
	if err := c.admitOpen(u.Name, vh.Name()); err != nil {
		return err
	}
	if err := c.srv.cfg.Limits.Admit(u.Name); err != nil {
		c.srv.cfg.Limits.Opened.Leave(u.Name, vh.Name())
		return errorf("Bad CONNECT", "%s\n", err)
	}
	c.admitted, c.user, c.vhost = true, u.Name, vh
	c.sessionID = "session-" + randomID()
	c.session = vh.NewSession(c.id, c)
	c.sessionRef.Store(c.session)

	serverHB := frame.HeartBeat{}
	if cfg.HeartbeatMin >= 0 {
		floor := max(int(cfg.HeartbeatMin/time.Millisecond), 1)
		if clientHB.Recv > 0 {
			serverHB.Send = max(clientHB.Recv, floor)
		}
		if clientHB.Send > 0 {
			serverHB.Recv = max(clientHB.Send, floor)
		}
	}
	recv, send := frame.NegotiateHeartBeat(clientHB, serverHB)
	c.hbRecv.Store(int64(recv))
	c.hbSend.Store(int64(send))
	c.lastRead.Store(time.Now().UnixNano())

	// Connected before CONNECTED goes out: a shutdown racing with the
	// handshake must see a client that may already have read CONNECTED,
	// and owes it an ERROR.
	c.fr.SetVersion(v)
	c.fr.SetLimits(c.srv.frameLimits)
	c.connectedAt = time.Now().UnixMilli()
	c.connected.Store(true)
	c.out.push(outItem{kind: outFrame, cmd: frame.Connected, setVersion: true, version: v, fields: []frame.Field{
		{Name: hServer, Value: "sluice/" + cfg.Version},
		{Name: hSession, Value: c.sessionID},
		{Name: hHeartBeat, Value: serverHB.String()},
		{Name: hVersion, Value: v.String()},
	}}, true)
	c.log = c.log.With().Str("user", c.user).Str("vhost", vh.Name()).Logger()
	if f.Has(hReceipt) {
		// Not a STOMP feature, but harmless and what a client that asks expects.
		r, _ := f.GetString(hReceipt)
		c.out.receipt(r)
	}
	return nil
}

// takeReader gets a frame reader from the pool.
func (c *conn) takeReader() {
	c.fr = c.srv.readers.Get().(*frame.Reader)
	c.fr.Reset(readTracker{c})
	c.fr.SetVersion(c.version)
	if c.connected.Load() {
		c.fr.SetLimits(c.srv.frameLimits)
	} else {
		c.fr.SetLimits(c.srv.handshakeLimits)
	}
}

// releaseReader gives the frame reader back to the pool.
func (c *conn) releaseReader() {
	if c.fr != nil {
		c.fr.Reset(nil)
		c.srv.readers.Put(c.fr)
		c.fr = nil
	}
}

// idleWait parks a connection that has no partial frame buffered: the
// frame reader goes back to the pool and the wait happens in the small
// idleBuf. Heart-beats are consumed here; anything else is kept in pre
// for a fresh reader.
func (c *conn) idleWait() error {
	c.releaseReader()
	for {
		n, err := c.rawRead(c.idleBuf[:])
		data := c.idleBuf[:n]
		for len(data) > 0 {
			if data[0] == '\n' {
				data = data[1:]
			} else if data[0] == '\r' && len(data) > 1 && data[1] == '\n' {
				data = data[2:]
			} else {
				break
			}
		}
		if len(data) > 0 {
			c.pre = data
			break
		}
		if err != nil {
			return err
		}
	}
	c.lastShort = false
	c.takeReader()
	return nil
}

// loop reads and handles frames until the session ends.
func (c *conn) loop() error {
	c.idleOK = true
	for {
		c.out.waitBacklog(c.done)
		f, err := c.fr.ReadFrame()
		if err == errIdle {
			if err := c.idleWait(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := c.handle(f); err != nil {
			var be *broker.Error
			var se *stompError
			switch {
			case errors.As(err, &be):
				c.sendError(brokerError(be))
				c.receiptAfterError(f, nil)
				return nil
			case errors.As(err, &se) && !se.closes:
				c.refuseFrame(se)
				continue
			case errors.As(err, &se):
				c.sendError(se)
				c.receiptAfterError(f, se)
				return nil
			}
			return err
		}
		if c.flow != nil {
			c.waitFlow()
		}
	}
}

// waitFlow holds the reader back while a queue it sent to is congested
// (broker/flow.go), unless the session subscribes or holds unacked
// messages: its acks are what drain queues, and they arrive here.
func (c *conn) waitFlow() {
	g := c.flow
	c.flow = nil
	if !c.session.Consuming() {
		g.Wait(c.done)
	}
}

// handle runs one frame and sends its receipt.
func (c *conn) handle(f *frame.Frame) error {
	var err error
	ownReceipt := false // the handler sends the receipt itself
	switch f.Command {
	case frame.Send:
		// Under a resource alarm publishers wait here; the client's
		// SENDs back up in TCP, consumers keep draining.
		c.alarmHeld.Store(true) // for the management API's state "blocked"
		c.srv.broker.Alarms.Wait(c.done)
		c.alarmHeld.Store(false)
		err, ownReceipt = c.send(f), true
	case frame.Subscribe:
		err, ownReceipt = c.subscribe(f), true
	case frame.Unsubscribe:
		err = c.unsubscribe(f)
	case frame.Ack:
		err, ownReceipt = c.ack(f, false), true
	case frame.Nack:
		err, ownReceipt = c.ack(f, true), true
	case frame.Begin:
		err = c.begin(f)
	case frame.Commit:
		err, ownReceipt = c.commit(f), true
	case frame.Abort:
		err = c.abortTx(f)
	case frame.Disconnect:
		if r, ok := f.GetString(hReceipt); ok {
			c.out.receipt(r)
		}
		return errDisconnect
	case frame.Connect, frame.Stomp:
		// RabbitMQ closes the connection (without a word).
		err = &stompError{msg: "Bad CONNECT", detail: "The session is already connected\n", closes: true}
	default:
		err = errorf("Bad command", "Could not interpret command \"%s\"\n", f.RawCommand)
	}
	if err != nil {
		return err
	}
	if r, ok := f.Get(hReceipt); ok && !ownReceipt {
		c.out.receipt(string(r))
	}
	return nil
}

// Deliver implements broker.Sink. A delivery to a subscription whose
// SUBSCRIBE is still being handled is held until its RECEIPT is queued
// (startSub).
func (c *conn) Deliver(d broker.Delivery) {
	c.subMu.Lock()
	sub := c.subs[d.ConsumerTag]
	if sub != nil && sub.ack == ackClient {
		sub.pending = append(sub.pending, d.Tag)
	}
	if sub != nil && sub.starting {
		c.out.count(d)
		sub.held = append(sub.held, d)
		c.subMu.Unlock()
		return
	}
	c.subMu.Unlock()
	c.out.deliver(d, sub)
}

// Cancelled implements broker.Sink: the subscription's queue was deleted.
// As RabbitMQ does, the client gets an ERROR frame naming the subscription
// and the session carries on.
func (c *conn) Cancelled(tag string) {
	c.subMu.Lock()
	sub := c.subs[tag]
	delete(c.subs, tag)
	c.subMu.Unlock()
	if sub == nil {
		return
	}
	c.out.push(outItem{kind: outFrame, cmd: frame.Error, fields: []frame.Field{
		{Name: hMessage, Value: "Server cancelled subscription"}, {Name: hContentType, Value: "text/plain"},
		{Name: hVersion, Value: supportedVersions}, {Name: hSubscription, Value: sub.id}},
		body: []byte("The server has canceled a subscription.\nNo more messages will be delivered for " + sub.description() + ".\n")}, true)
}

// Full implements broker.Sink.
func (c *conn) Full() bool { return c.out.full.Load() }

// checkUserID applies RabbitMQ's rule that a user-id property must name
// the authenticated user.
func (c *conn) checkUserID(m *message.Message) error {
	if m.Properties.Has(message.FlagUserID) && m.Properties.UserID != c.user {
		return &broker.Error{Code: broker.CodePreconditionFailed, Text: fmt.Sprintf(
			"user_id property set to '%s' but authenticated user was '%s'", m.Properties.UserID, c.user)}
	}
	return nil
}
