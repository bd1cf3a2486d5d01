package frame

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	gsframe "github.com/go-stomp/stomp/v3/frame"
)

// crossFrames are well-formed frames both implementations must agree on.
// go-stomp escapes every header with the 1.2 rules whatever the command
// and version, and unescapes every header it reads, so header texts that
// need escaping are only used where both sides escape: non-CONNECT frames
// in 1.2.
func crossFrames() []struct {
	cmd     Command
	headers []Field
	body    []byte
} {
	type fr = struct {
		cmd     Command
		headers []Field
		body    []byte
	}
	return []fr{
		{Connect, []Field{{"accept-version", "1.0,1.1,1.2"}, {"host", "localhost"}, {"login", "guest"}, {"passcode", "guest"}, {"heart-beat", "10000,10000"}}, nil},
		{Stomp, []Field{{"accept-version", "1.2"}, {"host", "/"}}, nil},
		{Connected, []Field{{"version", "1.2"}, {"heart-beat", "0,0"}, {"server", "sluice/0.1"}}, nil},
		{Send, []Field{{"destination", "/queue/a"}, {"content-type", "text/plain"}}, []byte("hello")},
		{Send, []Field{{"destination", "/queue/b"}}, []byte("bin\x00ary\x00")},
		{Send, []Field{{"destination", "/queue/c:d"}, {"weird\\name", "line1\nline2\r\n:colon"}}, []byte("x")},
		{Subscribe, []Field{{"id", "0"}, {"destination", "/topic/t"}, {"ack", "client-individual"}}, nil},
		{Ack, []Field{{"id", "42"}, {"transaction", "tx1"}}, nil},
		{Nack, []Field{{"id", "43"}}, nil},
		{Begin, []Field{{"transaction", "tx1"}}, nil},
		{Commit, []Field{{"transaction", "tx1"}}, nil},
		{Abort, []Field{{"transaction", "tx1"}}, nil},
		{Unsubscribe, []Field{{"id", "0"}}, nil},
		{Message, []Field{{"subscription", "0"}, {"message-id", "007"}, {"destination", "/queue/a"}, {"dup", "1"}, {"dup", "2"}}, bytes.Repeat([]byte("m"), 5000)},
		{Receipt, []Field{{"receipt-id", "77"}}, nil},
		{Error, []Field{{"message", "malformed frame"}}, []byte("details")},
		{Disconnect, []Field{{"receipt", "77"}}, nil},
	}
}

// TestGoStompWritesWeRead: frames written by go-stomp's writer, with
// heart-beats between them, parse to the same frames with our Reader.
func TestGoStompWritesWeRead(t *testing.T) {
	var wire bytes.Buffer
	gw := gsframe.NewWriter(&wire)
	frames := crossFrames()
	for _, f := range frames {
		g := gsframe.New(f.cmd.String())
		for _, h := range f.headers {
			g.Header.Add(h.Name, h.Value)
		}
		if bytes.IndexByte(f.body, 0) >= 0 {
			// go-stomp leaves content-length to the caller.
			g.Header.Add("content-length", fmt.Sprint(len(f.body)))
		}
		g.Body = f.body
		if err := gw.Write(g); err != nil {
			t.Fatal(err)
		}
		if err := gw.Write(nil); err != nil { // heart-beat
			t.Fatal(err)
		}
	}

	r := NewReader(&wire, Limits{})
	r.SetVersion(V12)
	for i, want := range frames {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Command != want.cmd || !bytes.Equal(f.Body, want.body) {
			t.Errorf("frame %d: %v %q", i, f.Command, f.Body)
		}
		for j, h := range want.headers {
			if string(f.Headers[j].Name) != h.Name || string(f.Headers[j].Value) != h.Value {
				t.Errorf("frame %d header %d: %q:%q, want %q:%q", i, j, f.Headers[j].Name, f.Headers[j].Value, h.Name, h.Value)
			}
		}
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
	if r.Heartbeats() != uint64(len(frames)) {
		t.Errorf("%d heart-beats", r.Heartbeats())
	}
}

// TestWeWriteGoStompReads: frames written by our Writer read the same with
// go-stomp's reader.
func TestWeWriteGoStompReads(t *testing.T) {
	var wire bytes.Buffer
	w := NewWriter(&wire)
	w.SetVersion(V12)
	frames := crossFrames()
	for _, f := range frames {
		if err := w.WriteFrame(f.cmd, f.headers, f.body); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeartbeat(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	gr := gsframe.NewReader(&wire)
	for i, want := range frames {
		g, err := gr.Read()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if g.Command != want.cmd.String() || !bytes.Equal(g.Body, want.body) {
			t.Errorf("frame %d: %s %q", i, g.Command, g.Body)
		}
		n := len(want.headers)
		if len(want.body) > 0 {
			n++ // our content-length
			if cl, ok, err := g.Header.ContentLength(); !ok || err != nil || cl != len(want.body) {
				t.Errorf("frame %d: content-length %d %v %v", i, cl, ok, err)
			}
		}
		if g.Header.Len() != n {
			t.Errorf("frame %d: %d headers, want %d", i, g.Header.Len(), n)
		}
		for j, h := range want.headers {
			if k, v := g.Header.GetAt(j); k != h.Name || v != h.Value {
				t.Errorf("frame %d header %d: %q:%q, want %q:%q", i, j, k, v, h.Name, h.Value)
			}
		}
		if hb, err := gr.Read(); hb != nil || err != nil {
			t.Fatalf("frame %d: heart-beat %v %v", i, hb, err)
		}
	}
}
