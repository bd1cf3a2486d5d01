package connlimit

import (
	"net"
	"testing"
	"time"
)

// Past Max a connection is closed at once; closing one lets the next in.
func TestListenerBound(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(raw, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := dial(), dial()
	defer a.Close()
	defer b.Close()
	s1, s2 := <-accepted, <-accepted
	third := dial()
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := third.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("the third connection was served (%d, %v)", n, err)
	}
	if ln.Refused() != 1 || ln.Open() != 2 {
		t.Fatalf("refused %d open %d", ln.Refused(), ln.Open())
	}
	if _, ok := s1.(closeWriter); !ok {
		t.Fatal("a TCP connection lost CloseWrite")
	}
	s1.Close()
	s1.Close() // a second close counts once
	fourth := dial()
	defer fourth.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
	s2.Close()
	deadline := time.Now().Add(5 * time.Second)
	for ln.Open() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ln.Open() != 0 {
		t.Fatalf("open %d after every close", ln.Open())
	}
}
