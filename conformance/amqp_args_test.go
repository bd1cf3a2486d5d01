package conformance

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestAMQPArgsLongerThanShortString: an argument whose value becomes an
// exchange name or a routing key inside the broker must fit an AMQP short
// string (255 bytes), or the messages it produces cannot be delivered:
// the writer cannot encode a basic.deliver whose routing key is longer,
// and the consumer's connection died with a write error. Such arguments
// are refused at declare with 406, naming the argument.
func TestAMQPArgsLongerThanShortString(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	long := strings.Repeat("k", 256)
	for _, tc := range []struct {
		name    string
		declare func(ch *amqp.Channel) error
		arg     string
	}{
		{"dead-letter routing key", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("long-dlrk", false, false, false, false,
				amqp.Table{"x-dead-letter-exchange": "amq.fanout", "x-dead-letter-routing-key": long})
			return err
		}, "x-dead-letter-routing-key"},
		{"dead-letter exchange", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("long-dlx", false, false, false, false,
				amqp.Table{"x-dead-letter-exchange": long})
			return err
		}, "x-dead-letter-exchange"},
		{"alternate exchange", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare("long-ae", "direct", false, false, false, false,
				amqp.Table{"alternate-exchange": long})
		}, "alternate-exchange"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := amqpChan(t, conn)
			err := tc.declare(ch)
			e := wantAMQPError(t, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - invalid arg '"+tc.arg+"'*")
			if !strings.Contains(e.Reason, "255") {
				t.Fatalf("reply text %q does not say the limit", e.Reason)
			}
		})
	}
	// 255 bytes still fit.
	ch := amqpChan(t, conn)
	if _, err := ch.QueueDeclare("dlrk-255", false, false, false, false,
		amqp.Table{"x-dead-letter-exchange": "amq.fanout", "x-dead-letter-routing-key": long[:255]}); err != nil {
		t.Fatal(err)
	}
}
