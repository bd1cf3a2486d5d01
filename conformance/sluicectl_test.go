package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

var (
	sluicectlOnce sync.Once
	sluicectlBin  string
	sluicectlErr  error
)

// buildSluicectl builds cmd/sluicectl once per test run.
func buildSluicectl(t *testing.T) string {
	t.Helper()
	sluicectlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluicectl-test")
		if err != nil {
			sluicectlErr = err
			return
		}
		sluicectlBin = filepath.Join(dir, "sluicectl")
		out, err := exec.Command("go", "build", "-o", sluicectlBin, "github.com/sluice-mq/sluice/cmd/sluicectl").CombinedOutput()
		if err != nil {
			sluicectlErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if sluicectlErr != nil {
		t.Fatal(sluicectlErr)
	}
	return sluicectlBin
}

// ctlRun runs sluicectl with env and args; it returns stdout, stderr and
// the exit code.
func ctlRun(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("sluicectl %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// TestSluicectl runs the built sluicectl against a test broker: users,
// vhosts, permissions and limits made with it work over AMQP and show in
// the API; output and exit codes are what scripts rely on.
func TestSluicectl(t *testing.T) {
	bin := buildSluicectl(t)
	b := brokertest.New(t)
	env := []string{"SLUICE_URL=http://" + b.HTTPAddr(), "SLUICE_USERNAME=guest", "SLUICE_PASSWORD=guest"}
	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := ctlRun(t, bin, env, args...)
		if code != 0 {
			t.Fatalf("sluicectl %v: exit %d, stderr %s", args, code, errOut)
		}
		return out
	}
	exits := func(want int, args ...string) string {
		t.Helper()
		_, errOut, code := ctlRun(t, bin, env, args...)
		if code != want {
			t.Fatalf("sluicectl %v: exit %d, want %d; stderr %s", args, code, want, errOut)
		}
		return errOut
	}

	ok("add_user", "carol", "c-pw")
	if e := exits(1, "add_user", "carol", "x"); !strings.Contains(e, `User "carol" already exists`) {
		t.Fatalf("add_user twice: %q", e)
	}
	ok("set_user_tags", "carol", "management", "policymaker")
	ok("add_vhost", "prod")
	ok("set_permissions", "-p", "prod", "carol", "^carol-", ".*", ".*")
	ok("set_topic_permissions", "-p", "prod", "carol", "amq.topic", "^k", ".*")
	ok("set_vhost_limits", "-p", "prod", `{"max-queues": 10}`)
	ok("set_user_limits", "carol", `{"max-connections": 4}`)

	if got := ok("-q", "list_users"); got != "carol\t[management, policymaker]\nguest\t[administrator]\n" {
		t.Fatalf("list_users -q: %q", got)
	}
	if got := ok("list_users"); !strings.HasPrefix(got, "Listing users ...\nuser\ttags\n") {
		t.Fatalf("list_users: %q", got)
	}
	var users []struct {
		User string   `json:"user"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(ok("list_users", "--formatter", "json")), &users); err != nil || len(users) != 2 ||
		users[0].User != "carol" || strings.Join(users[0].Tags, ",") != "management,policymaker" {
		t.Fatalf("list_users json: %v %+v", err, users)
	}
	if got := ok("-q", "list_permissions", "-p", "prod"); got != "carol\t^carol-\t.*\t.*\nguest\t.*\t.*\t.*\n" {
		t.Fatalf("list_permissions: %q", got)
	}
	if got := ok("-q", "list_user_permissions", "carol"); got != "prod\t^carol-\t.*\t.*\n" {
		t.Fatalf("list_user_permissions: %q", got)
	}
	if got := ok("-q", "list_topic_permissions", "-p", "prod"); got != "carol\tamq.topic\t^k\t.*\n" {
		t.Fatalf("list_topic_permissions: %q", got)
	}
	if got := ok("-q", "list_vhosts"); got != "/\nprod\n" {
		t.Fatalf("list_vhosts: %q", got)
	}
	if got := ok("-q", "list_vhost_limits", "-p", "prod"); got != "max-queues\t10\n" {
		t.Fatalf("list_vhost_limits: %q", got)
	}
	if got := ok("-q", "list_user_limits", "carol"); got != "carol\tmax-connections\t4\n" {
		t.Fatalf("list_user_limits: %q", got)
	}

	// What sluicectl set works over AMQP.
	url := fmt.Sprintf("amqp://carol:c-pw@%s/prod", b.AMQPAddr())
	conn, err := amqp.Dial(url)
	mustOK(t, err)
	ch, err := conn.Channel()
	mustOK(t, err)
	_, err = ch.QueueDeclare("carol-q", true, false, false, false, nil)
	mustOK(t, err)
	conn.Close()
	ok("change_password", "carol", "new-pw")
	if _, err := amqp.Dial(url); err == nil {
		t.Fatal("the old password still works")
	}
	conn, err = amqp.Dial(fmt.Sprintf("amqp://carol:new-pw@%s/prod", b.AMQPAddr()))
	mustOK(t, err)
	conn.Close()

	// Clearing.
	ok("clear_topic_permissions", "-p", "prod", "carol", "amq.topic")
	if got := ok("-q", "list_topic_permissions", "-p", "prod"); got != "" {
		t.Fatalf("after clear_topic_permissions: %q", got)
	}
	ok("clear_vhost_limits", "-p", "prod")
	ok("clear_user_limits", "carol", "all")
	if got := ok("-q", "list_user_limits"); got != "" {
		t.Fatalf("after clear_user_limits: %q", got)
	}
	ok("clear_permissions", "-p", "prod", "carol")
	if got := ok("-q", "list_user_permissions", "carol"); got != "" {
		t.Fatalf("after clear_permissions: %q", got)
	}

	// Exit codes scripts can tell apart.
	if e := exits(67, "delete_user", "nobody"); !strings.Contains(e, `User "nobody" does not exist`) {
		t.Fatalf("delete_user of a missing user: %q", e)
	}
	exits(67, "delete_vhost", "nowhere")
	exits(67, "set_permissions", "-p", "nowhere", "carol", ".*", ".*", ".*")
	exits(67, "set_permissions", "-p", "prod", "nobody", ".*", ".*", ".*")
	exits(64, "no_such_command")
	exits(64, "add_user", "only-a-name")
	exits(1, "set_permissions", "-p", "prod", "carol", "(", ".*", ".*")
	if _, e, code := ctlRun(t, bin, env, "--password", "wrong", "list_users"); code != 77 || !strings.Contains(e, "Login failed") {
		t.Fatalf("wrong password: exit %d, %q", code, e)
	}
	// A user without the administrator tag is refused the same way.
	if _, _, code := ctlRun(t, bin, env, "--username", "carol", "--password", "new-pw", "list_users"); code != 77 {
		t.Fatalf("a policymaker listing users: exit %d", code)
	}
	if _, _, code := ctlRun(t, bin, []string{"SLUICE_URL=http://127.0.0.1:1"}, "list_users"); code != 69 {
		t.Fatalf("no broker: exit %d", code)
	}
	// SLUICE_USER is an alias; flags beat the environment.
	if out, _, code := ctlRun(t, bin, []string{"SLUICE_URL=http://127.0.0.1:1", "SLUICE_USERNAME=", "SLUICE_USER=carol", "SLUICE_PASSWORD=new-pw"},
		"--url", "http://"+b.HTTPAddr(), "-q", "list_vhosts"); code != 0 || out != "" {
		// carol has no permissions left, so she sees no vhost; guest would see two.
		t.Fatalf("SLUICE_USER=carol listing vhosts: exit %d %q", code, out)
	}

	ok("delete_vhost", "prod")
	if got := ok("-q", "list_vhosts"); got != "/\n" {
		t.Fatalf("after delete_vhost: %q", got)
	}
	ok("delete_user", "carol")
	if got := ok("-q", "list_users"); got != "guest\t[administrator]\n" {
		t.Fatalf("after delete_user: %q", got)
	}
}
