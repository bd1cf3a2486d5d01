package frame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

// fuzzLimits are small so the fuzzer reaches every limit quickly.
var fuzzLimits = Limits{MaxFrameSize: 2048, MaxHeaders: 16, MaxHeaderLine: 256, MaxBody: 1024}

type fuzzFrame struct {
	version Version
	frame   *Frame
}

// session reads data the way a server session would: version 1.0 until a
// CONNECT or STOMP frame, then the negotiated version.
func session(t *testing.T, src io.Reader) ([]fuzzFrame, error) {
	r := NewReader(src, fuzzLimits)
	var out []fuzzFrame
	for {
		v := r.Version()
		f, err := r.ReadFrame()
		if err != nil {
			if cap(r.buf) > max(fuzzLimits.MaxFrameSize, initialBufSize) {
				t.Fatalf("buffer grew to %d", cap(r.buf))
			}
			return out, err
		}
		checkInvariants(t, f)
		out = append(out, fuzzFrame{v, f.Clone()})
		if f.Command == Connect || f.Command == Stomp {
			av, _ := f.GetString("accept-version")
			if nv, ok := NegotiateVersion(av); ok {
				r.SetVersion(nv)
			}
			hb, _ := f.GetString("heart-beat")
			if h, err := ParseHeartBeat(hb); err == nil {
				NegotiateHeartBeat(h, HeartBeat{5000, 5000})
			}
		}
	}
}

func checkInvariants(t *testing.T, f *Frame) {
	t.Helper()
	if len(f.Headers) > fuzzLimits.MaxHeaders {
		t.Fatalf("%d headers", len(f.Headers))
	}
	if len(f.Body) > fuzzLimits.MaxBody {
		t.Fatalf("body %d octets", len(f.Body))
	}
	if n, ok := f.ContentLength(); ok && n != len(f.Body) {
		t.Fatalf("content-length %d, body %d", n, len(f.Body))
	}
	if f.Command != ParseCommand(f.RawCommand) {
		t.Fatal("command misclassified")
	}
	for _, h := range f.Headers {
		if len(h.Name) == 0 {
			t.Fatal("empty header name")
		}
	}
}

func sameErr(a, b error) bool {
	var la, lb *LimitError
	if errors.As(a, &la) && errors.As(b, &lb) {
		return la.Limit == lb.Limit // Value depends on how input arrived
	}
	return a == b || a != nil && b != nil && a.Error() == b.Error()
}

func FuzzReadFrame(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzReadFrame; a few edge cases here.
	f.Add([]byte("SEND\ncontent-length:4294967295\n\n"))
	f.Add([]byte("SEND\nk:\\t\n\n\x00"))
	f.Add([]byte("\r\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := session(t, bytes.NewReader(data))
		// How the input is chunked must not matter.
		frames1, err1 := session(t, iotest.OneByteReader(bytes.NewReader(data)))
		if !sameErr(err, err1) || len(frames) != len(frames1) {
			t.Fatalf("whole: %d frames, %v; one octet at a time: %d frames, %v", len(frames), err, len(frames1), err1)
		}
		for i := range frames {
			if a, b := fmt.Sprint(snapshot(frames[i].frame)), fmt.Sprint(snapshot(frames1[i].frame)); a != b {
				t.Fatalf("frame %d differs:\n%s\n%s", i, a, b)
			}
		}
		if err == nil {
			t.Fatal("no error at end of input")
		}
		// Every frame we can parse, we can write back in the same version
		// and read again unchanged, up to octets the version cannot carry.
		for _, ff := range frames {
			if ff.frame.Command != Unknown {
				checkRoundTrip(t, ff.version, ff.frame)
			}
		}
	})
}

func checkRoundTrip(t *testing.T, v Version, f *Frame) {
	t.Helper()
	var fields []Field
	var want []string
	esc := escRaw
	if f.Command.escapes(v) {
		esc = esc11
		if v == V12 {
			esc = esc12
		}
	}
	for _, h := range f.Headers {
		if string(h.Name) == "content-length" {
			continue // the encoder writes its own
		}
		fields = append(fields, Field{string(h.Name), string(h.Value)})
		want = append(want, sanitized(string(h.Name), esc, true)+"="+sanitized(string(h.Value), esc, false))
	}
	wire := AppendFrame(nil, f.Command, fields, f.Body, v)
	r := NewReader(bytes.NewReader(wire), Limits{})
	r.SetVersion(v)
	g, err := r.ReadFrame()
	if err != nil {
		t.Fatalf("re-reading %q: %v", wire, err)
	}
	s := snapshot(g)
	if s.clen >= 0 {
		s.headers = s.headers[:len(s.headers)-1]
	}
	if g.Command != f.Command || !bytes.Equal(g.Body, f.Body) || fmt.Sprint(s.headers) != fmt.Sprint(want) {
		t.Fatalf("round trip in %v:\n got %v\nwant %v %q", v, s, want, f.Body)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(Message), uint8(V12), uint8(0), "destination", "/queue/a", "k:\\", "v\r\n:", []byte("body\x00"))
	f.Add(uint8(Connected), uint8(V11), uint8(1), "version", "1.1", "server", "x\ny", []byte(nil))
	f.Add(uint8(Send), uint8(V10), uint8(2), "a:b", "c", "d\re", "f", []byte("x"))
	f.Fuzz(func(t *testing.T, cmd, ver, mode uint8, n1, v1, n2, v2 string, body []byte) {
		c := Command(cmd%uint8(Error) + 1)
		v := Version(ver % 3)
		if n1 == "" || n2 == "" {
			return // the encoder does not invent names
		}
		fields := []Field{{n1, v1}, {n2, v2}}
		enc := Encoder{Version: v, Length: LengthMode(mode % 3)}
		wire := enc.Append(nil, c, fields, body)
		r := NewReader(bytes.NewReader(wire), Limits{})
		r.SetVersion(v)
		g, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("%q: %v", wire, err)
		}
		esc := escRaw
		if c.escapes(v) {
			esc = esc11
			if v == V12 {
				esc = esc12
			}
		}
		var want []string
		for _, h := range fields {
			if h.Name != "content-length" {
				want = append(want, sanitized(h.Name, esc, true)+"="+sanitized(h.Value, esc, false))
			}
		}
		s := snapshot(g)
		if s.clen >= 0 {
			s.headers = s.headers[:len(s.headers)-1]
		}
		if g.Command != c || !bytes.Equal(g.Body, body) || fmt.Sprint(s.headers) != fmt.Sprint(want) {
			t.Fatalf("%q:\n got %v\nwant %v", wire, s, want)
		}
		if _, err := r.ReadFrame(); err != io.EOF {
			t.Fatalf("trailing input: %v", err)
		}
	})
}
