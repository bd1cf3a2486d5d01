package torture

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var drainRounds = flag.Int("drain.rounds", 5, "kill -9 rounds in TestCrashDrain (make test runs a few; use 50+ to soak)")

// TestCrashDrain is the kill -9 crash test (conformance's
// TestCrashNeverLosesConfirmed) with consumers draining and acking while
// publishers publish, on 32 KiB segments: the log is reclaimed (segments
// removed and compacted) while it is written. Every confirmed message must
// be acked by a consumer or present after each restart; the next restart
// may bring back a message whose ack was not yet logged (at-least-once),
// never a damaged one. One message in 32 goes to the queue keep, which
// nobody consumes: its messages keep segments partly live, so they are
// compacted (copied forward) while the drained messages around them go.
func TestCrashDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test builds and runs the broker")
	}
	seed := time.Now().UnixNano() % 1_000_000_000
	if s := os.Getenv("TORTURE_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	rng := rand.New(rand.NewSource(seed))
	root := t.TempDir()
	bin, note, err := buildBroker(root, *buildRevision, false, *buildFallback)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d; broker built from %s", seed, note)
	dataDir, logPath := filepath.Join(root, "data"), filepath.Join(root, "sluice.log")
	var mu sync.Mutex
	confirmed := map[string]int{} // id -> body size
	acked := map[string]bool{}
	flags := []string{"--segment-size", "32768", "--sync", "always", "--queue-resident-bytes", "16384"}

	// check reads the queue without taking anything and requires every
	// confirmed, unacked message.
	check := func(url string, final bool) int {
		t.Helper()
		c, err := amqp.Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]bool{}
		for _, q := range []string{"drain", "keep"} {
			if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
			var last uint64
			for {
				d, ok, err := ch.Get(q, final)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				last = d.DeliveryTag
				mu.Lock()
				size, known := confirmed[d.MessageId]
				mu.Unlock()
				if known && !bytes.Equal(d.Body, drainBody(d.MessageId, size)) {
					t.Fatalf("seed %d: message %s came back with a damaged body (%d bytes)", seed, d.MessageId, len(d.Body))
				}
				if present[d.MessageId] {
					t.Fatalf("seed %d: message %s is in the queue twice", seed, d.MessageId)
				}
				present[d.MessageId] = true
			}
			if last > 0 && !final {
				if err := ch.Nack(last, true, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		lost := 0
		for id := range confirmed {
			if !present[id] && !acked[id] {
				lost++
				if lost <= 10 {
					t.Errorf("seed %d: confirmed message %s neither acked nor present after the restart", seed, id)
				}
			}
		}
		if lost > 0 {
			t.Fatalf("seed %d: %d of %d confirmed messages lost (%d acked, %d present)", seed, lost, len(confirmed), len(acked), len(present))
		}
		return len(present)
	}

	for round := 0; round < *drainRounds; round++ {
		p, err := startBroker(bin, dataDir, logPath, flags...)
		if err != nil {
			t.Fatal(err)
		}
		backlog := check(p.amqpURL, false)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for pub := 0; pub < 4; pub++ {
			wg.Add(1)
			prng := rand.New(rand.NewSource(seed + int64(round*10+pub)))
			go func() {
				defer wg.Done()
				c, err := amqp.Dial(p.amqpURL)
				if err != nil {
					return
				}
				defer c.Close()
				ch, err := c.Channel()
				if err != nil || ch.Confirm(false) != nil {
					return
				}
				// A window of confirms in flight, as a fast publisher has.
				confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 64))
				inflight := map[uint64]string{}
				sizes := map[string]int{}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("r%d-p%d-%d", round, pub, i)
					size := 256 + prng.Intn(3<<10)
					tag := ch.GetNextPublishSeqNo()
					q := "drain"
					if prng.Intn(32) == 0 {
						q = "keep"
					}
					if err := ch.PublishWithContext(context.Background(), "", q, false, false,
						amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: id, Body: drainBody(id, size)}); err != nil {
						return
					}
					inflight[tag], sizes[id] = id, size
					for len(inflight) >= 16 || (len(inflight) > 0 && i%50 == 49) {
						select {
						case cf, ok := <-confirms:
							if !ok {
								return
							}
							if cid, ok := inflight[cf.DeliveryTag]; ok && cf.Ack {
								mu.Lock()
								confirmed[cid] = sizes[cid]
								mu.Unlock()
							}
							delete(sizes, inflight[cf.DeliveryTag])
							delete(inflight, cf.DeliveryTag)
						case <-stop:
							return
						}
					}
				}
			}()
		}
		for cons := 0; cons < 2; cons++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := amqp.Dial(p.amqpURL)
				if err != nil {
					return
				}
				defer c.Close()
				ch, _ := c.Channel()
				_ = ch.Qos(64, 0, false)
				ds, err := ch.Consume("drain", "", false, false, false, false, nil)
				if err != nil {
					return
				}
				n := 0
				var waiting []string // received, left for the next multiple ack
				for {
					select {
					case <-stop:
						return
					case d, ok := <-ds:
						if !ok {
							return
						}
						n++
						waiting = append(waiting, d.MessageId)
						// Ack one by one, or now and then a run at once with
						// multiple; an id counts as acked once its ack is sent.
						if n%8 == 7 {
							continue
						}
						if d.Ack(n%8 == 0) != nil {
							return
						}
						mu.Lock()
						if n%8 == 0 {
							for _, id := range waiting {
								acked[id] = true
							}
						} else {
							acked[d.MessageId] = true
						}
						mu.Unlock()
						if n%8 == 0 {
							waiting = waiting[:0]
						} else {
							waiting = waiting[:len(waiting)-1]
						}
					}
				}
			}()
		}
		life := time.Duration(500+rng.Intn(5500)) * time.Millisecond // compaction waits for a head that stopped changing for a second
		time.Sleep(life)
		if !p.alive() {
			t.Fatalf("seed %d: the broker exited by itself; see %s", seed, logPath)
		}
		p.kill()
		close(stop)
		wg.Wait()
		mu.Lock()
		t.Logf("round %d: backlog at start %d, killed after %v: %d confirmed, %d acked so far; WAL %d KiB", round, backlog, life,
			len(confirmed), len(acked), dirSize(filepath.Join(dataDir, "wal"))>>10)
		mu.Unlock()
	}
	p, err := startBroker(bin, dataDir, logPath, flags...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	left := check(p.amqpURL, true)
	if len(confirmed) == 0 || len(acked) == 0 {
		t.Fatalf("seed %d: %d confirmed, %d acked: the test proved nothing", seed, len(confirmed), len(acked))
	}
	t.Logf("seed %d: %d rounds, %d confirmed, %d acked, %d left at the end, lost 0", seed, *drainRounds, len(confirmed), len(acked), left)
}

// drainBody is message id's body of size bytes.
func drainBody(id string, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = id[i%len(id)] ^ byte(i)
	}
	return b
}

func dirSize(dir string) int64 {
	var n int64
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}
