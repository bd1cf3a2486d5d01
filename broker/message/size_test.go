package message

import (
	"testing"
	"unsafe"
)

// TestMessageSize pins the size of a Message without its body: every
// message in memory costs this, so it stays in the 256-byte size class
// (a time.Time timestamp once put it in the 288-byte one).
func TestMessageSize(t *testing.T) {
	if n := unsafe.Sizeof(Message{}); n > 256 {
		t.Fatalf("Message is %d bytes, more than 256", n)
	}
}
