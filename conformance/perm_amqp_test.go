package conformance

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestPermAMQPRules runs every operation RabbitMQ checks, once with the
// permission it needs (allowed) and once without it (refused with 403 and
// RabbitMQ's text), as a real client over a real socket.
func TestPermAMQPRules(t *testing.T) {
	b := brokertest.New(t)
	guest := amqpChan(t, amqpDial(t, b))
	declareQ(t, guest, "existing", nil)
	must(t, guest.ExchangeDeclare("xsrc", "fanout", false, false, false, false, nil), "exchange.declare")
	must(t, guest.ExchangeDeclare("dlx", "fanout", false, false, false, false, nil), "exchange.declare")
	permUser(t, b, "alice")

	type rule struct {
		name                     string
		conf, write, read        string // granted
		op                       func(ch *amqp.Channel) error
		deniedConf, deniedWrite  string // the grant that lacks it
		deniedRead, deniedReason string
	}
	all := ".*"
	rules := []rule{
		{name: "queue.declare", conf: "^q1$", op: func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("q1", false, true, false, false, nil)
			return err
		}, deniedConf: "^q2$", deniedWrite: all, deniedRead: all, deniedReason: refusedText("queue", "q1", "alice")},
		{name: "server-named queue.declare", conf: `^amq\.gen-`, op: func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("", false, true, true, false, nil)
			return err
		}, deniedConf: "^q", deniedWrite: all, deniedRead: all, deniedReason: "ACCESS_REFUSED - access to queue 'amq.gen-*"},
		{name: "queue.delete", conf: "^qd$", op: func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclarePassive("qd", false, false, false, false, nil); err != nil {
				return err
			}
			_, err := ch.QueueDelete("qd", false, false, false)
			return err
		}, deniedConf: "^$", deniedWrite: all, deniedRead: all, deniedReason: refusedText("queue", "qd", "alice")},
		{name: "exchange.declare", conf: "^x1$", op: func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare("x1", "direct", false, true, false, false, nil)
		}, deniedConf: "^q", deniedWrite: all, deniedRead: all, deniedReason: refusedText("exchange", "x1", "alice")},
		{name: "exchange.declare with alternate-exchange", conf: "^x2$", read: "^x2$", write: "^xsrc$", op: func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare("x2", "direct", false, true, false, false, amqp.Table{"alternate-exchange": "xsrc"})
		}, deniedConf: "^x2$", deniedWrite: "^$", deniedRead: all, deniedReason: refusedText("exchange", "xsrc", "alice")},
		{name: "exchange.delete", conf: "^xdel$", op: func(ch *amqp.Channel) error {
			return ch.ExchangeDelete("xdel", false, false)
		}, deniedConf: "^q", deniedWrite: all, deniedRead: all, deniedReason: refusedText("exchange", "xdel", "alice")},
		{name: "basic.publish to the default exchange", write: `^amq\.default$`, op: func(ch *amqp.Channel) error {
			return publishErr(t, ch, "", "existing")
		}, deniedConf: all, deniedWrite: "^q", deniedRead: all, deniedReason: refusedText("exchange", "amq.default", "alice")},
		{name: "basic.publish", write: "^xsrc$", op: func(ch *amqp.Channel) error {
			return publishErr(t, ch, "xsrc", "")
		}, deniedConf: all, deniedWrite: "^q", deniedRead: all, deniedReason: refusedText("exchange", "xsrc", "alice")},
		{name: "basic.consume", read: "^existing$", op: func(ch *amqp.Channel) error {
			_, err := ch.Consume("existing", "", true, false, false, false, nil)
			return err
		}, deniedConf: all, deniedWrite: all, deniedRead: "^q", deniedReason: refusedText("queue", "existing", "alice")},
		{name: "basic.get", read: "^existing$", op: func(ch *amqp.Channel) error {
			_, _, err := ch.Get("existing", true)
			return err
		}, deniedConf: all, deniedWrite: all, deniedRead: "^q", deniedReason: refusedText("queue", "existing", "alice")},
		{name: "queue.purge needs read", read: "^existing$", op: func(ch *amqp.Channel) error {
			_, err := ch.QueuePurge("existing", false)
			return err
		}, deniedConf: all, deniedWrite: all, deniedRead: "^$", deniedReason: refusedText("queue", "existing", "alice")},
		{name: "queue.bind: write on the queue", write: "^existing$", read: "^xsrc$", op: func(ch *amqp.Channel) error {
			return ch.QueueBind("existing", "k", "xsrc", false, nil)
		}, deniedConf: all, deniedWrite: "^$", deniedRead: all, deniedReason: refusedText("queue", "existing", "alice")},
		{name: "queue.bind: read on the exchange", write: "^existing$", read: "^xsrc$", op: func(ch *amqp.Channel) error {
			return ch.QueueBind("existing", "k", "xsrc", false, nil)
		}, deniedConf: all, deniedWrite: all, deniedRead: "^existing$", deniedReason: refusedText("exchange", "xsrc", "alice")},
		{name: "queue.unbind", write: "^existing$", read: "^xsrc$", op: func(ch *amqp.Channel) error {
			return ch.QueueUnbind("existing", "k", "xsrc", nil)
		}, deniedConf: all, deniedWrite: "^$", deniedRead: all, deniedReason: refusedText("queue", "existing", "alice")},
		{name: "exchange.bind: write on the destination", write: "^dlx$", read: "^xsrc$", op: func(ch *amqp.Channel) error {
			return ch.ExchangeBind("dlx", "", "xsrc", false, nil)
		}, deniedConf: all, deniedWrite: "^xsrc$", deniedRead: all, deniedReason: refusedText("exchange", "dlx", "alice")},
		{name: "exchange.bind: read on the source", write: "^dlx$", read: "^xsrc$", op: func(ch *amqp.Channel) error {
			return ch.ExchangeBind("dlx", "", "xsrc", false, nil)
		}, deniedConf: all, deniedWrite: all, deniedRead: "^dlx$", deniedReason: refusedText("exchange", "xsrc", "alice")},
		{name: "exchange.unbind", write: "^dlx$", read: "^xsrc$", op: func(ch *amqp.Channel) error {
			return ch.ExchangeUnbind("dlx", "", "xsrc", false, nil)
		}, deniedConf: all, deniedWrite: all, deniedRead: "^dlx$", deniedReason: refusedText("exchange", "xsrc", "alice")},
		{name: "dead-letter exchange: write on it", conf: "^qdl", read: "^qdl", write: "^dlx$", op: func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("qdl1", false, true, false, false, amqp.Table{"x-dead-letter-exchange": "dlx"})
			return err
		}, deniedConf: all, deniedWrite: "^$", deniedRead: all, deniedReason: refusedText("exchange", "dlx", "alice")},
		{name: "dead-letter exchange: read on the queue", conf: "^qdl", read: "^qdl", write: "^dlx$", op: func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("qdl2", false, true, false, false, amqp.Table{"x-dead-letter-exchange": "dlx"})
			return err
		}, deniedConf: all, deniedWrite: all, deniedRead: "^$", deniedReason: refusedText("queue", "qdl2", "alice")},
	}
	// reset puts back what the operations change, as guest.
	gconn := amqpDial(t, b)
	reset := func(t *testing.T) {
		t.Helper()
		g := amqpChan(t, gconn)
		defer g.Close()
		for _, q := range []string{"q1", "qdl1", "qdl2"} {
			_, err := g.QueueDelete(q, false, false, false)
			must(t, err, "queue.delete")
		}
		for _, x := range []string{"x1", "x2"} {
			must(t, g.ExchangeDelete(x, false, false), "exchange.delete")
		}
		_, err := g.QueueDeclare("qd", false, false, false, false, nil)
		must(t, err, "queue.declare")
		must(t, g.ExchangeDeclare("xdel", "direct", false, false, false, false, nil), "exchange.declare")
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			reset(t)
			setPerms(t, b, "alice", r.conf, r.write, r.read)
			_, ch := userChan(t, b, "alice")
			if err := r.op(ch); err != nil {
				t.Fatalf("allowed: %v", err)
			}
			reset(t)
			setPerms(t, b, "alice", r.deniedConf, r.deniedWrite, r.deniedRead)
			_, ch = userChan(t, b, "alice")
			wantAMQPError(t, r.op(ch), 403, r.deniedReason)
		})
	}
}

// TestPermAMQPPassiveDeclareNeedsNoPermission: a passive queue.declare or
// exchange.declare only asks whether something exists; it needs no
// permission, as the issue says and as RabbitMQ 3.10 (Debian's, which the
// differential tests run) answers. RabbitMQ 4.x, since
// rabbitmq-server#16085, asks for any one permission on the resource.
func TestPermAMQPPassiveDeclareNeedsNoPermission(t *testing.T) {
	b := brokertest.New(t)
	guest := amqpChan(t, amqpDial(t, b))
	declareQ(t, guest, "existing", nil)
	must(t, guest.ExchangeDeclare("xsrc", "fanout", false, false, false, false, nil), "exchange.declare")
	permUser(t, b, "alice", "^nothing$", "^nothing$", "^nothing$")
	_, ch := userChan(t, b, "alice")
	q, err := ch.QueueDeclarePassive("existing", false, false, false, false, nil)
	must(t, err, "passive queue.declare with no permission on the queue")
	if q.Name != "existing" {
		t.Fatalf("declare-ok for %q", q.Name)
	}
	must(t, ch.ExchangeDeclarePassive("xsrc", "fanout", false, false, false, false, nil), "passive exchange.declare with no permission")
	// A missing queue is still a 404, not a 403.
	_, err = ch.QueueDeclarePassive("missing", false, false, false, false, nil)
	wantAMQPError(t, err, 404, "NOT_FOUND - no queue 'missing' in vhost '/'")
}

// TestPermAMQPTopic: topic permissions restrict the routing keys of
// publishes (write) and bindings (read) on a topic exchange, with
// {username} expanded; other exchanges are not restricted.
func TestPermAMQPTopic(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", ".*", ".*")
	if err := b.Users.SetTopicPermission(auth.TopicPermission{User: "alice", VHost: "/", Exchange: "amq.topic",
		Write: `^{username}\.`, Read: `^public\.`}); err != nil {
		t.Fatal(err)
	}
	_, ch := userChan(t, b, "alice")
	if err := publishErr(t, ch, "amq.topic", "alice.orders"); err != nil {
		t.Fatalf("allowed key: %v", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(t, err, "queue.declare")
	must(t, ch.QueueBind(q.Name, "public.news", "amq.topic", false, nil), "allowed binding key")
	wantAMQPError(t, ch.QueueBind(q.Name, "secret.#", "amq.topic", false, nil), 403,
		"ACCESS_REFUSED - access to topic 'secret.#' in exchange 'amq.topic' in vhost '/' refused for user 'alice'")
	_, ch = userChan(t, b, "alice")
	wantAMQPError(t, publishErr(t, ch, "amq.topic", "bob.orders"), 403,
		"ACCESS_REFUSED - access to topic 'bob.orders' in exchange 'amq.topic' in vhost '/' refused for user 'alice'")
	// A direct exchange is never checked against topic permissions.
	_, ch = userChan(t, b, "alice")
	if err := publishErr(t, ch, "amq.direct", "bob.orders"); err != nil {
		t.Fatalf("direct exchange: %v", err)
	}
}

// TestPermAMQPVHostAccess: connection.open needs a permission entry for
// the vhost (even one that matches nothing), else 530 with RabbitMQ's text.
func TestPermAMQPVHostAccess(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "nobody")
	_, err := amqp.Dial(userURL(b, "nobody"))
	wantAMQPError(t, err, 530, "NOT_ALLOWED - access to vhost '/' refused for user 'nobody'")
	setPerms(t, b, "nobody", "", "", "")
	conn := amqpDialConfig(t, userURL(b, "nobody"), amqp.Config{})
	ch := amqpChan(t, conn)
	_, err = ch.QueueDeclare("q", false, true, false, false, nil)
	wantAMQPError(t, err, 403, refusedText("queue", "q", "nobody"))
}

// TestPermAMQPRevokeRefusesNextPublish: permissions are checked when each
// operation runs, so a revoked write refuses the next publish on a
// connection that was opened while it was granted.
func TestPermAMQPRevokeRefusesNextPublish(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", ".*", ".*")
	_, ch := userChan(t, b, "alice")
	if err := publishErr(t, ch, "amq.direct", "k"); err != nil {
		t.Fatal(err)
	}
	setPerms(t, b, "alice", ".*", "^$", ".*")
	wantAMQPError(t, publishErr(t, ch, "amq.direct", "k"), 403, refusedText("exchange", "amq.direct", "alice"))
}

// TestPermAMQPDeletedUserDisconnected: deleting a user closes its
// connections with 320 and RabbitMQ's reason; others stay.
func TestPermAMQPDeletedUserDisconnected(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", ".*", ".*")
	conn, _ := userChan(t, b, "alice")
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	guest := amqpDial(t, b)
	if err := b.Users.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	wantConnClosed(t, closed, 320, "CONNECTION_FORCED - user 'alice' is deleted")
	stillUsable(t, guest)
	if _, err := amqp.Dial(userURL(b, "alice")); err == nil {
		t.Fatal("a deleted user logged in")
	}
}

// TestAuthzAMQPLimits: the user's and the vhost's max-connections refuse
// connection.open, the user's max-channels channel.open (530, on the
// connection), the vhost's max-queues a new queue (406 on the channel),
// each in RabbitMQ's words; a closed connection frees its place.
func TestAuthzAMQPLimits(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", ".*", ".*")
	must(t, b.Users.SetUserLimit("alice", auth.LimitMaxConnections, 1, false), "user limit")
	c1 := amqpDialConfig(t, userURL(b, "alice"), amqp.Config{})
	_, err := amqp.Dial(userURL(b, "alice"))
	wantAMQPError(t, err, 530, "NOT_ALLOWED - connection refused for user 'alice': user connection limit (1) is reached")
	c1.Close()
	eventually(t, "the closed connection's place is free", func() bool {
		c, err := amqp.Dial(userURL(b, "alice"))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	must(t, b.Users.SetUserLimit("alice", auth.LimitMaxConnections, 0, true), "clear user limit")

	must(t, b.Users.SetUserLimit("alice", auth.LimitMaxChannels, 2, false), "channel limit")
	conn := amqpDialConfig(t, userURL(b, "alice"), amqp.Config{})
	amqpChan(t, conn)
	amqpChan(t, conn)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	if _, err := conn.Channel(); err == nil {
		t.Fatal("third channel opened over max-channels 2")
	}
	wantConnClosed(t, closed, 530, "NOT_ALLOWED - number of channels opened for user 'alice' has reached the maximum allowed user limit of (2)")
	must(t, b.Users.SetUserLimit("alice", auth.LimitMaxChannels, 0, true), "clear channel limit")

	must(t, b.Users.SetVHostLimit("/", auth.LimitMaxConnections, 2, false), "vhost limit")
	amqpDial(t, b)
	amqpDialConfig(t, userURL(b, "alice"), amqp.Config{})
	_, err = amqp.Dial(userURL(b, "alice"))
	wantAMQPError(t, err, 530, "NOT_ALLOWED - access to vhost '/' refused for user 'alice': connection limit (2) is reached")
	must(t, b.Users.SetVHostLimit("/", auth.LimitMaxConnections, 0, true), "clear vhost limit")

	_, ch := userChan(t, b, "alice")
	v, _ := b.Broker.VHost("/")
	n := len(v.Queues())
	must(t, b.Users.SetVHostLimit("/", auth.LimitMaxQueues, int64(n+1), false), "queue limit")
	declareQ(t, ch, "fits", nil)
	declareQ(t, ch, "fits", nil) // redeclaring an existing queue is not a new one
	_, err = ch.QueueDeclare("over", false, false, false, false, nil)
	wantAMQPError(t, err, 406, "PRECONDITION_FAILED - cannot declare queue 'over': queue limit in vhost '/' (*")
	if !strings.Contains(err.Error(), ") is reached") {
		t.Fatalf("text %v", err)
	}
}
