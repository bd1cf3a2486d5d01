package frame

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAppendFrameEncoding(t *testing.T) {
	tests := []struct {
		name    string
		enc     Encoder
		cmd     Command
		headers []Field
		body    string
		want    string
	}{
		{"plain", Encoder{Version: V12}, Message, []Field{{"destination", "/queue/a"}}, "hi",
			"MESSAGE\ndestination:/queue/a\ncontent-length:2\n\nhi\x00"},
		{"empty body has no length", Encoder{Version: V12}, Receipt, []Field{{"receipt-id", "7"}}, "",
			"RECEIPT\nreceipt-id:7\n\n\x00"},
		{"1.2 escapes", Encoder{Version: V12}, Message, []Field{{"a:b", "x\ny\\z\r:"}}, "",
			"MESSAGE\na\\cb:x\\ny\\\\z\\r\\c\n\n\x00"},
		{"1.1 escapes, CR replaced", Encoder{Version: V11}, Message, []Field{{"a:b", "x\ny\\z\r:"}}, "",
			"MESSAGE\na\\cb:x\\ny\\\\z \\c\n\n\x00"},
		{"1.0 cannot escape", Encoder{Version: V10}, Message, []Field{{"a:b", "x\ny\\z\r:"}}, "",
			"MESSAGE\na b:x y\\z :\n\n\x00"},
		{"CONNECTED never escaped", Encoder{Version: V12}, Connected, []Field{{"version", "1.2"}, {"server", "s\\1:x\ny"}}, "",
			"CONNECTED\nversion:1.2\nserver:s\\1:x y\n\n\x00"},
		{"CONNECT never escaped", Encoder{Version: V12}, Connect, []Field{{"login", "a:b\\"}}, "",
			"CONNECT\nlogin:a:b\\\n\n\x00"},
		{"caller content-length dropped", Encoder{Version: V12}, Send, []Field{{"content-length", "99"}, {"k", "v"}}, "a\x00b",
			"SEND\nk:v\ncontent-length:3\n\na\x00b\x00"},
		{"caller content-length dropped, empty body", Encoder{Version: V12}, Send, []Field{{"content-length", "99"}}, "",
			"SEND\n\n\x00"},
		{"LengthAlways", Encoder{Version: V12, Length: LengthAlways}, Error, []Field{{"message", "m"}}, "",
			"ERROR\nmessage:m\ncontent-length:0\n\n\x00"},
		{"LengthIfNUL without NUL", Encoder{Version: V12, Length: LengthIfNUL}, Message, nil, "text",
			"MESSAGE\n\ntext\x00"},
		{"LengthIfNUL with NUL", Encoder{Version: V12, Length: LengthIfNUL}, Message, nil, "a\x00",
			"MESSAGE\ncontent-length:2\n\na\x00\x00"},
	}
	for _, tc := range tests {
		got := string(tc.enc.Append([]byte("prefix"), tc.cmd, tc.headers, []byte(tc.body)))
		if got != "prefix"+tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, "prefix"+tc.want)
		}
	}
	if got := string(AppendHeartbeat([]byte("x"))); got != "x\n" {
		t.Errorf("heartbeat %q", got)
	}
}

func TestAppendUnknownPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	AppendFrame(nil, Unknown, nil, nil, V12)
}

// nastyFields holds every octet that needs care in headers.
var nastyFields = []Field{
	{"destination", "/queue/a"},
	{"colon:name", "va:lue"},
	{"back\\slash", "a\\b\\"},
	{"line\nfeed", "x\ny\n"},
	{"carriage\rreturn", "\rx\ry\r"},
	{"nul", "a\x00b"},
	{"empty", ""},
	{"dup", "first"},
	{"dup", "second"},
	{"utf8", "héllo ✓"},
}

// sanitized is what a header looks like after a round trip through a
// version that cannot express some octets.
func sanitized(s string, esc int, name bool) string {
	if esc == esc12 {
		return s
	}
	r := strings.NewReplacer("\r", " ")
	if esc == escRaw {
		r = strings.NewReplacer("\r", " ", "\n", " ")
		if name {
			r = strings.NewReplacer("\r", " ", "\n", " ", ":", " ")
		}
	}
	return r.Replace(s)
}

func TestRoundTrip(t *testing.T) {
	bodies := []string{"", "hello", "a\x00b\x00", strings.Repeat("x", 10000)}
	for v := V10; v <= V12; v++ {
		for cmd := Connect; cmd <= Error; cmd++ {
			for _, body := range bodies {
				for _, mode := range []LengthMode{LengthNonEmpty, LengthAlways, LengthIfNUL} {
					enc := Encoder{Version: v, Length: mode}
					wire := enc.Append(nil, cmd, nastyFields, []byte(body))
					wire = AppendHeartbeat(wire)
					wire = enc.Append(wire, cmd, nil, nil)

					r := NewReader(bytes.NewReader(wire), Limits{})
					r.SetVersion(v)
					f, err := r.ReadFrame()
					if err != nil {
						t.Fatalf("%v %v %q: %v", v, cmd, wire, err)
					}
					esc := escRaw
					if cmd.escapes(v) {
						esc = esc11
						if v == V12 {
							esc = esc12
						}
					}
					var want []string
					for _, h := range nastyFields {
						want = append(want, sanitized(h.Name, esc, true)+"="+sanitized(h.Value, esc, false))
					}
					g := snapshot(f)
					if g.clen >= 0 {
						g.headers = g.headers[:len(g.headers)-1] // the encoder's content-length
					}
					if f.Command != cmd || g.body != body || fmt.Sprint(g.headers) != fmt.Sprint(want) {
						t.Errorf("%v %v mode %d:\n got %v\nwant %v", v, cmd, mode, g.headers, want)
					}
					if v, _ := f.Get("dup"); string(v) != "first" {
						t.Errorf("dup = %q", v)
					}
					if f, err = r.ReadFrame(); err != nil || f.Command != cmd || len(f.Headers) > 1 {
						t.Fatalf("second frame: %v", err)
					}
				}
			}
		}
	}
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.WriteFrame(Connected, []Field{{"version", "1.2"}, {"heart-beat", "0,0"}}, nil); err != nil {
		t.Fatal(err)
	}
	w.SetVersion(V12)
	if err := w.WriteFrame(Message, []Field{{"destination", "/q:x"}}, []byte("a\x00b")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeartbeat(); err != nil {
		t.Fatal(err)
	}
	w.SetLengthMode(LengthAlways)
	if err := w.WriteFrame(Receipt, []Field{{"receipt-id", "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{'z'}, 100000) // larger than the buffer
	if err := w.WriteFrame(Message, nil, big); err != nil {
		t.Fatal(err)
	}
	if w.Buffered() == 0 {
		t.Error("nothing buffered before Flush")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\x00" +
		"MESSAGE\ndestination:/q\\cx\ncontent-length:3\n\na\x00b\x00" +
		"\n" +
		"RECEIPT\nreceipt-id:1\ncontent-length:0\n\n\x00" +
		"MESSAGE\ncontent-length:100000\n\n" + string(big) + "\x00"
	if out.String() != want {
		t.Errorf("got %q", out.String()[:200])
	}
}

func messageFields() []Field {
	return []Field{
		{"subscription", "sub-0"},
		{"message-id", "T_sub-0@@session-Yq3@@1"},
		{"destination", "/queue/orders"},
		{"ack", "4711"},
		{"content-type", "application/json"},
		{"persistent", "true"},
	}
}

func TestEncodeAllocs(t *testing.T) {
	fields := messageFields()
	body := bytes.Repeat([]byte("m"), 1024)
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		dst = AppendFrame(dst[:0], Message, fields, body, V12)
	}); n != 0 {
		t.Errorf("AppendFrame: %v allocations", n)
	}
	w := NewWriter(discard{})
	w.SetVersion(V12)
	if n := testing.AllocsPerRun(100, func() {
		if err := w.WriteFrame(Message, fields, body); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Writer.WriteFrame: %v allocations", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestNegotiateVersion(t *testing.T) {
	all := []Version{V10, V11, V12}
	tests := []struct {
		accept    string
		supported []Version
		want      Version
		ok        bool
	}{
		{"", nil, V10, true},
		{"", []Version{V11, V12}, 0, false},
		{"1.0,1.1,1.2", nil, V12, true},
		{"1.2,1.1,1.0", all, V12, true},
		{"1.0,1.1", all, V11, true},
		{"1.1, 1.2", all, V12, true},
		{"1.0,1.1,1.2", []Version{V10, V11}, V11, true},
		{"1.2", []Version{V10, V11}, 0, false},
		{"2.0,1.1", all, V11, true},
		{"2.0", all, 0, false},
		{"garbage", all, 0, false},
		{"1.0", all, V10, true},
	}
	for _, tc := range tests {
		v, ok := NegotiateVersion(tc.accept, tc.supported...)
		if v != tc.want || ok != tc.ok {
			t.Errorf("NegotiateVersion(%q, %v) = %v, %v; want %v, %v", tc.accept, tc.supported, v, ok, tc.want, tc.ok)
		}
	}
	for v := V10; v <= V12; v++ {
		if p, ok := ParseVersion(v.String()); !ok || p != v {
			t.Errorf("ParseVersion(%v)", v)
		}
	}
	if _, ok := ParseVersion("1.3"); ok {
		t.Error("ParseVersion(1.3)")
	}
}

func TestHeartBeat(t *testing.T) {
	parse := []struct {
		in   string
		want HeartBeat
		ok   bool
	}{
		{"", HeartBeat{}, true},
		{"0,0", HeartBeat{}, true},
		{"10000,20000", HeartBeat{10000, 20000}, true},
		{" 5 , 7 ", HeartBeat{5, 7}, true},
		{"2147483647,0", HeartBeat{2147483647, 0}, true},
		{"2147483648,0", HeartBeat{}, false},
		{"99999999999999999999999,0", HeartBeat{}, false},
		{"1", HeartBeat{}, false},
		{"1,", HeartBeat{}, false},
		{",1", HeartBeat{}, false},
		{"1,2,3", HeartBeat{}, false},
		{"-1,0", HeartBeat{}, false},
		{"+1,0", HeartBeat{}, false},
		{"a,b", HeartBeat{}, false},
		{"1.5,0", HeartBeat{}, false},
	}
	for _, tc := range parse {
		h, err := ParseHeartBeat(tc.in)
		if h != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseHeartBeat(%q) = %v, %v", tc.in, h, err)
		}
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Errorf("ParseHeartBeat(%q) error type %T", tc.in, err)
			}
		}
	}
	if s := (HeartBeat{10, 20}).String(); s != "10,20" {
		t.Errorf("String %q", s)
	}

	ms := time.Millisecond
	neg := []struct {
		client, server HeartBeat
		c2s, s2c       time.Duration
	}{
		{HeartBeat{0, 0}, HeartBeat{0, 0}, 0, 0},
		// Client sends every 1000, server wants every 5000: client sends
		// every max(cx, sy) = 5000. Client wants 2000, server can send
		// 10000: server sends every max(sx, cy) = 10000.
		{HeartBeat{1000, 2000}, HeartBeat{10000, 5000}, 5000 * ms, 10000 * ms},
		{HeartBeat{0, 2000}, HeartBeat{10000, 5000}, 0, 10000 * ms}, // client cannot send
		{HeartBeat{1000, 0}, HeartBeat{10000, 5000}, 5000 * ms, 0},  // client wants none
		{HeartBeat{1000, 2000}, HeartBeat{0, 5000}, 5000 * ms, 0},   // server cannot send
		{HeartBeat{1000, 2000}, HeartBeat{10000, 0}, 0, 10000 * ms}, // server wants none
		{HeartBeat{30000, 30000}, HeartBeat{4000, 4000}, 30000 * ms, 30000 * ms},
	}
	for _, tc := range neg {
		c2s, s2c := NegotiateHeartBeat(tc.client, tc.server)
		if c2s != tc.c2s || s2c != tc.s2c {
			t.Errorf("NegotiateHeartBeat(%v, %v) = %v, %v; want %v, %v", tc.client, tc.server, c2s, s2c, tc.c2s, tc.s2c)
		}
	}
}

func TestCommandString(t *testing.T) {
	for c := Connect; c <= Error; c++ {
		if ParseCommand([]byte(c.String())) != c {
			t.Errorf("%d: %q does not parse back", c, c.String())
		}
	}
	if Unknown.String() != "" || Command(200).String() != "" {
		t.Error("unknown command names")
	}
	if n := testing.AllocsPerRun(100, func() { ParseCommand([]byte("UNSUBSCRIBE")) }); n != 0 {
		t.Errorf("ParseCommand allocates %v", n)
	}
}

// TrailingLF: an LF after each frame's NUL, from the Writer and the
// Encoder alike, and a Reader reads the frames back.
func TestTrailingLF(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetTrailingLF(true)
	if err := w.WriteFrame(Receipt, []Field{{"receipt-id", "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(Message, nil, []byte("a\x00b")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	enc := Encoder{Version: V12, TrailingLF: true}.Append(nil, Error, []Field{{"message", "m"}}, nil)
	want := "RECEIPT\nreceipt-id:1\n\n\x00\nMESSAGE\ncontent-length:3\n\na\x00b\x00\n"
	if out.String() != want || string(enc) != "ERROR\nmessage:m\n\n\x00\n" {
		t.Fatalf("got %q and %q", out.String(), enc)
	}
	r := NewReader(bytes.NewReader(append(out.Bytes(), enc...)), Limits{})
	for _, cmd := range []Command{Receipt, Message, Error} {
		f, err := r.ReadFrame()
		if err != nil || f.Command != cmd {
			t.Fatalf("read %v: %v %v", cmd, f, err)
		}
	}
}
