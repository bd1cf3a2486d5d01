package connset

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestSetLifecycle(t *testing.T) {
	var s Set[int]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !s.AddListener(ln) || !s.Add(1) || !s.Add(2) {
		t.Fatal("refused before Close")
	}
	s.Remove(1)
	if got := s.Snapshot(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("snapshot %v", got)
	}
	if live := s.Close(); len(live) != 1 || !s.Closing() {
		t.Fatalf("Close returned %v", live)
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("listener still open after Close")
	}
	if s.Add(3) || s.AddListener(ln) {
		t.Fatal("accepted after Close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx); err == nil {
		t.Fatal("Wait returned with a connection still live")
	}
	s.Remove(2)
	if err := s.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
