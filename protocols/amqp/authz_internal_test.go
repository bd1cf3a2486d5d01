package amqp

import (
	"testing"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// publishCheck is a channel of a non-guest user whose permissions are
// patterns (not .*), with a topic permission on amq.topic: the publish
// check's longest path.
func publishCheck(tb testing.TB) *channel {
	tb.Helper()
	users := auth.NewRegistry()
	if _, err := users.PutUser(auth.UserRecord{Name: "alice"}); err != nil {
		tb.Fatal(err)
	}
	if err := users.SetPermission(auth.Permission{User: "alice", VHost: "/", Configure: "^alice\\.",
		Write: "^(amq\\.default|amq\\.topic|alice\\..*)$", Read: "^alice\\."}); err != nil {
		tb.Fatal(err)
	}
	if err := users.SetTopicPermission(auth.TopicPermission{User: "alice", VHost: "/", Exchange: "amq.topic",
		Write: "^{username}\\.", Read: ".*"}); err != nil {
		tb.Fatal(err)
	}
	b := broker.New(broker.Config{Logger: zerolog.Nop()})
	v, ok := b.VHost("/")
	if !ok {
		tb.Fatal("no vhost /")
	}
	s := NewServer(Config{}, b, users, zerolog.Nop())
	return &channel{c: &conn{srv: s, user: "alice", vhost: v}}
}

// TestPublishCheckAllocatesNothing: the permission check every publish
// makes (write on the exchange, and the routing key on a topic exchange
// with topic permissions) allocates nothing when it grants.
func TestPublishCheckAllocatesNothing(t *testing.T) {
	ch := publishCheck(t)
	for _, c := range []struct{ exchange, key string }{{"", "alice.q"}, {"amq.topic", "alice.orders"}} {
		if err := ch.authorizePublish(c.exchange, c.key); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if n := testing.AllocsPerRun(1000, func() { _ = ch.authorizePublish(c.exchange, c.key) }); n != 0 {
			t.Errorf("publish check to %q allocates %.1f times", c.exchange, n)
		}
	}
	if err := ch.authorizePublish("amq.topic", "bob.orders"); err == nil {
		t.Fatal("topic permission not applied")
	}
}

// BenchmarkPublishCheck measures the check on the default exchange and on
// a topic exchange with topic permissions (the exchange is looked up).
func BenchmarkPublishCheck(b *testing.B) {
	ch := publishCheck(b)
	for _, c := range []struct{ name, exchange, key string }{{"default", "", "alice.q"}, {"topic", "amq.topic", "alice.orders"}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := ch.authorizePublish(c.exchange, c.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
