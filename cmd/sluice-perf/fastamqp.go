package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// fastDriver runs a load over AMQP 0-9-1 with sluice-perf's own client
// (--client fast): the protocols/amqp/wire codec on a socket, instead of
// amqp091-go, which writes one syscall per publish and hands every delivery
// through two Go channels, and so saturates a core at ~100k msg/s before a
// fast broker does.
//
// The connections are amqpDriver's: one per producer, one per consumer with
// a channel per queue it reads. What differs is batching. A producer's
// frames collect in the FrameWriter's 64 KiB buffer, written when it fills
// and before the producer would wait (on the pacer, for a confirm slot, at
// the end). A consumer reads through a 64 KiB buffer and writes its acks
// just before it would block in a read. Queue setup and teardown and the
// idle connections are amqpDriver's; only the hot paths are this client's.
type fastDriver struct {
	r    *runner
	amqp *amqpDriver

	consumers consumerGroup
}

func newFastDriver(r *runner) *fastDriver { return &fastDriver{r: r, amqp: &amqpDriver{r: r}} }

func (d *fastDriver) setup(ctx context.Context) error { return setupQueues(ctx, d.r) }
func (d *fastDriver) teardown() error                 { return teardownQueues(d.r) }

// idle opens amqp091-go connections: an idle connection's cost is the
// broker's, whatever the client.
func (d *fastDriver) idle(ctx context.Context, n int) (func(), error) { return d.amqp.idle(ctx, n) }

const (
	// fastFrameMax is the largest frame the client asks for; it takes the
	// broker's when that is smaller.
	fastFrameMax = 131072
	// consumerReadBuffer is what one read from a consumer's socket may take
	// in: 60 deliveries of 1 KiB. queues-200 has 200 of them.
	consumerReadBuffer = 64 << 10
	// publisherReadBuffer is enough for the confirms a publisher reads.
	publisherReadBuffer = 4 << 10
	// fastSetupTimeout bounds each step of a handshake or a channel's setup.
	fastSetupTimeout = 10 * time.Second
	// fastCloseWait is how long a client waits for connection.close-ok.
	fastCloseWait = 3 * time.Second
	// ackInterval is the longest a consumer keeps a delivery unacknowledged
	// (amqpDriver's ticker).
	ackInterval = 50 * time.Millisecond
)

// fastConn is one AMQP connection of the fast client. One goroutine reads
// frames (fr, md) and one goroutine writes them (fw); they may be the same.
type fastConn struct {
	nc         net.Conn
	fr         *wire.FrameReader
	fw         *wire.FrameWriter
	md         wire.MethodDecoder
	frameMax   uint32
	channelMax uint16 // 0: no limit
	// beforeRead, when set, runs on the reading goroutine before each read
	// from the socket, that is whenever no complete frame is buffered and
	// the reader may block.
	beforeRead func() error
}

// socketReader feeds the read buffer from the socket, calling beforeRead
// first.
type socketReader struct{ c *fastConn }

func (s socketReader) Read(p []byte) (int, error) {
	if f := s.c.beforeRead; f != nil {
		if err := f(); err != nil {
			return 0, err
		}
	}
	return s.c.nc.Read(p)
}

// amqpAddr is what dialing needs from an amqp:// or amqps:// URI.
type amqpAddr struct {
	hostport, user, password, vhost string
	tls                             bool // amqps://
}

// parseAMQPURI reads an amqp:// or amqps:// URI with the defaults of
// RabbitMQ's clients: localhost:5672 (amqps: 5671), guest/guest, vhost "/".
// The vhost is the path without its leading slash, unescaped ("/%2f" is
// "/").
func parseAMQPURI(uri string) (amqpAddr, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return amqpAddr{}, err
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return amqpAddr{}, fmt.Errorf("the fast client speaks amqp:// and amqps:// only, not %q", u.Scheme+"://")
	}
	a := amqpAddr{user: "guest", password: "guest", vhost: "/", tls: u.Scheme == "amqps"}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "5672"
		if a.tls {
			port = "5671"
		}
	}
	a.hostport = net.JoinHostPort(host, port)
	if u.User != nil {
		a.user = u.User.Username()
		if p, ok := u.User.Password(); ok {
			a.password = p
		}
	}
	if len(u.Path) > 1 {
		a.vhost = u.Path[1:]
	}
	return a, nil
}

// dialFast connects (over TLS with tc for an amqps:// uri; nil tc: the
// system's roots), authenticates with PLAIN and opens the vhost:
// frame-max the smaller of the broker's and 131072, channel-max the
// broker's, heartbeats off. One read from the socket takes in up to
// readBuffer bytes.
func dialFast(uri string, tc *tls.Config, name string, readBuffer int) (*fastConn, error) {
	a, err := parseAMQPURI(uri)
	if err != nil {
		return nil, fmt.Errorf("AMQP URI %s: %w", redactURI(uri), err)
	}
	if !a.tls {
		tc = nil
	} else if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	nc, err := dialSocket(a.hostport, tc)
	if err != nil {
		return nil, fmt.Errorf("AMQP %s: %w", a.hostport, err)
	}
	c := &fastConn{nc: nc, fw: wire.NewFrameWriter(nc)}
	c.fr = wire.NewFrameReader(bufio.NewReaderSize(socketReader{c}, readBuffer))
	if err := c.handshake(a, name); err != nil {
		nc.Close()
		return nil, fmt.Errorf("AMQP %s: %w", a.hostport, err)
	}
	return c, nil
}

func (c *fastConn) handshake(a amqpAddr, name string) error {
	_ = c.nc.SetDeadline(time.Now().Add(fastSetupTimeout))
	defer c.nc.SetDeadline(time.Time{})
	if _, err := io.WriteString(c.nc, wire.ProtocolHeader); err != nil {
		return err
	}
	start, err := await[*wire.ConnectionStart](c)
	if err != nil {
		return err
	}
	if !hasWord(start.Mechanisms, "PLAIN") {
		return fmt.Errorf("the broker offers %q, not PLAIN", start.Mechanisms)
	}
	props := message.Table{
		"product":         "sluice-perf",
		"connection_name": name,
		"capabilities": message.Table{
			"publisher_confirms":           true,
			"basic.nack":                   true,
			"consumer_cancel_notify":       true,
			"authentication_failure_close": true,
		},
	}
	err = c.fw.WriteMethod(0, &wire.ConnectionStartOk{ClientProperties: props, Mechanism: "PLAIN",
		Response: "\x00" + a.user + "\x00" + a.password, Locale: "en_US"})
	if err == nil {
		err = c.fw.Flush()
	}
	if err != nil {
		return err
	}
	tune, err := await[*wire.ConnectionTune](c)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the broker closed the connection after start-ok (user %q refused?)", a.user)
		}
		return err
	}
	c.frameMax = fastFrameMax
	if tune.FrameMax != 0 && tune.FrameMax < c.frameMax {
		c.frameMax = tune.FrameMax
	}
	c.channelMax = tune.ChannelMax
	c.fr.SetMaxFrameSize(c.frameMax)
	err = c.fw.WriteMethod(0, &wire.ConnectionTuneOk{ChannelMax: c.channelMax, FrameMax: c.frameMax, Heartbeat: 0})
	if err == nil {
		err = c.fw.WriteMethod(0, &wire.ConnectionOpen{VirtualHost: a.vhost})
	}
	if err == nil {
		err = c.fw.Flush()
	}
	if err != nil {
		return err
	}
	_, err = await[*wire.ConnectionOpenOk](c)
	return err
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if f == w {
			return true
		}
	}
	return false
}

// brokerClosed is a connection.close or channel.close from the broker.
type brokerClosed struct {
	channel           uint16 // 0: the connection
	code              uint16
	text              string
	classID, methodID uint16
}

func (e *brokerClosed) Error() string {
	what := "the connection"
	if e.channel != 0 {
		what = fmt.Sprintf("channel %d", e.channel)
	}
	s := fmt.Sprintf("the broker closed %s: %d %s", what, e.code, e.text)
	if e.classID != 0 {
		s += " (in reply to " + wire.MethodName(e.classID, e.methodID) + ")"
	}
	return s
}

// closedBy returns the *brokerClosed that m is, or nil when m is not a
// close from the broker.
func closedBy(channel uint16, m wire.Method) error {
	switch m := m.(type) {
	case *wire.ConnectionClose:
		return &brokerClosed{code: m.ReplyCode, text: m.ReplyText, classID: m.FailedClassID, methodID: m.FailedMethodID}
	case *wire.ChannelClose:
		return &brokerClosed{channel: channel, code: m.ReplyCode, text: m.ReplyText, classID: m.FailedClassID, methodID: m.FailedMethodID}
	}
	return nil
}

// next reads the next method frame while a connection is set up, when
// nothing but replies can come. A close from the broker is an error.
func (c *fastConn) next() (wire.Method, uint16, error) {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return nil, 0, err
		}
		switch f.Type {
		case wire.FrameHeartbeat:
			continue
		case wire.FrameMethod:
		default:
			return nil, 0, fmt.Errorf("unexpected frame of type %d on channel %d", f.Type, f.Channel)
		}
		m, err := c.md.Decode(f.Payload)
		if err != nil {
			return nil, 0, err
		}
		if err := closedBy(f.Channel, m); err != nil {
			return nil, 0, err
		}
		return m, f.Channel, nil
	}
}

// await reads the next method, which must be a T.
func await[T wire.Method](c *fastConn) (T, error) {
	var want T
	m, ch, err := c.next()
	if err != nil {
		return want, err
	}
	got, ok := m.(T)
	if !ok {
		return want, fmt.Errorf("expected %s, got %s on channel %d", wire.MethodName(want.ClassID(), want.MethodID()),
			wire.MethodName(m.ClassID(), m.MethodID()), ch)
	}
	return got, nil
}

// call sends m on channel ch and waits for its reply, a T. Only for setup:
// nothing else may be reading.
func call[T wire.Method](c *fastConn, ch uint16, m wire.Method) (T, error) {
	var zero T
	_ = c.nc.SetDeadline(time.Now().Add(fastSetupTimeout))
	defer c.nc.SetDeadline(time.Time{})
	if err := c.fw.WriteMethod(ch, m); err != nil {
		return zero, err
	}
	if err := c.fw.Flush(); err != nil {
		return zero, err
	}
	return await[T](c)
}

// closeMethod is what the client sends when it is done.
var closeMethod = &wire.ConnectionClose{ReplyCode: wire.ReplySuccess, ReplyText: "sluice-perf done"}

// confirms follows one producer's publisher confirms. The window is a span:
// message seq goes out only once every message before seq-window is
// confirmed. So confirmRing's slot seq%window is free when seq reuses it
// even if the broker confirms out of order (the spec allows it), and with
// in-order confirms it is amqpDriver's window of unconfirmed messages.
type confirms struct {
	r      *runner
	ring   *confirmRing
	window uint64
	// sent is how many messages have their send time in ring; the producer
	// stores it before writing a message, the reader loads it before
	// reading ring, which orders the two.
	sent atomic.Uint64
	// done: every message below it is confirmed. Stored by the reader.
	done atomic.Uint64
	more chan struct{} // a token after done advanced

	// The reader's alone.
	low   uint64 // done's value
	early []bool // early[seq%window]: seq >= low is confirmed already
}

func newConfirms(r *runner, window int) *confirms {
	return &confirms{r: r, ring: r.newConfirmRing(window), window: uint64(window),
		more: make(chan struct{}, 1), early: make([]bool, window)}
}

// settle takes a basic.ack (nack false) or basic.nack for delivery tag
// tag; tags are sequence numbers plus one. With multiple it settles every
// unconfirmed tag up to tag (all of them when tag is 0).
func (cf *confirms) settle(tag uint64, multiple, nack bool) error {
	sent := cf.sent.Load()
	if multiple && tag == 0 {
		tag = sent
		if tag == 0 {
			return nil
		}
	}
	if tag == 0 || tag > sent {
		return fmt.Errorf("the broker confirmed delivery tag %d, but %d messages were published", tag, sent)
	}
	seq := tag - 1
	if seq < cf.low || cf.early[seq%cf.window] {
		return fmt.Errorf("the broker confirmed delivery tag %d twice", tag)
	}
	var n int64
	one := func(s uint64) {
		if nack {
			cf.r.nacked.Add(1)
		}
		cf.ring.confirmed(s)
		n++
	}
	low := cf.low
	switch {
	case multiple:
		for s := low; s <= seq; s++ {
			if cf.early[s%cf.window] {
				cf.early[s%cf.window] = false
				continue
			}
			one(s)
		}
		low = seq + 1
	case seq == low:
		one(seq)
		low++
	default:
		one(seq)
		cf.early[seq%cf.window] = true
	}
	for low < sent && cf.early[low%cf.window] {
		cf.early[low%cf.window] = false
		low++
	}
	cf.r.confirmed.Add(n)
	if low != cf.low {
		cf.low = low
		cf.done.Store(low)
		select {
		case cf.more <- struct{}{}:
		default:
		}
	}
	return nil
}

// fastPublisher is a producer's connection: the producer writes, a reader
// goroutine takes confirms and notices a close.
type fastPublisher struct {
	c    *fastConn
	cf   *confirms // nil without confirms
	gone chan struct{}
	err  error // why the reader returned (nil: close-ok); read after gone
	t    *time.Timer
}

// read is the reader goroutine.
func (pb *fastPublisher) read() {
	defer close(pb.gone)
	c := pb.c
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			pb.err = err
			return
		}
		switch f.Type {
		case wire.FrameHeartbeat:
			continue
		case wire.FrameMethod:
		default:
			pb.err = fmt.Errorf("unexpected frame of type %d on channel %d", f.Type, f.Channel)
			return
		}
		m, err := c.md.Decode(f.Payload)
		if err != nil {
			pb.err = err
			return
		}
		switch m := m.(type) {
		case *wire.BasicAck:
			err = pb.settle(m.DeliveryTag, m.Multiple, false)
		case *wire.BasicNack:
			err = pb.settle(m.DeliveryTag, m.Multiple, true)
		case *wire.ConnectionCloseOk:
			return
		default:
			if err = closedBy(f.Channel, m); err == nil {
				err = fmt.Errorf("unexpected %s on channel %d", wire.MethodName(m.ClassID(), m.MethodID()), f.Channel)
			}
		}
		if err != nil {
			pb.err = err
			return
		}
	}
}

func (pb *fastPublisher) settle(tag uint64, multiple, nack bool) error {
	if pb.cf == nil {
		return fmt.Errorf("a confirm for delivery tag %d, but the channel is not in confirm mode", tag)
	}
	return pb.cf.settle(tag, multiple, nack)
}

// failed returns the reader's error when it has returned with one.
func (pb *fastPublisher) failed() error {
	select {
	case <-pb.gone:
		if pb.err != nil {
			return pb.err
		}
		return errors.New("the broker closed the connection")
	default:
		return nil
	}
}

// ioError explains a failed write or flush: the reader usually knows why
// (the broker closed the connection), else the context or err does.
func (pb *fastPublisher) ioError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	select {
	case <-pb.gone:
		if pb.err != nil {
			return pb.err
		}
	case <-time.After(time.Second):
	}
	return err
}

// awaitConfirms flushes and blocks until the first want messages are
// confirmed, giving up when none is confirmed for timeout; waiting says
// what for, in that error.
func (pb *fastPublisher) awaitConfirms(ctx context.Context, want uint64, timeout time.Duration, waiting string) error {
	if err := pb.c.fw.Flush(); err != nil {
		return pb.ioError(ctx, err)
	}
	for pb.cf.done.Load() < want {
		pb.t.Reset(timeout)
		select {
		case <-pb.cf.more:
		case <-pb.gone:
			return pb.failed()
		case <-pb.t.C:
			return fmt.Errorf("%s: no confirm for %v", waiting, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (d *fastDriver) produce(ctx context.Context, p int) error {
	r := d.r
	cfg := r.cfg
	c, err := dialFast(cfg.URI, cfg.tlsConf, fmt.Sprintf("sluice-perf producer %d", p), publisherReadBuffer)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	// An aborted run closes the connection, so a write blocked on a broker
	// that stopped reading returns.
	defer context.AfterFunc(ctx, func() { c.nc.Close() })()
	if _, err := call[*wire.ChannelOpenOk](c, 1, &wire.ChannelOpen{}); err != nil {
		return err
	}
	pb := &fastPublisher{c: c, gone: make(chan struct{}), t: time.NewTimer(time.Hour)}
	defer pb.t.Stop()
	if cfg.Confirm > 0 {
		if _, err := call[*wire.ConfirmSelectOk](c, 1, &wire.ConfirmSelect{}); err != nil {
			return err
		}
		pb.cf = newConfirms(r, cfg.Confirm)
	}
	go pb.read()

	pub := wire.BasicPublish{Exchange: d.amqp.exchange()}
	qs := r.rt.producerQueues(p)
	keys := make([]string, len(qs))
	for i, q := range qs {
		switch cfg.Routing {
		case "direct":
			keys[i] = r.queueName(q)
		case "topic":
			keys[i] = fmt.Sprintf("perf.q%d.p%d", q, p)
		}
	}
	props := message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: message.Transient}
	if cfg.Persistent {
		props.DeliveryMode = message.Persistent
	}
	body := newBody(cfg.Size)
	pace := newPacer(cfg.Rate/float64(cfg.Producers), float64(p)/float64(cfg.Producers))
	paced := pace.interval > 0
	cf := pb.cf
	var seq uint64
	for r.claim(ctx) {
		if !pace.wait(r.stopPub) {
			break
		}
		if cf != nil && seq-cf.done.Load() >= cf.window {
			if err := pb.awaitConfirms(ctx, seq-cf.window+1, cfg.DrainTimeout, "publisher confirms stalled"); err != nil {
				return err
			}
		}
		if err := pb.failed(); err != nil {
			return err
		}
		if seq > maxSeq {
			return errors.New("sequence numbers exhausted")
		}
		ts := r.now()
		encodeHeader(body, p, seq, ts)
		if cf != nil {
			cf.ring.sent(seq, ts)
			cf.sent.Store(seq + 1)
		}
		if len(keys) > 0 {
			pub.RoutingKey = keys[seq%uint64(len(keys))]
		}
		err := c.fw.WriteMethod(1, &pub)
		if err == nil {
			err = c.fw.WriteContent(1, wire.ClassBasic, &props, body, c.frameMax)
		}
		if err == nil && paced {
			// A paced run measures latency: nothing waits in the buffer
			// while the pacer sleeps.
			err = c.fw.Flush()
		}
		if err != nil {
			return pb.ioError(ctx, err)
		}
		seq++
		r.sentPer[p].Store(seq)
		r.sent.Add(1)
	}
	if cf != nil {
		if err := pb.awaitConfirms(ctx, seq, cfg.DrainTimeout, "waiting for publisher confirms"); err != nil {
			return err
		}
	}
	// close-ok says the broker has taken every publish before the close.
	err = c.fw.WriteMethod(0, closeMethod)
	if err == nil {
		err = c.fw.Flush()
	}
	if err != nil {
		return pb.ioError(ctx, err)
	}
	select {
	case <-pb.gone:
		return pb.err
	case <-time.After(fastCloseWait):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fastConsumer is one consumer's connection, with a channel per queue. One
// goroutine reads it and writes it.
type fastConsumer struct {
	d        *fastDriver
	id       int
	c        *fastConn
	chans    []fastChannel // chans[i] is channel i+1
	autoAck  bool
	multiAck int
	// unflushed counts the acks buffered since the last flush.
	unflushed int
	ack       wire.BasicAck
	props     message.Properties // scratch for content headers

	ready      chan error // one value: nil once every channel consumes, or why not
	subscribed int
	readySent  bool

	nextTick time.Time
	stopping bool // stop was seen: close at the next read
	closing  bool // connection.close sent
}

// Stages of a channel: what its next frame must be.
const (
	stageMethod = iota
	stageHeader
	stageBody
)

// fastChannel is one channel of a consumer and the queue it consumes.
type fastChannel struct {
	q     int
	rec   *latRec
	stage uint8
	tag   uint64 // the delivery being received
	size  uint64 // its body size
	body  []byte // its body so far, when the body spans frames
	// Deliveries handled but not acknowledged yet, and the latest's tag.
	pending int
	last    uint64
}

// errStopped ends a consumer's read loop when the consumers stop.
var errStopped = errors.New("consumers stopped")

func (d *fastDriver) startConsumers(ctx context.Context) error {
	return d.consumers.startAll(d.r.cfg.Consumers, func(i int) error { return d.startConsumer(ctx, i) })
}

// startConsumer connects consumer i, subscribes it to its queues and
// returns once each subscription is confirmed.
func (d *fastDriver) startConsumer(ctx context.Context, i int) error {
	cfg := d.r.cfg
	if !cfg.AutoAck && cfg.Prefetch > 0xffff {
		return fmt.Errorf("prefetch %d does not fit basic.qos (at most 65535)", cfg.Prefetch)
	}
	c, err := dialFast(cfg.URI, cfg.tlsConf, fmt.Sprintf("sluice-perf consumer %d", i), consumerReadBuffer)
	if err != nil {
		return err
	}
	qs := consumerQueues(i, cfg.Consumers, cfg.Queues)
	if c.channelMax != 0 && len(qs) > int(c.channelMax) {
		c.nc.Close()
		return fmt.Errorf("consumer %d needs %d channels, the broker allows %d", i, len(qs), c.channelMax)
	}
	fc := &fastConsumer{d: d, id: i, c: c, autoAck: cfg.AutoAck, multiAck: max(cfg.MultiAck, 1),
		ready: make(chan error, 1)}
	fc.ack.Multiple = cfg.MultiAck > 1
	for k, q := range qs {
		ch := uint16(k + 1)
		if _, err := call[*wire.ChannelOpenOk](c, ch, &wire.ChannelOpen{}); err != nil {
			c.nc.Close()
			return err
		}
		if !cfg.AutoAck {
			if _, err := call[*wire.BasicQosOk](c, ch, &wire.BasicQos{PrefetchCount: uint16(cfg.Prefetch)}); err != nil {
				c.nc.Close()
				return err
			}
		}
		fc.chans = append(fc.chans, fastChannel{q: q, rec: d.r.newLatRec()})
	}
	// Deliveries may follow a consume-ok at once, so the read loop takes
	// the consume-oks; it flushes these before its first read.
	for k, q := range qs {
		err := c.fw.WriteMethod(uint16(k+1), &wire.BasicConsume{Queue: d.r.queueName(q),
			ConsumerTag: fmt.Sprintf("perf-%d-%d", i, q), NoAck: cfg.AutoAck})
		if err != nil {
			c.nc.Close()
			return err
		}
	}
	c.beforeRead = fc.beforeRead
	return d.consumers.run(ctx, i, c.nc, fc.run, fc.ready, "consume-ok")
}

func (d *fastDriver) stopConsumers() { d.consumers.stopAll() }

// run is the consumer's goroutine.
func (fc *fastConsumer) run() {
	defer fc.c.nc.Close()
	err := fc.loop()
	if !fc.readySent {
		if err == nil {
			err = errors.New("stopped before every consume-ok came")
		}
		fc.ready <- err
		return
	}
	if err != nil && !fc.stopping {
		fc.d.r.fail("fast AMQP consumer %d: %v", fc.id, err)
	}
}

func (fc *fastConsumer) loop() error {
	for {
		f, err := fc.c.fr.ReadFrame()
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				fc.nextTick = time.Time{} // tick before the next read
				continue
			case err == errStopped:
				return fc.close()
			}
			return err
		}
		if err := fc.frame(f); err != nil {
			return err
		}
	}
}

// beforeRead runs before each read from the socket: at most every
// ackInterval it acknowledges what is pending and looks for stop, with a
// read deadline that brings it back; then it writes out what is buffered,
// acks and subscriptions, so nothing waits in the buffer while the reader
// waits for the broker.
func (fc *fastConsumer) beforeRead() error {
	if fc.closing {
		return fc.c.fw.Flush()
	}
	if now := time.Now(); !now.Before(fc.nextTick) {
		for i := range fc.chans {
			if err := fc.sendAck(uint16(i+1), &fc.chans[i]); err != nil {
				return err
			}
		}
		select {
		case <-fc.d.consumers.stop:
			fc.stopping = true
		default:
		}
		fc.nextTick = now.Add(ackInterval)
		_ = fc.c.nc.SetReadDeadline(fc.nextTick)
	}
	fc.unflushed = 0
	if err := fc.c.fw.Flush(); err != nil {
		return err
	}
	if fc.stopping {
		return errStopped
	}
	return nil
}

// sendAck buffers a basic.ack for the channel's pending deliveries.
func (fc *fastConsumer) sendAck(ch uint16, st *fastChannel) error {
	if st.pending == 0 {
		return nil
	}
	st.pending = 0
	fc.ack.DeliveryTag = st.last
	return fc.c.fw.WriteMethod(ch, &fc.ack)
}

func (fc *fastConsumer) channel(ch uint16) (*fastChannel, error) {
	if ch == 0 || int(ch) > len(fc.chans) {
		return nil, fmt.Errorf("a frame on channel %d, which is not open", ch)
	}
	return &fc.chans[ch-1], nil
}

func (fc *fastConsumer) frame(f wire.Frame) error {
	switch f.Type {
	case wire.FrameHeartbeat:
		return nil
	case wire.FrameMethod:
		return fc.method(f)
	}
	st, err := fc.channel(f.Channel)
	if err != nil {
		return err
	}
	switch f.Type {
	case wire.FrameHeader:
		if st.stage != stageHeader {
			return fmt.Errorf("a content header on channel %d without basic.deliver", f.Channel)
		}
		_, size, err := wire.DecodeContentHeader(f.Payload, &fc.props)
		if err != nil {
			return err
		}
		if size == 0 {
			return fc.deliver(f.Channel, st, nil)
		}
		st.size, st.body, st.stage = size, st.body[:0], stageBody
	case wire.FrameBody:
		if st.stage != stageBody {
			return fmt.Errorf("a body frame on channel %d without a content header", f.Channel)
		}
		if len(st.body) == 0 && uint64(len(f.Payload)) == st.size {
			// The whole body in one frame: no copy.
			return fc.deliver(f.Channel, st, f.Payload)
		}
		if uint64(len(st.body))+uint64(len(f.Payload)) > st.size {
			return fmt.Errorf("body frames on channel %d carry more than the %d bytes announced", f.Channel, st.size)
		}
		st.body = append(st.body, f.Payload...)
		if uint64(len(st.body)) == st.size {
			return fc.deliver(f.Channel, st, st.body)
		}
	default:
		return fmt.Errorf("unexpected frame of type %d on channel %d", f.Type, f.Channel)
	}
	return nil
}

func (fc *fastConsumer) method(f wire.Frame) error {
	m, err := fc.c.md.Decode(f.Payload)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *wire.BasicDeliver:
		st, err := fc.channel(f.Channel)
		if err != nil {
			return err
		}
		if st.stage != stageMethod {
			return fmt.Errorf("basic.deliver on channel %d before the last delivery's content was complete", f.Channel)
		}
		st.tag, st.stage = m.DeliveryTag, stageHeader
	case *wire.BasicConsumeOk:
		if fc.subscribed++; fc.subscribed == len(fc.chans) {
			fc.readySent = true
			fc.ready <- nil
		}
	case *wire.BasicCancel:
		st, err := fc.channel(f.Channel)
		if err != nil {
			return err
		}
		return fmt.Errorf("the broker cancelled the consumer of %s (basic.cancel)", fc.d.r.queueName(st.q))
	default:
		if err := closedBy(f.Channel, m); err != nil {
			return err
		}
		return fmt.Errorf("unexpected %s on channel %d", wire.MethodName(m.ClassID(), m.MethodID()), f.Channel)
	}
	return nil
}

// deliver hands a complete delivery to the runner and acknowledges it as
// amqpDriver does: with multiple=true once MultiAck deliveries are pending
// (each on its own when MultiAck is 1), the rest within ackInterval. body
// is only valid during the call; onMessage does not keep it.
func (fc *fastConsumer) deliver(ch uint16, st *fastChannel, body []byte) error {
	st.stage = stageMethod
	fc.d.r.onMessage(st.q, body, st.rec)
	if fc.autoAck {
		return nil
	}
	st.pending++
	st.last = st.tag
	if st.pending >= fc.multiAck {
		if err := fc.sendAck(ch, st); err != nil {
			return err
		}
		// The ack goes out now, as amqp091-go's would: left in the buffer
		// until the reader next waits for data, it would shrink the
		// prefetch window by the deliveries read meanwhile (a 64 KiB read
		// holds ~650 16-byte deliveries against a prefetch of 1,000) and
		// the broker would stall on credit. Single acks are written in
		// groups of ackFlushEvery, a multiple ack at once.
		fc.unflushed++
		if fc.multiAck > 1 || fc.unflushed >= ackFlushEvery {
			fc.unflushed = 0
			return fc.c.fw.Flush()
		}
	}
	return nil
}

// ackFlushEvery is how many single acks (MultiAck 1) are buffered before
// they are written, if the reader does not wait for data first.
const ackFlushEvery = 32

// close acknowledges what is pending, sends connection.close and waits a
// little for close-ok, ignoring deliveries meanwhile (the broker requeues
// them).
func (fc *fastConsumer) close() error {
	for i := range fc.chans {
		if err := fc.sendAck(uint16(i+1), &fc.chans[i]); err != nil {
			return nil
		}
	}
	fc.closing = true
	if err := fc.c.fw.WriteMethod(0, closeMethod); err != nil {
		return nil
	}
	if err := fc.c.fw.Flush(); err != nil {
		return nil
	}
	deadline := time.Now().Add(fastCloseWait)
	_ = fc.c.nc.SetReadDeadline(deadline)
	for {
		f, err := fc.c.fr.ReadFrame()
		if errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(deadline) {
			// stopConsumers' wake-up.
			_ = fc.c.nc.SetReadDeadline(deadline)
			continue
		}
		if err != nil {
			return nil
		}
		if f.Type != wire.FrameMethod {
			continue
		}
		m, err := fc.c.md.Decode(f.Payload)
		if err != nil {
			return nil
		}
		switch m.(type) {
		case *wire.ConnectionCloseOk, *wire.ConnectionClose:
			return nil
		}
	}
}
