package conformance

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// pika and stomp.py, the Python clients most RabbitMQ users have, drive
// sluice through the scripts in testdata/python. Each script prints what it
// observed, one line per observation; the test compares the lines with the
// ones RabbitMQ 3.10 printed for the same script (the .rabbitmq.txt files,
// kept honest by TestDifferentialPythonClients). Debian's python3-pika and
// python3-stomp, installed by scripts/test-tools.sh.

func TestPikaClient(t *testing.T) {
	b := brokertest.New(t)
	comparePythonClient(t, "pika_client", "pika", b.AMQPAddr())
}

func TestStompPyClient(t *testing.T) {
	b := brokertest.New(t)
	comparePythonClient(t, "stomp_client", "stomp", b.STOMPAddr())
}

// comparePythonClient runs testdata/python/SCRIPT.py against addr and
// compares its lines with SCRIPT.rabbitmq.txt.
func comparePythonClient(t *testing.T, script, module, addr string) {
	t.Helper()
	want, err := os.ReadFile("testdata/python/" + script + ".rabbitmq.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := runPythonClient(t, script, module, addr)
	if diff := lineDiff(strings.Split(strings.TrimRight(string(want), "\n"), "\n"), got); diff != "" {
		t.Fatalf("%s against sluice differs from RabbitMQ 3.10:\n%s", script, diff)
	}
}

// runPythonClient runs testdata/python/SCRIPT.py against addr with a fresh
// token (so that names never meet an earlier run's) and returns its lines.
func runPythonClient(t *testing.T, script, module, addr string) []string {
	t.Helper()
	py := requireTool(t, debianPython)
	if err := exec.Command(py, "-c", "import "+module).Run(); err != nil {
		if os.Getenv("SLUICE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("Debian's python3-%s is missing: scripts/test-tools.sh installs it", module)
		}
		t.Skipf("Debian's python3-%s is not installed", module)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	// Of one length always, since the scripts print the lengths of bodies
	// that name it.
	token := fmt.Sprintf("%s-%016x", module, time.Now().UnixNano())
	cmd := exec.Command(py, "testdata/python/"+script+".py", host, port, token)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if err != nil || lines[len(lines)-1] != "done" {
		t.Fatalf("%s against %s: %v\n%s", script, addr, err, out)
	}
	return lines
}

// lineDiff lists the lines where got differs from want, or "" when none do.
func lineDiff(want, got []string) string {
	var b strings.Builder
	for i := 0; i < len(want) || i < len(got); i++ {
		w, g := "<nothing>", "<nothing>"
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "  line %d\n    rabbitmq: %s\n    sluice:   %s\n", i+1, w, g)
		}
	}
	return b.String()
}
