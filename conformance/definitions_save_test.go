package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// blockDefinitions makes every later save of the definitions file fail:
// a non-empty directory where the file goes cannot be renamed over, even
// by root.
func blockDefinitions(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "definitions.bin")
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "blocked"), 0o700); err != nil {
		t.Fatal(err)
	}
}

// TestDurableDeclareReportsAFailedSave: when the durable topology cannot
// be written, the client that changed it is told (AMQP 541, STOMP ERROR)
// instead of getting declare-ok for something a restart would lose (issue
// #12, item 8).
func TestDurableDeclareReportsAFailedSave(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir))
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	blockDefinitions(t, dir)
	_, err := ch.QueueDeclare("durable-q", true, false, false, false, nil)
	wantAMQPError(t, err, 541, "INTERNAL_ERROR - cannot store the durable topology*")
	wantConnClosed(t, closed, 541, "INTERNAL_ERROR - cannot store the durable topology*")

	// A transient declare needs no save and still works.
	conn = amqpDial(t, b)
	ch = amqpChan(t, conn)
	if _, err := ch.QueueDeclare("transient-q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}

	// STOMP: a SEND to a new /queue/ declares a durable queue.
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/queue/stomp-durable\nreceipt:1\n\nbody\x00")
	f := r.expectError("internal_error")
	if !strings.Contains(string(f.body), "cannot store the durable topology") {
		t.Fatalf("ERROR body %q does not say why", f.body)
	}
}
