package wire

import (
	"bytes"
	"testing"
	"testing/iotest"
)

func TestFrameReaderReleaseBetweenFrames(t *testing.T) {
	var stream bytes.Buffer
	fw := NewFrameWriter(&stream)
	big := bytes.Repeat([]byte("x"), 300) // larger than the idle array
	for i := 0; i < 3; i++ {
		if err := fw.WriteFrame(FrameBody, uint16(i+1), big); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"whole", "one byte at a time"} {
		var r = bytes.NewReader(stream.Bytes())
		fr := NewFrameReader(r)
		if name != "whole" {
			fr = NewFrameReader(iotest.OneByteReader(bytes.NewReader(stream.Bytes())))
		}
		for i := 0; i < 3; i++ {
			fr.Release() // a no-op while bytes are buffered
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, i, err)
			}
			if f.Channel != uint16(i+1) || !bytes.Equal(f.Payload, big) {
				t.Fatalf("%s frame %d: channel %d, %d bytes", name, i, f.Channel, len(f.Payload))
			}
		}
		fr.Release()
		if fr.buf != nil {
			t.Fatalf("%s: buffer kept after Release with nothing buffered", name)
		}
	}
}
