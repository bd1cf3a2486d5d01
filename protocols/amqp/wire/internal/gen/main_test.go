package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate fails when methods_gen.go differs from what the
// generator produces now, i.e. someone edited one without the other.
func TestGeneratedUpToDate(t *testing.T) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", specModule).Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), filepath.FromSlash(specFile)))
	if err != nil {
		t.Fatal(err)
	}
	var spec amqpSpec
	if err := xml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	want, err := generate(&spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../methods_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("methods_gen.go is stale: run go generate in protocols/amqp/wire")
	}
}

func TestCamel(t *testing.T) {
	for in, want := range map[string]string{"auto-delete": "AutoDelete", "reserved-1": "Reserved1",
		"message-id": "MessageID", "frame-min-size": "FrameMinSize", "nowait": "Nowait"} {
		if got := camel(in); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
}
