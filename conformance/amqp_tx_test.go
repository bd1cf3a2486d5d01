package conformance

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	"github.com/sluice-mq/sluice/server"
)

// heldPersister is the broker's real store with its fsync completions held
// back while held is set: a test sees what the broker answers before a
// message is durable.
type heldPersister struct {
	broker.Persister

	mu      sync.Mutex
	held    bool
	waiting []func()
	logged  int   // messages logged with a completion the publisher waits for
	fail    error // when set, completions report it instead of the store's outcome
}

func (h *heldPersister) LogMessage(id uint64, at int64, refs []broker.QueueRef, m *message.Message, done func(error)) error {
	if done == nil {
		return h.Persister.LogMessage(id, at, refs, m, nil)
	}
	h.mu.Lock()
	h.logged++
	h.mu.Unlock()
	return h.Persister.LogMessage(id, at, refs, m, func(err error) {
		h.mu.Lock()
		if h.fail != nil {
			err = h.fail
		}
		if h.held {
			h.waiting = append(h.waiting, func() { done(err) })
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		done(err)
	})
}

func (h *heldPersister) hold() {
	h.mu.Lock()
	h.held = true
	h.mu.Unlock()
}

// release lets the held completions (and any later) through.
func (h *heldPersister) release() {
	h.mu.Lock()
	h.held = false
	w := h.waiting
	h.waiting = nil
	h.mu.Unlock()
	for _, fn := range w {
		fn()
	}
}

// startHeldBroker starts a broker whose store is wrapped in a
// heldPersister. The wrapper goes in before Start, so before any
// connection exists.
func startHeldBroker(t *testing.T) (*server.Server, *heldPersister) {
	t.Helper()
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AMQPAddr = "127.0.0.1:0"
	cfg.STOMPAddr, cfg.HTTPAddr = "", ""
	cfg.SegmentSize = 4 << 20
	srv, err := server.New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	hp := &heldPersister{Persister: srv.Store()}
	srv.Broker.SetPersister(hp)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hp.release()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, hp
}

// TestAMQPTxCommitOkFollowsFsync: tx.commit-ok promises the transaction's
// persistent messages are durable, so it must wait for the fsync that
// covers them, as a publisher confirm does. It once went out as soon as
// the messages were appended (3,852 of 20,000 committed messages were
// gone after a kill -9 at commit-ok); here the store's completions are
// held and commit-ok must wait for them.
func TestAMQPTxCommitOkFollowsFsync(t *testing.T) {
	srv, hp := startHeldBroker(t)
	conn := amqpDialConfig(t, fmt.Sprintf("amqp://guest:guest@%s/", srv.Addr("amqp")), amqp.Config{})
	ch := amqpChan(t, conn)
	declareDurable(t, ch, "tx-durable")
	must(t, ch.Tx(), "tx.select")

	hp.hold()
	for i := 0; i < 10; i++ {
		pub(t, ch, "", "tx-durable", amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprint(i))})
	}
	committed := make(chan error, 1)
	go func() { committed <- ch.TxCommit() }()
	select {
	case err := <-committed:
		t.Fatalf("tx.commit-ok (err %v) arrived before the fsync covering the transaction's messages", err)
	case <-time.After(500 * time.Millisecond):
	}
	hp.mu.Lock()
	logged := hp.logged
	hp.mu.Unlock()
	if logged != 10 {
		t.Fatalf("%d messages logged with a completion awaited, want 10", logged)
	}
	hp.release()
	select {
	case err := <-committed:
		must(t, err, "tx.commit")
	case <-time.After(amqpWait):
		t.Fatal("no tx.commit-ok after the fsync")
	}
	// The channel goes on as before: a second transaction commits, and
	// transient messages (nothing to wait for) commit at once.
	pub(t, ch, "", "tx-durable", amqp.Publishing{Body: []byte("transient")})
	must(t, ch.TxCommit(), "second tx.commit")
	waitCount(t, conn, "tx-durable", 11)
}

// TestAMQPTxCommitPartial: a commit some of whose messages were not
// taken — storage failed to make one durable, or a queue refused one
// (x-overflow reject-publish) — gets no commit-ok but RabbitMQ's channel
// error, 406 "partial tx completion" on tx.commit, whether the failure is
// known while the commit is routed or only when storage answers later.
func TestAMQPTxCommitPartial(t *testing.T) {
	srv, hp := startHeldBroker(t)
	conn := amqpDialConfig(t, fmt.Sprintf("amqp://guest:guest@%s/", srv.Addr("amqp")), amqp.Config{})
	setup := amqpChan(t, conn)
	declareDurable(t, setup, "tx-partial")
	if _, err := setup.QueueDeclare("tx-full", true, false, false, false,
		amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"}); err != nil {
		t.Fatal(err)
	}
	partial := func(t *testing.T, ch *amqp.Channel, closed chan *amqp.Error) {
		t.Helper()
		err := ch.TxCommit()
		if err == nil {
			t.Fatal("tx.commit-ok for a transaction not all taken")
		}
		e := waitClosed(t, closed, "channel")
		if e.Code != amqp.PreconditionFailed || e.Reason != "PRECONDITION_FAILED - partial tx completion" {
			t.Fatalf("channel closed with %d %q, want 406 partial tx completion", e.Code, e.Reason)
		}
	}

	t.Run("storage failed", func(t *testing.T) {
		ch := amqpChan(t, conn)
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		must(t, ch.Tx(), "tx.select")
		hp.hold()
		hp.mu.Lock()
		hp.fail = errors.New("disk on fire")
		hp.mu.Unlock()
		pub(t, ch, "", "tx-partial", amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("lost")})
		go func() {
			// The failure arrives after the commit was routed.
			time.Sleep(200 * time.Millisecond)
			hp.release()
		}()
		partial(t, ch, closed)
		hp.mu.Lock()
		hp.fail = nil
		hp.mu.Unlock()
	})
	t.Run("queue refused", func(t *testing.T) {
		ch := amqpChan(t, conn)
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		must(t, ch.Tx(), "tx.select")
		pub(t, ch, "", "tx-full", amqp.Publishing{Body: []byte("fits")})
		pub(t, ch, "", "tx-full", amqp.Publishing{Body: []byte("refused")})
		partial(t, ch, closed)
	})
	// The connection and its other channels go on.
	pub(t, setup, "", "tx-partial", amqp.Publishing{Body: []byte("after")})
	if _, err := setup.QueueDeclarePassive("tx-partial", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
}

func declareDurable(t testing.TB, ch *amqp.Channel, name string) {
	t.Helper()
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		t.Fatalf("queue.declare %s: %v", name, err)
	}
}

// TestAMQPTxCommitPipelined: a client that sends its next methods without
// waiting for commit-ok still gets the answers in order, commit-ok first,
// while the commit waits for its fsync.
func TestAMQPTxCommitPipelined(t *testing.T) {
	srv, hp := startHeldBroker(t)
	r := rawAMQPDial(t, srv.Addr("amqp").String())
	r.handshake(rawHandshake{})
	r.openChannel(1)
	r.send(1, &wire.QueueDeclare{Queue: "tx-pipe", Durable: true})
	rawExpect[*wire.QueueDeclareOk](r)
	r.send(1, &wire.TxSelect{})
	rawExpect[*wire.TxSelectOk](r)
	hp.hold()
	r.send(1, &wire.BasicPublish{RoutingKey: "tx-pipe"})
	p, err := wire.EncodeContentHeader(nil, wire.ClassBasic, 1, &message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.sendFrame(wire.FrameHeader, 1, p)
	r.sendFrame(wire.FrameBody, 1, []byte("x"))
	r.send(1, &wire.TxCommit{})
	r.send(1, &wire.QueueDeclare{Queue: "tx-pipe", Passive: true})
	if f, err := r.readFrame(500 * time.Millisecond); err == nil {
		t.Fatalf("got frame type %d before the fsync", f.Type)
	}
	hp.release()
	rawExpect[*wire.TxCommitOk](r)
	if ok := rawExpect[*wire.QueueDeclareOk](r); ok.MessageCount != 1 {
		t.Fatalf("queue holds %d messages after the commit, want 1", ok.MessageCount)
	}
}

// TestAMQPTxCommitSurvivesKill9 is the proof of the above with a real
// crash: the broker runs as its own process and is killed with SIGKILL
// the moment tx.commit-ok arrives; after a restart every committed message
// must be there. Before commit-ok waited for the fsync, 3,852 of 20,000
// committed messages were gone.
func TestAMQPTxCommitSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and runs the binary")
	}
	const rounds, perTx = 5, 2000
	dataDir := filepath.Join(t.TempDir(), "data")
	committed := 0
	for round := 0; round < rounds; round++ {
		cmd, url := startProcess(t, dataDir)
		c, err := amqp.Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := c.Channel()
		if err != nil {
			t.Fatal(err)
		}
		declareDurable(t, ch, "tx-crash")
		must(t, ch.Tx(), "tx.select")
		body := make([]byte, 256)
		for i := 0; i < perTx; i++ {
			if err := ch.PublishWithContext(context.Background(), "", "tx-crash", false, false,
				amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		err = ch.TxCommit()
		// A SIGKILL loses only what the broker had not yet written (the
		// page cache survives a process), so this catches a commit-ok
		// sent before the WAL's group commit wrote the messages; a
		// commit-ok that follows the fsync covers both.
		_ = cmd.Process.Signal(syscall.SIGKILL)
		must(t, err, "tx.commit")
		committed += perTx
		c.Close()
		waitExit(cmd)
	}
	cmd, url := startProcess(t, dataDir)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM) }()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive("tx-crash", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != committed {
		t.Fatalf("%d of %d committed messages gone after kill -9 at commit-ok", committed-q.Messages, committed)
	}
}

// waitExit waits (bounded) for a killed broker process to be gone, so the
// next start finds its data directory unlocked.
func waitExit(cmd *exec.Cmd) {
	for i := 0; i < 500; i++ {
		if syscall.Kill(cmd.Process.Pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAMQPTxLimits: one transaction holds its operations in memory until
// tx.commit, so their number (--tx-max-operations) and body bytes
// (--tx-max-bytes) are bounded; crossing a bound closes the channel with
// 406 and a text naming the limit, and the transaction is discarded.
func TestAMQPTxLimits(t *testing.T) {
	_, conn, ch := amqpSetup(t, func(c *server.Config) {
		c.TxMaxOperations = 5
		c.MaxMessageSize = 1000
		c.TxMaxBytes = 2500
	})
	declareQ(t, ch, "tx-limits", nil)

	t.Run("operations", func(t *testing.T) {
		ch := amqpChan(t, conn)
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		must(t, ch.Tx(), "tx.select")
		for i := 0; i < 6; i++ {
			pubBody(t, ch, "", "tx-limits", "m")
		}
		e := waitClosed(t, closed, "channel")
		if e.Code != amqp.PreconditionFailed || !strings.Contains(e.Reason, "tx-max-operations") {
			t.Fatalf("got %d %q, want 406 naming tx-max-operations", e.Code, e.Reason)
		}
		if n := messageCount(t, conn, "tx-limits"); n != 0 {
			t.Fatalf("%d messages of the refused transaction were published", n)
		}
	})
	t.Run("acks count too", func(t *testing.T) {
		ch := amqpChan(t, conn)
		pch := amqpChan(t, conn)
		for i := 0; i < 6; i++ {
			pubBody(t, pch, "", "tx-limits", "m")
		}
		waitCount(t, conn, "tx-limits", 6)
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		must(t, ch.Tx(), "tx.select")
		for i := 0; i < 6; i++ {
			getOne(t, ch, "tx-limits", false)
		}
		for tag := uint64(1); tag <= 6; tag++ {
			_ = ch.Ack(tag, false)
		}
		e := waitClosed(t, closed, "channel")
		if e.Code != amqp.PreconditionFailed || !strings.Contains(e.Reason, "tx-max-operations") {
			t.Fatalf("got %d %q, want 406 naming tx-max-operations", e.Code, e.Reason)
		}
		// The held acks went with the channel: the messages are back.
		waitCount(t, conn, "tx-limits", 6)
		_, err := pch.QueuePurge("tx-limits", false)
		must(t, err, "queue.purge")
	})
	t.Run("bytes", func(t *testing.T) {
		ch := amqpChan(t, conn)
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		must(t, ch.Tx(), "tx.select")
		body := strings.Repeat("b", 1000)
		pubBody(t, ch, "", "tx-limits", body)
		pubBody(t, ch, "", "tx-limits", body)
		must(t, ch.TxCommit(), "a commit within the bound")
		for i := 0; i < 3; i++ {
			pubBody(t, ch, "", "tx-limits", body)
		}
		e := waitClosed(t, closed, "channel")
		if e.Code != amqp.PreconditionFailed || !strings.Contains(e.Reason, "tx-max-bytes") {
			t.Fatalf("got %d %q, want 406 naming tx-max-bytes", e.Code, e.Reason)
		}
		if n := messageCount(t, conn, "tx-limits"); n != 2 {
			t.Fatalf("queue holds %d messages, want the 2 committed", n)
		}
		_, err := amqpChan(t, conn).QueuePurge("tx-limits", false)
		must(t, err, "queue.purge")
	})
	// A held publish keeps its properties too, and a content header may
	// be as large as frame-max: empty bodies with 1,000-byte headers once
	// passed any tx-max-bytes (100,000 of them at 128 KiB, 13 GB).
	t.Run("headers count too", func(t *testing.T) {
		ch := amqpChan(t, conn)
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		must(t, ch.Tx(), "tx.select")
		for i := 0; i < 3; i++ {
			err := ch.PublishWithContext(context.Background(), "", "tx-limits", false, false, amqp.Publishing{
				Headers: amqp.Table{"h": strings.Repeat("h", 1000)}})
			must(t, err, "basic.publish")
		}
		e := waitClosed(t, closed, "channel")
		if e.Code != amqp.PreconditionFailed || !strings.Contains(e.Reason, "tx-max-bytes") {
			t.Fatalf("got %d %q, want 406 naming tx-max-bytes", e.Code, e.Reason)
		}
		if n := messageCount(t, conn, "tx-limits"); n != 0 {
			t.Fatalf("queue holds %d messages of the refused transaction", n)
		}
	})
}
