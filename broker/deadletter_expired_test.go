package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// x-dead-letter-expired false: what expires is dropped, while what is
// rejected, passes the delivery limit or overflows still dead-letters (an
// SQS queue with a RedrivePolicy deletes messages past their retention).
func TestDeadLetterExpiredOff(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "dlq", nil)
	mustDeclareQueue(t, v, "work", message.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq",
		"x-message-ttl": int32(50), "x-max-length": int32(2), "x-dead-letter-expired": false})
	s := v.NewSession(1, &recorder{})
	for i := 0; i < 3; i++ {
		mustPublish(t, s, "", "work", msg(fmt.Sprint(i)))
	}
	// One dropped by max-length (dead-lettered), two expire (dropped).
	eventually(t, 2*time.Second, "expiry", func() bool { return readyCount(t, v, "work") == 0 })
	time.Sleep(20 * time.Millisecond)
	if n := readyCount(t, v, "dlq"); n != 1 {
		t.Fatalf("dead-letter queue holds %d, want 1 (the overflow only)", n)
	}
	d, _, _, _ := s.Get("dlq", true)
	if r := d.Msg.Properties.Headers["x-death"].([]any)[0].(message.Table)["reason"]; r != "maxlen" {
		t.Fatalf("dead-lettered for %v", r)
	}
	mustPublish(t, s, "", "work", msg("r"))
	d, _, _, _ = s.Get("work", false)
	if err := s.Nack(d.Tag, false, false); err != nil {
		t.Fatal(err)
	}
	if n := readyCount(t, v, "dlq"); n != 1 {
		t.Fatalf("a rejected message was not dead-lettered (%d in the dead-letter queue)", n)
	}
	if _, err := v.DeclareQueue(QueueDecl{Name: "bad", Args: message.Table{"x-dead-letter-expired": "no"}}); err == nil {
		t.Fatal("a string x-dead-letter-expired was accepted")
	}
}
