package amqp

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/internal/conninfo"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// outKind says what an outItem asks the writer to send.
type outKind uint8

const (
	outMethod  outKind = iota // m
	outDeliver                // basic.deliver + content of d
	outGetOk                  // basic.get-ok + content of d, count
	outReturn                 // basic.return + content of msg (m holds the return)
	outConfirm                // publisher confirm: basic.ack or basic.nack of tag
	outFlush                  // nothing; done is closed once everything before is written
)

// outItem is one thing to write. Deliveries travel as values so that
// queueing one allocates nothing.
type outItem struct {
	kind     outKind
	ch       uint16
	nack     bool
	multiple bool
	count    uint32
	tag      uint64
	m        wire.Method
	d        broker.Delivery
	msg      *message.Message
	done     chan struct{}
}

// output is a connection's outgoing queue and its one writer goroutine.
// Producers — the reader goroutine for replies, any queue for deliveries —
// append under mu and return at once; the writer encodes and writes with
// the lock released, flushing when it has nothing more to write, so bursts
// coalesce into few syscalls. The writer runs only while there is output:
// an idle connection has no writer goroutine, no frame writer or buffer,
// and no queue slices.
type output struct {
	c *conn

	mu      sync.Mutex
	pending []outItem
	spare   []outItem
	closed  bool
	running bool          // a writer goroutine is running
	wake    chan struct{} // tells the running writer that pending grew; nil when none runs

	// bytes of message bodies queued and not yet written; past the high
	// water mark the connection's sessions stop taking deliveries.
	queuedBytes atomic.Int64
	full        atomic.Bool

	lastWrite atomic.Int64 // unix nanos of the last flush, read by heartbeatTick
}

// writer is the state of a running writer goroutine, dropped when it
// leaves.
type writer struct {
	fw      *wire.FrameWriter
	deliver wire.BasicDeliver // reused: a delivery costs no allocation
}

func (o *output) push(it outItem) {
	if it.kind == outDeliver || it.kind == outGetOk || it.kind == outReturn {
		var n int64
		if it.msg != nil {
			n = int64(len(it.msg.Body))
		} else if it.d.Msg != nil {
			n = int64(len(it.d.Msg.Body))
		}
		if o.queuedBytes.Add(n) > o.c.srv.cfg.OutputHighWater {
			o.full.Store(true)
		}
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		if it.done != nil {
			close(it.done)
		}
		return
	}
	o.pending = append(o.pending, it)
	wake, start := o.wake, !o.running
	if start {
		o.running = true
		wake = make(chan struct{}, 1)
		o.wake = wake
	}
	o.mu.Unlock()
	if start {
		go o.run(wake)
		return
	}
	select {
	case wake <- struct{}{}:
	default:
	}
}

func (o *output) method(ch uint16, m wire.Method) { o.push(outItem{kind: outMethod, ch: ch, m: m}) }

// flush waits until everything queued so far is on the wire (or the
// connection is gone).
func (o *output) flush(timeout time.Duration) {
	done := make(chan struct{})
	o.push(outItem{kind: outFlush, done: done})
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// writerIdle is how long the writer goroutine waits for more work before
// it exits; push starts a new one. An idle connection has no writer. It is
// short: a steady flow of output keeps the writer busy anyway, and each
// writer waiting holds a goroutine and its stack, which many connections
// opening at once (each with a writer for its handshake) add up: with
// 200 ms, sluice-perf's idle-amqp-2000 measured 2.4 KiB more RSS per
// connection than with 20 ms.
const writerIdle = 20 * time.Millisecond

// run is the writer goroutine: it writes what is queued, coalescing a burst
// into one flush, and leaves after writerIdle without work.
func (o *output) run(wake chan struct{}) {
	c := o.c
	w := &writer{fw: wire.NewFrameWriter(conninfo.Writer{W: c.nc, C: &c.io})}
	idle := time.NewTimer(writerIdle)
	defer idle.Stop()
	for {
		o.mu.Lock()
		if len(o.pending) == 0 {
			o.mu.Unlock()
			idle.Reset(writerIdle)
			select {
			case <-wake:
				continue
			case <-c.done:
				o.leave()
				return
			case <-idle.C:
				o.mu.Lock()
				if len(o.pending) == 0 {
					// Leaving: an idle connection keeps no writer and no
					// batch slices.
					o.pending, o.spare = nil, nil
					o.running, o.wake = false, nil
					o.mu.Unlock()
					return
				}
				o.mu.Unlock()
				continue
			}
		}
		if len(o.pending) < 8 {
			// Give producers one scheduling turn to add to a small batch:
			// fewer, larger writes when the reader is busy publishing.
			o.mu.Unlock()
			runtime.Gosched()
			o.mu.Lock()
		}
		// Swap the two slices: producers fill one while this writes the other.
		batch := o.pending
		o.pending = o.spare[:0]
		o.mu.Unlock()
		err := o.writeBatch(w, batch)
		clear(batch)
		o.spare = batch[:0]
		if err != nil {
			c.abort("write failed: " + err.Error())
			o.drop()
			o.leave()
			return
		}
	}
}

// leave marks the writer gone when it stops for the connection's end or a
// write error.
func (o *output) leave() {
	o.mu.Lock()
	o.running, o.wake = false, nil
	o.mu.Unlock()
}

// heartbeatTick runs every half heartbeat interval on a timer, not in a
// goroutine of its own: it closes a peer silent for two intervals and
// sends a heartbeat when nothing was written for half an interval. While
// the reader deliberately reads nothing (readPaused: a resource alarm,
// the flow gate) the peer's heartbeats wait unread in the socket, so the
// silence is not counted; the broker's own heartbeats go on, so the
// client does not give up on the broker either.
func (c *conn) heartbeatTick() {
	select {
	case <-c.done:
		return
	default:
	}
	hb := time.Duration(c.heartbeat.Load())
	if !c.readPaused.Load() && time.Since(time.Unix(0, c.lastRead.Load())) > 2*hb {
		c.event(c.srv.log.Debug()).Msg("heartbeat timeout")
		c.abort("missed heartbeats from client, timeout: " + hb.String())
		return
	}
	if time.Since(time.Unix(0, c.out.lastWrite.Load())) >= hb/2 {
		c.out.heartbeat()
	}
	if t := c.hbTimer.Load(); t != nil {
		t.Reset(hb / 2)
	}
}

// heartbeatFrame is a whole heartbeat frame: type 8, channel 0, size 0.
var heartbeatFrame = []byte{wire.FrameHeartbeat, 0, 0, 0, 0, 0, 0, wire.FrameEnd}

// heartbeat sends a heartbeat frame. When no writer is running, the
// caller (the heartbeat timer's goroutine) takes the writer's place for
// the 8 bytes instead of starting one: the heartbeats of an idle
// connection then cost no goroutine and no allocation. Output queued
// meanwhile goes to a writer started after.
func (o *output) heartbeat() {
	o.mu.Lock()
	if o.running || o.closed {
		o.mu.Unlock()
		o.push(outItem{kind: outMethod, ch: 0, m: nil}) // m nil: a heartbeat
		return
	}
	o.running = true // with wake nil: pushers only append
	o.mu.Unlock()
	c := o.c
	if c.srv.cfg.WriteTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	}
	n, err := c.nc.Write(heartbeatFrame)
	c.io.Wrote(n)
	o.lastWrite.Store(time.Now().UnixNano())
	if err != nil {
		c.abort("write failed: " + err.Error())
		o.drop()
		o.leave()
		return
	}
	o.mu.Lock()
	start := len(o.pending) > 0 && !o.closed
	var wake chan struct{}
	if start {
		wake = make(chan struct{}, 1)
		o.wake = wake
	} else {
		o.running = false
	}
	o.mu.Unlock()
	if start {
		go o.run(wake)
	}
}

func (o *output) writeBatch(w *writer, batch []outItem) error {
	c := o.c
	var written int64
	var err error
	frameMax := c.frameMax.Load()
	for i := 0; i < len(batch) && err == nil; i++ {
		it := &batch[i]
		switch it.kind {
		case outMethod:
			if it.m == nil {
				err = w.fw.WriteHeartbeat()
				continue
			}
			err = w.fw.WriteMethod(it.ch, it.m)
		case outDeliver:
			d := &it.d
			// One reused struct: a delivery costs no allocation here.
			w.deliver = wire.BasicDeliver{ConsumerTag: d.ConsumerTag, DeliveryTag: d.Tag,
				Redelivered: d.Redelivered, Exchange: d.Msg.Exchange, RoutingKey: d.Msg.RoutingKey}
			err = w.fw.WriteMethod(it.ch, &w.deliver)
			if err == nil {
				err = w.fw.WriteContent(it.ch, wire.ClassBasic, deliveryProps(d), d.Msg.Body, frameMax)
			}
			written += int64(len(d.Msg.Body))
		case outGetOk:
			d := &it.d
			err = w.fw.WriteMethod(it.ch, &wire.BasicGetOk{DeliveryTag: d.Tag, Redelivered: d.Redelivered,
				Exchange: d.Msg.Exchange, RoutingKey: d.Msg.RoutingKey, MessageCount: it.count})
			if err == nil {
				err = w.fw.WriteContent(it.ch, wire.ClassBasic, deliveryProps(d), d.Msg.Body, frameMax)
			}
			written += int64(len(d.Msg.Body))
		case outReturn:
			err = w.fw.WriteMethod(it.ch, it.m)
			if err == nil {
				err = w.fw.WriteContent(it.ch, wire.ClassBasic, &it.msg.Properties, it.msg.Body, frameMax)
			}
			written += int64(len(it.msg.Body))
		case outConfirm:
			// Confirms are queued in sequence order (confirmTracker), so a
			// run of them on one channel can go out as one multiple ack.
			last, multiple := it.tag, it.multiple
			for i+1 < len(batch) {
				n := &batch[i+1]
				if n.kind != outConfirm || n.ch != it.ch || n.nack != it.nack {
					break
				}
				last, multiple = n.tag, true
				i++
			}
			if it.nack {
				err = w.fw.WriteMethod(it.ch, &wire.BasicNack{DeliveryTag: last, Multiple: multiple})
			} else {
				err = w.fw.WriteMethod(it.ch, &wire.BasicAck{DeliveryTag: last, Multiple: multiple})
			}
		case outFlush:
		}
	}
	if err == nil && w.fw.Buffered() > 0 {
		if c.srv.cfg.WriteTimeout > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		}
		err = w.fw.Flush()
		o.lastWrite.Store(time.Now().UnixNano())
	}
	for i := range batch {
		if batch[i].done != nil {
			close(batch[i].done)
		}
	}
	if written > 0 {
		left := o.queuedBytes.Add(-written)
		if o.full.Load() && left < c.srv.cfg.OutputHighWater/2 {
			o.full.Store(false)
			c.resumeSessions()
		}
	}
	return err
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

// deliveryProps are the properties a delivery goes out with: the message's
// own, plus x-delivery-count once a queue with a delivery limit has seen it
// come back (RabbitMQ's quorum queue header). The shared message is never
// changed; only such redeliveries pay for a copy of the headers.
func deliveryProps(d *broker.Delivery) *message.Properties {
	if !d.CountHeader {
		return &d.Msg.Properties
	}
	p := d.Msg.Properties
	p.Headers = p.Headers.Clone()
	if p.Headers == nil {
		p.Headers = message.Table{}
	}
	p.Headers["x-delivery-count"] = int64(d.Returns)
	p.Flags |= message.FlagHeaders
	return &p
}
