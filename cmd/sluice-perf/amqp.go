package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpDriver runs a load over AMQP 0-9-1 with amqp091-go: one connection per
// producer and per consumer, one channel per consumer and queue, as
// RabbitMQ's PerfTest does.
type amqpDriver struct {
	r *runner
	// consumers
	mu    sync.Mutex
	conns []*amqp.Connection
	stop  chan struct{}
	wg    sync.WaitGroup
}

// closeAMQP closes a connection without waiting more than a few seconds
// for a broker that no longer answers.
func closeAMQP(c *amqp.Connection) {
	_ = c.CloseDeadline(time.Now().Add(3 * time.Second))
}

// dialAMQP connects with amqp091-go; an amqps:// uri uses tc (nil: the
// system's roots, the URI's host as the server name).
func dialAMQP(uri string, tc *tls.Config, name string) (*amqp.Connection, error) {
	if tc != nil {
		// amqp091-go sets ServerName on the config it is given: each
		// dial gets its own copy, or concurrent dialers race.
		tc = tc.Clone()
	}
	return amqp.DialConfig(uri, amqp.Config{
		Heartbeat:       30 * time.Second,
		Locale:          "en_US",
		Properties:      amqp.Table{"connection_name": name, "product": "sluice-perf"},
		TLSClientConfig: tc,
	})
}

func (d *amqpDriver) exchange() string {
	switch d.r.cfg.Routing {
	case "fanout":
		return d.r.cfg.Prefix + "-fanout"
	case "topic":
		return d.r.cfg.Prefix + "-topic"
	}
	return ""
}

// durable: persistent runs and every STOMP run (RabbitMQ's /queue/NAME is a
// durable queue) use durable queues.
func durableQueues(c config) bool { return c.Persistent || c.Protocol == "stomp" }

// setupQueues (re)creates the queues, and the exchange with its bindings, on
// a fresh AMQP connection. It serves the STOMP driver too.
func setupQueues(ctx context.Context, r *runner) error {
	c := r.cfg
	conn, err := dialAMQP(c.URI, c.tlsConf, "sluice-perf setup")
	if err != nil {
		return fmt.Errorf("AMQP %s: %w", redactURI(c.URI), err)
	}
	defer closeAMQP(conn)
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	durable := durableQueues(c)
	for q := 0; q < c.Queues; q++ {
		name := r.queueName(q)
		if _, err := ch.QueueDelete(name, false, false, false); err != nil {
			// Some brokers answer 404 for a queue that is not there;
			// the channel is gone then.
			if ch, err = conn.Channel(); err != nil {
				return err
			}
		}
		if _, err := ch.QueueDeclare(name, durable, false, false, false, nil); err != nil {
			return fmt.Errorf("declare %s: %w", name, err)
		}
	}
	d := &amqpDriver{r: r}
	if x := d.exchange(); x != "" {
		kind := c.Routing
		_ = ch.ExchangeDelete(x, false, false)
		if ch.IsClosed() {
			if ch, err = conn.Channel(); err != nil {
				return err
			}
		}
		if err := ch.ExchangeDeclare(x, kind, durable, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", x, err)
		}
		for q := 0; q < c.Queues; q++ {
			key := ""
			if kind == "topic" {
				key = fmt.Sprintf("perf.q%d.#", q)
			}
			if err := ch.QueueBind(r.queueName(q), key, x, false, nil); err != nil {
				return fmt.Errorf("bind %s: %w", r.queueName(q), err)
			}
		}
	}
	return nil
}

// teardownQueues deletes what setupQueues made.
func teardownQueues(r *runner) error {
	c := r.cfg
	conn, err := dialAMQP(c.URI, c.tlsConf, "sluice-perf teardown")
	if err != nil {
		return err
	}
	defer closeAMQP(conn)
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	var errs []error
	for q := 0; q < c.Queues; q++ {
		if _, err := ch.QueueDelete(r.queueName(q), false, false, false); err != nil {
			errs = append(errs, err)
			if ch, err = conn.Channel(); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
	}
	d := &amqpDriver{r: r}
	if x := d.exchange(); x != "" {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *amqpDriver) setup(ctx context.Context) error { return setupQueues(ctx, d.r) }
func (d *amqpDriver) teardown() error                 { return teardownQueues(d.r) }

func (d *amqpDriver) startConsumers(ctx context.Context) error {
	c := d.r.cfg
	d.stop = make(chan struct{})
	errc := make(chan error, c.Consumers)
	var ready sync.WaitGroup
	for i := 0; i < c.Consumers; i++ {
		ready.Add(1)
		go func(i int) {
			defer ready.Done()
			conn, err := dialAMQP(c.URI, c.tlsConf, fmt.Sprintf("sluice-perf consumer %d", i))
			if err != nil {
				errc <- err
				return
			}
			d.mu.Lock()
			d.conns = append(d.conns, conn)
			d.mu.Unlock()
			for _, q := range consumerQueues(i, c.Consumers, c.Queues) {
				ch, err := conn.Channel()
				if err != nil {
					errc <- err
					return
				}
				if !c.AutoAck {
					if err := ch.Qos(c.Prefetch, 0, false); err != nil {
						errc <- err
						return
					}
				}
				dels, err := ch.Consume(d.r.queueName(q), fmt.Sprintf("perf-%d-%d", i, q), c.AutoAck, false, false, false, nil)
				if err != nil {
					errc <- fmt.Errorf("consume %s: %w", d.r.queueName(q), err)
					return
				}
				rec := d.r.newLatRec()
				d.wg.Add(1)
				go d.consume(ch, q, dels, rec)
			}
		}(i)
	}
	ready.Wait()
	close(errc)
	return <-errc
}

func (d *amqpDriver) consume(ch *amqp.Channel, q int, dels <-chan amqp.Delivery, rec *latRec) {
	defer d.wg.Done()
	c := d.r.cfg
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	multiple := c.MultiAck > 1
	var pending int
	var last uint64
	flush := func() {
		if pending > 0 {
			if err := ch.Ack(last, multiple); err != nil {
				d.r.fail("ack on queue %d: %v", q, err)
			}
			pending = 0
		}
	}
	for {
		select {
		case m, ok := <-dels:
			if !ok {
				select {
				case <-d.stop:
				default:
					d.r.fail("consumer of queue %d: delivery channel closed", q)
				}
				return
			}
			d.r.onMessage(q, m.Body, rec)
			if !c.AutoAck {
				pending++
				last = m.DeliveryTag
				if pending >= c.MultiAck {
					flush()
				}
			}
		case <-tick.C:
			flush()
		case <-d.stop:
			flush()
			return
		}
	}
}

func (d *amqpDriver) stopConsumers() {
	if d.stop == nil {
		return
	}
	close(d.stop)
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, conn := range d.conns {
		closeAMQP(conn)
	}
	d.conns = nil
}

func (d *amqpDriver) produce(ctx context.Context, p int) error {
	r := d.r
	c := r.cfg
	conn, err := dialAMQP(c.URI, c.tlsConf, fmt.Sprintf("sluice-perf producer %d", p))
	if err != nil {
		return err
	}
	defer closeAMQP(conn)
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	var sem chan struct{}
	var ring *confirmRing
	confirmsDone := make(chan struct{})
	if c.Confirm > 0 {
		ring = r.newConfirmRing(c.Confirm)
		if err := ch.Confirm(false); err != nil {
			return err
		}
		confirms := ch.NotifyPublish(make(chan amqp.Confirmation, c.Confirm+1))
		sem = make(chan struct{}, c.Confirm)
		go func() {
			defer close(confirmsDone)
			for cf := range confirms {
				if !cf.Ack {
					r.nacked.Add(1)
				}
				if cf.DeliveryTag > 0 {
					ring.confirmed(cf.DeliveryTag - 1)
				}
				r.confirmed.Add(1)
				<-sem
			}
		}()
	}
	x := d.exchange()
	qs := r.rt.producerQueues(p)
	keys := make([]string, len(qs))
	for i, q := range qs {
		switch c.Routing {
		case "direct":
			keys[i] = r.queueName(q)
		case "topic":
			keys[i] = fmt.Sprintf("perf.q%d.p%d", q, p)
		}
	}
	body := newBody(c.Size)
	pub := amqp.Publishing{Body: body, DeliveryMode: amqp.Transient}
	if c.Persistent {
		pub.DeliveryMode = amqp.Persistent
	}
	pace := newPacer(c.Rate/float64(c.Producers), float64(p)/float64(c.Producers))
	var seq uint64
	// An aborted run closes the connection, so a publish blocked on a
	// broker that stopped reading returns.
	defer context.AfterFunc(ctx, func() { closeAMQP(conn) })()
	for r.claim(ctx) {
		if !pace.wait(r.stopPub) {
			break
		}
		if sem != nil {
			if err := acquire(ctx, sem, c.DrainTimeout); err != nil {
				return fmt.Errorf("publisher confirms stalled: %w", err)
			}
		}
		if seq > maxSeq {
			return errors.New("sequence numbers exhausted")
		}
		ts := r.now()
		encodeHeader(body, p, seq, ts)
		if ring != nil {
			ring.sent(seq, ts)
		}
		key := ""
		if len(keys) > 0 {
			key = keys[seq%uint64(len(keys))]
		}
		if err := ch.PublishWithContext(ctx, x, key, false, false, pub); err != nil {
			return err
		}
		seq++
		r.sentPer[p].Store(seq)
		r.sent.Add(1)
	}
	if sem != nil {
		// Every slot back means every confirm is in.
		for i := 0; i < cap(sem); i++ {
			if err := acquire(ctx, sem, c.DrainTimeout); err != nil {
				return fmt.Errorf("waiting for publisher confirms: %w", err)
			}
		}
	}
	return nil
}

// acquire takes a slot of a confirm window, giving up after timeout.
func acquire(ctx context.Context, sem chan struct{}, timeout time.Duration) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("no confirm for %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idle opens n AMQP connections with one channel each.
func (d *amqpDriver) idle(ctx context.Context, n int) (func(), error) {
	c := d.r.cfg
	conns := make([]*amqp.Connection, n)
	err := parallel(n, 16, func(i int) error {
		conn, err := amqp.DialConfig(c.URI, amqp.Config{Heartbeat: 60 * time.Second, Locale: "en_US",
			Properties: amqp.Table{"connection_name": fmt.Sprintf("sluice-perf idle %d", i)}, TLSClientConfig: c.tlsConf})
		if err != nil {
			return err
		}
		conns[i] = conn
		_, err = conn.Channel()
		return err
	})
	closeAll := func() {
		_ = parallel(n, 16, func(i int) error {
			if conns[i] != nil {
				closeAMQP(conns[i])
			}
			return nil
		})
	}
	if err == nil {
		for i, conn := range conns {
			if conn.IsClosed() {
				err = fmt.Errorf("idle connection %d was closed by the broker", i)
				break
			}
		}
	}
	return closeAll, err
}

// parallel runs f(0..n-1) with at most width at once and returns the first
// error.
func parallel(n, width int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, width)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("#%d: %w", i, err)
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return first
}

func redactURI(u string) string {
	if i := indexAt(u); i >= 0 {
		if j := indexScheme(u); j >= 0 && j < i {
			return u[:j] + "***@" + u[i+1:]
		}
	}
	return u
}

func indexAt(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return i
		}
	}
	return -1
}

func indexScheme(s string) int {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == ':' && s[i+1] == '/' && s[i+2] == '/' {
			return i + 3
		}
	}
	return -1
}
