package stomp

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/panics"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// outKind says what an outItem asks the writer to send.
type outKind uint8

const (
	outFrame     outKind = iota // cmd with fields and body
	outMessage                  // MESSAGE for d on sub
	outReceipt                  // RECEIPT with receipt-id text
	outHeartbeat                // one EOL
	outFlush                    // nothing; done is closed once everything before is written
)

// outItem is one thing to write. Deliveries travel as values so that
// queueing one allocates nothing.
type outItem struct {
	kind outKind
	cmd  frame.Command
	// setVersion switches the writer to version after this frame
	// (CONNECTED).
	setVersion bool
	version    frame.Version
	text       string
	fields     []frame.Field
	body       []byte
	d          broker.Delivery
	sub        *subscription
	done       chan struct{}
	// closeAfter ends the connection once this frame is written (an ERROR
	// raised outside the reader goroutine).
	closeAfter bool
}

// output is a connection's outgoing queue and its one writer goroutine.
// Producers — the reader goroutine for replies, any queue for deliveries —
// append under mu and return at once; the writer encodes and writes with
// the lock released and flushes when it has nothing more to write, so
// bursts coalesce into few syscalls. Replies from the reader do not wake
// the writer by themselves: the reader wakes it before it waits for more
// input, so the replies to a burst of frames go out together.
type output struct {
	c *conn

	mu      sync.Mutex
	pending []outItem
	spare   []outItem
	closed  bool
	wake    chan struct{}
	dirty   atomic.Bool // reader items queued without a wake-up
	// drained is signalled after every batch, for a reader waiting for
	// its backlog of replies to shrink.
	drained chan struct{}

	// Body bytes of queued MESSAGE frames; past the high water mark the
	// session takes no more deliveries until half of it has drained.
	queuedBytes atomic.Int64
	full        atomic.Bool

	// writer-only state
	version   frame.Version
	lastWrite time.Time
	fb        fieldBuilder
}

func newOutput(c *conn) *output {
	return &output{c: c, wake: make(chan struct{}, 1), drained: make(chan struct{}, 1)}
}

func (o *output) push(it outItem, wake bool) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		if it.done != nil {
			close(it.done)
		}
		return
	}
	o.pending = append(o.pending, it)
	o.mu.Unlock()
	if wake {
		o.kick()
	} else {
		o.dirty.Store(true)
	}
}

// maxBacklog is how many items may wait for the writer before the reader
// stops reading: a client that sends without reading the replies then
// meets TCP backpressure instead of growing the server's memory.
const maxBacklog = 4096

// waitBacklog blocks the reader while the output holds more than
// maxBacklog items, until it drains or the connection ends.
func (o *output) waitBacklog(done <-chan struct{}) {
	for {
		o.mu.Lock()
		n := len(o.pending)
		o.mu.Unlock()
		if n <= maxBacklog {
			return
		}
		o.kick()
		select {
		case <-o.drained:
		case <-done:
			return
		}
	}
}

// kick wakes the writer.
func (o *output) kick() {
	o.dirty.Store(false)
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// deliver queues a MESSAGE; it is called by the broker with queue locks
// held and must not block.
func (o *output) deliver(d broker.Delivery, sub *subscription) {
	o.count(d)
	o.pushCounted(d, sub)
}

// count adds a delivery's body to the bytes waiting for the client, so a
// delivery held back (a SUBSCRIBE's, until its RECEIPT) counts towards
// the high water mark from the start.
func (o *output) count(d broker.Delivery) {
	if o.queuedBytes.Add(int64(len(d.Msg.Body))) > o.c.srv.cfg.OutputHighWater {
		o.full.Store(true)
	}
}

// pushCounted queues a MESSAGE already counted.
func (o *output) pushCounted(d broker.Delivery, sub *subscription) {
	o.push(outItem{kind: outMessage, d: d, sub: sub}, true)
}

// frame queues a control frame from the reader goroutine.
func (o *output) frame(cmd frame.Command, fields []frame.Field, body []byte) {
	o.push(outItem{kind: outFrame, cmd: cmd, fields: fields, body: body}, false)
}

// receipt queues a RECEIPT.
func (o *output) receipt(id string) {
	o.push(outItem{kind: outReceipt, text: id}, false)
}

// flush waits until everything queued so far is on the wire, the
// connection is gone, or timeout passes.
func (o *output) flush(timeout time.Duration) {
	done := make(chan struct{})
	o.push(outItem{kind: outFlush, done: done}, true)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-o.c.done: // the writer is gone
	case <-t.C:
	}
}

// run is the writer goroutine. It exits when the connection closes. Once
// heart-beats are agreed it sends one when the line has been quiet and
// closes a client that has been silent for longer than the grace allows.
func (o *output) run() {
	c := o.c
	var tick <-chan time.Time
	var ticker *time.Ticker
	var period time.Duration
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
		if p := recover(); p != nil {
			panics.Recovered(c.log.Error(), p, "STOMP connection writer") // see internal/panics
			c.abort("internal error")
			o.drop()
		}
	}()
	o.lastWrite = time.Now()
	for {
		if ticker == nil {
			send, recv := time.Duration(c.hbSend.Load()), time.Duration(c.hbRecv.Load())
			if send > 0 || recv > 0 {
				period = min(nonZero(send), nonZero(recv)) / 2
				period = max(period, 10*time.Millisecond)
				ticker = time.NewTicker(period)
				tick = ticker.C
			}
		}
		select {
		case <-o.wake:
		case now := <-tick:
			if recv := time.Duration(c.hbRecv.Load()); recv > 0 {
				silent := now.Sub(time.Unix(0, c.lastRead.Load()))
				if silent > time.Duration(float64(recv)*c.srv.cfg.HeartbeatGrace) {
					c.log.Debug().Dur("silent", silent).Msg("heart-beat timeout")
					c.abort("missed heart-beats from client, timeout: " + recv.String())
					return
				}
			}
			if send := time.Duration(c.hbSend.Load()); send > 0 && now.Sub(o.lastWrite)+period >= send {
				o.mu.Lock()
				o.pending = append(o.pending, outItem{kind: outHeartbeat})
				o.mu.Unlock()
			}
		case <-c.done:
			return
		}
		o.mu.Lock()
		if len(o.pending) == 0 {
			o.mu.Unlock()
			continue
		}
		// Swap the two slices: producers fill one while this writes the other.
		batch := o.pending
		o.pending = o.spare[:0]
		o.mu.Unlock()
		closeAfter, err := o.writeBatch(batch)
		if closeAfter && err == nil {
			c.abort("message rejected")
			o.drop()
			return
		}
		select {
		case o.drained <- struct{}{}:
		default:
		}
		clear(batch)
		if cap(batch) > 4096 {
			batch = nil // a burst is over; do not keep its slice
		}
		o.spare = batch[:0]
		if err != nil {
			c.abort("write failed: " + err.Error())
			o.drop()
			return
		}
	}
}

func nonZero(d time.Duration) time.Duration {
	if d <= 0 {
		return 1<<63 - 1
	}
	return d
}

func (o *output) writeBatch(batch []outItem) (closeAfter bool, err error) {
	c := o.c
	var written int64
	sink := c.link.begin(o.version, c.srv.cfg.TrailingLF, c.srv.cfg.WriteTimeout)
	for i := 0; i < len(batch) && err == nil; i++ {
		it := &batch[i]
		switch it.kind {
		case outFrame:
			err = sink.WriteFrame(it.cmd, it.fields, it.body)
			closeAfter = closeAfter || it.closeAfter
			if it.setVersion {
				o.version = it.version
				sink.SetVersion(it.version)
			}
		case outReceipt:
			o.fb.reset()
			o.fb.add(hReceiptID, it.text)
			err = sink.WriteFrame(frame.Receipt, o.fb.fields, nil)
		case outMessage:
			err = o.writeMessage(sink, it)
			written += int64(len(it.d.Msg.Body))
		case outHeartbeat:
			err = sink.WriteHeartbeat()
		case outFlush:
		}
	}
	if ferr := c.link.flush(); err == nil {
		err = ferr
	}
	o.lastWrite = time.Now()
	for i := range batch {
		if batch[i].done != nil {
			close(batch[i].done)
		}
	}
	if written > 0 {
		left := o.queuedBytes.Add(-written)
		if o.full.Load() && left < c.srv.cfg.OutputHighWater/2 {
			o.full.Store(false)
			if s := c.sessionRef.Load(); s != nil {
				s.Resume()
			}
		}
	}
	return closeAfter, err
}

// writeMessage writes one MESSAGE frame with the headers RabbitMQ's STOMP
// plugin gives it: subscription, destination, message-id, redelivered, ack
// (1.2, client acknowledgement), then the message's properties and headers.
func (o *output) writeMessage(sink frameSink, it *outItem) error {
	c := o.c
	d := &it.d
	sub := it.sub
	fb := &o.fb
	fb.reset()
	tag := d.ConsumerTag
	if sub != nil {
		if sub.hasID {
			fb.add(hSubscription, sub.id)
		}
		tag = sub.tag
	}
	// A temp-queue's replies too: RabbitMQ names the reply queue
	// (/queue/amq.gen-...), and the subscription header names the
	// temp-queue.
	dm := fb.mark()
	fb.scratch = appendDestination(fb.scratch, d.Msg.Exchange, d.Msg.RoutingKey)
	fb.done(hDestination, dm)
	m := fb.mark()
	fb.scratch = append(fb.scratch, tag...)
	fb.scratch = append(fb.scratch, "@@"...)
	fb.scratch = append(fb.scratch, c.sessionID...)
	fb.scratch = append(fb.scratch, "@@"...)
	fb.scratch = strconv.AppendUint(fb.scratch, d.Tag, 10)
	fb.done(hMessageID, m)
	msgID := fb.fields[len(fb.fields)-1].Value
	if d.Redelivered {
		fb.add(hRedelivered, "true")
	} else {
		fb.add(hRedelivered, "false")
	}
	if sub != nil && sub.ack != ackAuto && o.version == frame.V12 {
		fb.add(hAck, msgID)
	}
	if d.CountHeader {
		// As over AMQP: how often a message of a queue with a delivery
		// limit came back.
		m := fb.mark()
		fb.scratch = strconv.AppendUint(fb.scratch, uint64(d.Returns), 10)
		fb.done("x-delivery-count", m)
	}
	fb.addMessageProperties(d.Msg)
	return sink.WriteFrame(frame.Message, fb.fields, d.Msg.Body)
}

// drop discards what is queued once the connection is gone.
func (o *output) drop() {
	o.mu.Lock()
	o.closed = true
	batch := o.pending
	o.pending = nil
	o.mu.Unlock()
	for _, it := range batch {
		if it.done != nil {
			close(it.done)
		}
	}
}
