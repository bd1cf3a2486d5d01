package amqp

import (
	"fmt"
	"sync"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// AMQP transactions (the tx class). A transactional channel holds its
// publishes, acks and nacks until tx.commit, bounded in number
// (Config.TxMaxOperations) and in bytes, bodies and content headers
// (Config.TxMaxBytes): RabbitMQ has no such bound, so a client could hold
// any amount of memory in one open transaction. tx.commit runs the held operations in order and
// answers commit-ok only once the persistent messages among them are on
// disk, as a publisher confirm would be: commit-ok is the client's promise
// that the transaction survives a crash.

// txOp is a publish, ack or nack held until tx.commit.
type txOp struct {
	pub      *wire.BasicPublish
	msg      *message.Message
	ack      bool
	nack     bool
	tag      uint64
	multiple bool
	requeue  bool
}

// txCheckTag refuses, when it arrives, a transactional ack of a tag that
// is unknown or already settled in this transaction.
func (ch *channel) txCheckTag(tag uint64, multiple bool) error {
	for _, op := range ch.txOps {
		if (op.ack || op.nack) && op.tag == tag && !multiple && tag != 0 {
			return wire.NewError(wire.PreconditionFailed, fmt.Sprintf("unknown delivery tag %d", tag))
		}
	}
	return ch.session.CheckTag(tag, multiple)
}

// txSettle holds an ack, nack or reject until tx.commit.
func (ch *channel) txSettle(op txOp) error {
	if err := ch.txCheckTag(op.tag, op.multiple); err != nil {
		return err
	}
	if err := ch.txCheckLimits(0); err != nil {
		return err
	}
	ch.txOps = append(ch.txOps, op)
	ch.shown.txAcks.Add(1)
	return nil
}

// txHold holds a checked publish until tx.commit. A publish that would
// cross a limit closes the channel, and the transaction goes with it. Its
// bytes are its body and its content header as it came: the properties
// held with the body may be as large as frame-max.
func (ch *channel) txHold(pub *wire.BasicPublish, msg *message.Message, headerSize int) error {
	size := int64(len(msg.Body) + headerSize)
	if err := ch.txCheckLimits(size); err != nil {
		e := err.(*wire.Error)
		return ch.softError(pub, e.Code, e.Text)
	}
	p := *pub
	ch.txOps = append(ch.txOps, txOp{pub: &p, msg: msg})
	ch.txBytes += size
	ch.shown.txMsgs.Add(1)
	return nil
}

// txCheckLimits says whether one more operation carrying message bytes fits
// in the transaction.
func (ch *channel) txCheckLimits(body int64) error {
	cfg := &ch.c.srv.cfg
	if len(ch.txOps) >= cfg.TxMaxOperations {
		return wire.NewError(wire.PreconditionFailed, fmt.Sprintf(
			"transaction on channel %d holds %d operations, the limit (tx-max-operations): commit more often",
			ch.id, len(ch.txOps)))
	}
	if ch.txBytes+body > cfg.TxMaxBytes {
		return wire.NewError(wire.PreconditionFailed, fmt.Sprintf(
			"transaction on channel %d would hold %d bytes of messages, over the limit of %d (tx-max-bytes): commit more often",
			ch.id, ch.txBytes+body, cfg.TxMaxBytes))
	}
	return nil
}

// txReset forgets the held operations (rollback, or a commit taking them).
func (ch *channel) txReset() {
	ch.txOps = nil
	ch.txBytes = 0
	ch.shown.txMsgs.Store(0)
	ch.shown.txAcks.Store(0)
}

// txCommit runs tx.commit: the held operations go to the broker in order,
// then the commit completes (txCommit.settle) once storage has made every
// persistent message among them durable, on whichever goroutine learns
// last: commit-ok, or, when a queue refused a message (x-overflow
// reject-publish) or storage failed, channel.close 406 "partial tx
// completion", as RabbitMQ answers a commit some of whose messages were
// nacked.
func (ch *channel) txCommit() error {
	ops := ch.txOps
	ch.txReset()
	tc := &txCommit{out: ch.c.out, ch: ch.id, left: 1, done: make(chan struct{})}
	for i := range ops {
		op := &ops[i]
		var err error
		switch {
		case op.ack:
			err = ch.session.Ack(op.tag, op.multiple)
		case op.nack:
			err = ch.session.Nack(op.tag, op.multiple, op.requeue)
		default:
			err = ch.route(op.pub, op.msg, tc)
		}
		*op = txOp{} // the queues own the message now
		if err != nil || ch.closing {
			// A publish failed and closed the channel (route sent
			// channel.close), or the error will: no commit-ok may
			// follow it.
			tc.stop()
			return err
		}
	}
	switch tc.settle(false, true) {
	case commitPending:
		ch.commit = tc
	case commitFailed:
		return errPartialTx()
	default:
		ch.reply(&wire.TxCommitOk{})
	}
	return nil
}

// errPartialTx is RabbitMQ's answer to a commit some of whose messages
// were not taken.
func errPartialTx() *wire.Error {
	e := wire.NewError(wire.PreconditionFailed, "partial tx completion")
	e.ClassID, e.MethodID = wire.ClassTx, wire.MethodTxCommit
	return e
}

// waitCommit holds the reader before the channel's next frame while its
// last commit waits for storage, so that no answer to a later method can
// overtake the commit's. Only a client that sends on without waiting for
// commit-ok ever waits here. If the commit failed, its channel.close has
// gone out meanwhile: the channel is closing from then on.
func (ch *channel) waitCommit() {
	tc := ch.commit
	ch.commit = nil
	select {
	case <-tc.done:
	default:
		c := ch.c
		c.pauseReading(true)
		select {
		case <-tc.done:
		case <-c.done:
		}
		c.pauseReading(false)
	}
	if tc.failed {
		// Set before done was closed. What the storage goroutine could
		// not do (it owns no channel state) happens here.
		ch.closing = true
		ch.pub = nil
		ch.close()
	}
}

// txCommit is one tx.commit waiting for its persistent messages: it is
// the broker.Confirmer of the commit's publishes.
type txCommit struct {
	out *output
	ch  uint16

	mu   sync.Mutex
	seq  uint64 // the last publish sequence number handed out
	left int    // publishes not yet settled, plus one while the commit is routed
	// nacked is set when a publish was not taken: a queue refused it or
	// storage failed.
	nacked  bool
	stopped bool // the channel closed: nothing more goes out
	// failed says the commit answered with channel.close (only when it
	// completed off the reader); read by the reader once done is closed.
	failed bool
	done   chan struct{} // closed once every publish is settled
}

// Outcomes of txCommit.settle.
const (
	commitPending = iota
	commitOK
	commitFailed
)

// add registers a publish and returns its sequence number.
func (t *txCommit) add() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	t.left++
	return t.seq
}

// published records what the broker said of a publish: one that is not
// Pending gets no Confirmed call, so it is settled now.
func (t *txCommit) published(res broker.PublishResult, err error) {
	if err == nil && res.Pending {
		return
	}
	t.settle(err == nil && res.Rejected, false)
}

// Confirmed implements broker.Confirmer; it runs on a storage goroutine
// and must not block.
func (t *txCommit) Confirmed(_ uint64, ok bool) { t.settle(!ok, false) }

// settle counts one settled publish (nacked: it was not taken), or, from
// the reader (end), the end of routing. It reports whether the commit is
// complete and how. The reader answers a commit complete at the end of
// routing itself; one that completes later is answered here, on a storage
// goroutine.
func (t *txCommit) settle(nacked, end bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nacked = t.nacked || nacked
	t.left--
	if t.left > 0 {
		return commitPending
	}
	outcome := commitOK
	if t.nacked {
		outcome = commitFailed
	}
	if !end && !t.stopped {
		// Pushed under the lock, so that stop cannot come between the
		// check and the push: nothing may reach a channel id reused
		// after a close.
		if outcome == commitFailed {
			t.failed = true
			e := errPartialTx()
			t.out.method(t.ch, &wire.ChannelClose{ReplyCode: e.Code, ReplyText: e.Text, FailedClassID: e.ClassID, FailedMethodID: e.MethodID})
		} else {
			t.out.method(t.ch, &wire.TxCommitOk{})
		}
	}
	close(t.done)
	return outcome
}

// stop is called when the channel closes or the commit fails.
func (t *txCommit) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
}
