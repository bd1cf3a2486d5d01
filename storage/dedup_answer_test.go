package storage

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestDedupAnswersSurvive: the answer kept with a de-duplication id comes
// back after a reopen, plain and sealed, and after compaction copied the
// id forward; an id logged without one has none.
func TestDedupAnswersSurvive(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		dir := t.TempDir()
		var k *Keyring
		if sealed {
			k = testKeyring(t, "k1")
		}
		open := func() (*Store, *Recovered) {
			t.Helper()
			s, rec, err := Open(Options{Dir: dir, Keyring: k, SegmentSize: 4 << 10, CompactInterval: time.Hour, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			return s, rec
		}
		s, _ := open()
		exp := time.Now().Add(time.Hour).UnixNano()
		s.LogDedup(qa, "with", exp, "0190-id 00000000000000000042")
		s.LogDedup(qa, "without", exp, "")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		check := func(rec *Recovered, when string) {
			t.Helper()
			got := map[string]string{}
			for _, d := range rec.Dedup {
				got[d.Key] = d.Answer
			}
			if a, ok := got["with"]; !ok || a != "0190-id 00000000000000000042" {
				t.Fatalf("sealed %v, %s: answer %q (%v)", sealed, when, a, ok)
			}
			if a, ok := got["without"]; !ok || a != "" {
				t.Fatalf("sealed %v, %s: id without an answer: %q (%v)", sealed, when, a, ok)
			}
		}
		s, rec := open()
		check(rec, "after a reopen")
		// Copy both forward out of the first segment, then reopen.
		for len(s.log.Segments()) < 2 {
			if _, err := s.log.Append(make([]byte, 512)); err != nil {
				t.Fatal(err)
			}
		}
		s.mu.Lock()
		head := s.dedup[dedupKey{qa, "with"}].seg
		s.mu.Unlock()
		if err := s.copyDedupForward(head, []dedupKey{{qa, "with"}, {qa, "without"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, rec = open()
		check(rec, "after copy-forward and a reopen")
		s.Close()
	}
}
