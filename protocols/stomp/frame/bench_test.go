package frame

import (
	"bytes"
	"io"
	"testing"

	gsframe "github.com/go-stomp/stomp/v3/frame"
)

// sendFields is a typical client SEND: destination, type, receipt.
var sendFields = []Field{
	{"destination", "/queue/orders"},
	{"content-type", "application/json"},
	{"receipt", "receipt-42"},
	{"persistent", "true"},
}

func send1KiB() []byte {
	return AppendFrame(nil, Send, sendFields, bytes.Repeat([]byte("x"), 1024), V12)
}

// BenchmarkReadSend1KiB reads 1 KiB SEND frames with content-length from an
// endless stream whose reads do not line up with frame boundaries.
func BenchmarkReadSend1KiB(b *testing.B) {
	one := send1KiB()
	r := NewReader(&repeater{frame: one}, Limits{})
	r.SetVersion(V12)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := r.ReadFrame()
		if err != nil || len(f.Body) != 1024 {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadSend1KiBNoLength is the same frame without content-length,
// so the body is found by scanning for NUL.
func BenchmarkReadSend1KiBNoLength(b *testing.B) {
	one := Encoder{Version: V12, Length: LengthIfNUL}.Append(nil, Send, sendFields, bytes.Repeat([]byte("x"), 1024))
	r := NewReader(&repeater{frame: one}, Limits{})
	r.SetVersion(V12)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := r.ReadFrame()
		if err != nil || len(f.Body) != 1024 {
			b.Fatal(err)
		}
	}
}

func BenchmarkGoStompReadSend1KiB(b *testing.B) {
	one := send1KiB()
	r := gsframe.NewReader(&repeater{frame: one})
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := r.Read()
		if err != nil || len(f.Body) != 1024 {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteMessage1KiB encodes a MESSAGE with the headers a server
// sends, into a reused buffer.
func BenchmarkWriteMessage1KiB(b *testing.B) {
	fields := messageFields()
	body := bytes.Repeat([]byte("m"), 1024)
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(AppendFrame(nil, Message, fields, body, V12))))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendFrame(dst[:0], Message, fields, body, V12)
	}
}

// BenchmarkWriterMessage1KiB is the same through Writer into io.Discard,
// flushing every 16 frames as a busy session would.
func BenchmarkWriterMessage1KiB(b *testing.B) {
	fields := messageFields()
	body := bytes.Repeat([]byte("m"), 1024)
	w := NewWriterSize(io.Discard, 32<<10)
	w.SetVersion(V12)
	b.SetBytes(int64(len(AppendFrame(nil, Message, fields, body, V12))))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := w.WriteFrame(Message, fields, body); err != nil {
			b.Fatal(err)
		}
		if i++; i%16 == 0 {
			w.Flush()
		}
	}
}

// BenchmarkGoStompWriteMessage1KiB builds the go-stomp frame once, outside
// the loop, which favours go-stomp; its Writer flushes every frame.
func BenchmarkGoStompWriteMessage1KiB(b *testing.B) {
	g := gsframe.New("MESSAGE")
	for _, h := range messageFields() {
		g.Header.Add(h.Name, h.Value)
	}
	g.Header.Add("content-length", "1024")
	g.Body = bytes.Repeat([]byte("m"), 1024)
	w := gsframe.NewWriterSize(io.Discard, 32<<10)
	var probe bytes.Buffer
	gsframe.NewWriter(&probe).Write(g)
	b.SetBytes(int64(probe.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(g); err != nil {
			b.Fatal(err)
		}
	}
}
