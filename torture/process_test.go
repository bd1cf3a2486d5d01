package torture

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// buildBroker builds cmd/sluice from the working tree into dir, so that a
// run always tests the code as it is now. Other work in progress may leave
// the tree uncompilable for a moment: the build is retried for a minute,
// and then (with fallbackHead) the last commit is built instead, from a
// git archive of HEAD; the returned note says which.
func buildBroker(dir, rev string, race, fallbackHead bool) (bin, note string, err error) {
	bin = filepath.Join(dir, "sluice")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/sluice")
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m: %v", err)
	}
	tree := strings.TrimSpace(string(root))
	if rev != "" {
		return buildRev(dir, tree, rev, args)
	}
	var out []byte
	for try := 0; try < 4; try++ {
		cmd := exec.Command("go", args...)
		cmd.Dir = tree
		if out, err = cmd.CombinedOutput(); err == nil {
			return bin, "working tree " + tree, nil
		}
		time.Sleep(15 * time.Second)
	}
	if !fallbackHead {
		return "", "", fmt.Errorf("go build in %s: %v\n%s", tree, err, out)
	}
	treeErr := fmt.Sprintf("%v: %s", err, out)
	bin, note, err = buildRev(dir, tree, "HEAD", args)
	if err != nil {
		return "", "", fmt.Errorf("the working tree does not build (%s), nor does HEAD: %v", treeErr, err)
	}
	return bin, fmt.Sprintf("%s (the working tree did not build: %.300s)", note, treeErr), nil
}

// buildRev builds commit rev of the repository in tree from a git archive,
// without touching the working tree or the index.
func buildRev(dir, tree, rev string, args []string) (string, string, error) {
	full, err := exec.Command("git", "-C", tree, "rev-parse", "--short", rev).Output()
	if err != nil {
		return "", "", fmt.Errorf("git rev-parse %s: %v", rev, err)
	}
	snap := filepath.Join(dir, "src-"+strings.TrimSpace(string(full)))
	if err := os.MkdirAll(snap, 0o755); err != nil {
		return "", "", err
	}
	sh := exec.Command("sh", "-c", "git -C \"$1\" archive \"$2\" | tar -x -C \"$3\"", "sh", tree, rev, snap)
	if out, err := sh.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("git archive %s: %v\n%s", rev, err, out)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = snap
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build of %s: %v\n%s", rev, err, out)
	}
	return args[2], "commit " + strings.TrimSpace(string(full)), nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// brokerProc is one run of the broker process.
type brokerProc struct {
	cmd       *exec.Cmd
	amqpURL   string
	stompAddr string
	exited    chan struct{}
}

// startBroker runs bin on dataDir with its log appended to logPath and
// waits until it accepts AMQP connections.
func startBroker(bin, dataDir, logPath string, extra ...string) (*brokerProc, error) {
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	sp, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--data-dir", dataDir,
		"--amqp-addr", "127.0.0.1:" + strconv.Itoa(ap),
		"--stomp-addr", "127.0.0.1:" + strconv.Itoa(sp),
		"--http-addr", "", "--web-stomp-addr", "", "--prometheus-addr", "", "--log-format", "json", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	// No SQS listener (default :9324, shared by every process): by the
	// environment, which builds from before --sqs-addr existed ignore.
	cmd.Env = append(os.Environ(), "SLUICE_SQS_ADDR=")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "=== start %s %v\n", time.Now().Format(time.RFC3339Nano), args)
	cmd.Stderr = logf
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &brokerProc{cmd: cmd, amqpURL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ap),
		stompAddr: "127.0.0.1:" + strconv.Itoa(sp), exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := amqp.Dial(p.amqpURL)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("sluice exited during start (%v); see %s", cmd.ProcessState, logPath)
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("sluice did not start in 60 s: %v; see %s", err, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone, so that the next
// start finds the data directory unlocked.
func (p *brokerProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// alive reports whether the process is still running (a crash of the
// broker by itself is a failure the test reports).
func (p *brokerProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}
