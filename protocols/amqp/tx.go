package amqp

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// AMQP transactions (the tx class). A transactional channel holds its
// publishes, acks and nacks until tx.commit, bounded in number
// (Config.TxMaxOperations) and in body bytes (Config.TxMaxBytes): RabbitMQ
// has no such bound, so a client could hold any amount of memory in one
// open transaction. tx.commit runs the held operations in order and
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
	return nil
}

// txHold holds a checked publish until tx.commit. A publish that would
// cross a limit closes the channel, and the transaction goes with it.
func (ch *channel) txHold(pub *wire.BasicPublish, msg *message.Message) error {
	if err := ch.txCheckLimits(int64(len(msg.Body))); err != nil {
		e := err.(*wire.Error)
		return ch.softError(pub, e.Code, e.Text)
	}
	p := *pub
	ch.txOps = append(ch.txOps, txOp{pub: &p, msg: msg})
	ch.txBytes += int64(len(msg.Body))
	return nil
}

// txCheckLimits says whether one more operation carrying body bytes fits
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
			"transaction on channel %d would hold %d bytes of message bodies, over the limit of %d (tx-max-bytes): commit more often",
			ch.id, ch.txBytes+body, cfg.TxMaxBytes))
	}
	return nil
}

// txReset forgets the held operations (rollback, or a commit taking them).
func (ch *channel) txReset() {
	ch.txOps = nil
	ch.txBytes = 0
}

// txCommit runs tx.commit: the held operations go to the broker in order,
// then commit-ok follows once storage has made every persistent message
// among them durable (txCommit.finish), from whichever goroutine learns
// last.
func (ch *channel) txCommit() error {
	ops := ch.txOps
	ch.txReset()
	tc := &txCommit{out: ch.c.out, conn: ch.c, ch: ch.id, left: 1, done: make(chan struct{})}
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
	if !tc.settle(nil) {
		ch.commit = tc
	}
	return nil
}

// waitCommit holds the reader before the channel's next method while its
// last commit waits for storage, so that the method's answer cannot
// overtake commit-ok. Only a client that sends on without waiting for
// commit-ok ever waits here.
func (ch *channel) waitCommit() {
	tc := ch.commit
	ch.commit = nil
	select {
	case <-tc.done:
		return
	default:
	}
	c := ch.c
	c.pauseReading(true)
	defer c.pauseReading(false)
	select {
	case <-tc.done:
	case <-c.done:
	}
}

// txCommit is one tx.commit waiting for its persistent messages: it is
// the broker.Confirmer of the commit's publishes.
type txCommit struct {
	out  *output
	conn *conn
	ch   uint16

	mu   sync.Mutex
	seq  uint64 // the last publish sequence number handed out
	left int    // publishes not yet settled, plus one while the commit is routed
	// nacked are the publishes storage or a queue did not take; rejected
	// those a queue refused (x-overflow reject-publish), which a commit
	// goes through with, as in RabbitMQ. A publish nacked but not
	// rejected failed in storage.
	nacked, rejected []uint64
	stopped          bool          // the channel closed: nothing more goes out
	done             chan struct{} // closed once every publish is settled
}

// add registers a publish and returns its sequence number.
func (t *txCommit) add() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	t.left++
	return t.seq
}

// published records what the broker said of publish seq: one that is not
// Pending gets no Confirmed call, so it is settled now.
func (t *txCommit) published(seq uint64, res broker.PublishResult, err error) {
	if err != nil || !res.Pending {
		t.settle(nil)
		return
	}
	if res.Rejected {
		t.mu.Lock()
		t.rejected = append(t.rejected, seq)
		t.mu.Unlock()
	}
}

// Confirmed implements broker.Confirmer; it runs on a storage goroutine
// and must not block.
func (t *txCommit) Confirmed(seq uint64, ok bool) {
	if ok {
		t.settle(nil)
		return
	}
	t.settle(&seq)
}

// settle counts one settled publish (nacked when not nil) or, from the
// reader, the end of routing; it reports whether the commit is complete.
func (t *txCommit) settle(nacked *uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if nacked != nil {
		t.nacked = append(t.nacked, *nacked)
	}
	t.left--
	if t.left > 0 {
		return false
	}
	close(t.done)
	if t.stopped {
		return true
	}
	for _, seq := range t.nacked {
		if !slices.Contains(t.rejected, seq) {
			// Storage failed: the transaction is not durable, and the
			// client must not be told it committed. This is not the
			// reader's goroutine, so the connection is closed from here,
			// as a shutdown closes it.
			t.stopped = true
			go t.conn.closeFromOutside(wire.InternalError,
				"INTERNAL_ERROR - tx.commit failed: the transaction's messages could not be stored", "tx.commit: storage failed")
			return true
		}
	}
	// Pushed under the lock, so that stop cannot come between the check
	// and the push: a commit-ok must never reach a channel id reused
	// after a close.
	t.out.method(t.ch, &wire.TxCommitOk{})
	return true
}

// stop is called when the channel closes or the commit fails.
func (t *txCommit) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
}

// closeFromOutside closes the connection with a hard error from a goroutine
// other than the reader: connection.close, a short wait for the client to
// see it, then the socket closes and the reader tears down.
func (c *conn) closeFromOutside(code uint16, text, reason string) {
	c.out.method(0, &wire.ConnectionClose{ReplyCode: code, ReplyText: text})
	c.out.flush(2 * time.Second)
	select {
	case <-c.done:
	case <-time.After(500 * time.Millisecond):
	}
	c.abort(reason)
}
