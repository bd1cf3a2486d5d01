package server

import (
	"os"
	"runtime/debug"
	"testing"
)

// --gc-percent sets the collector's target unless GOGC is set; 0 leaves
// Go's.
func TestGCPercent(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: it wins over --gc-percent")
	}
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	s := &Server{cfg: Config{GCPercent: 300, MemoryLimit: -1}}
	s.applyMemoryLimit()
	if got := debug.SetGCPercent(100); got != 300 {
		t.Fatalf("GC percent %d after --gc-percent 300", got)
	}
	s.cfg.GCPercent = 0
	s.applyMemoryLimit()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d with --gc-percent 0, want Go's 100 kept", got)
	}
}
