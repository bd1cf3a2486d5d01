package stomp

import (
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// heldReceipt is the receipt of a SEND or COMMIT that waits for its
// publishes: it is sent once every one of them is settled — on disk when
// the message is persistent and bound for a durable queue, at once
// otherwise — or replaced by an ERROR if a queue refused one or storage
// failed, as RabbitMQ answers a STOMP receipt from publisher confirms.
type heldReceipt struct {
	id     string // "" for a COMMIT without a receipt of its own
	left   int    // unsettled publishes, plus one while the frame is being handled
	failed bool
	// then are receipts that follow id's: those of the SENDs a COMMIT ran.
	then []string
}

// name is the receipt an ERROR for h names: its own, or the first one it
// holds back.
func (h *heldReceipt) name() string {
	if h.id == "" && len(h.then) > 0 {
		return h.then[0]
	}
	return h.id
}

// holdReceipt returns the receipt f asks for, or nil.
func holdReceipt(f *frame.Frame) *heldReceipt {
	r, ok := f.GetString(hReceipt)
	if !ok {
		return nil
	}
	return &heldReceipt{id: r, left: 1}
}

// publish publishes msg, tying its outcome to h when there is one.
func (c *conn) publish(exchange, key string, msg *message.Message, h *heldReceipt) error {
	if h == nil {
		res, err := c.session.Publish(exchange, key, msg, broker.PublishOptions{})
		c.flow = res.Flow
		return err
	}
	c.nextSeq++
	seq := c.nextSeq
	c.confirmMu.Lock()
	if c.confirms == nil {
		c.confirms = map[uint64]*heldReceipt{}
	}
	c.confirms[seq] = h
	h.left++
	c.confirmMu.Unlock()
	res, err := c.session.Publish(exchange, key, msg, broker.PublishOptions{Confirm: c, Seq: seq})
	c.flow = res.Flow
	if err != nil || !res.Pending {
		// Storage is not involved: the outcome is known now.
		c.confirmMu.Lock()
		if c.confirms[seq] == h {
			delete(c.confirms, seq)
			h.left--
			h.failed = h.failed || res.Rejected
		}
		c.confirmMu.Unlock()
	}
	return err
}

// Confirmed implements broker.Confirmer; it runs on a storage goroutine and
// must not block.
func (c *conn) Confirmed(seq uint64, ok bool) {
	c.confirmMu.Lock()
	h := c.confirms[seq]
	fire := false
	if h != nil {
		delete(c.confirms, seq)
		h.failed = h.failed || !ok
		h.left--
		fire = h.left == 0
	}
	c.confirmMu.Unlock()
	if fire {
		c.releaseReceipt(h, true)
	}
}

// finishReceipt drops the hold the frame itself had on h; the receipt goes
// out now if every publish is already settled. A refusal known now comes
// back as an error for the reader's usual ERROR path.
func (c *conn) finishReceipt(h *heldReceipt) error {
	if h == nil {
		return nil
	}
	c.confirmMu.Lock()
	h.left--
	fire := h.left == 0
	c.confirmMu.Unlock()
	if !fire {
		return nil
	}
	if h.failed {
		// The ERROR closes the connection: receipts owed for earlier
		// frames, still waiting for their fsync, go out first.
		c.waitSettled(5 * time.Second)
		return rejectedError(h.name())
	}
	c.releaseReceipt(h, false)
	return nil
}

// waitSettled waits, at most limit, until no publish waits for storage.
// Only the error path uses it, so a short poll is good enough.
func (c *conn) waitSettled(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		c.confirmMu.Lock()
		n := len(c.confirms)
		c.confirmMu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func rejectedError(receipt string) *stompError {
	// sluice's own answer (RabbitMQ's plugin sends no receipt and no
	// word): the connection closes, on this path as on the asynchronous one.
	return &stompError{msg: "Message rejected", closes: true, noReceipt: true,
		detail: "A message was not accepted: a queue refused it (x-overflow reject-publish) or it could not be stored.\n",
		extra:  []frame.Field{{Name: hReceiptID, Value: receipt}}}
}

// releaseReceipt sends h's RECEIPT, or, when a publish failed, an ERROR
// after which the connection closes.
func (c *conn) releaseReceipt(h *heldReceipt, async bool) {
	if !h.failed {
		if h.id != "" {
			c.out.push(outItem{kind: outReceipt, text: h.id}, async)
		}
		for _, r := range h.then {
			c.out.push(outItem{kind: outReceipt, text: r}, async)
		}
		return
	}
	e := rejectedError(h.name())
	fields := []frame.Field{{Name: hMessage, Value: e.msg}, {Name: hContentType, Value: "text/plain"},
		{Name: hVersion, Value: supportedVersions}}
	fields = append(fields, e.extra...)
	c.out.push(outItem{kind: outFrame, cmd: frame.Error, fields: fields, body: []byte(e.detail), closeAfter: true}, true)
}
