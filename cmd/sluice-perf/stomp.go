package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// stompDriver runs a load over STOMP 1.2. Consumers are go-stomp clients
// (SUBSCRIBE with ack:client-individual and prefetch-count, an ACK per
// message). Producers speak go-stomp's frame codec directly on the socket:
// go-stomp's Conn.Send with a receipt holds a lock until the RECEIPT comes
// back, so it cannot keep more than one SEND in flight, and a window of
// SENDs awaiting receipts is the STOMP equivalent of a confirm window.
type stompDriver struct {
	r     *runner
	mu    sync.Mutex
	conns []*stomp.Conn
	stop  chan struct{}
	wg    sync.WaitGroup
}

func (d *stompDriver) dest(q int) string { return "/queue/" + d.r.queueName(q) }

// setup declares (and empties) the queues over AMQP, unless the run uses
// no AMQP: then the broker creates each /queue on first use, and the
// queues' names are new to this run (see config.NoAMQPSetup).
func (d *stompDriver) setup(ctx context.Context) error {
	if d.r.cfg.NoAMQPSetup {
		return nil
	}
	return setupQueues(ctx, d.r)
}

// teardown deletes the queues over AMQP; without AMQP they stay (empty,
// when the run passed).
func (d *stompDriver) teardown() error {
	if d.r.cfg.NoAMQPSetup {
		return nil
	}
	return teardownQueues(d.r)
}

// dialSTOMP opens a go-stomp session, over TLS with tc.
func dialSTOMP(addr string, tc *tls.Config) (*stomp.Conn, error) {
	nc, err := dialSocket(addr, tc)
	if err != nil {
		return nil, err
	}
	conn, err := stomp.Connect(nc,
		stomp.ConnOpt.Login("guest", "guest"),
		stomp.ConnOpt.Host("/"),
		stomp.ConnOpt.HeartBeat(0, 0),
		stomp.ConnOpt.Logger(quietLogger{}),
		stomp.ConnOpt.ReadChannelCapacity(1024),
		stomp.ConnOpt.WriteChannelCapacity(1024))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return conn, nil
}

func (d *stompDriver) startConsumers(ctx context.Context) error {
	c := d.r.cfg
	d.stop = make(chan struct{})
	ack := stomp.AckClientIndividual
	if c.AutoAck {
		ack = stomp.AckAuto
	}
	for i := 0; i < c.Consumers; i++ {
		conn, err := dialSTOMP(c.StompAddr, c.stompTLS())
		if err != nil {
			return fmt.Errorf("STOMP %s: %w", c.StompAddr, err)
		}
		d.mu.Lock()
		d.conns = append(d.conns, conn)
		d.mu.Unlock()
		for _, q := range consumerQueues(i, c.Consumers, c.Queues) {
			opts := []func(*frame.Frame) error{stomp.SubscribeOpt.Id(fmt.Sprintf("perf-%d-%d", i, q))}
			if c.Prefetch > 0 {
				opts = append(opts, stomp.SubscribeOpt.Header("prefetch-count", strconv.Itoa(c.Prefetch)))
			}
			sub, err := conn.Subscribe(d.dest(q), ack, opts...)
			if err != nil {
				return fmt.Errorf("subscribe %s: %w", d.dest(q), err)
			}
			rec := d.r.newLatRec()
			d.wg.Add(1)
			go d.consume(conn, sub, q, rec)
		}
	}
	return nil
}

func (d *stompDriver) consume(conn *stomp.Conn, sub *stomp.Subscription, q int, rec *latRec) {
	defer d.wg.Done()
	for {
		select {
		case m, ok := <-sub.C:
			if !ok {
				return
			}
			if m.Err != nil {
				select {
				case <-d.stop:
				default:
					d.r.fail("STOMP consumer of queue %d: %v", q, m.Err)
				}
				return
			}
			d.r.onMessage(q, m.Body, rec)
			if m.ShouldAck() {
				if err := conn.Ack(m); err != nil {
					d.r.fail("STOMP ACK on queue %d: %v", q, err)
					return
				}
			}
		case <-d.stop:
			return
		}
	}
}

func (d *stompDriver) stopConsumers() {
	if d.stop == nil {
		return
	}
	close(d.stop)
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, conn := range d.conns {
		_ = conn.MustDisconnect()
	}
	d.conns = nil
}

// rawSTOMP is a STOMP 1.2 session on a socket, spoken with go-stomp's frame
// codec.
type rawSTOMP struct {
	nc net.Conn
	w  *frame.Writer
	rd *frame.Reader
}

func dialRawSTOMP(addr string, tc *tls.Config) (*rawSTOMP, error) {
	nc, err := dialSocket(addr, tc)
	if err != nil {
		return nil, err
	}
	s := &rawSTOMP{nc: nc, w: frame.NewWriterSize(nc, 64<<10), rd: frame.NewReaderSize(bufio.NewReaderSize(nc, 64<<10), 64<<10)}
	if err := s.w.Write(frame.New("CONNECT", "accept-version", "1.2", "host", "/", "login", "guest", "passcode", "guest", "heart-beat", "0,0")); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := s.rd.Read()
	_ = nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return nil, err
	}
	if f == nil || f.Command != "CONNECTED" {
		nc.Close()
		return nil, fmt.Errorf("STOMP CONNECT answered with %s", frameSummary(f))
	}
	return s, nil
}

func frameSummary(f *frame.Frame) string {
	if f == nil {
		return "a heart-beat"
	}
	s := f.Command
	if m := f.Header.Get("message"); m != "" {
		s += ": " + m
	}
	return s
}

func (d *stompDriver) produce(ctx context.Context, p int) error {
	r := d.r
	c := r.cfg
	s, err := dialRawSTOMP(c.StompAddr, c.stompTLS())
	if err != nil {
		return fmt.Errorf("STOMP %s: %w", c.StompAddr, err)
	}
	defer s.nc.Close()
	var sem chan struct{}
	var ring *confirmRing
	readerDone := make(chan error, 1)
	if c.Confirm > 0 {
		sem = make(chan struct{}, c.Confirm)
		ring = r.newConfirmRing(c.Confirm)
	}
	// The reader takes RECEIPT frames (in order, one per SEND) and ERROR.
	go func() {
		for {
			f, err := s.rd.Read()
			if err != nil {
				readerDone <- err
				return
			}
			if f == nil {
				continue
			}
			switch f.Command {
			case "RECEIPT":
				if f.Header.Get("receipt-id") == "bye" {
					readerDone <- nil
					return
				}
				r.confirmed.Add(1)
				if id, err := strconv.ParseUint(f.Header.Get("receipt-id"), 10, 64); err == nil && ring != nil {
					ring.confirmed(id)
				}
				if sem != nil {
					<-sem
				}
			case "ERROR":
				r.nacked.Add(1)
				readerDone <- fmt.Errorf("broker sent %s %s", frameSummary(f), string(f.Body))
				return
			}
		}
	}()
	qs := r.rt.producerQueues(p)
	dests := make([]string, len(qs))
	for i, q := range qs {
		dests[i] = d.dest(q)
	}
	body := newBody(c.Size)
	clen := strconv.Itoa(len(body))
	pace := newPacer(c.Rate/float64(c.Producers), float64(p)/float64(c.Producers))
	var seq uint64
	defer context.AfterFunc(ctx, func() { s.nc.Close() })()
	for r.claim(ctx) {
		if !pace.wait(r.stopPub) {
			break
		}
		if sem != nil {
			if err := acquire(ctx, sem, c.DrainTimeout); err != nil {
				return fmt.Errorf("receipts stalled: %w", err)
			}
		}
		select {
		case err := <-readerDone:
			return err
		default:
		}
		ts := r.now()
		encodeHeader(body, p, seq, ts)
		// A transient SEND carries no persistent header at all: RabbitMQ
		// (and sluice) read persistent:false on a /queue destination as the
		// queue's durability, which would not match the durable queue.
		h := frame.NewHeader("destination", dests[seq%uint64(len(dests))], "content-length", clen)
		if c.Persistent {
			h.Add("persistent", "true")
		}
		if ring != nil {
			ring.sent(seq, ts)
		}
		if sem != nil {
			h.Add("receipt", strconv.FormatUint(seq, 10))
		}
		if err := s.w.Write(&frame.Frame{Command: "SEND", Header: h, Body: body}); err != nil {
			return err
		}
		seq++
		r.sentPer[p].Store(seq)
		r.sent.Add(1)
	}
	if sem != nil {
		for i := 0; i < cap(sem); i++ {
			if err := acquire(ctx, sem, c.DrainTimeout); err != nil {
				select {
				case rerr := <-readerDone:
					return fmt.Errorf("waiting for receipts: %w", rerr)
				default:
				}
				return fmt.Errorf("waiting for receipts: %w", err)
			}
		}
	}
	// A DISCONNECT with a receipt makes sure every SEND was processed.
	if err := s.w.Write(frame.New("DISCONNECT", "receipt", "bye")); err != nil {
		return err
	}
	select {
	case err := <-readerDone:
		if err != nil {
			return fmt.Errorf("after DISCONNECT: %w", err)
		}
	case <-time.After(c.DrainTimeout):
	}
	return nil
}

// idle opens n STOMP sessions.
func (d *stompDriver) idle(ctx context.Context, n int) (func(), error) {
	c := d.r.cfg
	conns := make([]*stomp.Conn, n)
	err := parallel(n, 16, func(i int) error {
		nc, err := dialSocket(c.StompAddr, c.stompTLS())
		if err != nil {
			return err
		}
		conn, err := stomp.Connect(nc, stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"),
			stomp.ConnOpt.HeartBeat(0, 0), stomp.ConnOpt.Logger(quietLogger{}))
		if err != nil {
			nc.Close()
			return err
		}
		conns[i] = conn
		return nil
	})
	closeAll := func() {
		_ = parallel(n, 16, func(i int) error {
			if conns[i] != nil {
				_ = conns[i].Disconnect()
			}
			return nil
		})
	}
	return closeAll, err
}

// quietLogger keeps go-stomp from logging the subscription errors it sees
// when connections close at the end of a run; real errors reach the
// consumer as Message.Err.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...interface{})   {}
func (quietLogger) Infof(string, ...interface{})    {}
func (quietLogger) Warningf(string, ...interface{}) {}
func (quietLogger) Errorf(string, ...interface{})   {}
func (quietLogger) Debug(string)                    {}
func (quietLogger) Info(string)                     {}
func (quietLogger) Warning(string)                  {}
func (quietLogger) Error(string)                    {}
