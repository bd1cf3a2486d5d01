package amqp

import (
	"errors"
	"fmt"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// assembly is the state of a publish while its content frames arrive.
type assembly struct {
	pub       wire.BasicPublish
	props     message.Properties
	body      []byte
	bodySize  uint64
	gotHeader bool
	// headerSize is the content header's size on the wire, which a
	// transaction counts with the body (up to frame-max of properties).
	headerSize int
}

// Framing errors in RabbitMQ's words (rabbit_command_assembler), which
// clients log and users search for.
func errExpectedMethod() error {
	return wire.NewError(wire.UnexpectedFrame, "expected method frame, got non method frame instead")
}

// errUnexpectedFrame is a wrong frame while a publish's content is being
// assembled: its header is still due, or (inBody) more of its body.
func errUnexpectedFrame(inBody bool) error {
	e := wire.NewError(wire.UnexpectedFrame, "expected content header for class 60, got non content header frame instead")
	if inBody {
		e = wire.NewError(wire.UnexpectedFrame, "expected content body, got non content body frame instead")
	}
	e.ClassID, e.MethodID = wire.ClassBasic, wire.MethodBasicPublish
	return e
}

// header handles a content header frame of the publish in progress.
func (ch *channel) header(p []byte) error {
	if ch.pub == nil {
		return errExpectedMethod()
	}
	a := ch.asm
	if a.gotHeader {
		return errUnexpectedFrame(true)
	}
	a.props = message.Properties{}
	classID, size, err := wire.DecodeContentHeader(p, &a.props)
	if err != nil {
		return err
	}
	if classID != wire.ClassBasic {
		return wire.NewError(wire.UnexpectedFrame, fmt.Sprintf("content header for class %d, expected basic", classID))
	}
	if max := ch.c.srv.cfg.MaxMessageSize; size > max {
		// RabbitMQ treats this as a channel error with PRECONDITION_FAILED.
		ch.pub = nil
		ch.fail(&wire.Error{Code: wire.PreconditionFailed, ClassID: wire.ClassBasic, MethodID: wire.MethodBasicPublish,
			Text: fmt.Sprintf("PRECONDITION_FAILED - message size %d is larger than configured max size %d", size, max)})
		return nil
	}
	a.gotHeader = true
	a.bodySize = size
	a.headerSize = len(p)
	// Nothing is allocated for the body until its bytes arrive: the size
	// is only the client's word, and a header per channel announcing 16
	// MiB with no body to follow once held gigabytes (bodyFrame).
	a.body = nil
	if size == 0 {
		return ch.publish()
	}
	return nil
}

func (ch *channel) bodyFrame(p []byte) error {
	if ch.pub == nil {
		return errExpectedMethod()
	}
	a := ch.asm
	if !a.gotHeader {
		return errUnexpectedFrame(false)
	}
	if uint64(len(a.body))+uint64(len(p)) > a.bodySize {
		return wire.NewError(wire.FrameError, fmt.Sprintf("content body of %d bytes exceeds the %d announced in the content header",
			len(a.body)+len(p), a.bodySize))
	}
	if need := len(a.body) + len(p); need > cap(a.body) {
		// Grow with what arrived, doubling so a body in many frames is
		// copied about once, and never past the announced size: a body
		// in one frame (the usual case) gets exactly its size.
		n := uint64(max(need, 2*cap(a.body)))
		if n > a.bodySize {
			n = a.bodySize
		}
		body := make([]byte, len(a.body), n)
		copy(body, a.body)
		a.body = body
	}
	a.body = append(a.body, p...)
	if uint64(len(a.body)) == a.bodySize {
		return ch.publish()
	}
	return nil
}

// publish completes the assembled message.
func (ch *channel) publish() error {
	pub, a := ch.pub, ch.asm
	ch.pub = nil
	msg := &message.Message{Properties: a.props, Body: a.body}
	a.props, a.body = message.Properties{}, nil // the message owns them now
	if msg.Properties.Has(message.FlagReplyTo) && msg.Properties.ReplyTo == replyToQueue {
		if ch.replyTag == "" {
			return ch.softError(pub, wire.PreconditionFailed, "fast reply consumer does not exist")
		}
		msg.Properties.ReplyTo = ch.replyQ
	}
	if ch.tx {
		if err := ch.checkTxPublish(pub, msg); err != nil || ch.closing {
			return err
		}
		return ch.txHold(pub, msg, a.headerSize)
	}
	return ch.route(pub, msg, nil)
}

// checkTxPublish refuses a publish inside a transaction when it arrives, as
// RabbitMQ checks every basic.publish on arrival: the channel closes then and
// the transaction goes with it. Left to tx.commit, the publishes before the
// bad one would be committed while the client is told the commit failed.
func (ch *channel) checkTxPublish(pub *wire.BasicPublish, msg *message.Message) error {
	if pub.Immediate {
		return wire.NewError(wire.NotImplemented, "immediate=true")
	}
	if err := ch.authorizePublish(pub.Exchange, pub.RoutingKey); err != nil {
		return ch.publishRefused(pub, err)
	}
	v := ch.c.vhost
	if _, ok := v.Exchange(pub.Exchange); !ok {
		return ch.softError(pub, wire.NotFound, fmt.Sprintf("no exchange '%s' in vhost '%s'", pub.Exchange, v.Name()))
	}
	if msg.Properties.Has(message.FlagUserID) && msg.Properties.UserID != ch.c.user {
		return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf(
			"user_id property set to '%s' but authenticated user was '%s'", msg.Properties.UserID, ch.c.user))
	}
	if msg.Properties.Has(message.FlagExpiration) {
		if why := message.ExpirationError(msg.Properties.Expiration); why != "" {
			return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf("invalid expiration '%s': %s", msg.Properties.Expiration, why))
		}
	}
	return nil
}

// publishRefused closes the channel for a refused basic.publish.
func (ch *channel) publishRefused(pub *wire.BasicPublish, err error) error {
	var be *broker.Error
	if !errors.As(err, &be) {
		return err
	}
	return ch.softError(pub, uint16(be.Code), be.Text)
}

func (ch *channel) softError(pub *wire.BasicPublish, code uint16, text string) error {
	e := wire.NewError(code, text)
	e.ClassID, e.MethodID = wire.ClassBasic, wire.MethodBasicPublish
	ch.fail(e)
	return nil
}

// route publishes into the broker and answers with return and confirm;
// tc is the commit the publish is part of, nil outside a transaction.
func (ch *channel) route(pub *wire.BasicPublish, msg *message.Message, tc *txCommit) error {
	if tc == nil { // a transaction's publishes were checked on arrival
		if err := ch.authorizePublish(pub.Exchange, pub.RoutingKey); err != nil {
			return ch.publishRefused(pub, err)
		}
	}
	if msg.Properties.Has(message.FlagUserID) && msg.Properties.UserID != ch.c.user {
		return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf(
			"user_id property set to '%s' but authenticated user was '%s'", msg.Properties.UserID, ch.c.user))
	}
	if pub.Immediate {
		return wire.NewError(wire.NotImplemented, "immediate=true")
	}
	if msg.Properties.Has(message.FlagExpiration) {
		if why := message.ExpirationError(msg.Properties.Expiration); why != "" {
			return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf("invalid expiration '%s': %s", msg.Properties.Expiration, why))
		}
	}
	// The time of the read that brought the message's last frame: one
	// clock read per read, not per message.
	opt := broker.PublishOptions{Now: ch.c.lastRead.Load(), Mandatory: pub.Mandatory}
	if ch.confirm != nil {
		opt.Confirm, opt.Seq = ch.confirm, ch.confirm.add()
	} else if tc != nil {
		// Without a confirmer the store would not wait for the fsync.
		opt.Confirm, opt.Seq = tc, tc.add()
	}
	res, err := ch.session.Publish(pub.Exchange, pub.RoutingKey, msg, opt)
	if tc != nil {
		tc.published(res, err)
	}
	if err != nil {
		// As RabbitMQ: no confirm for this publish, the channel closes.
		var be *broker.Error
		if errors.As(err, &be) {
			e := wire.NewError(uint16(be.Code), be.Text)
			e.ClassID, e.MethodID = wire.ClassBasic, wire.MethodBasicPublish
			if e.Hard() {
				return e
			}
			ch.fail(e)
			return nil
		}
		return err
	}
	if res.Flow != nil {
		ch.c.flow = res.Flow
	}
	if !res.Routed && pub.Mandatory {
		ch.c.out.push(outItem{kind: outReturn, ch: ch.id, msg: msg,
			m: &wire.BasicReturn{ReplyCode: wire.NoRoute, ReplyText: "NO_ROUTE", Exchange: pub.Exchange, RoutingKey: pub.RoutingKey}})
	}
	if ch.confirm != nil && !res.Pending {
		ch.confirm.Confirmed(opt.Seq, !res.Rejected)
	}
	return nil
}
