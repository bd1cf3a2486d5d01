package conformance

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var crashRounds = flag.Int("crash.rounds", 4, "kill -9 rounds in TestCrashNeverLosesConfirmed (make test runs a few; use 50+ to soak)")

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// sluiceBinary builds cmd/sluice once per test run.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/sluice-mq/sluice/cmd/sluice").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess runs sluice as its own process on dataDir, with extra
// flags.
func startProcess(t *testing.T, dataDir string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	port := freePort(t)
	args := append([]string{"--data-dir", dataDir, "--amqp-addr", "127.0.0.1:" + strconv.Itoa(port),
		"--stomp-addr", "", "--http-addr", "", "--sqs-addr", "", "--web-stomp-addr", "", "--prometheus-addr", "", "--log-format", "json", "--log-level", "warn"}, extra...)
	cmd := exec.Command(sluiceBinary(t), args...)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(dataDir), "sluice.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	url := fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := amqp.Dial(url)
		if err == nil {
			c.Close()
			return cmd, url
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(filepath.Join(filepath.Dir(dataDir), "sluice.log"))
			t.Fatalf("sluice did not start: %v\n%s", err, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashNeverLosesConfirmed kills the broker with SIGKILL at random
// moments while several connections publish persistent messages with
// confirms and a consumer acks some; after each restart every confirmed
// message must still be there or have been acked. Duplicates are allowed
// (at-least-once): a message delivered but not acked before the crash.
// Queues keep only 16 KiB of bodies in memory, so most of what is read
// back after a restart, and much of what is delivered, comes from paged-out
// records.
func TestCrashNeverLosesConfirmed(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and runs the binary")
	}
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	var mu sync.Mutex
	confirmed := map[string]bool{}
	acked := map[string]bool{}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	next := 0

	for round := 0; round < *crashRounds; round++ {
		cmd, url := startProcess(t, dataDir, "--queue-resident-bytes", "16384")
		setup, err := amqp.Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		sch, _ := setup.Channel()
		if _, err := sch.QueueDeclare("crash", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		setup.Close()

		stop := make(chan struct{})
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ {
			wg.Add(1)
			base := next + p*100000
			go func(base int) {
				defer wg.Done()
				c, err := amqp.Dial(url)
				if err != nil {
					return
				}
				defer c.Close()
				ch, err := c.Channel()
				if err != nil || ch.Confirm(false) != nil {
					return
				}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("r%d-%d", round, base+i)
					dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", "crash", false, false,
						amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: id, Body: crashBody(id)})
					if err != nil {
						return
					}
					ok, err := dc.WaitContext(context.Background())
					if err != nil {
						return
					}
					if ok {
						mu.Lock()
						confirmed[id] = true
						mu.Unlock()
					}
				}
			}(base)
		}
		// A consumer acks some of what arrives.
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := amqp.Dial(url)
			if err != nil {
				return
			}
			defer c.Close()
			ch, _ := c.Channel()
			_ = ch.Qos(50, 0, false)
			ds, err := ch.Consume("crash", "", false, false, false, false, nil)
			if err != nil {
				return
			}
			for {
				select {
				case <-stop:
					return
				case d, ok := <-ds:
					if !ok {
						return
					}
					if d.DeliveryTag%2 == 0 { // ack about half, deterministically
						if d.Ack(false) == nil {
							mu.Lock()
							acked[d.MessageId] = true
							mu.Unlock()
						}
					}
				}
			}
		}()
		time.Sleep(time.Duration(50+rng.Intn(250)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		next += 1000000
	}

	// Final start: drain and check nothing confirmed is missing.
	cmd, url := startProcess(t, dataDir)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM) }()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, _ := c.Channel()
	present := map[string]bool{}
	for {
		d, ok, err := ch.Get("crash", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if string(d.Body) != string(crashBody(d.MessageId)) {
			t.Fatalf("message %s came back with a damaged body", d.MessageId)
		}
		present[d.MessageId] = true
	}
	lost := 0
	for id := range confirmed {
		if !present[id] && !acked[id] {
			lost++
			if lost < 10 {
				t.Errorf("confirmed message %s lost", id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d confirmed messages lost", lost, len(confirmed))
	}
	if len(confirmed) == 0 {
		t.Fatal("no message was confirmed: the test proved nothing")
	}
	t.Logf("%d rounds: %d confirmed, %d acked, %d present at the end", *crashRounds, len(confirmed), len(acked), len(present))
}

// crashBody is message id's body: 512 bytes, so that queues page out.
func crashBody(id string) []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = id[i%len(id)]
	}
	return b
}
