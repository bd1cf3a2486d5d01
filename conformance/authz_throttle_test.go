package conformance

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestAuthzFailedLoginsAreSlowed: repeated wrong passwords from one peer
// are answered later and later (over any protocol: the registry does
// it), and the right password still gets in at once.
func TestAuthzFailedLoginsAreSlowed(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", ".*", ".*")
	bad := "amqp://alice:wrong@" + b.AMQPAddr() + "/"
	var last time.Duration
	for i := 0; i < 4; i++ {
		start := time.Now()
		if c, err := amqp.Dial(bad); err == nil {
			c.Close()
			t.Fatal("a wrong password logged in")
		}
		last = time.Since(start)
	}
	// Failures 3 and 4 wait 250 and 500 ms: the fourth is at least that
	// late, however fast the machine.
	if last < 450*time.Millisecond {
		t.Fatalf("fourth wrong password answered after %v; want it slowed to at least 500ms", last)
	}
	c, err := amqp.Dial(userURL(b, "alice"))
	if err != nil {
		t.Fatalf("right password after failures: %v", err)
	}
	c.Close()
}
