package broker

import (
	"fmt"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// TestTimeArgumentsAreBounded: time arguments in milliseconds were
// multiplied into a time.Duration unchecked, so x-expires 2^62 wrapped to
// 0 ("never expire") and 10^13 to a negative duration. They are bounded at
// 2^32-1 ms with value_too_large, as RabbitMQ bounds x-message-ttl and
// x-expires (found by FuzzQueueArgs).
func TestTimeArgumentsAreBounded(t *testing.T) {
	v := newTestVHost(t)
	for _, arg := range []string{"x-message-ttl", "x-expires", "x-delivery-delay", "x-visibility-timeout", "x-cache-ttl"} {
		for _, n := range []int64{1 << 62, 10_000_000_000_000, 1 << 32} {
			_, err := v.DeclareQueue(QueueDecl{Name: "q", Args: message.Table{arg: n}})
			if codeOf(err) != CodePreconditionFailed {
				t.Errorf("%s = %d: %v, want 406", arg, n, err)
			}
		}
		if _, err := v.DeclareQueue(QueueDecl{Name: "q-" + arg, Args: message.Table{arg: int64(1<<32 - 1)}}); err != nil {
			t.Errorf("%s = 2^32-1: %v", arg, err)
		}
	}
}

// TestHugeDelayHeaderDoesNotDeliverAtOnce: an x-delay header of 2^62 ms
// wrapped around when converted to nanoseconds and delivered the message
// at once.
func TestHugeDelayHeaderDoesNotDeliverAtOnce(t *testing.T) {
	v := newTestVHost(t)
	mustDeclareQueue(t, v, "d", message.Table{"x-delivery-delay": int32(0)})
	s := v.NewSession(1, &recorder{})
	for _, d := range []any{int64(1 << 62), fmt.Sprint(int64(1 << 62)), int64(9_000_000_000_000_000)} {
		mustPublish(t, s, "", "d", msgWith("later", message.Table{"x-delay": d}))
	}
	if n := readyCount(t, v, "d"); n != 0 {
		t.Fatalf("%d messages with huge delays are ready at once", n)
	}
}
