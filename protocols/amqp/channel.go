package amqp

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// replyToQueue is RabbitMQ's direct reply-to pseudo queue.
const replyToQueue = "amq.rabbitmq.reply-to"

// channel is one AMQP channel: a broker session plus the publish assembly,
// confirm and transaction state. All fields but those the Sink methods touch
// belong to the connection's reader goroutine.
type channel struct {
	c       *conn
	id      uint16
	session *broker.Session

	closing bool // channel.close sent; discard until close-ok

	// pub is the publish whose content is being assembled (it points
	// into asm); nil between publishes.
	pub *wire.BasicPublish
	asm *assembly // made by the channel's first publish, then reused

	confirm  *confirmTracker // nil until confirm.select
	tx       bool
	txOps    []txOp
	replyTag string // consumer tag of the direct reply-to consumer
	replyQ   string // its private queue
	// lastQueue is the queue last declared on this channel: an empty
	// queue name in later methods means it, as the spec says.
	lastQueue string
}

// assembly is the state of a publish while its content frames arrive.
type assembly struct {
	pub       wire.BasicPublish
	props     message.Properties
	body      []byte
	bodySize  uint64
	gotHeader bool
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

// queueName resolves the empty name to the channel's last declared queue.
func (ch *channel) queueName(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	if ch.lastQueue == "" {
		return "", wire.NewError(wire.NotFound, "no previously declared queue")
	}
	return ch.lastQueue, nil
}

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

func newChannel(c *conn, id uint16) *channel {
	ch := &channel{c: c, id: id}
	ch.session = c.vhost.NewSession(c.id, ch)
	return ch
}

// Deliver implements broker.Sink.
func (ch *channel) Deliver(d broker.Delivery) {
	ch.c.out.push(outItem{kind: outDeliver, ch: ch.id, d: d})
}

// Cancelled implements broker.Sink: basic.cancel from the server, for
// clients that announced consumer_cancel_notify.
func (ch *channel) Cancelled(tag string) {
	if ch.c.caps.cancelNotify {
		ch.c.out.method(ch.id, &wire.BasicCancel{ConsumerTag: tag, NoWait: true})
	}
}

// Full implements broker.Sink: a client that does not read stops getting
// deliveries until its output drains.
func (ch *channel) Full() bool { return ch.c.out.full.Load() }

// close releases the channel's broker session (requeueing unacked).
func (ch *channel) close() {
	if ch.confirm != nil {
		ch.confirm.stop()
	}
	ch.session.Close()
	if ch.replyQ != "" {
		_, _ = ch.c.vhost.DeleteQueue(ch.replyQ, false, false, ch.c.id)
	}
}

// frame handles one frame for this channel.
func (ch *channel) frame(f wire.Frame) error {
	if ch.closing {
		// After channel.close only close-ok (or a crossing close) counts.
		if f.Type == wire.FrameMethod && len(f.Payload) >= 4 && f.Payload[0] == 0 && f.Payload[1] == 20 {
			switch f.Payload[3] {
			case 41:
				ch.c.removeChannel(ch)
				return nil
			case 40:
				ch.c.out.method(ch.id, &wire.ChannelCloseOk{})
				return nil
			}
		}
		return nil
	}
	switch f.Type {
	case wire.FrameHeader:
		return ch.header(f.Payload)
	case wire.FrameBody:
		return ch.bodyFrame(f.Payload)
	}
	if ch.pub != nil {
		return errUnexpectedFrame(ch.asm.gotHeader)
	}
	m, err := ch.c.decoder().Decode(f.Payload)
	if err != nil {
		return err
	}
	err = ch.method(m)
	if err == nil {
		return nil
	}
	var be *broker.Error
	var we *wire.Error
	switch {
	case errors.As(err, &be):
		we = wire.NewError(uint16(be.Code), be.Text)
	case errors.As(err, &we):
	default:
		we = wire.NewError(wire.InternalError, err.Error())
	}
	if we.ClassID == 0 && we.MethodID == 0 {
		we.ClassID, we.MethodID = m.ClassID(), m.MethodID()
	}
	if we.Hard() {
		return we
	}
	ch.fail(we)
	return nil
}

// fail closes the channel with a soft error: channel.close, release the
// session, then ignore everything until close-ok.
func (ch *channel) fail(e *wire.Error) {
	ch.closing = true
	ch.pub = nil
	ch.close()
	ch.c.out.method(ch.id, &wire.ChannelClose{ReplyCode: e.Code, ReplyText: e.Text, FailedClassID: e.ClassID, FailedMethodID: e.MethodID})
}

func (ch *channel) reply(m wire.Method) { ch.c.out.method(ch.id, m) }

// method runs one method. Soft errors come back as *broker.Error or
// *wire.Error and close the channel; hard ones close the connection.
func (ch *channel) method(m wire.Method) error {
	v := ch.c.vhost
	owner := ch.c.id
	switch m := m.(type) {
	case *wire.BasicPublish:
		if ch.c.blocked.Load() {
			ch.c.waitUnblocked()
		}
		if ch.asm == nil {
			ch.asm = new(assembly)
		}
		ch.asm.pub = *m
		ch.pub = &ch.asm.pub
		ch.asm.gotHeader = false
		return nil
	case *wire.BasicAck:
		if ch.tx {
			if err := ch.txCheckTag(m.DeliveryTag, m.Multiple); err != nil {
				return err
			}
			ch.txOps = append(ch.txOps, txOp{ack: true, tag: m.DeliveryTag, multiple: m.Multiple})
			return nil
		}
		return ch.session.Ack(m.DeliveryTag, m.Multiple)
	case *wire.BasicNack:
		if ch.tx {
			if err := ch.txCheckTag(m.DeliveryTag, m.Multiple); err != nil {
				return err
			}
			ch.txOps = append(ch.txOps, txOp{nack: true, tag: m.DeliveryTag, multiple: m.Multiple, requeue: m.Requeue})
			return nil
		}
		return ch.session.Nack(m.DeliveryTag, m.Multiple, m.Requeue)
	case *wire.BasicReject:
		if ch.tx {
			if err := ch.txCheckTag(m.DeliveryTag, false); err != nil {
				return err
			}
			ch.txOps = append(ch.txOps, txOp{nack: true, tag: m.DeliveryTag, requeue: m.Requeue})
			return nil
		}
		return ch.session.Nack(m.DeliveryTag, false, m.Requeue)

	case *wire.ChannelClose:
		ch.close()
		ch.c.removeChannel(ch)
		ch.reply(&wire.ChannelCloseOk{})
		return nil
	case *wire.ChannelCloseOk:
		return nil
	case *wire.ChannelFlow:
		// RabbitMQ refuses to let a client stop its deliveries this way
		// (prefetch does that job), and clients test for exactly this.
		if !m.Active {
			return wire.NewError(wire.NotImplemented, "active=false")
		}
		ch.reply(&wire.ChannelFlowOk{Active: true})
		return nil
	case *wire.ChannelFlowOk:
		return nil
	case *wire.ChannelOpen:
		return wire.NewError(wire.ChannelError, "second 'channel.open' seen")

	case *wire.ExchangeDeclare:
		_, err := v.DeclareExchange(broker.ExchangeDecl{Name: m.Exchange, Type: m.Type, Passive: m.Passive,
			Durable: m.Durable, AutoDelete: m.AutoDelete, Internal: m.Internal, Args: m.Arguments})
		if err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.ExchangeDeclareOk{})
		}
		return nil
	case *wire.ExchangeDelete:
		if err := v.DeleteExchange(m.Exchange, m.IfUnused); err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.ExchangeDeleteOk{})
		}
		return nil
	case *wire.ExchangeBind:
		if err := v.Bind(broker.BindSpec{Source: m.Source, Destination: m.Destination, DestIsExchange: true,
			Key: m.RoutingKey, Args: m.Arguments, Owner: owner}); err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.ExchangeBindOk{})
		}
		return nil
	case *wire.ExchangeUnbind:
		if err := v.Unbind(broker.BindSpec{Source: m.Source, Destination: m.Destination, DestIsExchange: true,
			Key: m.RoutingKey, Args: m.Arguments, Owner: owner}); err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.ExchangeUnbindOk{})
		}
		return nil

	case *wire.QueueDeclare:
		return ch.queueDeclare(m)
	case *wire.QueueBind:
		if m.Queue == "" && m.RoutingKey == "" {
			m.RoutingKey = ch.lastQueue // the spec: both empty binds by the queue's name
		}
		var err error
		if m.Queue, err = ch.queueName(m.Queue); err != nil {
			return err
		}
		if err := v.Bind(broker.BindSpec{Source: m.Exchange, Destination: m.Queue, Key: m.RoutingKey,
			Args: m.Arguments, Owner: owner}); err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.QueueBindOk{})
		}
		return nil
	case *wire.QueueUnbind:
		var err error
		if m.Queue, err = ch.queueName(m.Queue); err != nil {
			return err
		}
		if err := v.Unbind(broker.BindSpec{Source: m.Exchange, Destination: m.Queue, Key: m.RoutingKey,
			Args: m.Arguments, Owner: owner}); err != nil {
			return err
		}
		ch.reply(&wire.QueueUnbindOk{})
		return nil
	case *wire.QueuePurge:
		name, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		n, err := v.PurgeQueue(name, owner)
		if err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.QueuePurgeOk{MessageCount: uint32(n)})
		}
		return nil
	case *wire.QueueDelete:
		name, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		n, err := v.DeleteQueue(name, m.IfUnused, m.IfEmpty, owner)
		if err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.QueueDeleteOk{MessageCount: uint32(n)})
		}
		return nil

	case *wire.BasicQos:
		if m.PrefetchSize != 0 {
			// RabbitMQ does not implement byte windows over AMQP and says
			// so; clients rely on that answer.
			return wire.NewError(wire.NotImplemented, fmt.Sprintf("prefetch_size!=0 (%d)", m.PrefetchSize))
		}
		ch.session.Qos(int(m.PrefetchCount), int64(m.PrefetchSize), m.Global)
		ch.reply(&wire.BasicQosOk{})
		return nil
	case *wire.BasicConsume:
		return ch.consume(m)
	case *wire.BasicCancel:
		if m.ConsumerTag == ch.replyTag && ch.replyTag != "" {
			// The reply queue is auto-delete: it goes with this consumer.
			ch.replyTag, ch.replyQ = "", ""
		}
		ch.session.Cancel(m.ConsumerTag)
		if !m.NoWait {
			ch.reply(&wire.BasicCancelOk{ConsumerTag: m.ConsumerTag})
		}
		return nil
	case *wire.BasicGet:
		name, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		d, remaining, ok, err := ch.session.Get(name, m.NoAck)
		if err != nil {
			return err
		}
		if !ok {
			ch.reply(&wire.BasicGetEmpty{})
			return nil
		}
		ch.c.out.push(outItem{kind: outGetOk, ch: ch.id, d: d, count: uint32(remaining)})
		return nil
	case *wire.BasicRecover:
		if !m.Requeue {
			return wire.NewError(wire.NotImplemented, "requeue=false")
		}
		ch.session.Recover()
		ch.reply(&wire.BasicRecoverOk{})
		return nil
	case *wire.BasicRecoverAsync:
		if !m.Requeue {
			return wire.NewError(wire.NotImplemented, "requeue=false")
		}
		ch.session.Recover()
		return nil

	case *wire.ConfirmSelect:
		if ch.tx {
			return wire.NewError(wire.PreconditionFailed, "cannot switch from tx to confirm mode")
		}
		if ch.confirm == nil {
			ch.confirm = newConfirmTracker(ch.c.out, ch.id)
		}
		if !m.NoWait {
			ch.reply(&wire.ConfirmSelectOk{})
		}
		return nil
	case *wire.TxSelect:
		if ch.confirm != nil {
			return wire.NewError(wire.PreconditionFailed, "cannot switch from confirm to tx mode")
		}
		ch.tx = true
		ch.reply(&wire.TxSelectOk{})
		return nil
	case *wire.TxCommit:
		if !ch.tx {
			return wire.NewError(wire.PreconditionFailed, "channel is not transactional")
		}
		ops := ch.txOps
		ch.txOps = nil
		for _, op := range ops {
			var err error
			switch {
			case op.ack:
				err = ch.session.Ack(op.tag, op.multiple)
			case op.nack:
				err = ch.session.Nack(op.tag, op.multiple, op.requeue)
			default:
				err = ch.route(op.pub, op.msg)
			}
			if err != nil {
				return err
			}
			if ch.closing {
				// A publish failed and closed the channel (route sent
				// channel.close): no commit-ok may follow it.
				return nil
			}
		}
		ch.reply(&wire.TxCommitOk{})
		return nil
	case *wire.TxRollback:
		if !ch.tx {
			return wire.NewError(wire.PreconditionFailed, "channel is not transactional")
		}
		ch.txOps = nil
		ch.reply(&wire.TxRollbackOk{})
		return nil
	}
	return wire.NewError(wire.CommandInvalid, fmt.Sprintf("unexpected method %s on channel %d", wire.MethodName(m.ClassID(), m.MethodID()), ch.id))
}

func (ch *channel) queueDeclare(m *wire.QueueDeclare) error {
	v := ch.c.vhost
	if m.Queue == replyToQueue {
		// Clients check the pseudo queue exists before using it.
		if !m.NoWait {
			ch.reply(&wire.QueueDeclareOk{Queue: replyToQueue, ConsumerCount: 1})
		}
		return nil
	}
	info, err := v.DeclareQueue(broker.QueueDecl{Name: m.Queue, Passive: m.Passive, Durable: m.Durable,
		Exclusive: m.Exclusive, AutoDelete: m.AutoDelete, Args: m.Arguments, Owner: ch.c.id})
	if err != nil {
		return err
	}
	ch.lastQueue = info.Name
	if !m.NoWait {
		ch.reply(&wire.QueueDeclareOk{Queue: info.Name, MessageCount: uint32(info.Messages), ConsumerCount: uint32(info.Consumers)})
	}
	return nil
}

func (ch *channel) consume(m *wire.BasicConsume) error {
	queue, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if queue == replyToQueue {
		if !m.NoAck {
			return wire.NewError(wire.PreconditionFailed, "reply consumer cannot acknowledge")
		}
		if ch.replyTag != "" {
			return wire.NewError(wire.PreconditionFailed, "reply consumer already set")
		}
		if ch.replyQ == "" {
			name, err := ch.c.vhost.DeclareReplyQueue(ch.c.id)
			if err != nil {
				return err
			}
			ch.replyQ = name
		}
		queue = ch.replyQ
	}
	spec := broker.ConsumeSpec{Tag: m.ConsumerTag, NoAck: m.NoAck, Exclusive: m.Exclusive, Args: m.Arguments}
	if !m.NoWait {
		// consume-ok goes out before the consumer's first delivery.
		spec.Registered = func(tag string) { ch.reply(&wire.BasicConsumeOk{ConsumerTag: tag}) }
	}
	tag, err := ch.session.Consume(queue, spec)
	if err != nil {
		return err
	}
	if m.Queue == replyToQueue {
		ch.replyTag = tag
	}
	return nil
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
	a.body = make([]byte, 0, size)
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
		p := *pub
		ch.txOps = append(ch.txOps, txOp{pub: &p, msg: msg})
		return nil
	}
	return ch.route(pub, msg)
}

// checkTxPublish refuses a publish inside a transaction when it arrives, as
// RabbitMQ checks every basic.publish on arrival: the channel closes then and
// the transaction goes with it. Left to tx.commit, the publishes before the
// bad one would be committed while the client is told the commit failed.
func (ch *channel) checkTxPublish(pub *wire.BasicPublish, msg *message.Message) error {
	if pub.Immediate {
		return wire.NewError(wire.NotImplemented, "immediate=true")
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
		exp := msg.Properties.Expiration
		if n, err := strconv.ParseInt(exp, 10, 64); err != nil {
			return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf("invalid expiration '%s': no_integer", exp))
		} else if n < 0 {
			return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf("invalid expiration '%s': {value_negative,%d}", exp, n))
		}
	}
	return nil
}

func (ch *channel) softError(pub *wire.BasicPublish, code uint16, text string) error {
	e := wire.NewError(code, text)
	e.ClassID, e.MethodID = wire.ClassBasic, wire.MethodBasicPublish
	ch.fail(e)
	return nil
}

// route publishes into the broker and answers with return and confirm.
func (ch *channel) route(pub *wire.BasicPublish, msg *message.Message) error {
	if msg.Properties.Has(message.FlagUserID) && msg.Properties.UserID != ch.c.user {
		return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf(
			"user_id property set to '%s' but authenticated user was '%s'", msg.Properties.UserID, ch.c.user))
	}
	if pub.Immediate {
		return wire.NewError(wire.NotImplemented, "immediate=true")
	}
	if msg.Properties.Has(message.FlagExpiration) {
		exp := msg.Properties.Expiration
		if n, err := strconv.ParseInt(exp, 10, 64); err != nil {
			return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf("invalid expiration '%s': no_integer", exp))
		} else if n < 0 {
			return ch.softError(pub, wire.PreconditionFailed, fmt.Sprintf("invalid expiration '%s': {value_negative,%d}", exp, n))
		}
	}
	// The time of the read that brought the message's last frame: one
	// clock read per read, not per message.
	opt := broker.PublishOptions{Now: ch.c.lastRead.Load()}
	if ch.confirm != nil {
		opt.Confirm, opt.Seq = ch.confirm, ch.confirm.add()
	}
	res, err := ch.session.Publish(pub.Exchange, pub.RoutingKey, msg, opt)
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
	if opt.Confirm != nil && !res.Pending {
		ch.confirm.Confirmed(opt.Seq, !res.Rejected)
	}
	return nil
}
