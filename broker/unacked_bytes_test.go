package broker

import "testing"

// The bytes of unacked messages are counted (the management API's
// message_bytes_unacknowledged) through ack, requeue and reject.
func TestUnackedBytes(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "q", nil)
	s := v.NewSession(1, &recorder{})
	mustPublish(t, s, "", "q", msg("0123456789"))
	mustPublish(t, s, "", "q", msg("01234567890123456789"))
	mustPublish(t, s, "", "q", msg("abc"))
	q, _ := v.Queue("q")
	bytes := func() int64 { return q.Details().UnackedBytes }
	d1, _, _, _ := s.Get("q", false)
	d2, _, _, _ := s.Get("q", false)
	if got := bytes(); got != 30 {
		t.Fatalf("unacked bytes %d, want 30", got)
	}
	if err := s.Ack(d1.Tag, false); err != nil {
		t.Fatal(err)
	}
	if got := bytes(); got != 20 {
		t.Fatalf("after an ack: %d, want 20", got)
	}
	if err := s.Nack(d2.Tag, false, true); err != nil {
		t.Fatal(err)
	}
	if got := bytes(); got != 0 {
		t.Fatalf("after a requeue: %d, want 0", got)
	}
	d3, _, _, _ := s.Get("q", false)
	if err := s.Nack(d3.Tag, false, false); err != nil {
		t.Fatal(err)
	}
	if got, d := bytes(), q.Details(); got != 0 || d.ReadyBytes != 3 {
		t.Fatalf("after a reject: unacked %d ready %d", got, d.ReadyBytes)
	}
}
