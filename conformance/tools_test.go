package conformance

import (
	"os"
	"os/exec"
	"testing"
)

// requireTool finds an outside client a test drives (Debian's AWS CLI,
// rabbitmqadmin, ...) and returns its path. scripts/test-tools.sh installs
// them for `make test`, which sets SLUICE_REQUIRE_TOOLS=1: there a missing
// tool fails the test, so that CI never passes by skipping. Elsewhere (a
// plain `go test` on a developer's machine) the test is skipped.
func requireTool(t *testing.T, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("SLUICE_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%v not found: scripts/test-tools.sh installs it", candidates)
	}
	t.Skipf("%v not installed (scripts/test-tools.sh installs it)", candidates)
	return ""
}
