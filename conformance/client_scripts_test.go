package conformance

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// Clients in other languages drive sluice through scripts in testdata:
// pika, kombu (Celery's transport, on py-amqp) and stomp.py, the Python
// clients most RabbitMQ users have (Debian's python3-pika, python3-kombu
// and python3-stomp); Net::Stomp, Perl's STOMP 1.0 client
// (libnet-stomp-perl); Ruby's stomp gem and Bunny (ruby-stomp,
// ruby-bunny); php-amqplib and PHP's stomp extension (php-cli,
// php-amqplib, php-stomp); RabbitMQ's Java client (librabbitmq-client-java,
// run from source by the JDK); and stomp.js, the STOMP client of web pages,
// over Web STOMP (npm, pinned by testdata/stompjs/package-lock.json).
// scripts/test-tools.sh installs them. Each script prints what it
// observed, one line per observation; the test compares the lines with the
// ones RabbitMQ 3.10 printed for the same script (the .rabbitmq.txt files,
// kept honest by TestDifferentialClientScripts).

// TestClientScripts runs each script against a broker of its own.
func TestClientScripts(t *testing.T) {
	for _, c := range []struct {
		s     clientScript
		stomp bool // the script speaks STOMP, not AMQP
	}{
		{pikaScript, false}, {kombuScript, false}, {bunnyScript, false}, {phpAMQPScript, false}, {javaScript, false},
		{stompPyScript, true}, {netStompScript, true}, {stompGemScript, true}, {phpStompScript, true},
	} {
		t.Run(c.s.name, func(t *testing.T) {
			b := brokertest.New(t)
			addr := b.AMQPAddr()
			if c.stomp {
				addr = b.STOMPAddr()
			}
			compareClientScript(t, c.s, addr)
		})
	}
}

func TestStompJSClient(t *testing.T) {
	b := brokertest.New(t)
	// "binary" adds a body with NUL octets sent in a binary WebSocket
	// message, which RabbitMQ 3.10 answers by closing the WebSocket
	// (later versions take it, as sluice does); its line is checked here.
	got := runClientScript(t, stompJSScript, b.Addr("web-stomp").String(), "binary")
	const binary = "binary: [0,1,2,0,255] content-length 5 content-type application/octet-stream"
	if got[len(got)-1] != binary {
		t.Errorf("last line %q, want %q", got[len(got)-1], binary)
	}
	compareLines(t, stompJSScript, got[:len(got)-1])
}

// clientScript says how to run one of the scripts.
type clientScript struct {
	name string // the script's file name in dir, and its recording's stem
	dir  string // under testdata
	// run returns the command that runs script in dir against addr, with
	// args (the token first) after the address.
	run func(t *testing.T, dir, script, addr string, args ...string) *exec.Cmd
}

var (
	pikaScript     = clientScript{"pika_client.py", "python", runPython("pika")}
	stompPyScript  = clientScript{"stomp_client.py", "python", runPython("stomp")}
	kombuScript    = clientScript{"kombu_client.py", "python", runPython("kombu")}
	stompJSScript  = clientScript{"stompjs_client.mjs", "stompjs", runNode("@stomp/stompjs")}
	netStompScript = clientScript{"net_stomp_client.pl", "perl", runInterpreter("perl", "libnet-stomp-perl", "-MNet::Stomp", "-e", "1")}
	stompGemScript = clientScript{"stomp_gem_client.rb", "ruby", runInterpreter("ruby", "ruby-stomp", "-rstomp", "-e", "1")}
	bunnyScript    = clientScript{"bunny_client.rb", "ruby", runInterpreter("ruby", "ruby-bunny", "-rbunny", "-e", "1")}
	phpAMQPScript  = clientScript{"amqplib_client.php", "php", runInterpreter("php", "php-amqplib",
		"-r", "require '/usr/share/php/PhpAmqpLib/autoload.php'; new ReflectionClass('PhpAmqpLib\\Connection\\AMQPStreamConnection');")}
	phpStompScript = clientScript{"stomp_ext_client.php", "php", runInterpreter("php", "php-stomp", "-r", "new ReflectionClass('Stomp');")}
	javaScript     = clientScript{"AmqpClient.java", "java", runJava}
)

// javaClassPath is RabbitMQ's Java client and a silent SLF4J binding, as
// Debian's librabbitmq-client-java and libslf4j-java install them.
var javaClassPath = []string{"/usr/share/java/amqp-client.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar"}

// runJava runs a single-file Java program from source (the JDK's source
// launcher compiles it in memory) with the client on the class path.
func runJava(t *testing.T, dir, script, addr string, args ...string) *exec.Cmd {
	t.Helper()
	java := requireTool(t, "java")
	for _, jar := range javaClassPath {
		if _, err := os.Stat(jar); err != nil {
			missingClient(t, jar)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(java, append([]string{"-cp", strings.Join(javaClassPath, ":"), script, host, port}, args...)...)
	cmd.Dir = dir
	return cmd
}

// runInterpreter runs a script with interpreter (python3, perl, ruby,
// php), once the interpreter run with check (arguments that load the
// client library) shows that Debian's pkg is there.
func runInterpreter(interpreter, pkg string, check ...string) func(t *testing.T, dir, script, addr string, args ...string) *exec.Cmd {
	return func(t *testing.T, dir, script, addr string, args ...string) *exec.Cmd {
		t.Helper()
		bin := requireTool(t, interpreter)
		if err := exec.Command(bin, check...).Run(); err != nil {
			missingClient(t, "Debian's "+pkg)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, append([]string{script, host, port}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in testdata
		return cmd
	}
}

func runPython(module string) func(t *testing.T, dir, script, addr string, args ...string) *exec.Cmd {
	return runInterpreter(debianPython, "python3-"+module, "-c", "import "+module)
}

// missingClient fails the test when the tools are required (make test),
// and skips it otherwise.
func missingClient(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("SLUICE_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is missing: scripts/test-tools.sh installs it", what)
	}
	t.Skipf("%s is not installed (scripts/test-tools.sh)", what)
}

func runNode(pkg string) func(t *testing.T, dir, script, addr string, args ...string) *exec.Cmd {
	return func(t *testing.T, dir, script, addr string, args ...string) *exec.Cmd {
		t.Helper()
		node := requireTool(t, "node")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
			missingClient(t, pkg+" in "+dir)
		}
		cmd := exec.Command(node, append([]string{script, "ws://" + addr + "/ws"}, args...)...)
		cmd.Dir = dir
		return cmd
	}
}

// compareClientScript runs s against addr and compares its lines with the
// recording of what RabbitMQ printed.
func compareClientScript(t *testing.T, s clientScript, addr string) {
	t.Helper()
	compareLines(t, s, runClientScript(t, s, addr))
}

func compareLines(t *testing.T, s clientScript, got []string) {
	t.Helper()
	want, err := os.ReadFile(s.recording())
	if err != nil {
		t.Fatal(err)
	}
	if diffs := lineDiffs(strings.Split(strings.TrimRight(string(want), "\n"), "\n"), got); len(diffs) > 0 {
		t.Fatalf("%s against sluice differs from RabbitMQ 3.10:\n%s", s.name, strings.Join(diffs, "\n"))
	}
}

func (s clientScript) recording() string {
	return filepath.Join("testdata", s.dir, strings.TrimSuffix(s.name, filepath.Ext(s.name))+".rabbitmq.txt")
}

// runClientScript runs s against addr with a fresh token (so that names
// never meet an earlier run's) and returns its lines, which end with
// "done" (and then what extra arguments add).
func runClientScript(t *testing.T, s clientScript, addr string, extra ...string) []string {
	t.Helper()
	// Of one length always, since the scripts print the lengths of bodies
	// that name it.
	token := fmt.Sprintf("%s-%016x", strings.TrimSuffix(s.name, filepath.Ext(s.name)), time.Now().UnixNano())
	cmd := s.run(t, filepath.Join("testdata", s.dir), s.name, addr, append([]string{token}, extra...)...)
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if err != nil || !slices.Contains(lines, "done") {
		t.Fatalf("%s against %s: %v\n%s", s.name, addr, err, out)
	}
	return lines
}

// lineDiffs describes each line where got differs from RabbitMQ's want.
func lineDiffs(want, got []string) []string {
	var diffs []string
	for i := 0; i < len(want) || i < len(got); i++ {
		w, g := "<nothing>", "<nothing>"
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			diffs = append(diffs, fmt.Sprintf("  line %d\n    rabbitmq: %s\n    sluice:   %s", i+1, w, g))
		}
	}
	return diffs
}
