package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// Seeds beyond testdata/fuzz (recorded from the real client by
// TestRealClient -record): every method filled in, the sample table, a
// header with every property.

func addMethodSeeds(f *testing.F) {
	for _, m := range allMethods() {
		fillMethod(m, 3)
		p, err := EncodeMethod(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
}

// allocBound is how many bytes decoding n input bytes may allocate: boxed
// values, map and slice growth cost a few dozen bytes per input byte at
// worst, and the slack covers the fuzzing machinery running alongside.
func allocBound(n int) uint64 { return uint64(n)*128 + 256<<10 }

// checkAllocs runs fn and fails if it allocated more than allocBound(n).
func checkAllocs(t *testing.T, n int, fn func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > allocBound(n) {
		t.Fatalf("decoding %d bytes allocated %d bytes", n, got)
	}
}

func checkError(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error of type %T: %v", err, err)
	}
	if ReplyName(e.Code) == "" || len(e.Text) > 255 {
		t.Fatalf("bad error %+v", e)
	}
}

// roundTripMethod checks decode-encode-decode stability for a decoded method.
func roundTripMethod(t *testing.T, in []byte, m Method) {
	p, err := EncodeMethod(nil, m)
	if err != nil {
		t.Fatalf("re-encoding %s: %v", MethodName(m.ClassID(), m.MethodID()), err)
	}
	if len(p) > len(in) {
		t.Fatalf("re-encoding grew from %d to %d bytes", len(in), len(p))
	}
	m2, err := DecodeMethod(p)
	if err != nil {
		t.Fatalf("decoding re-encoded %s: %v", MethodName(m.ClassID(), m.MethodID()), err)
	}
	p2, err := EncodeMethod(nil, m2)
	if err != nil || !bytes.Equal(p, p2) {
		t.Fatalf("unstable: %v\n% x\n% x", err, p, p2)
	}
}

func FuzzDecodeMethod(f *testing.F) {
	addMethodSeeds(f)
	f.Add([]byte{0, 60, 0, 40})
	var md MethodDecoder
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Method
		var err error
		checkAllocs(t, len(data), func() { m, err = DecodeMethod(data) })
		hot, hotErr := md.Decode(data)
		if (err == nil) != (hotErr == nil) {
			t.Fatalf("DecodeMethod %v, MethodDecoder %v", err, hotErr)
		}
		if err != nil {
			checkError(t, err)
			return
		}
		roundTripMethod(t, data, m)
		a, _ := EncodeMethod(nil, m)
		b, _ := EncodeMethod(nil, hot)
		if !bytes.Equal(a, b) {
			t.Fatal("MethodDecoder decoded differently")
		}
	})
}

func FuzzDecodeTable(f *testing.F) {
	p, _ := EncodeTable(nil, sampleTable())
	f.Add(p)
	p, _ = EncodeTable(nil, nested(MaxTableDepth+1))
	f.Add(p)
	f.Add([]byte{0, 0, 0, 11, 1, 'k', 'L', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var tab message.Table
		var err error
		checkAllocs(t, len(data), func() { tab, err = DecodeTable(data) })
		if err != nil {
			checkError(t, err)
			return
		}
		p, err := EncodeTable(nil, tab)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if len(p) > len(data) {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(data), len(p))
		}
		tab2, err := DecodeTable(p)
		if err != nil {
			t.Fatalf("decoding re-encoded: %v", err)
		}
		p2, err := EncodeTable(nil, tab2)
		if err != nil || !bytes.Equal(p, p2) {
			t.Fatalf("unstable: %v\n% x\n% x", err, p, p2)
		}
	})
}

func FuzzContentHeader(f *testing.F) {
	props := allProperties()
	p, _ := EncodeContentHeader(nil, ClassBasic, 1<<40, &props)
	f.Add(p)
	p, _ = EncodeContentHeader(nil, ClassBasic, 0, nil)
	f.Add(p)
	f.Fuzz(func(t *testing.T, data []byte) {
		var props message.Properties
		var class uint16
		var size uint64
		var err error
		checkAllocs(t, len(data), func() { class, size, err = DecodeContentHeader(data, &props) })
		if err != nil {
			checkError(t, err)
			return
		}
		p, err := EncodeContentHeader(nil, class, size, &props)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if len(p) > len(data) {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(data), len(p))
		}
		var props2 message.Properties
		class2, size2, err := DecodeContentHeader(p, &props2)
		if err != nil || class2 != class || size2 != size || props2.Flags != props.Flags {
			t.Fatalf("decoding re-encoded: %v", err)
		}
		p2, _ := EncodeContentHeader(nil, class2, size2, &props2)
		if !bytes.Equal(p, p2) {
			t.Fatalf("unstable\n% x\n% x", p, p2)
		}
	})
}

// chunkReader returns at most n bytes per Read, to exercise buffering.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func FuzzFrameReader(f *testing.F) {
	// A server-side session written by FrameWriter, as a seed beside the
	// recorded client session.
	var out bytes.Buffer
	fw := NewFrameWriter(&out)
	fw.WriteMethod(1, &BasicDeliver{ConsumerTag: "c", DeliveryTag: 1, Exchange: "e", RoutingKey: "k"})
	props := allProperties()
	fw.WriteContent(1, ClassBasic, &props, bytes.Repeat([]byte("x"), 5000), FrameMinSize)
	fw.WriteHeartbeat()
	fw.Flush()
	f.Add(out.Bytes(), uint8(0))
	f.Add(out.Bytes(), uint8(7))

	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var r io.Reader = bytes.NewReader(data)
		if chunk != 0 {
			r = &chunkReader{data: data, n: int(chunk)}
		}
		fr := NewFrameReader(r)
		fr.SetMaxFrameSize(FrameMinSize)
		var md MethodDecoder
		// One allocation check for the whole stream: ReadMemStats stops
		// the world, too slow to run per frame.
		checkAllocs(t, len(data), func() {
			for {
				f, err := fr.ReadFrame()
				if len(fr.buf) > max(minReadBuffer, 2*len(data)) {
					t.Fatalf("buffer of %d for %d bytes of input", len(fr.buf), len(data))
				}
				if err != nil {
					if err != io.EOF && err != io.ErrUnexpectedEOF {
						checkError(t, err)
					}
					return
				}
				if len(f.Payload)+FrameOverhead > FrameMinSize {
					t.Fatalf("frame of %d passed the limit", len(f.Payload))
				}
				switch f.Type {
				case FrameMethod:
					if m, err := md.Decode(f.Payload); err == nil {
						roundTripMethod(t, f.Payload, m)
					} else {
						checkError(t, err)
					}
				case FrameHeader:
					var p message.Properties
					if _, _, err := DecodeContentHeader(f.Payload, &p); err != nil {
						checkError(t, err)
					}
				}
			}
		})
	})
}
