package amqp

import (
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// Authorization: every channel method asks auth.Access, whose rules are
// RabbitMQ's (rabbit_channel's check_*_permitted call sites), at the
// moment it runs: a permission revoked in the user database refuses the
// next operation, not the next connection. A refusal is 403
// ACCESS_REFUSED on the channel with RabbitMQ's text.

// access is what this connection's user may do in its vhost.
func (c *conn) access() auth.Access {
	return auth.Access{Store: c.srv.users, User: c.user, VHost: c.vhost.Name()}
}

// refused turns a refusal from auth (*auth.Denied: 403, *auth.Limited:
// 406) into the channel error RabbitMQ sends; other errors pass through. Refusals are logged at debug only: a
// client looping on a forbidden operation must not flood the log.
func (c *conn) refused(err error) error {
	out, denied := broker.Refusal(err)
	if denied {
		c.event(c.srv.log.Debug()).Str("refusal", out.(*broker.Error).Text).Msg("operation refused")
	}
	return out
}

// admitOpen runs connection.open's checks in RabbitMQ's order
// (rabbit_reader): the vhost's and the user's max-connections, then the
// user's access to the vhost. Every refusal is 530 NOT_ALLOWED. Admitted,
// the connection counts against both limits until it ends.
func (c *conn) admitOpen(vhost string) *wire.Error {
	users := c.srv.users
	vmax, ok := users.VHostLimit(vhost, auth.LimitMaxConnections)
	if !ok {
		vmax = -1
	}
	umax, ok := users.UserLimit(c.user, auth.LimitMaxConnections)
	if !ok {
		umax = -1
	}
	if err := c.srv.cfg.Limits.Opened.Enter(c.user, vhost, umax, vmax); err != nil {
		return wire.NewError(wire.NotAllowed, err.Error())
	}
	if err := users.VHostAccess(c.user, vhost); err != nil {
		c.srv.cfg.Limits.Opened.Leave(c.user, vhost)
		return wire.NewError(wire.NotAllowed, err.Error())
	}
	return nil
}

// countChannel counts a channel being opened against the user's
// max-channels; RabbitMQ refuses one over it with 530 on the connection.
func (c *conn) countChannel() error {
	max, ok := c.srv.users.UserLimit(c.user, auth.LimitMaxChannels)
	if !ok {
		max = -1
	}
	if err := c.srv.cfg.Limits.Opened.OpenChannel(c.user, max); err != nil {
		return wire.NewError(wire.NotAllowed, err.Error())
	}
	return nil
}

// uncountChannels releases n channels counted by countChannel.
func (c *conn) uncountChannels(n int) {
	for range n {
		c.srv.cfg.Limits.Opened.CloseChannel(c.user)
	}
}

// authorizePublish is basic.publish's check: write on the exchange, then,
// on a topic exchange the user has topic permissions for, the routing
// key. Nothing here allocates when the publish is allowed.
func (ch *channel) authorizePublish(exchange, key string) error {
	a := ch.c.access()
	if err := a.Publish(exchange); err != nil {
		return ch.c.refused(err)
	}
	if a.TopicRestricted(exchange) {
		if x, ok := ch.c.vhost.Exchange(exchange); ok && x.Type() == "topic" {
			return ch.c.refused(a.TopicWrite(exchange, key))
		}
	}
	return nil
}

// authorizeBind is queue.bind/unbind and exchange.bind/unbind: write on
// the destination, read on the source, and the binding key against the
// user's topic permissions when the source is a topic exchange.
func (ch *channel) authorizeBind(destKind auth.Kind, dest, source, key string) error {
	a := ch.c.access()
	if err := a.Bind(destKind, dest, source); err != nil {
		return ch.c.refused(err)
	}
	if a.TopicRestricted(source) {
		if x, ok := ch.c.vhost.Exchange(source); ok && x.Type() == "topic" {
			return ch.c.refused(a.TopicRead(source, key))
		}
	}
	return nil
}

// queueAdmit is queue.declare's check (not passive), run by the broker
// with the queue's final name (auth.Access.DeclareQueue).
func (ch *channel) queueAdmit(args message.Table) func(name string, isNew bool, queues int) error {
	return func(name string, isNew bool, queues int) error {
		dlx, hasDLX := message.String(args["x-dead-letter-exchange"])
		return ch.c.refused(ch.c.access().DeclareQueue(name, isNew, dlx, hasDLX, queues))
	}
}

// authorizeExchangeDeclare is exchange.declare's check: none for a
// passive one; configure otherwise, and for a new exchange with an
// alternate-exchange, read on it and write on the alternate. The default
// exchange is left to the broker, which refuses it in RabbitMQ's words.
func (ch *channel) authorizeExchangeDeclare(m *wire.ExchangeDeclare) error {
	if m.Exchange == "" {
		return nil
	}
	a := ch.c.access()
	if m.Passive {
		return nil // needs no permission, as in RabbitMQ 3.x
	}
	if err := a.Configure(auth.Exchange, m.Exchange); err != nil {
		return ch.c.refused(err)
	}
	if ae, ok := message.String(m.Arguments["alternate-exchange"]); ok {
		if _, exists := ch.c.vhost.Exchange(m.Exchange); !exists {
			return ch.c.refused(a.AlternateExchange(m.Exchange, ae))
		}
	}
	return nil
}
