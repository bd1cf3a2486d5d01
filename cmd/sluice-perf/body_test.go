package main

import (
	"testing"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	cases := []struct {
		p   int
		seq uint64
		ts  int64
	}{
		{0, 0, 0},
		{1, 1, 1},
		{65535, maxSeq, int64(time.Hour)},
		{300, 1<<40 + 12345, 1<<62 + 7},
	}
	for _, c := range cases {
		b := newBody(16)
		encodeHeader(b, c.p, c.seq, c.ts)
		p, seq, ts, err := decodeHeader(b)
		if err != nil || p != c.p || seq != c.seq || ts != c.ts {
			t.Errorf("round trip of (%d, %d, %d) gave (%d, %d, %d, %v)", c.p, c.seq, c.ts, p, seq, ts, err)
		}
	}
}

func TestHeaderLeavesFillerAndRejectsShortBodies(t *testing.T) {
	b := newBody(1024)
	if len(b) != 1024 {
		t.Fatalf("len %d", len(b))
	}
	encodeHeader(b, 7, 9, 11)
	for i := bodyHeaderLen; i < len(b); i++ {
		if b[i] != 'x' {
			t.Fatalf("filler byte %d is %q", i, b[i])
		}
	}
	if _, _, _, err := decodeHeader(b[:15]); err == nil {
		t.Fatal("a 15-byte body decoded")
	}
	if got := len(newBody(3)); got != bodyHeaderLen {
		t.Fatalf("newBody(3) has %d bytes, want the header's %d", got, bodyHeaderLen)
	}
}
