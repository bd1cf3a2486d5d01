package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestAmqplibManagement runs amqplib (Node.js, pinned by
// testdata/amqplib/package-lock.json, installed by scripts/test-tools.sh)
// against the AMQP listener and the management API together, as its users'
// suites do with RabbitMQ: vhost create and delete, a channel's
// prefetch_count in the channel list, a connection closed with a reason.
func TestAmqplibManagement(t *testing.T) {
	node := requireTool(t, "node")
	if _, err := os.Stat(filepath.Join("testdata", "amqplib", "node_modules", "amqplib")); err != nil {
		if os.Getenv("SLUICE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("amqplib is not installed in testdata/amqplib: scripts/test-tools.sh installs it")
		}
		t.Skip("amqplib is not installed (scripts/test-tools.sh)")
	}
	b := brokertest.New(t)
	cmd := exec.Command(node, "management.mjs", b.AMQPAddr(), "http://"+b.HTTPAddr())
	cmd.Dir = filepath.Join("testdata", "amqplib")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("amqplib against sluice: %v\n%s", err, out)
	}
}
