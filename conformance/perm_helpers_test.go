package conformance

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/brokertest"
)

// permUser creates user (password "pw-" + name) in the broker's user
// database, with the patterns given on vhost "/" (no permission entry
// when perms is empty).
func permUser(t testing.TB, b *brokertest.Broker, name string, perms ...string) {
	t.Helper()
	hash, err := auth.HashPassword("", "pw-"+name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Users.PutUser(auth.UserRecord{Name: name, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	if len(perms) == 3 {
		setPerms(t, b, name, perms[0], perms[1], perms[2])
	}
}

func setPerms(t testing.TB, b *brokertest.Broker, user, conf, write, read string) {
	t.Helper()
	if err := b.Users.SetPermission(auth.Permission{User: user, VHost: "/", Configure: conf, Write: write, Read: read}); err != nil {
		t.Fatal(err)
	}
}

func userURL(b *brokertest.Broker, user string) string {
	return fmt.Sprintf("amqp://%s:pw-%s@%s/", user, user, b.AMQPAddr())
}

// userChan connects as user and opens a channel.
func userChan(t testing.TB, b *brokertest.Broker, user string) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	conn := amqpDialConfig(t, userURL(b, user), amqp.Config{})
	return conn, amqpChan(t, conn)
}

// publishErr publishes with confirms: nil once the broker acks, the
// channel's close error when it refuses.
func publishErr(t testing.TB, ch *amqp.Channel, exchange, key string) error {
	t.Helper()
	if err := ch.Confirm(false); err != nil {
		return err
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	acks := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	if err := ch.Publish(exchange, key, false, false, amqp.Publishing{Body: []byte("m")}); err != nil {
		return err
	}
	select {
	case c := <-acks:
		if !c.Ack {
			// amqp091-go nacks what is outstanding when the channel
			// closes, so the nack may come first: the close, if one
			// comes, is the answer.
			select {
			case e := <-closed:
				if e != nil {
					return e
				}
			case <-time.After(amqpWait):
			}
			return fmt.Errorf("nacked")
		}
		return nil
	case e := <-closed:
		return e
	case <-time.After(amqpWait):
		t.Fatal("publish: neither confirm nor channel.close")
	}
	return nil
}

// refusedText is RabbitMQ's 403 reply text for user on a resource of "/".
func refusedText(kind, name, user string) string {
	return fmt.Sprintf("ACCESS_REFUSED - access to %s '%s' in vhost '/' refused for user '%s'", kind, name, user)
}
