package conformance

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestAMQPHeartbeatWhileBlocked: a publisher held by a resource alarm is
// not read (its publishes back up in TCP), and neither are its
// heartbeats. The silence is the broker's doing, so it must not count as
// missed heartbeats: the connection stays open through more than three
// intervals and its held publish goes through when the alarm clears. It
// was closed for "missed heartbeats" after two intervals.
func TestAMQPHeartbeatWhileBlocked(t *testing.T) {
	b, observer, setup := amqpSetup(t)
	declareQ(t, setup, "hb-blocked", nil)

	conn := amqpDialConfig(t, b.AMQPURL(), amqp.Config{Heartbeat: time.Second})
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	ch := amqpChan(t, conn)

	b.Broker.Alarms.Set("memory", true)
	pub(t, ch, "", "hb-blocked", amqp.Publishing{Body: []byte("held")})
	select {
	case bl := <-blocked:
		if !bl.Active {
			t.Fatalf("got %+v", bl)
		}
	case <-time.After(amqpWait):
		t.Fatal("no connection.blocked")
	}
	select {
	case err := <-closed:
		t.Fatalf("blocked connection closed: %v", err)
	case <-time.After(3500 * time.Millisecond):
	}
	if n := messageCount(t, observer, "hb-blocked"); n != 0 {
		t.Fatalf("%d messages got through while blocked", n)
	}

	b.Broker.Alarms.Set("memory", false)
	waitCount(t, observer, "hb-blocked", 1)
	pub(t, ch, "", "hb-blocked", amqp.Publishing{Body: []byte("after")})
	waitCount(t, observer, "hb-blocked", 2)
	select {
	case err := <-closed:
		t.Fatalf("connection closed: %v", err)
	default:
	}
}
