package conformance

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// TestConfirmedMessageCanBeDeadLettered: a confirmed persistent message
// must be able to leave its queue through the dead-letter exchange, whose
// copy carries x-death headers and so is larger than what was confirmed.
// Messages that fit a log segment with no room to grow used to be
// confirmed; their dead-lettered copy then did not fit, so the source
// was kept and came back after every restart (torture seed 427055689).
// Sizes near the segment's capacity are probed; every confirmed one is
// rejected and must be found in the dead-letter queue, and only there,
// after a restart.
func TestConfirmedMessageCanBeDeadLettered(t *testing.T) {
	const segment = 64 << 10
	dir := t.TempDir()
	opts := []brokertest.Option{brokertest.WithDataDir(dir), func(c *server.Config) {
		c.SegmentSize = segment
		c.Sync = "always"
	}}
	b := brokertest.New(t, opts...)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclare("dl.src", true, false, false, false, amqp.Table{
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": "dl.dst",
	})
	must(t, err, "declare dl.src")
	_, err = ch.QueueDeclare("dl.dst", true, false, false, false, nil)
	must(t, err, "declare dl.dst")
	must(t, ch.Confirm(false), "confirm.select")

	acked, nacked := 0, 0
	for size := segment - 16<<10; size <= segment; size += 128 {
		ctx, cancel := context.WithTimeout(context.Background(), amqpWait)
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "dl.src", false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			Body:         make([]byte, size),
		})
		must(t, err, "publish")
		ok, err := dc.WaitContext(ctx)
		cancel()
		must(t, err, "wait for confirm")
		if !ok {
			nacked++
			continue
		}
		acked++
		d, got, err := ch.Get("dl.src", false)
		must(t, err, "basic.get")
		if !got {
			t.Fatalf("confirmed message of %d bytes not in dl.src", size)
		}
		must(t, d.Reject(false), "basic.reject")
	}
	if acked == 0 || nacked == 0 {
		t.Fatalf("probe did not cross the limit: %d confirmed, %d refused", acked, nacked)
	}
	conn.Close()
	b.Stop(t)

	b = brokertest.New(t, opts...)
	ch = amqpChan(t, amqpDial(t, b))
	src, err := ch.QueueDeclarePassive("dl.src", true, false, false, false, nil)
	must(t, err, "passive dl.src")
	dst, err := ch.QueueDeclarePassive("dl.dst", true, false, false, false, nil)
	must(t, err, "passive dl.dst")
	if src.Messages != 0 || dst.Messages != acked {
		t.Fatalf("after a restart: %d back in dl.src, %d in dl.dst; want 0 and %d (%d refused at publish)",
			src.Messages, dst.Messages, acked, nacked)
	}
}
