package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	sframe "github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// fastStompDriver runs a load over STOMP with sluice-perf's own client
// (--protocol stomp --client fast): the broker's protocols/stomp/frame codec
// on a socket, instead of go-stomp, whose reader allocates some 45 times a
// frame and hands every message through channels, and whose producer path
// here flushes once per SEND.
//
// What goes on the wire is stompDriver's: the same destinations, headers,
// receipt window, subscriptions and ACKs. What differs is batching, as in
// fastDriver. A producer's SENDs collect in a 64 KiB buffer, written when
// it fills and before the producer would wait (on the pacer, for a receipt
// slot, at the end). A consumer reads through a 64 KiB buffer and writes its
// ACKs in groups of ackFlushEvery, and whatever is buffered before it would
// block in a read, at least every ackInterval. Queue setup and teardown and
// the idle sessions are stompDriver's.
type fastStompDriver struct {
	r     *runner
	stomp *stompDriver
	// sendDest is the destination of producers' SENDs to queue q; tests
	// point it somewhere the broker rejects.
	sendDest func(q int) string

	consumers consumerGroup
}

func newFastStompDriver(r *runner) *fastStompDriver {
	sd := &stompDriver{r: r}
	return &fastStompDriver{r: r, stomp: sd, sendDest: sd.dest}
}

func (d *fastStompDriver) setup(ctx context.Context) error { return d.stomp.setup(ctx) }
func (d *fastStompDriver) teardown() error                 { return d.stomp.teardown() }

// idle opens go-stomp sessions: an idle session's cost is the broker's,
// whatever the client.
func (d *fastStompDriver) idle(ctx context.Context, n int) (func(), error) {
	return d.stomp.idle(ctx, n)
}

const (
	// stompWriteBuffer is what a producer or consumer buffers before a
	// write to its socket.
	stompWriteBuffer = 64 << 10
	// The accept-version headers stompDriver's sessions send: its producers
	// ask for 1.2, its go-stomp consumers for any version.
	producerSTOMPVersions = "1.2"
	consumerSTOMPVersions = "1.0,1.1,1.2"
	// byeReceipt is the receipt of the final DISCONNECT.
	byeReceipt = "bye"
)

// fastStompConn is one STOMP session of the fast client. One goroutine
// reads frames (fr) and one writes them (fw); they may be the same.
type fastStompConn struct {
	nc      net.Conn
	fr      *sframe.Reader
	fw      *sframe.Writer
	version sframe.Version
	// beforeRead, when set, runs on the reading goroutine before each read
	// from the socket, that is whenever no complete frame is buffered and
	// the reader may block.
	beforeRead func() error
}

// stompSocket feeds the read buffer from the socket, calling beforeRead
// first.
type stompSocket struct{ c *fastStompConn }

func (s stompSocket) Read(p []byte) (int, error) {
	if f := s.c.beforeRead; f != nil {
		if err := f(); err != nil {
			return 0, err
		}
	}
	return s.c.nc.Read(p)
}

// dialFastSTOMP connects as stompDriver's sessions do (guest/guest, host
// "/", no heart-beats, acceptVersions) and adopts the version the broker
// answers with. One read from the socket takes in up to readBuffer bytes:
// the frame Reader's own buffer starts at 4 KiB, so a bufio.Reader in front
// of it sets the size of reads.
//
// With tc the session runs over TLS.
func dialFastSTOMP(addr string, tc *tls.Config, acceptVersions string, readBuffer int) (*fastStompConn, error) {
	nc, err := dialSocket(addr, tc)
	if err != nil {
		return nil, err
	}
	c := &fastStompConn{nc: nc, fw: sframe.NewWriterSize(nc, stompWriteBuffer)}
	c.fr = sframe.NewReader(bufio.NewReaderSize(stompSocket{c}, readBuffer), sframe.Limits{})
	if err := c.handshake(acceptVersions); err != nil {
		nc.Close()
		return nil, fmt.Errorf("STOMP %s: %w", addr, err)
	}
	return c, nil
}

func (c *fastStompConn) handshake(acceptVersions string) error {
	err := c.fw.WriteFrame(sframe.Connect, []sframe.Field{
		{Name: "accept-version", Value: acceptVersions}, {Name: "host", Value: "/"},
		{Name: "login", Value: "guest"}, {Name: "passcode", Value: "guest"}, {Name: "heart-beat", Value: "0,0"},
	}, nil)
	if err == nil {
		err = c.fw.Flush()
	}
	if err != nil {
		return err
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(fastSetupTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	f, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	if f.Command != sframe.Connected {
		return fmt.Errorf("CONNECT answered with %s", stompFrameText(f))
	}
	// No version header: a 1.0 broker.
	c.version = sframe.V10
	if v, ok := f.Get("version"); ok {
		if c.version, ok = sframe.ParseVersion(string(v)); !ok {
			return fmt.Errorf("CONNECTED with version %q, asked for %s", v, acceptVersions)
		}
	}
	c.fr.SetVersion(c.version)
	c.fw.SetVersion(c.version)
	return nil
}

// stompFrameText describes a frame the client did not expect, an ERROR
// above all: its command, message header and body.
func stompFrameText(f *sframe.Frame) string {
	s := string(f.RawCommand)
	if m, ok := f.Get("message"); ok {
		s += ": " + string(m)
	}
	if len(f.Body) > 0 {
		s += " " + string(f.Body)
	}
	return s
}

// stompPublisher is a producer's session: the producer writes, a reader
// goroutine takes RECEIPTs and notices an ERROR or a close.
type stompPublisher struct {
	r    *runner
	c    *fastStompConn
	cf   *confirms // nil without receipts
	gone chan struct{}
	err  error // why the reader returned (nil: the DISCONNECT's receipt); read after gone
	t    *time.Timer
}

// read is the reader goroutine. Receipt ids are sequence numbers, as
// stompDriver's; receipt seq settles "delivery tag" seq+1 in confirms.
func (pb *stompPublisher) read() {
	defer close(pb.gone)
	for {
		f, err := pb.c.fr.ReadFrame()
		if err != nil {
			pb.err = err
			return
		}
		switch f.Command {
		case sframe.Receipt:
			id, _ := f.Get("receipt-id")
			if string(id) == byeReceipt {
				return
			}
			seq, perr := strconv.ParseUint(string(id), 10, 64)
			switch {
			case pb.cf == nil:
				err = fmt.Errorf("a RECEIPT %q, but no SEND asked for one", id)
			case perr != nil:
				err = fmt.Errorf("a RECEIPT with receipt-id %q, which no SEND carried", id)
			default:
				err = pb.cf.settle(seq+1, false, false)
			}
		case sframe.Error:
			pb.r.nacked.Add(1)
			err = fmt.Errorf("broker sent %s", stompFrameText(f))
		default:
			err = fmt.Errorf("unexpected %s frame on a producer's session", f.RawCommand)
		}
		if err != nil {
			pb.err = err
			return
		}
	}
}

// failed returns the reader's error when it has returned.
func (pb *stompPublisher) failed() error {
	select {
	case <-pb.gone:
		if pb.err != nil {
			return pb.err
		}
		return errors.New("the broker closed the session")
	default:
		return nil
	}
}

// ioError explains a failed write or flush: the reader usually knows why
// (an ERROR frame, a closed connection), else the context or err does.
func (pb *stompPublisher) ioError(ctx context.Context, err error) error {
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

// awaitReceipts flushes and blocks until the first want SENDs have their
// RECEIPT, giving up when none comes for timeout; waiting says what for.
func (pb *stompPublisher) awaitReceipts(ctx context.Context, want uint64, timeout time.Duration, waiting string) error {
	if err := pb.c.fw.Flush(); err != nil {
		return pb.ioError(ctx, err)
	}
	for pb.cf.done.Load() < want {
		pb.t.Reset(timeout)
		select {
		case <-pb.cf.more:
		case <-pb.gone:
			return fmt.Errorf("%s: %w", waiting, pb.failed())
		case <-pb.t.C:
			return fmt.Errorf("%s: no RECEIPT for %v", waiting, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (d *fastStompDriver) produce(ctx context.Context, p int) error {
	r := d.r
	cfg := r.cfg
	c, err := dialFastSTOMP(cfg.StompAddr, cfg.stompTLS(), producerSTOMPVersions, publisherReadBuffer)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	// An aborted run closes the connection, so a write blocked on a broker
	// that stopped reading returns.
	defer context.AfterFunc(ctx, func() { c.nc.Close() })()
	pb := &stompPublisher{r: r, c: c, gone: make(chan struct{}), t: time.NewTimer(time.Hour)}
	defer pb.t.Stop()
	if cfg.Confirm > 0 {
		pb.cf = newConfirms(r, cfg.Confirm)
	}
	go pb.read()

	qs := r.rt.producerQueues(p)
	dests := make([]string, len(qs))
	for i, q := range qs {
		dests[i] = d.sendDest(q)
	}
	// As stompDriver: a transient SEND has no persistent header at all (see
	// there), and content-length is written by the encoder.
	hdr := []sframe.Field{{Name: "destination"}}
	if cfg.Persistent {
		hdr = append(hdr, sframe.Field{Name: "persistent", Value: "true"})
	}
	receipt := -1
	if pb.cf != nil {
		receipt = len(hdr)
		hdr = append(hdr, sframe.Field{Name: "receipt"})
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
			if err := pb.awaitReceipts(ctx, seq-cf.window+1, cfg.DrainTimeout, "receipts stalled"); err != nil {
				return err
			}
		}
		if err := pb.failed(); err != nil {
			return err
		}
		ts := r.now()
		encodeHeader(body, p, seq, ts)
		if cf != nil {
			cf.ring.sent(seq, ts)
			cf.sent.Store(seq + 1)
			hdr[receipt].Value = strconv.FormatUint(seq, 10)
		}
		hdr[0].Value = dests[seq%uint64(len(dests))]
		err := c.fw.WriteFrame(sframe.Send, hdr, body)
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
		if err := pb.awaitReceipts(ctx, seq, cfg.DrainTimeout, "waiting for receipts"); err != nil {
			return err
		}
	}
	// A DISCONNECT with a receipt makes sure every SEND was processed.
	err = c.fw.WriteFrame(sframe.Disconnect, []sframe.Field{{Name: "receipt", Value: byeReceipt}}, nil)
	if err == nil {
		err = c.fw.Flush()
	}
	if err != nil {
		return pb.ioError(ctx, err)
	}
	select {
	case <-pb.gone:
		if pb.err != nil {
			return fmt.Errorf("after DISCONNECT: %w", pb.err)
		}
	case <-time.After(cfg.DrainTimeout):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// stompConsumer is one consumer's session, with a subscription per queue it
// reads. One goroutine reads it and writes it.
type stompConsumer struct {
	d       *fastStompDriver
	id      int
	c       *fastStompConn
	subs    []stompSub
	byID    map[string]int // subscription id to index in subs
	autoAck bool
	// unflushed counts the ACKs buffered since the last flush.
	unflushed int
	ack       []sframe.Field // scratch for ACK headers

	ready     chan error // one value: nil once every SUBSCRIBE has its RECEIPT, or why not
	receipts  int
	readySent bool

	nextTick time.Time
	stopping bool // stop was seen: disconnect at the next read
	closing  bool // DISCONNECT sent
}

// stompSub is one subscription and the queue it reads.
type stompSub struct {
	id  string
	q   int
	rec *latRec
}

func (d *fastStompDriver) startConsumers(ctx context.Context) error {
	return d.consumers.startAll(d.r.cfg.Consumers, func(i int) error { return d.startConsumer(ctx, i) })
}

// startConsumer connects consumer i, subscribes it to its queues as
// stompDriver does and returns once the broker has receipted each
// SUBSCRIBE.
func (d *fastStompDriver) startConsumer(ctx context.Context, i int) error {
	cfg := d.r.cfg
	c, err := dialFastSTOMP(cfg.StompAddr, cfg.stompTLS(), consumerSTOMPVersions, consumerReadBuffer)
	if err != nil {
		return err
	}
	ackMode := "client-individual"
	if cfg.AutoAck {
		ackMode = "auto"
	}
	fc := &stompConsumer{d: d, id: i, c: c, autoAck: cfg.AutoAck, byID: map[string]int{}, ready: make(chan error, 1)}
	// Deliveries may follow a subscription at once, so the read loop takes
	// the receipts; it flushes the SUBSCRIBEs before its first read.
	for k, q := range consumerQueues(i, cfg.Consumers, cfg.Queues) {
		sub := stompSub{id: fmt.Sprintf("perf-%d-%d", i, q), q: q, rec: d.r.newLatRec()}
		hdr := []sframe.Field{{Name: "destination", Value: d.stomp.dest(q)}, {Name: "ack", Value: ackMode},
			{Name: "id", Value: sub.id}, {Name: "receipt", Value: "sub-" + strconv.Itoa(k)}}
		if cfg.Prefetch > 0 {
			hdr = append(hdr, sframe.Field{Name: "prefetch-count", Value: strconv.Itoa(cfg.Prefetch)})
		}
		if err := c.fw.WriteFrame(sframe.Subscribe, hdr, nil); err != nil {
			c.nc.Close()
			return err
		}
		fc.byID[sub.id] = len(fc.subs)
		fc.subs = append(fc.subs, sub)
	}
	c.beforeRead = fc.beforeRead
	return d.consumers.run(ctx, i, c.nc, fc.run, fc.ready, "RECEIPT for its SUBSCRIBEs")
}

func (d *fastStompDriver) stopConsumers() { d.consumers.stopAll() }

// run is the consumer's goroutine.
func (fc *stompConsumer) run() {
	defer fc.c.nc.Close()
	err := fc.loop()
	if !fc.readySent {
		if err == nil {
			err = errors.New("stopped before every SUBSCRIBE was receipted")
		}
		fc.ready <- err
		return
	}
	if err != nil && !fc.stopping {
		fc.d.r.fail("fast STOMP consumer %d: %v", fc.id, err)
	}
}

func (fc *stompConsumer) loop() error {
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
// ackInterval it looks for stop, with a read deadline that brings it back;
// then it writes out what is buffered, ACKs and SUBSCRIBEs, so nothing
// waits in the buffer while the reader waits for the broker.
func (fc *stompConsumer) beforeRead() error {
	if fc.closing {
		return fc.c.fw.Flush()
	}
	if now := time.Now(); !now.Before(fc.nextTick) {
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

func (fc *stompConsumer) frame(f *sframe.Frame) error {
	switch f.Command {
	case sframe.Message:
		return fc.message(f)
	case sframe.Receipt:
		id, _ := f.Get("receipt-id")
		if fc.readySent {
			return fmt.Errorf("an unexpected RECEIPT %q", id)
		}
		if fc.receipts++; fc.receipts == len(fc.subs) {
			fc.readySent = true
			fc.ready <- nil
		}
		return nil
	case sframe.Error:
		return fmt.Errorf("broker sent %s", stompFrameText(f))
	}
	return fmt.Errorf("unexpected %s frame on a consumer's session", f.RawCommand)
}

// message hands a MESSAGE to the runner and ACKs it, as stompDriver does:
// in 1.2 with the id the MESSAGE's ack header gives, in 1.0 and 1.1 with
// its message-id and subscription. ACKs are written in groups of
// ackFlushEvery, or sooner when the reader waits for data. The body is only
// valid during the call; onMessage does not keep it.
func (fc *stompConsumer) message(f *sframe.Frame) error {
	sid, _ := f.Get("subscription")
	k, ok := fc.byID[string(sid)]
	if !ok {
		return fmt.Errorf("a MESSAGE for subscription %q, which this consumer does not have", sid)
	}
	sub := &fc.subs[k]
	fc.d.r.onMessage(sub.q, f.Body, sub.rec)
	if fc.autoAck {
		return nil
	}
	fc.ack = fc.ack[:0]
	if fc.c.version >= sframe.V12 {
		id, ok := f.Get("ack")
		if !ok {
			return fmt.Errorf("a MESSAGE on %s without the ack header STOMP 1.2 needs to ACK it", sub.id)
		}
		fc.ack = append(fc.ack, sframe.Field{Name: "id", Value: string(id)})
	} else {
		id, ok := f.Get("message-id")
		if !ok {
			return fmt.Errorf("a MESSAGE on %s without a message-id", sub.id)
		}
		fc.ack = append(fc.ack, sframe.Field{Name: "subscription", Value: sub.id},
			sframe.Field{Name: "message-id", Value: string(id)})
	}
	if err := fc.c.fw.WriteFrame(sframe.Ack, fc.ack, nil); err != nil {
		return err
	}
	// Left in the buffer until the reader next waits for data, ACKs would
	// shrink the prefetch window by the messages read meanwhile and the
	// broker would stall on credit (see fastConsumer.deliver).
	if fc.unflushed++; fc.unflushed >= ackFlushEvery {
		fc.unflushed = 0
		return fc.c.fw.Flush()
	}
	return nil
}

// close sends the buffered ACKs and a DISCONNECT with a receipt, and waits
// a little for the RECEIPT, ignoring messages meanwhile (they are not
// ACKed, so the broker requeues them).
func (fc *stompConsumer) close() error {
	fc.closing = true
	err := fc.c.fw.WriteFrame(sframe.Disconnect, []sframe.Field{{Name: "receipt", Value: byeReceipt}}, nil)
	if err == nil {
		err = fc.c.fw.Flush()
	}
	if err != nil {
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
		switch f.Command {
		case sframe.Receipt, sframe.Error:
			return nil
		}
	}
}
