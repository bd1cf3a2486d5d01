package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	sframe "github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// A handshake run (--handshake, scenario handshake-amqp) measures how many
// new connections per second a broker accepts: cfg.Dialers goroutines each
// connect, do the protocol's whole handshake, close and connect again. With
// TLS (an amqps:// URI, --stomp-tls) every connection is a new TLS
// handshake, a full one unless --tls-resume lets the client resume.
//
// One connection is
//
//	AMQP:  TCP connect, TLS handshake, protocol header, connection.start /
//	       start-ok (PLAIN) / tune / tune-ok / open / open-ok, then
//	       connection.close and close-ok;
//	STOMP: TCP connect, TLS handshake, CONNECT / CONNECTED, then DISCONNECT
//	       with a receipt and its RECEIPT.
//
// The connect latency is from the start of the TCP connect to open-ok
// (CONNECTED); the close latency from sending close to close-ok (RECEIPT).
// The rate counts connections that were opened and closed. Any connection
// that fails fails the run, as a lost message does.

// handshakeMaxFailures stops a handshake run after this many failed
// connections: the broker refuses, and more attempts measure nothing.
const handshakeMaxFailures = 100

// opened is a connection that a handshake run closes.
type opened interface{ close() error }

type fastAMQPOpened struct{ c *fastConn }

// close sends connection.close and waits for close-ok.
func (o fastAMQPOpened) close() error {
	c := o.c
	defer c.nc.Close()
	_ = c.nc.SetDeadline(time.Now().Add(fastCloseWait))
	if err := c.fw.WriteMethod(0, closeMethod); err != nil {
		return err
	}
	if err := c.fw.Flush(); err != nil {
		return err
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("waiting for connection.close-ok: %w", err)
		}
		if f.Type != wire.FrameMethod || f.Channel != 0 {
			continue
		}
		m, err := c.md.Decode(f.Payload)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *wire.ConnectionCloseOk:
			return nil
		case *wire.ConnectionClose:
			// Both sides closed at once; close-ok is the answer.
			_ = c.fw.WriteMethod(0, &wire.ConnectionCloseOk{})
			_ = c.fw.Flush()
			if m.ReplyCode != wire.ReplySuccess {
				return closedBy(0, m)
			}
			return nil
		}
	}
}

type fastSTOMPOpened struct{ c *fastStompConn }

// close sends DISCONNECT with a receipt and waits for the RECEIPT.
func (o fastSTOMPOpened) close() error {
	c := o.c
	defer c.nc.Close()
	_ = c.nc.SetDeadline(time.Now().Add(fastCloseWait))
	err := c.fw.WriteFrame(sframe.Disconnect, []sframe.Field{{Name: "receipt", Value: byeReceipt}}, nil)
	if err == nil {
		err = c.fw.Flush()
	}
	if err != nil {
		return err
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("waiting for the DISCONNECT's RECEIPT: %w", err)
		}
		switch f.Command {
		case sframe.Receipt:
			return nil
		case sframe.Error:
			return fmt.Errorf("DISCONNECT answered with %s", stompFrameText(f))
		}
	}
}

type closeFunc func() error

func (f closeFunc) close() error { return f() }

// handshakeDialer returns the function that opens one connection of a
// handshake run, with the run's protocol and client.
func (r *runner) handshakeDialer() func(i int) (opened, error) {
	c := r.cfg
	switch {
	case c.Protocol == "stomp" && c.Client == "fast":
		return func(i int) (opened, error) {
			sc, err := dialFastSTOMP(c.StompAddr, c.stompTLS(), producerSTOMPVersions, publisherReadBuffer)
			if err != nil {
				return nil, err
			}
			return fastSTOMPOpened{sc}, nil
		}
	case c.Protocol == "stomp":
		return func(i int) (opened, error) {
			sc, err := dialSTOMP(c.StompAddr, c.stompTLS())
			if err != nil {
				return nil, fmt.Errorf("STOMP %s: %w", c.StompAddr, err)
			}
			return closeFunc(sc.Disconnect), nil
		}
	case c.Client == "fast":
		return func(i int) (opened, error) {
			fc, err := dialFast(c.URI, c.tlsConf, fmt.Sprintf("sluice-perf dialer %d", i), publisherReadBuffer)
			if err != nil {
				return nil, err
			}
			return fastAMQPOpened{fc}, nil
		}
	}
	return func(i int) (opened, error) {
		ac, err := dialAMQP(c.URI, c.tlsConf, fmt.Sprintf("sluice-perf dialer %d", i))
		if err != nil {
			return nil, fmt.Errorf("AMQP %s: %w", redactURI(c.URI), err)
		}
		return closeFunc(ac.Close), nil
	}
}

// runHandshake is a handshake run: connections opened and closed per
// second, with connect and close latency.
func (r *runner) runHandshake(ctx context.Context, rep *report, mon *monitor) {
	c := r.cfg
	dial := r.handshakeDialer()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		done, failed atomic.Int64
		wg           sync.WaitGroup
		connRecs     = make([]*latRec, c.Dialers)
		closeRecs    = make([]*latRec, c.Dialers)
	)
	for i := range connRecs {
		connRecs[i] = r.newLatRec()
		closeRecs[i] = r.newConfirmRec()
	}
	mon.start()
	stopProgress := r.startHandshakeProgress(&done, mon)
	start := time.Now()
	if c.Count <= 0 {
		t := time.AfterFunc(c.Duration, func() { close(r.stopPub) })
		defer t.Stop()
	}
	for i := 0; i < c.Dialers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for r.claim(ctx) {
				t0 := r.now()
				o, err := dial(i)
				t1 := r.now()
				if err == nil {
					err = o.close()
					if err != nil {
						err = fmt.Errorf("close: %w", err)
					}
				}
				t2 := r.now()
				if err != nil {
					r.fail("dialer %d: %v", i, err)
					if failed.Add(1) >= handshakeMaxFailures {
						r.fail("stopped after %d failed connections", handshakeMaxFailures)
						cancel()
					}
					continue
				}
				done.Add(1)
				if t0 >= r.warmupNS {
					connRecs[i].mu.Lock()
					connRecs[i].total.record(time.Duration(t1 - t0))
					connRecs[i].interval.record(time.Duration(t1 - t0))
					connRecs[i].mu.Unlock()
					closeRecs[i].mu.Lock()
					closeRecs[i].total.record(time.Duration(t2 - t1))
					closeRecs[i].mu.Unlock()
				}
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	mon.stop()

	rep.Handshakes = done.Load()
	rep.HandshakeFailures = failed.Load()
	rep.HandshakeSeconds = elapsed.Seconds()
	if s := elapsed.Seconds(); s > 0 {
		rep.HandshakeRate = float64(rep.Handshakes) / s
	}
	var conn, cls hist
	for i := range connRecs {
		conn.merge(&connRecs[i].total)
		cls.merge(&closeRecs[i].total)
	}
	cl, xl := latencyOf(&conn), latencyOf(&cls)
	rep.ConnectLatency, rep.CloseLatency = &cl, &xl
	mon.fill(rep)
	if rep.Handshakes > 0 && rep.BrokerCPUSeconds > 0 {
		rep.BrokerCPUPerHandshakeMS = 1000 * rep.BrokerCPUSeconds / float64(rep.Handshakes)
	}
	if ctx.Err() != nil && failed.Load() < handshakeMaxFailures {
		r.fail("interrupted")
	}
	for _, f := range r.failures() {
		rep.fail("%s", f)
	}
	if rep.Handshakes == 0 && len(rep.Failures) == 0 {
		rep.fail("no connection was opened and closed")
	}
}

// startHandshakeProgress prints a line a second: connections per second
// and the interval's connect latency.
func (r *runner) startHandshakeProgress(done *atomic.Int64, mon *monitor) (stop func()) {
	if r.progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last := time.Now(), time.Now()
		var lastDone int64
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				n := done.Load()
				var iv hist
				r.recMu.Lock()
				for _, l := range r.recs {
					l.mu.Lock()
					iv.merge(&l.interval)
					l.interval.reset()
					l.mu.Unlock()
				}
				r.recMu.Unlock()
				line := fmt.Sprintf("%-22s %5.0fs  conn %8.0f/s  connect p50 %8s p99 %8s  failed %d",
					r.cfg.Scenario+" "+r.cfg.Label, now.Sub(start).Seconds(), float64(n-lastDone)/now.Sub(last).Seconds(),
					fmtDur(iv.quantile(0.5)), fmtDur(iv.quantile(0.99)), len(r.failures()))
				if m := mon.last(); m.RSSKiB > 0 {
					line += fmt.Sprintf("  rss %6.1f MiB", float64(m.RSSKiB)/1024)
				}
				fmt.Fprintln(r.progress, line)
				lastDone, last = n, now
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}
