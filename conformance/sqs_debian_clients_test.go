package conformance

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/brokertest"
)

// The Query protocol as real clients speak it: Debian's boto3 (1.26) and
// AWS CLI (2.9) predate the SDKs' switch to AWS JSON, so they send
// form-encoded Action=... requests and parse XML. scripts/test-tools.sh
// installs both.

// debianPython is the interpreter Debian's python3-boto3 belongs to (a
// python3 earlier on PATH, such as a pyenv one, has none of its modules).
const debianPython = "/usr/bin/python3"

func TestSQSBoto3Query(t *testing.T) {
	py := requireTool(t, debianPython)
	if err := exec.Command(py, "-c", "import boto3").Run(); err != nil {
		if os.Getenv("SLUICE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("Debian's python3-boto3 is missing: scripts/test-tools.sh installs it")
		}
		t.Skip("Debian's python3-boto3 is not installed")
	}
	b := brokertest.New(t)
	cmd := exec.Command(py, "testdata/sqs_boto3.py", b.SQSURL())
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("boto3 against sluice: %v\n%s", err, out)
	}
}

func TestSQSDebianAWSCLIQuery(t *testing.T) {
	aws := requireTool(t, "/usr/bin/aws")
	b := brokertest.New(t)
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID=guest", "AWS_SECRET_ACCESS_KEY=guest", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	call := func(args ...string) (string, error) {
		cmd := exec.Command(aws, append([]string{"--endpoint-url", b.SQSURL(), "--region", "us-east-1", "--output", "json", "sqs"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := call(args...)
		if err != nil {
			t.Fatalf("aws sqs %v: %v\n%s", args, err, out)
		}
		return out
	}
	out := run("create-queue", "--queue-name", "cli2", "--attributes", "DelaySeconds=0,VisibilityTimeout=600")
	if !strings.Contains(out, "/000000000000/cli2") {
		t.Fatalf("create-queue: %s", out)
	}
	qurl := b.SQSURL() + "/000000000000/cli2"
	run("send-message", "--queue-url", qurl, "--message-body", "from the v2 cli",
		"--message-attributes", `{"a":{"DataType":"String","StringValue":"b"},"n":{"DataType":"Number","StringValue":"7"}}`)
	out = run("receive-message", "--queue-url", qurl, "--message-attribute-names", "All", "--attribute-names", "All", "--wait-time-seconds", "1")
	if !strings.Contains(out, `"Body": "from the v2 cli"`) || !strings.Contains(out, `"StringValue": "7"`) {
		t.Fatalf("receive-message: %s", out)
	}
	out = run("get-queue-attributes", "--queue-url", qurl, "--attribute-names", "All")
	if !strings.Contains(out, `"VisibilityTimeout": "600"`) || !strings.Contains(out, `"ApproximateNumberOfMessagesNotVisible": "1"`) {
		t.Fatalf("get-queue-attributes: %s", out)
	}
	if out = run("list-queues", "--queue-name-prefix", "cli"); !strings.Contains(out, qurl) {
		t.Fatalf("list-queues: %s", out)
	}
	run("purge-queue", "--queue-url", qurl)
	if out, err := call("purge-queue", "--queue-url", qurl); err == nil || !strings.Contains(out, "PurgeQueueInProgress") {
		t.Fatalf("a second purge within 60 s: %v %s", err, out)
	}
	if out, err := call("get-queue-url", "--queue-name", "missing"); err == nil || !strings.Contains(out, "AWS.SimpleQueueService.NonExistentQueue") {
		t.Fatalf("get-queue-url of a missing queue: %v %s", err, out)
	}
	run("delete-queue", "--queue-url", qurl)
}
