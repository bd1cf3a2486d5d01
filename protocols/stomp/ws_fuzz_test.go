package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// FuzzWebSocketStream checks the path from WebSocket messages to STOMP
// frames: the data is cut into messages (empty ones included, some
// delivering their last bytes together with io.EOF, as a message reader
// may) and read through wsStream by the frame reader. However it is cut,
// the frames and the error at the end are those of the data read as one
// stream: message boundaries mean nothing to STOMP over WebSocket.
func FuzzWebSocketStream(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzWebSocketStream; a few here.
	f.Add([]byte("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00"), []byte{255}, uint8(2))
	f.Add([]byte("SUBSCRIBE\nid:0\ndestination:/queue/ws\n\n\x00SEND\ndestination:/queue/ws\n\nhi\x00"), []byte{10, 0, 3, 40}, uint8(2))
	f.Add([]byte("\nSEND\ncontent-length:2\n\n\xff\x00\x00\n"), []byte{1, 0, 0, 5, 1}, uint8(1))
	f.Add([]byte("\x16\x03\x01\x02\x00\x01\x00"), []byte{1}, uint8(0))
	f.Fuzz(func(t *testing.T, data, cuts []byte, version uint8) {
		v := frame.Version(version % 3)
		lim := frame.Limits{MaxFrameSize: 2048, MaxHeaders: 16, MaxHeaderLine: 256, MaxBody: 1024}
		want, wantErr := readAll(frame.NewReader(bytes.NewReader(data), lim), v)

		var msgs []io.Reader
		rest := data
		for i := 0; len(rest) > 0 || i < len(cuts); i++ {
			n := len(rest)
			withEOF := false
			if len(cuts) > 0 {
				c := cuts[i%len(cuts)]
				n, withEOF = min(int(c&0x7f), len(rest)), c&0x80 != 0
			}
			var m io.Reader = bytes.NewReader(rest[:n])
			if withEOF {
				m = iotest.DataErrReader(m)
			}
			msgs = append(msgs, m)
			rest = rest[n:]
			if i > len(data)+len(cuts) {
				msgs = append(msgs, bytes.NewReader(rest))
				break
			}
		}
		s := &wsStream{next: func() (io.Reader, error) {
			if len(msgs) == 0 {
				return nil, io.EOF
			}
			m := msgs[0]
			msgs = msgs[1:]
			return m, nil
		}}
		got, gotErr := readAll(frame.NewReader(s, lim), v)
		if !sameKind(gotErr, wantErr) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("as messages: %d frames, %v\nas one stream: %d frames, %v\n%v\n%v", len(got), gotErr, len(want), wantErr, got, want)
		}
	})
}

// readAll reads frames until an error, returning them in a printable form.
func readAll(r *frame.Reader, v frame.Version) ([]string, error) {
	r.SetVersion(v)
	var out []string
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%s %q %q", f.RawCommand, f.Headers, f.Body))
	}
}

// sameKind compares errors up to what depends on how input arrived: how
// far a limit or an unknown command was read.
func sameKind(a, b error) bool {
	var la, lb *frame.LimitError
	if errors.As(a, &la) && errors.As(b, &lb) {
		return la.Limit == lb.Limit
	}
	var ca, cb *frame.CommandError
	if errors.As(a, &ca) && errors.As(b, &cb) {
		return true
	}
	return a == b || a != nil && b != nil && a.Error() == b.Error()
}
