package conformance

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestRabbitmqadmin drives the management API with the rabbitmqadmin that
// Debian ships in its rabbitmq-server package (scripts/test-tools.sh
// unpacks it), unchanged: list, declare, publish, get, delete, export and
// import, as an operator's scripts use it.
func TestRabbitmqadmin(t *testing.T) {
	tool := requireTool(t, "rabbitmqadmin")
	py := requireTool(t, "python3")
	b := brokertest.New(t)
	host, port, _ := net.SplitHostPort(b.HTTPAddr())
	admin := func(args ...string) (string, error) {
		cmd := exec.Command(py, append([]string{tool, "-H", host, "-P", port, "-u", "guest", "-p", "guest"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := admin(args...)
		if err != nil {
			t.Fatalf("rabbitmqadmin %v: %v\n%s", args, err, out)
		}
		return out
	}

	run("declare", "queue", "name=adm.q", "durable=true", `arguments={"x-max-length": 100}`)
	run("declare", "exchange", "name=adm.x", "type=topic", "durable=true")
	run("declare", "binding", "source=adm.x", "destination=adm.q", "routing_key=a.#")
	if out := run("-f", "tsv", "-q", "list", "queues", "name", "durable"); !strings.Contains(out, "adm.q\tTrue") {
		t.Fatalf("list queues: %q", out)
	}
	if out := run("-f", "tsv", "-q", "list", "exchanges", "name", "type"); !strings.Contains(out, "adm.x\ttopic") {
		t.Fatalf("list exchanges: %q", out)
	}
	if out := run("-f", "tsv", "-q", "list", "bindings", "source", "destination", "routing_key"); !strings.Contains(out, "adm.x\tadm.q\ta.#") {
		t.Fatalf("list bindings: %q", out)
	}
	if out := run("publish", "exchange=adm.x", "routing_key=a.b", "payload=hello admin"); !strings.Contains(out, "Message published") {
		t.Fatalf("publish: %q", out)
	}
	if out := run("publish", "exchange=adm.x", "routing_key=nowhere", "payload=lost"); !strings.Contains(out, "Message published but NOT routed") {
		t.Fatalf("publish unroutable: %q", out)
	}

	// The message is really in the queue: an AMQP client sees it, then the
	// admin's get takes it.
	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if q, err := ch.QueueDeclarePassive("adm.q", true, false, false, false, nil); err != nil || q.Messages != 1 {
		t.Fatalf("passive declare over AMQP: %+v %v", q, err)
	}
	if out := run("-f", "tsv", "-q", "get", "queue=adm.q", "ackmode=ack_requeue_false"); !strings.Contains(out, "hello admin") {
		t.Fatalf("get: %q", out)
	}
	if q, err := ch.QueueDeclarePassive("adm.q", true, false, false, false, nil); err != nil || q.Messages != 0 {
		t.Fatalf("after get with ack_requeue_false: %+v %v", q, err)
	}

	// Export, delete everything, import, and the topology is back.
	file := filepath.Join(t.TempDir(), "defs.json")
	run("export", file)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var defs struct {
		Queues    []struct{ Name string } `json:"queues"`
		Exchanges []struct{ Name string } `json:"exchanges"`
		Bindings  []struct {
			Source, Destination string
		} `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &defs); err != nil || len(defs.Queues) == 0 || len(defs.Exchanges) == 0 || len(defs.Bindings) == 0 {
		t.Fatalf("export: %v\n%s", err, raw)
	}
	run("delete", "queue", "name=adm.q")
	run("delete", "exchange", "name=adm.x")
	if out := run("-f", "tsv", "-q", "list", "queues", "name"); strings.Contains(out, "adm.q") {
		t.Fatalf("after delete: %q", out)
	}
	run("import", file)
	if out := run("-f", "tsv", "-q", "list", "bindings", "source", "destination", "routing_key"); !strings.Contains(out, "adm.x\tadm.q\ta.#") {
		t.Fatalf("after import, bindings: %q", out)
	}
	if out := run("-f", "tsv", "-q", "list", "queues", "name", "arguments.x-max-length"); !strings.Contains(out, "adm.q\t100") {
		t.Fatalf("after import, queues: %q", out)
	}

	// A user without a management tag is refused, as by RabbitMQ.
	run("declare", "user", "name=plain", "password=pw", "tags=")
	cmd := exec.Command(py, tool, "-H", host, "-P", port, "-u", "plain", "-p", "pw", "list", "queues")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Access refused") {
		t.Fatalf("a user without tags: %v %s", err, out)
	}
}
