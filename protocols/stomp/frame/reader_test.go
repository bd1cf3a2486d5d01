package frame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// got is a frame copied out of the reader for comparison.
type got struct {
	cmd     Command
	raw     string
	headers []string // "name=value" pairs in wire order
	body    string
	clen    int // -1 when absent
}

func (g got) String() string {
	return fmt.Sprintf("%v %q %q %q cl=%d", g.cmd, g.raw, g.headers, g.body, g.clen)
}

func snapshot(f *Frame) got {
	g := got{cmd: f.Command, raw: string(f.RawCommand), body: string(f.Body), clen: -1}
	for _, h := range f.Headers {
		g.headers = append(g.headers, string(h.Name)+"="+string(h.Value))
	}
	if n, ok := f.ContentLength(); ok {
		g.clen = n
	}
	return g
}

// readAll reads frames until an error and returns them with the error.
func readAll(r *Reader) ([]got, error) {
	var out []got
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, snapshot(f))
	}
}

// errKind classifies an error for table comparison: limit errors by name,
// syntax errors by message, anything else by value.
func errKind(err error) string {
	var le *LimitError
	var se *SyntaxError
	var ce *CommandError
	switch {
	case errors.As(err, &le):
		return "limit " + le.Limit
	case errors.As(err, &ce):
		// How much of the line was read depends on how it arrived;
		// TestCommandErrorEcho checks the text.
		return "command"
	case errors.As(err, &se):
		return "syntax " + se.Msg
	case err == nil:
		return "nil"
	}
	return err.Error()
}

// variants are the ways input can arrive: whole, one octet per read, with
// the EOF on the last data read, in halves, and split at every position.
func variants(in string) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":   func() io.Reader { return strings.NewReader(in) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
		"half":    func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
	}
	for k := 1; k < len(in); k++ {
		m[fmt.Sprintf("split%d", k)] = func() io.Reader {
			return io.MultiReader(strings.NewReader(in[:k]), strings.NewReader(in[k:]))
		}
	}
	return m
}

func hdr(kv ...string) []string {
	var out []string
	for i := 0; i < len(kv); i += 2 {
		out = append(out, kv[i]+"="+kv[i+1])
	}
	return out
}

func TestReadFrame(t *testing.T) {
	small := Limits{MaxFrameSize: 64, MaxHeaders: 3, MaxHeaderLine: 20, MaxBody: 16}
	tests := []struct {
		name   string
		v      Version
		lim    Limits
		in     string
		frames []got
		beats  uint64
		err    string // errKind of the final error
	}{
		{
			name:   "send LF",
			in:     "SEND\ndestination:/queue/a\n\nhello\x00",
			frames: []got{{Send, "SEND", hdr("destination", "/queue/a"), "hello", -1}},
			err:    "EOF",
		},
		{
			name:   "send CRLF",
			in:     "SEND\r\ndestination:/queue/a\r\nreceipt:7\r\n\r\nhello\x00\r\n",
			frames: []got{{Send, "SEND", hdr("destination", "/queue/a", "receipt", "7"), "hello", -1}},
			beats:  1,
			err:    "EOF",
		},
		{
			name:   "no headers no body",
			in:     "DISCONNECT\n\n\x00",
			frames: []got{{Disconnect, "DISCONNECT", nil, "", -1}},
			err:    "EOF",
		},
		{
			name:   "repeated headers kept in order",
			in:     "SEND\nfoo:1\nfoo:2\nbar:3\n\n\x00",
			frames: []got{{Send, "SEND", hdr("foo", "1", "foo", "2", "bar", "3"), "", -1}},
			err:    "EOF",
		},
		{
			name:   "value split at first colon",
			in:     "SEND\ndestination:/a:b::c\nempty:\n\n\x00",
			frames: []got{{Send, "SEND", hdr("destination", "/a:b::c", "empty", ""), "", -1}},
			err:    "EOF",
		},
		{
			name:   "1.2 escapes",
			v:      V12,
			in:     "SEND\na\\cb:x\\ny\\\\z\\r\\c\n\n\x00",
			frames: []got{{Send, "SEND", hdr("a:b", "x\ny\\z\r:"), "", -1}},
			err:    "EOF",
		},
		{
			name:   "1.1 escapes",
			v:      V11,
			in:     "MESSAGE\nk\\\\:v\\c\\n\n\n\x00",
			frames: []got{{Message, "MESSAGE", hdr("k\\", "v:\n"), "", -1}},
			err:    "EOF",
		},
		{
			name: "1.1 has no \\r",
			v:    V11,
			in:   "SEND\nk:a\\rb\n\n\x00",
			err:  "syntax undefined escape sequence in header",
		},
		{
			name: "1.2 undefined escape",
			v:    V12,
			in:   "SEND\nk:a\\tb\n\n\x00",
			err:  "syntax undefined escape sequence in header",
		},
		{
			name: "1.2 trailing backslash in name",
			v:    V12,
			in:   "SEND\nk\\:v\n\n\x00",
			err:  "syntax undefined escape sequence in header",
		},
		{
			name:   "1.0 no unescaping",
			v:      V10,
			in:     "SEND\nk:a\\cb\\t\\\n\n\x00",
			frames: []got{{Send, "SEND", hdr("k", "a\\cb\\t\\"), "", -1}},
			err:    "EOF",
		},
		{
			name:   "CONNECT never unescaped",
			v:      V12,
			in:     "CONNECT\naccept-version:1.2\nlogin:a\\cb\\t\npasscode:p:w\n\n\x00",
			frames: []got{{Connect, "CONNECT", hdr("accept-version", "1.2", "login", "a\\cb\\t", "passcode", "p:w"), "", -1}},
			err:    "EOF",
		},
		{
			name:   "STOMP never unescaped",
			v:      V12,
			in:     "STOMP\nlogin:a\\t\n\n\x00",
			frames: []got{{Stomp, "STOMP", hdr("login", "a\\t"), "", -1}},
			err:    "EOF",
		},
		{
			name:   "CONNECTED never unescaped",
			v:      V11,
			in:     "CONNECTED\nserver:x\\y\n\n\x00",
			frames: []got{{Connected, "CONNECTED", hdr("server", "x\\y"), "", -1}},
			err:    "EOF",
		},
		{
			name:   "NUL in content-length body",
			in:     "SEND\ncontent-length:5\n\na\x00b\x00c\x00",
			frames: []got{{Send, "SEND", hdr("content-length", "5"), "a\x00b\x00c", 5}},
			err:    "EOF",
		},
		{
			name:   "content-length zero",
			in:     "SEND\ncontent-length:0\n\n\x00SEND\n\n\x00",
			frames: []got{{Send, "SEND", hdr("content-length", "0"), "", 0}, {Send, "SEND", nil, "", -1}},
			err:    "EOF",
		},
		{
			name:   "content-length leading zeros",
			in:     "SEND\ncontent-length:003\n\nabc\x00",
			frames: []got{{Send, "SEND", hdr("content-length", "003"), "abc", 3}},
			err:    "EOF",
		},
		{
			name:   "first content-length wins",
			in:     "SEND\ncontent-length:3\ncontent-length:junk\n\na\x00c\x00",
			frames: []got{{Send, "SEND", hdr("content-length", "3", "content-length", "junk"), "a\x00c", 3}},
			err:    "EOF",
		},
		{
			name: "content-length not followed by NUL",
			in:   "SEND\ncontent-length:2\n\nabc\x00",
			err:  "syntax body not terminated by NUL after content-length octets",
		},
		{name: "content-length empty", in: "SEND\ncontent-length:\n\n\x00", err: "syntax content-length is not a non-negative decimal"},
		{name: "content-length negative", in: "SEND\ncontent-length:-1\n\n\x00", err: "syntax content-length is not a non-negative decimal"},
		{name: "content-length plus", in: "SEND\ncontent-length:+1\n\na\x00", err: "syntax content-length is not a non-negative decimal"},
		{name: "content-length space", in: "SEND\ncontent-length: 1\n\na\x00", err: "syntax content-length is not a non-negative decimal"},
		{name: "content-length hex", in: "SEND\ncontent-length:0x1\n\na\x00", err: "syntax content-length is not a non-negative decimal"},
		{
			name: "heartbeats between frames",
			in:   "\n\r\n\nSEND\n\n\x00\n\n\r\nACK\nid:1\n\n\x00\n",
			frames: []got{
				{Send, "SEND", nil, "", -1},
				{Ack, "ACK", hdr("id", "1"), "", -1},
			},
			beats: 7,
			err:   "EOF",
		},
		{name: "heartbeats only", in: "\n\n\r\n\n", beats: 4, err: "EOF"},
		{name: "empty input", in: "", err: "EOF"},
		{name: "bare CR between frames", in: "\rSEND\n\n\x00", err: "syntax CR not followed by LF"},
		{name: "CR at end of input", in: "\n\r", beats: 1, err: "unexpected EOF"},
		{name: "EOF in command", in: "SEN", err: "unexpected EOF"},
		{name: "EOF in headers", in: "SEND\ndest", err: "unexpected EOF"},
		{name: "EOF in body", in: "SEND\n\nabc", err: "unexpected EOF"},
		{name: "EOF in content-length body", in: "SEND\ncontent-length:4\n\nab\x00", err: "unexpected EOF"},
		{name: "EOF before NUL", in: "SEND\ncontent-length:2\n\nab", err: "unexpected EOF"},
		{name: "header without colon", in: "SEND\ndestination\n\n\x00", err: "syntax header line without colon"},
		{name: "empty header name", in: "SEND\n:v\n\n\x00", err: "syntax empty header name"},
		// An unknown command is refused as soon as its line is read, or as
		// soon as the line read so far cannot become a command.
		{name: "unknown command", in: "FOO\nk:v\n\nbody\x00SEND\n\n\x00", err: "command"},
		{name: "lower-case command is unknown", in: "send\n\n\x00", err: "command"},
		{name: "unknown command without LF", in: "SENX", err: "command"},
		{name: "garbage without LF or NUL", in: "\x16\x03\x01\x02\x00", err: "command"},
		{name: "command too long without LF", in: "UNSUBSCRIBEX", err: "command"},
		{name: "command then CR then more", in: "SEND\rX", err: "command"},
		{name: "command then CR CR LF", in: "SEND\r\r\n\n\x00", err: "command"},
		{name: "command prefix then EOF", in: "UNSUBSCRIB", err: "unexpected EOF"},
		{name: "command and CR then EOF", in: "SEND\r", err: "unexpected EOF"},
		{name: "unknown command after a frame", in: "SEND\n\n\x00\nHTTP/1.1", frames: []got{{Send, "SEND", nil, "", -1}}, beats: 1, err: "command"},
		{
			name:   "CR inside a value is kept",
			in:     "SEND\nk:a\rb\n\n\x00",
			frames: []got{{Send, "SEND", hdr("k", "a\rb"), "", -1}},
			err:    "EOF",
		},
		{
			name:   "NUL in a header value is kept",
			in:     "SEND\nk:a\x00b\n\nc\x00",
			frames: []got{{Send, "SEND", hdr("k", "a\x00b"), "c", -1}},
			err:    "EOF",
		},
		{
			name: "all server commands",
			in:   "CONNECTED\nversion:1.2\n\n\x00MESSAGE\n\n\x00RECEIPT\nreceipt-id:1\n\n\x00ERROR\nmessage:x\n\noops\x00",
			frames: []got{
				{Connected, "CONNECTED", hdr("version", "1.2"), "", -1},
				{Message, "MESSAGE", nil, "", -1},
				{Receipt, "RECEIPT", hdr("receipt-id", "1"), "", -1},
				{Error, "ERROR", hdr("message", "x"), "oops", -1},
			},
			err: "EOF",
		},
		{
			name: "all client commands",
			in:   "SUBSCRIBE\n\n\x00UNSUBSCRIBE\n\n\x00NACK\n\n\x00BEGIN\n\n\x00COMMIT\n\n\x00ABORT\n\n\x00",
			frames: []got{
				{Subscribe, "SUBSCRIBE", nil, "", -1},
				{Unsubscribe, "UNSUBSCRIBE", nil, "", -1},
				{Nack, "NACK", nil, "", -1},
				{Begin, "BEGIN", nil, "", -1},
				{Commit, "COMMIT", nil, "", -1},
				{Abort, "ABORT", nil, "", -1},
			},
			err: "EOF",
		},

		// Limits. small: frame 64, headers 3, line 20, body 16.
		{
			name:   "at every limit",
			lim:    small,
			in:     "SEND\na:1\nb:2\nccccccccccccccccc:\n\n0123456789abcdef\x00",
			frames: []got{{Send, "SEND", hdr("a", "1", "b", "2", "ccccccccccccccccc", ""), "0123456789abcdef", -1}},
			err:    "EOF",
		},
		// A command line longer than any command is refused before
		// MaxHeaderLine could apply.
		{name: "command line too long", lim: small, in: "SENDSENDSENDSENDSENDS\n\n\x00", err: "command"},
		{name: "command line too long no LF", lim: small, in: "SENDSENDSENDSENDSENDSENDSEND", err: "command"},
		{name: "header line too long", lim: small, in: "SEND\nk:0123456789abcdefghi\n\n\x00", err: "limit MaxHeaderLine"},
		{name: "header line at limit with CRLF", lim: small, in: "SEND\r\nk:0123456789abcdefgh\r\n\r\n\x00",
			frames: []got{{Send, "SEND", hdr("k", "0123456789abcdefgh"), "", -1}}, err: "EOF"},
		{name: "too many headers", lim: small, in: "SEND\na:1\nb:2\nc:3\nd:4\n\n\x00", err: "limit MaxHeaders"},
		{name: "repeated headers count", lim: small, in: "SEND\na:1\na:1\na:1\na:1\n\n\x00", err: "limit MaxHeaders"},
		{name: "content-length over MaxBody", lim: small, in: "SEND\ncontent-length:17\n\n", err: "limit MaxBody"},
		{name: "content-length 4294967295", in: "SEND\ncontent-length:4294967295\n\n", err: "limit MaxBody"},
		{name: "content-length overflow", in: "SEND\ncontent-length:99999999999999999999999999\n\n", err: "limit MaxBody"},
		{name: "body over MaxBody", lim: small, in: "SEND\n\n0123456789abcdefg\x00", err: "limit MaxBody"},
		{name: "body over MaxBody no NUL", lim: small, in: "SEND\n\n0123456789abcdefghij", err: "limit MaxBody"},
		{
			name: "headers over MaxFrameSize",
			lim:  small,
			in:   "SEND\naaaaaaaaaaaaaaaaa:1\nbbbbbbbbbbbbbbbbb:2\nccccccccccccccccc:3\n\n\x00",
			err:  "limit MaxFrameSize",
		},
		{
			name: "content-length over MaxFrameSize",
			lim:  small,
			in:   "SEND\naaaaaaaaaaaaaaa:1\nbbbbbbbbbbbbbbb:2\ncontent-length:16\n\n0123456789abcdef\x00",
			err:  "limit MaxFrameSize",
		},
		{
			name: "body over MaxFrameSize",
			lim:  small,
			in:   "SEND\naaaaaaaaaaaaaaa:1\nbbbbbbbbbbbbbbb:2\nc:123\n\n0123456789abcdef\x00",
			err:  "limit MaxFrameSize",
		},
		{
			name: "frame exactly MaxFrameSize",
			lim:  small,
			in:   "SEND\naaaaaaaaaaaaaaa:1\nbbbbbbbbbbbbbbb:2\nc:12\n\n0123456789abcdef\x00",
			frames: []got{{Send, "SEND", hdr("aaaaaaaaaaaaaaa", "1", "bbbbbbbbbbbbbbb", "2", "c", "12"),
				"0123456789abcdef", -1}},
			err: "EOF",
		},
		{
			name: "frame exactly MaxFrameSize with content-length",
			lim:  small,
			in:   "SEND\naaaaaaaaaaaaaaa:1\ncontent-length:16\nc:12\n\n0123456789abcdef\x00",
			frames: []got{{Send, "SEND", hdr("aaaaaaaaaaaaaaa", "1", "content-length", "16", "c", "12"),
				"0123456789abcdef", 16}},
			err: "EOF",
		},
		{
			name: "content-length one over MaxFrameSize",
			lim:  small,
			in:   "SEND\naaaaaaaaaaaaaaa:1\ncontent-length:16\nc:123\n\n0123456789abcdef\x00",
			err:  "limit MaxFrameSize",
		},
		{
			name:   "frames before a limit error are returned",
			lim:    small,
			in:     "SEND\n\nok\x00\nSEND\n\n0123456789abcdefg\x00",
			frames: []got{{Send, "SEND", nil, "ok", -1}},
			beats:  1,
			err:    "limit MaxBody",
		},
	}
	for _, tc := range tests {
		for vname, mk := range variants(tc.in) {
			r := NewReader(mk(), tc.lim)
			r.SetVersion(tc.v)
			frames, err := readAll(r)
			if e := errKind(err); e != tc.err {
				t.Errorf("%s/%s: error %q, want %q", tc.name, vname, e, tc.err)
			}
			if fmt.Sprint(frames) != fmt.Sprint(tc.frames) {
				t.Errorf("%s/%s:\n got %v\nwant %v", tc.name, vname, frames, tc.frames)
			}
			if r.Heartbeats() != tc.beats {
				t.Errorf("%s/%s: %d heart-beats, want %d", tc.name, vname, r.Heartbeats(), tc.beats)
			}
			// Protocol errors are sticky.
			if _, err2 := r.ReadFrame(); strings.HasPrefix(tc.err, "limit") || strings.HasPrefix(tc.err, "syntax") {
				if err2 != err {
					t.Errorf("%s/%s: error not sticky: %v then %v", tc.name, vname, err, err2)
				}
			}
			if cap(r.buf) > max(r.lim.MaxFrameSize, initialBufSize) {
				t.Errorf("%s/%s: buffer grew to %d", tc.name, vname, cap(r.buf))
			}
		}
	}
}

func TestGetFirstWins(t *testing.T) {
	r := NewReader(strings.NewReader("SEND\nfoo:1\nfoo:2\n\n\x00"), Limits{})
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Get("foo"); !ok || string(v) != "1" {
		t.Errorf("Get(foo) = %q, %v", v, ok)
	}
	if v, ok := f.GetString("foo"); !ok || v != "1" {
		t.Errorf("GetString(foo) = %q, %v", v, ok)
	}
	if _, ok := f.Get("bar"); ok || f.Has("bar") || !f.Has("foo") {
		t.Error("Get/Has of a missing header")
	}
	if _, ok := f.ContentLength(); ok {
		t.Error("ContentLength without header")
	}
}

func TestSessionVersionSwitch(t *testing.T) {
	// A 1.2 client: CONNECT is read before SetVersion and never unescaped;
	// frames after CONNECTED are.
	in := "CONNECT\naccept-version:1.1,1.2\nlogin:a\\cb\n\n\x00" +
		"SEND\ndestination:/queue/a\\cb\n\n\x00"
	r := NewReader(strings.NewReader(in), Limits{})
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	av, _ := f.GetString("accept-version")
	v, ok := NegotiateVersion(av)
	if !ok || v != V12 {
		t.Fatalf("negotiated %v %v", v, ok)
	}
	if l, _ := f.Get("login"); string(l) != "a\\cb" {
		t.Errorf("CONNECT login = %q", l)
	}
	r.SetVersion(v)
	f, err = r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := f.Get("destination"); string(d) != "/queue/a:b" {
		t.Errorf("destination = %q", d)
	}
}

func TestHeartbeatFunc(t *testing.T) {
	calls := 0
	r := NewReader(strings.NewReader("\n\nSEND\n\n\x00"), Limits{})
	r.SetHeartbeatFunc(func() { calls++ })
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || r.Heartbeats() != 2 {
		t.Errorf("calls %d, beats %d", calls, r.Heartbeats())
	}
	// With one octet per read, the function is called before each blocking
	// read so a session sees liveness while the reader waits.
	calls = 0
	r = NewReader(iotest.OneByteReader(strings.NewReader("\n\n\n")), Limits{})
	r.SetHeartbeatFunc(func() { calls++ })
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Errorf("calls %d", calls)
	}
}

// flaky returns a temporary error once, in the middle of the input.
type flaky struct {
	r    io.Reader
	n    int
	done bool
}

var errTimeout = errors.New("i/o timeout")

func (f *flaky) Read(p []byte) (int, error) {
	if !f.done && f.n == 0 {
		f.done = true
		return 0, errTimeout
	}
	if !f.done && len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestResumeAfterReadError(t *testing.T) {
	in := "SEND\nk:v\ncontent-length:3\n\nabc\x00ACK\nid:1\n\n\x00"
	for cut := 0; cut < len(in); cut++ {
		r := NewReader(&flaky{r: strings.NewReader(in), n: cut}, Limits{})
		var frames []got
		sawTimeout := false
		for {
			f, err := r.ReadFrame()
			if err == errTimeout {
				sawTimeout = true
				continue
			}
			if err != nil {
				if err != io.EOF {
					t.Fatalf("cut %d: %v", cut, err)
				}
				break
			}
			frames = append(frames, snapshot(f))
		}
		want := "[SEND \"SEND\" [\"k=v\" \"content-length=3\"] \"abc\" cl=3 ACK \"ACK\" [\"id=1\"] \"\" cl=-1]"
		if !sawTimeout || fmt.Sprint(frames) != want {
			t.Errorf("cut %d: timeout %v, frames %v", cut, sawTimeout, frames)
		}
	}
}

func TestCommandErrorEcho(t *testing.T) {
	for in, want := range map[string]string{
		"FOO\nk:v\n\n\x00":              "FOO",
		"\n\nHTTP/1.1 200 OK\r\n":       "HTTP/1.1 200 OK",
		"SENDX":                         "SENDX",
		"SEND\r\r\n":                    "SEND\r",
		strings.Repeat("X", 100) + "\n": strings.Repeat("X", maxCommandEcho),
		strings.Repeat("SEND", 40):      strings.Repeat("SEND", maxCommandEcho/4),
	} {
		_, err := NewReader(strings.NewReader(in), Limits{}).ReadFrame()
		var ce *CommandError
		if !errors.As(err, &ce) || string(ce.Command) != want || ce.Error() != "unknown command" {
			t.Errorf("%q: %v %q, want command %q", in, err, ce, want)
		}
	}
	// Read one octet at a time, noise is refused at its first octet.
	_, err := NewReader(iotest.OneByteReader(strings.NewReader("HTTP/1.1")), Limits{}).ReadFrame()
	if ce := (*CommandError)(nil); !errors.As(err, &ce) || string(ce.Command) != "H" {
		t.Errorf("one octet at a time: %v", err)
	}
	// Endless noise is refused at its first octet, whatever the limits.
	for _, b := range []byte{'A', 'x', 0, 0xff} {
		r := NewReader(endless(b), Limits{})
		_, err := r.ReadFrame()
		var ce *CommandError
		if !errors.As(err, &ce) || cap(r.buf) > initialBufSize {
			t.Errorf("%q forever: %v, buffer %d", b, err, cap(r.buf))
		}
	}
}

// endless yields the same octet forever.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestMemoryBounded(t *testing.T) {
	lim := Limits{MaxFrameSize: 1 << 20}
	cases := map[string]io.Reader{
		"command line":        io.MultiReader(strings.NewReader("SEND\n"), endless('A')), // a header line
		"header line":         io.MultiReader(strings.NewReader("SEND\nk:"), endless('v')),
		"many headers":        io.MultiReader(strings.NewReader("SEND\n"), strings.NewReader(strings.Repeat("k:v\n", 2000))),
		"body without length": io.MultiReader(strings.NewReader("SEND\n\n"), endless('b')),
	}
	for name, src := range cases {
		r := NewReader(src, lim)
		_, err := r.ReadFrame()
		var le *LimitError
		if !errors.As(err, &le) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cap(r.buf) > lim.MaxFrameSize {
			t.Errorf("%s: buffer %d > limit", name, cap(r.buf))
		}
		t.Logf("%s: %v, buffer %d", name, err, cap(r.buf))
	}

	// A huge declared length is rejected before anything is reserved.
	r := NewReader(strings.NewReader("SEND\ncontent-length:4294967295\n\n"), Limits{})
	_, err := r.ReadFrame()
	if errKind(err) != "limit MaxBody" || cap(r.buf) > initialBufSize {
		t.Errorf("%v, buffer %d", err, cap(r.buf))
	}
	if err.Error() != "frame exceeds MaxBody (4294967295 > 4194304)" {
		t.Errorf("message %q", err.Error())
	}
}

// TestGrowShrink reads a frame larger than the initial buffer, then small
// frames, and checks that the buffer grows for the first and is given back.
func TestGrowShrink(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100000)
	var in []byte
	in = AppendFrame(in, Send, []Field{{"destination", "/q"}}, big, V12)
	in = AppendFrame(in, Send, nil, big, V12)
	for range 40 {
		in = AppendFrame(in, Send, []Field{{"destination", "/q"}}, []byte("small"), V12)
	}
	for _, mk := range []func() io.Reader{
		func() io.Reader { return bytes.NewReader(in) },
		func() io.Reader { return iotest.HalfReader(bytes.NewReader(in)) },
	} {
		r := NewReader(mk(), Limits{})
		r.SetVersion(V12)
		maxCap := 0
		n := 0
		for {
			f, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if n < 2 && !bytes.Equal(f.Body, big) || n >= 2 && string(f.Body) != "small" {
				t.Fatalf("frame %d body %d octets", n, len(f.Body))
			}
			maxCap = max(maxCap, cap(r.buf))
			n++
		}
		if n != 42 || maxCap < len(big) || cap(r.buf) != initialBufSize {
			t.Errorf("frames %d, max buffer %d, final buffer %d", n, maxCap, cap(r.buf))
		}
	}
}

func TestReadFrameAllocs(t *testing.T) {
	one := AppendFrame(nil, Send, []Field{
		{"destination", "/queue/a"}, {"content-type", "text/plain"}, {"receipt", "r-1"},
	}, bytes.Repeat([]byte("a"), 1024), V12)
	src := &repeater{frame: one}
	r := NewReader(src, Limits{})
	r.SetVersion(V12)
	for range 10 { // warm up: header slices reach their size
		if _, err := r.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		f, err := r.ReadFrame()
		if err != nil || len(f.Body) != 1024 {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

// repeater yields the same frame forever, in reads that do not line up with
// frame boundaries.
type repeater struct {
	frame []byte
	off   int
}

func (s *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], s.frame[s.off:])
		n += c
		s.off = (s.off + c) % len(s.frame)
	}
	return n, nil
}

func TestClone(t *testing.T) {
	r := NewReader(strings.NewReader("SEND\nk:v\ncontent-length:2\n\nab\x00SEND\nx:y\n\ncd\x00"), Limits{})
	f, _ := r.ReadFrame()
	c := f.Clone()
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(snapshot(c)) != `SEND "SEND" ["k=v" "content-length=2"] "ab" cl=2` {
		t.Errorf("clone %v", snapshot(c))
	}
}

func TestLimitsNormalize(t *testing.T) {
	d := DefaultLimits()
	if d != (Limits{4 << 20, 1000, 64 << 10, 4 << 20}) {
		t.Errorf("defaults %+v", d)
	}
	if l := (Limits{MaxFrameSize: 100, MaxBody: 1000}).normalize(); l.MaxBody != 100 {
		t.Errorf("MaxBody not capped: %+v", l)
	}
}

func TestReset(t *testing.T) {
	r := NewReader(strings.NewReader("\nSEND\nk:a\\cb\n\n\x00SEND\n\n"), Limits{MaxHeaders: 5})
	r.SetVersion(V12)
	r.SetHeartbeatFunc(func() {})
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFrame(); err != io.ErrUnexpectedEOF {
		t.Fatal(err)
	}
	r.Reset(strings.NewReader("SEND\nk:a\\cb\n\n\x00"))
	if r.Version() != V10 || r.Heartbeats() != 0 || r.Buffered() != 0 || r.Limits().MaxHeaders != 5 || r.onBeat != nil {
		t.Errorf("state survived Reset: %+v", r)
	}
	f, err := r.ReadFrame()
	if err != nil || fmt.Sprint(snapshot(f)) != `SEND "SEND" ["k=a\\cb"] "" cl=-1` {
		t.Errorf("%v %v", err, snapshot(f))
	}

	var a, b bytes.Buffer
	w := NewWriter(&a)
	w.SetVersion(V12)
	w.WriteFrame(Send, []Field{{"k", "a:b"}}, nil)
	w.Reset(&b)
	w.WriteFrame(Send, []Field{{"k", "a:b"}}, nil)
	w.Flush()
	if a.Len() != 0 || b.String() != "SEND\nk:a:b\n\n\x00" {
		t.Errorf("writer after Reset: %q %q", a.String(), b.String())
	}
}

// SetLimits between frames: a server holds a connection to small frames
// until it has authenticated, then lifts the bound.
func TestSetLimits(t *testing.T) {
	big := "SEND\n\n" + strings.Repeat("b", 10000) + "\x00"
	r := NewReader(strings.NewReader("CONNECT\nlogin:a\n\n\x00"+big), Limits{})
	r.SetLimits(Limits{MaxFrameSize: 4096})
	if f, err := r.ReadFrame(); err != nil || f.Command != Connect {
		t.Fatalf("CONNECT: %v", err)
	}
	r.SetLimits(Limits{})
	if f, err := r.ReadFrame(); err != nil || len(f.Body) != 10000 {
		t.Fatalf("SEND after lifting the bound: %v", err)
	}
	// A declared body over the bound is refused before any of it is
	// buffered: the buffer keeps its initial size.
	r = NewReader(strings.NewReader("CONNECT\ncontent-length:4194000\n\n"), Limits{})
	r.SetLimits(Limits{MaxFrameSize: 4096})
	_, err := r.ReadFrame()
	var le *LimitError
	if !errors.As(err, &le) || le.Max != 4096 || cap(r.buf) > initialBufSize {
		t.Fatalf("%v, buffer %d", err, cap(r.buf))
	}
}
