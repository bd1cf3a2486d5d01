package conformance

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// BenchmarkAMQPLoopbackPublishConsume publishes 1 KiB transient messages
// with amqp091-go over loopback and consumes them on a second connection
// with auto-ack: one op is one message through the broker end to end.
func BenchmarkAMQPLoopbackPublishConsume(b *testing.B) {
	benchAMQP(b, amqp.Transient, false)
}

// BenchmarkAMQPLoopbackPersistentConfirm is the same with persistent
// messages to a durable queue and publisher confirms (window 256): every
// confirm waits for the fsync that covers its message.
func BenchmarkAMQPLoopbackPersistentConfirm(b *testing.B) {
	benchAMQP(b, amqp.Persistent, true)
}

func benchAMQP(b *testing.B, mode uint8, confirm bool) {
	br := brokertest.New(b)
	pub, err := amqp.Dial(br.AMQPURL())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	con, err := amqp.Dial(br.AMQPURL())
	if err != nil {
		b.Fatal(err)
	}
	defer con.Close()
	pch, _ := pub.Channel()
	cch, _ := con.Channel()
	if _, err := pch.QueueDeclare("bench", true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	deliveries, err := cch.Consume("bench", "", true, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	var confirms chan amqp.Confirmation
	if confirm {
		if err := pch.Confirm(false); err != nil {
			b.Fatal(err)
		}
		confirms = pch.NotifyPublish(make(chan amqp.Confirmation, 512))
	}
	body := make([]byte, 1024)
	done := make(chan struct{})
	go func() {
		for i := 0; i < b.N; i++ {
			<-deliveries
		}
		close(done)
	}()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	outstanding := 0
	for i := 0; i < b.N; i++ {
		if err := pch.PublishWithContext(context.Background(), "", "bench", false, false,
			amqp.Publishing{DeliveryMode: mode, Body: body}); err != nil {
			b.Fatal(err)
		}
		if confirm {
			outstanding++
			for outstanding >= 256 {
				if c := <-confirms; !c.Ack {
					b.Fatal("nack")
				}
				outstanding--
			}
		}
	}
	for confirm && outstanding > 0 {
		<-confirms
		outstanding--
	}
	<-done
}
