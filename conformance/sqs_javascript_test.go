package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestSQSJavaScriptSDK drives the broker with the AWS SDK for JavaScript v3
// (@aws-sdk/client-sqs, AWS JSON 1.0), a second JSON client beside
// aws-sdk-go-v2. scripts/test-tools.sh installs the pinned package
// (testdata/sqs-js/package-lock.json) with npm ci.
func TestSQSJavaScriptSDK(t *testing.T) {
	node := requireTool(t, "node")
	if _, err := os.Stat(filepath.Join("testdata", "sqs-js", "node_modules", "@aws-sdk", "client-sqs")); err != nil {
		if os.Getenv("SLUICE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("@aws-sdk/client-sqs is not installed in testdata/sqs-js: scripts/test-tools.sh installs it")
		}
		t.Skip("@aws-sdk/client-sqs is not installed (scripts/test-tools.sh)")
	}
	b := brokertest.New(t)
	cmd := exec.Command(node, "sqs.mjs", b.SQSURL())
	cmd.Dir = filepath.Join("testdata", "sqs-js")
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("the JavaScript SDK against sluice: %v\n%s", err, out)
	}
}
