package conninfo

import (
	"io"
	"testing"
)

func TestCountersAndWriter(t *testing.T) {
	var c Counters
	c.Read(10)
	c.Read(0) // a read that returned nothing is not a receive
	w := Writer{W: io.Discard, C: &c}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got := c.Load(); got != (IO{RecvOct: 10, RecvCnt: 1, SendOct: 5, SendCnt: 1}) {
		t.Fatalf("counters %+v", got)
	}
	if got := ChannelName("127.0.0.1:5 -> 127.0.0.1:6", 3); got != "127.0.0.1:5 -> 127.0.0.1:6 (3)" {
		t.Fatalf("channel name %q", got)
	}
}
