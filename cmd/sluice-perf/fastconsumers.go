package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// consumerGroup is the consumers of a fast client (AMQP or STOMP): one
// connection and one reader goroutine each, started together and stopped
// together.
type consumerGroup struct {
	mu    sync.Mutex
	conns []net.Conn
	stop  chan struct{} // closed by stopAll; readers look at it on their ticks
	wg    sync.WaitGroup
}

// startAll starts n consumers with start(i), at once, and returns when
// every one is subscribed or has failed.
func (g *consumerGroup) startAll(n int, start func(i int) error) error {
	g.stop = make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = start(i)
		}(i)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// run starts consumer i's reader on nc and waits until it reports on
// ready that its subscriptions are in place (nil) or why not; waiting
// names what a timeout waited for.
func (g *consumerGroup) run(ctx context.Context, i int, nc net.Conn, read func(), ready <-chan error, waiting string) error {
	g.mu.Lock()
	g.conns = append(g.conns, nc)
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		read()
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("consumer %d: %w", i, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("consumer %d: no %s within 30s", i, waiting)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopAll tells every reader to stop, wakes the ones waiting for data
// rather than leaving them to their next tick, and waits for them.
func (g *consumerGroup) stopAll() {
	if g.stop == nil {
		return
	}
	close(g.stop)
	g.mu.Lock()
	for _, nc := range g.conns {
		_ = nc.SetReadDeadline(time.Now())
	}
	g.mu.Unlock()
	g.wg.Wait()
	g.mu.Lock()
	g.conns = nil
	g.mu.Unlock()
}
