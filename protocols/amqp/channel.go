package amqp

import (
	"errors"
	"fmt"

	"github.com/sluice-mq/sluice/auth"
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
	txBytes  int64     // body bytes held in txOps
	commit   *txCommit // the last tx.commit while it waits for storage
	replyTag string    // consumer tag of the direct reply-to consumer
	replyQ   string    // its private queue
	// lastQueue is the queue last declared on this channel: an empty
	// queue name in later methods means it, as the spec says.
	lastQueue string

	// shown mirrors for the management API what the reader keeps in the
	// fields above (admin.go).
	shown channelShown
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
	if ch.commit != nil {
		ch.commit.stop()
		ch.commit = nil
	}
	ch.session.Close()
	if ch.replyQ != "" {
		_, _ = ch.c.vhost.DeleteQueue(ch.replyQ, false, false, ch.c.id)
	}
}

// frame handles one frame for this channel.
func (ch *channel) frame(f wire.Frame) error {
	if ch.commit != nil {
		ch.waitCommit() // may close the channel
	}
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
	if isAccessRequest(f.Payload) {
		ch.reply(accessRequestOk{})
		return nil
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

// method runs one method, handed to the function for its class. Soft
// errors come back as *broker.Error or *wire.Error and close the channel;
// hard ones close the connection.
func (ch *channel) method(m wire.Method) error {
	switch m.ClassID() {
	case wire.ClassBasic:
		return ch.basicMethod(m)
	case wire.ClassChannel:
		return ch.channelMethod(m)
	case wire.ClassExchange:
		return ch.exchangeMethod(m)
	case wire.ClassQueue:
		return ch.queueMethod(m)
	case wire.ClassConfirm, wire.ClassTx:
		return ch.modeMethod(m)
	}
	return ch.unexpectedMethod(m)
}

// unexpectedMethod refuses a method no client sends on a channel (one only
// a server sends, or a connection method) in RabbitMQ's words; the failed
// class and method in connection.close name it.
func (ch *channel) unexpectedMethod(m wire.Method) error {
	e := wire.NewError(wire.CommandInvalid, "unimplemented method")
	e.ClassID, e.MethodID = m.ClassID(), m.MethodID()
	return e
}

// basicMethod runs the basic class: publishing, settling and consuming.
func (ch *channel) basicMethod(m wire.Method) error {
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
			return ch.txSettle(txOp{ack: true, tag: m.DeliveryTag, multiple: m.Multiple})
		}
		return ch.session.Ack(m.DeliveryTag, m.Multiple)
	case *wire.BasicNack:
		if ch.tx {
			return ch.txSettle(txOp{nack: true, tag: m.DeliveryTag, multiple: m.Multiple, requeue: m.Requeue})
		}
		return ch.session.Nack(m.DeliveryTag, m.Multiple, m.Requeue)
	case *wire.BasicReject:
		if ch.tx {
			return ch.txSettle(txOp{nack: true, tag: m.DeliveryTag, requeue: m.Requeue})
		}
		return ch.session.Nack(m.DeliveryTag, false, m.Requeue)
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
		if err := ch.c.refused(ch.c.access().Read(name)); err != nil {
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
	}
	return ch.unexpectedMethod(m)
}

// channelMethod runs the channel class on an open channel.
func (ch *channel) channelMethod(m wire.Method) error {
	switch m := m.(type) {
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
	}
	return ch.unexpectedMethod(m)
}

// exchangeMethod runs the exchange class: topology changes.
func (ch *channel) exchangeMethod(m wire.Method) error {
	v := ch.c.vhost
	owner := ch.c.id
	switch m := m.(type) {
	case *wire.ExchangeDeclare:
		if err := checkAlternateExchange(m, v.Name()); err != nil {
			return err
		}
		if err := ch.authorizeExchangeDeclare(m); err != nil {
			return err
		}
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
		if err := ch.c.refused(ch.c.access().Configure(auth.Exchange, m.Exchange)); err != nil {
			return err
		}
		if err := v.DeleteExchange(m.Exchange, m.IfUnused); err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.ExchangeDeleteOk{})
		}
		return nil
	case *wire.ExchangeBind:
		if err := ch.authorizeBind(auth.Exchange, m.Destination, m.Source, m.RoutingKey); err != nil {
			return err
		}
		if err := v.Bind(broker.BindSpec{Source: m.Source, Destination: m.Destination, DestIsExchange: true,
			Key: m.RoutingKey, Args: m.Arguments, Owner: owner}); err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.ExchangeBindOk{})
		}
		return nil
	case *wire.ExchangeUnbind:
		if err := ch.authorizeBind(auth.Exchange, m.Destination, m.Source, m.RoutingKey); err != nil {
			return err
		}
		if err := v.Unbind(broker.BindSpec{Source: m.Source, Destination: m.Destination, DestIsExchange: true,
			Key: m.RoutingKey, Args: m.Arguments, Owner: owner}); err != nil {
			return err
		}
		if !m.NoWait {
			ch.reply(&wire.ExchangeUnbindOk{})
		}
		return nil
	}
	return ch.unexpectedMethod(m)
}

// checkAlternateExchange refuses an alternate-exchange name no AMQP
// exchange can have: the broker would keep it and route to nothing.
// Names are short strings on the wire, so only an argument can be longer.
func checkAlternateExchange(m *wire.ExchangeDeclare, vhost string) error {
	ae, ok := message.String(m.Arguments["alternate-exchange"])
	if !ok || len(ae) <= broker.MaxShortString {
		return nil
	}
	return wire.NewError(wire.PreconditionFailed, fmt.Sprintf(
		"invalid arg 'alternate-exchange' for exchange '%s' in vhost '%s': %d bytes, longer than the %d an AMQP exchange name can hold",
		m.Exchange, vhost, len(ae), broker.MaxShortString))
}

// queueMethod runs the queue class: topology changes and purges.
func (ch *channel) queueMethod(m wire.Method) error {
	v := ch.c.vhost
	owner := ch.c.id
	switch m := m.(type) {
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
		if err := ch.authorizeBind(auth.Queue, m.Queue, m.Exchange, m.RoutingKey); err != nil {
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
		if err := ch.authorizeBind(auth.Queue, m.Queue, m.Exchange, m.RoutingKey); err != nil {
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
		if err := ch.c.refused(ch.c.access().Read(name)); err != nil {
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
		if err := ch.c.refused(ch.c.access().Configure(auth.Queue, name)); err != nil {
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
	}
	return ch.unexpectedMethod(m)
}

// modeMethod runs the confirm and tx classes, which choose how publishes
// are answered.
func (ch *channel) modeMethod(m wire.Method) error {
	switch m := m.(type) {
	case *wire.ConfirmSelect:
		if ch.tx {
			return wire.NewError(wire.PreconditionFailed, "cannot switch from tx to confirm mode")
		}
		if ch.confirm == nil {
			ch.confirm = newConfirmTracker(ch.c.out, ch.id)
			ch.shown.confirm.Store(ch.confirm)
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
		ch.shown.tx.Store(true)
		ch.reply(&wire.TxSelectOk{})
		return nil
	case *wire.TxCommit:
		if !ch.tx {
			return wire.NewError(wire.PreconditionFailed, "channel is not transactional")
		}
		return ch.txCommit()
	case *wire.TxRollback:
		if !ch.tx {
			return wire.NewError(wire.PreconditionFailed, "channel is not transactional")
		}
		ch.txReset()
		ch.reply(&wire.TxRollbackOk{})
		return nil
	}
	return ch.unexpectedMethod(m)
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
	decl := broker.QueueDecl{Name: m.Queue, Passive: m.Passive, Durable: m.Durable,
		Exclusive: m.Exclusive, AutoDelete: m.AutoDelete, Args: m.Arguments, Owner: ch.c.id}
	if !m.Passive { // a passive declare needs no permission (RabbitMQ 3.x)
		// Checked by the broker once the name is final: a server-named
		// queue is checked as amq.gen-..., as RabbitMQ does.
		decl.Admit = ch.queueAdmit(m.Arguments)
	}
	info, err := v.DeclareQueue(decl)
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
	} else if err := ch.c.refused(ch.c.access().Read(queue)); err != nil {
		return err
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
