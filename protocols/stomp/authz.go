package stomp

import (
	"errors"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/internal/connlimit"
)

// Authorization: RabbitMQ's STOMP plugin runs the AMQP operations a frame
// stands for (declare, bind, consume, publish) with their permission
// checks, so each frame here asks auth.Access the same questions the AMQP
// adapter asks for those operations, when the frame arrives: a revoked
// permission refuses the next frame. A refusal is the ERROR the plugin
// sends when its channel is closed: message "access_refused", body
// "ACCESS_REFUSED - " and RabbitMQ's text; the session ends.

// access is what this session's user may do in its vhost.
func (c *conn) access() auth.Access {
	return auth.Access{Store: c.srv.users, User: c.user, VHost: c.vhost.Name()}
}

// refused turns a refusal from auth (*auth.Denied: 403, *auth.Limited:
// 406) into the broker error the frame loop sends as ERROR; other errors
// pass through. Refusals are logged at debug only.
func (c *conn) refused(err error) error {
	out, denied := broker.Refusal(err)
	if denied {
		c.log.Debug().Str("refusal", out.(*broker.Error).Text).Msg("operation refused")
	}
	return out
}

// admitOpen is CONNECT's check once the user is known and the vhost
// exists, in the plugin's order: access to the vhost, then its (and the
// user's) max-connections. Admitted, the session counts against both
// until it ends (untrack).
func (c *conn) admitOpen(user, vhost string) error {
	users := c.srv.users
	if err := users.VHostAccess(user, vhost); err != nil {
		c.log.Warn().Str("user", user).Str("vhost", vhost).Msg("STOMP login failed: virtual host access not allowed")
		return errorf("Bad CONNECT", "Virtual host '%s' access denied", vhost)
	}
	vmax, ok := users.VHostLimit(vhost, auth.LimitMaxConnections)
	if !ok {
		vmax = -1
	}
	umax, ok := users.UserLimit(user, auth.LimitMaxConnections)
	if !ok {
		umax = -1
	}
	if err := c.srv.cfg.Limits.Opened.Enter(user, vhost, umax, vmax); err != nil {
		var le *connlimit.LimitError
		if errors.As(err, &le) && le.VHost {
			return errorf("Bad CONNECT", "Connection refused: vhost connection limit reached")
		}
		return errorf("Bad CONNECT", "%s\n", err)
	}
	return nil
}

// admitQueue is a queue declare's check, run by the broker with the
// queue's final name (auth.Access.DeclareQueue).
func (c *conn) admitQueue(args message.Table) func(name string, isNew bool, queues int) error {
	return func(name string, isNew bool, queues int) error {
		dlx, hasDLX := message.String(args["x-dead-letter-exchange"])
		return c.refused(c.access().DeclareQueue(name, isNew, dlx, hasDLX, queues))
	}
}

// authorizePublish is SEND's check: write on the exchange the destination
// routes through (amq.default for queues), and the routing key on a topic
// exchange the user has topic permissions for.
func (c *conn) authorizePublish(exchange, key string) error {
	a := c.access()
	if err := a.Publish(exchange); err != nil {
		return c.refused(err)
	}
	if a.TopicRestricted(exchange) {
		if x, ok := c.vhost.Exchange(exchange); ok && x.Type() == "topic" {
			return c.refused(a.TopicWrite(exchange, key))
		}
	}
	return nil
}

// authorizeBind is a subscription's binding, as queue.bind: write on the
// queue, read on the exchange, the key on a topic exchange.
func (c *conn) authorizeBind(queue, exchange, key string) error {
	a := c.access()
	if err := a.Bind(auth.Queue, queue, exchange); err != nil {
		return c.refused(err)
	}
	if a.TopicRestricted(exchange) {
		if x, ok := c.vhost.Exchange(exchange); ok && x.Type() == "topic" {
			return c.refused(a.TopicRead(exchange, key))
		}
	}
	return nil
}

// authorizeConsume is a subscription's consume: read on the queue.
func (c *conn) authorizeConsume(queue string) error {
	return c.refused(c.access().Read(queue))
}

// authorizeTopicSubscription is the plugin's own check of a /topic
// subscription's key (check_subscription_access), made before it
// declares, consumes or binds. The plugin sends this refusal itself, not
// through a dying channel: message "access_refused" and RabbitMQ's text
// without the "ACCESS_REFUSED - " prefix.
func (c *conn) authorizeTopicSubscription(exchange, key string) error {
	a := c.access()
	if !a.TopicRestricted(exchange) {
		return nil
	}
	if x, ok := c.vhost.Exchange(exchange); !ok || x.Type() != "topic" {
		return nil
	}
	err := a.TopicRead(exchange, key)
	var d *auth.Denied
	if err != nil && errors.As(err, &d) {
		c.log.Debug().Str("refusal", d.Text).Msg("operation refused")
		// A channel error in RabbitMQ: the connection closes.
		return &stompError{msg: "access_refused", detail: d.Text, closes: true}
	}
	return c.refused(err)
}
