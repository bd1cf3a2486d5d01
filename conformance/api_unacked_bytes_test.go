package conformance

import "testing"

// TestAPIMessageBytesUnacknowledged: a queue's message_bytes_unacknowledged
// counts the bodies delivered and not acked, and message_bytes is ready
// plus unacked, as RabbitMQ reports them.
func TestAPIMessageBytesUnacknowledged(t *testing.T) {
	b, _, ch := amqpSetup(t)
	declareQ(t, ch, "ub", nil)
	pubBody(t, ch, "", "ub", "0123456789")
	pubBody(t, ch, "", "ub", "abc")
	api := newAPI(t, b)
	var q struct {
		Unacked int64 `json:"message_bytes_unacknowledged"`
		Ready   int64 `json:"message_bytes_ready"`
		Total   int64 `json:"message_bytes"`
	}
	d, ok, err := ch.Get("ub", false)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	api.getJSON("/api/queues/%2F/ub", &q)
	if q.Unacked != 10 || q.Ready != 3 || q.Total != 13 {
		t.Fatalf("with one unacked: %+v", q)
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	// The ack is asynchronous: wait for it to be counted.
	for i := 0; i < 100; i++ {
		api.getJSON("/api/queues/%2F/ub", &q)
		if q.Unacked == 0 {
			break
		}
		ch.QueueDeclarePassive("ub", false, false, false, false, nil) // a round trip
	}
	if q.Unacked != 0 || q.Total != 3 {
		t.Fatalf("after the ack: %+v", q)
	}
}
