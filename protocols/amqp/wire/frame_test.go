package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sluice-mq/sluice/broker/message"
)

func frameBytes(typ uint8, ch uint16, payload []byte) []byte {
	b := []byte{typ, byte(ch >> 8), byte(ch), byte(len(payload) >> 24), byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload))}
	return append(append(b, payload...), FrameEnd)
}

func TestReadProtocolHeader(t *testing.T) {
	if err := ReadProtocolHeader(strings.NewReader(ProtocolHeader + "rest")); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"AMQP\x00\x00\x09\x00", "AMQP\x01\x01\x00\x09", "AMQP\x03\x01\x00\x00", "GET / HTTP/1.1\r\n", "AMQX", "\x01\x00"} {
		err := ReadProtocolHeader(strings.NewReader(in))
		var he *ProtocolHeaderError
		if !errors.Is(err, ErrProtocolHeader) || !errors.As(err, &he) {
			t.Errorf("%q: %v", in, err)
		}
	}
	if err := ReadProtocolHeader(strings.NewReader("")); err != io.EOF {
		t.Errorf("empty: %v", err)
	}
	if err := ReadProtocolHeader(strings.NewReader("AMQP")); err != io.ErrUnexpectedEOF {
		t.Errorf("short: %v", err)
	}
	// Exactly 8 bytes are consumed.
	r := strings.NewReader(ProtocolHeader + "x")
	ReadProtocolHeader(r)
	if r.Len() != 1 {
		t.Errorf("consumed %d", 9-r.Len())
	}
}

func TestFrameReader(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80000 bytes: forces growth
	frames := []Frame{
		{FrameMethod, 1, []byte{0, 60, 0, 40, 1, 2, 3}},
		{FrameHeader, 1, make([]byte, 14)},
		{FrameBody, 1, big},
		{FrameBody, 65535, []byte("x")},
		{FrameHeartbeat, 0, []byte{}},
		{FrameMethod, 0, make([]byte, 5000)},
	}
	var stream []byte
	for _, f := range frames {
		stream = append(stream, frameBytes(f.Type, f.Channel, f.Payload)...)
	}
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			fr := NewFrameReader(mk())
			for i, want := range frames {
				got, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if got.Type != want.Type || got.Channel != want.Channel || !bytes.Equal(got.Payload, want.Payload) {
					t.Fatalf("frame %d: type %d ch %d len %d", i, got.Type, got.Channel, len(got.Payload))
				}
				if cap(got.Payload) != len(got.Payload) {
					t.Fatal("payload capacity reaches into the buffer")
				}
			}
			if _, err := fr.ReadFrame(); err != io.EOF {
				t.Fatalf("end: %v", err)
			}
			if len(fr.buf) > DefaultFrameMax {
				t.Fatalf("buffer grew to %d", len(fr.buf))
			}
		})
	}
}

func TestFrameReaderErrors(t *testing.T) {
	good := frameBytes(FrameMethod, 1, []byte{0, 10, 0, 11})
	badEnd := append(append([]byte{}, good[:len(good)-1]...), 0xcd)
	tests := []struct {
		name   string
		stream []byte
		max    uint32
		code   uint16 // 0: check err below
		err    error
		text   string
	}{
		{"bad frame end", badEnd, 0, FrameError, nil, "0xcd"},
		{"unknown type", frameBytes(4, 0, nil), 0, FrameError, nil, "type 4"},
		{"oversize", frameBytes(FrameBody, 1, make([]byte, 4089)), 4096, FrameError, nil, "frame size 4097 exceeds the frame_max of 4096"},
		{"oversize header only", []byte{3, 0, 1, 0x7f, 0xff, 0xff, 0xff}, DefaultFrameMax, FrameError, nil, "131072"},
		{"truncated header", good[:5], 0, 0, io.ErrUnexpectedEOF, ""},
		{"truncated payload", good[:9], 0, 0, io.ErrUnexpectedEOF, ""},
	}
	for _, tt := range tests {
		fr := NewFrameReader(bytes.NewReader(tt.stream))
		fr.SetMaxFrameSize(tt.max)
		_, err := fr.ReadFrame()
		if tt.code == 0 {
			if err != tt.err {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Text, tt.text) || !e.Hard() {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	// Exactly at the limit is fine.
	fr := NewFrameReader(bytes.NewReader(frameBytes(FrameBody, 1, make([]byte, 4088))))
	fr.SetMaxFrameSize(4096)
	if _, err := fr.ReadFrame(); err != nil {
		t.Fatal(err)
	}
}

// TestFrameReaderHostileSize checks that a frame announcing a huge size
// makes the reader allocate in step with the bytes that actually arrive.
func TestFrameReaderHostileSize(t *testing.T) {
	stream := append([]byte{FrameBody, 0, 1, 0xff, 0xff, 0xff, 0x00}, make([]byte, 10000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fr := NewFrameReader(bytes.NewReader(stream))
	fr.SetMaxFrameSize(0)
	_, err := fr.ReadFrame()
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("%v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("allocated %d bytes for a 10 KB stream", n)
	}
}

func TestFrameWriterMethodAndHeartbeat(t *testing.T) {
	var out bytes.Buffer
	fw := NewFrameWriter(&out)
	if err := fw.WriteMethod(3, &BasicAck{DeliveryTag: 7, Multiple: true}); err != nil {
		t.Fatal(err)
	}
	fw.WriteHeartbeat()
	if out.Len() != 0 {
		t.Fatal("wrote before Flush")
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := append(frameBytes(FrameMethod, 3, []byte{0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 7, 1}), frameBytes(FrameHeartbeat, 0, nil)...)
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("% x\n% x", out.Bytes(), want)
	}
	// An encoding error buffers nothing and does not poison the writer.
	out.Reset()
	if err := fw.WriteMethod(1, &QueueDeclare{Queue: strings.Repeat("q", 300)}); err == nil {
		t.Fatal("no error")
	}
	if fw.Buffered() != 0 {
		t.Fatalf("%d bytes buffered after failed write", fw.Buffered())
	}
	if err := fw.WriteMethod(1, &ChannelOpenOk{}); err != nil {
		t.Fatal(err)
	}
}

type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, io.ErrClosedPipe
}

func TestFrameWriterStickyError(t *testing.T) {
	w := &errWriter{}
	fw := NewFrameWriter(w)
	fw.WriteHeartbeat()
	if err := fw.Flush(); err != io.ErrClosedPipe {
		t.Fatal(err)
	}
	if err := fw.WriteMethod(0, &ConnectionCloseOk{}); err != io.ErrClosedPipe {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != io.ErrClosedPipe || w.n != 1 {
		t.Fatal(err, w.n)
	}
}

func TestWriteContentSplitting(t *testing.T) {
	props := &message.Properties{Flags: message.FlagContentType | message.FlagHeaders, ContentType: "text/plain",
		Headers: message.Table{"h": "v"}}
	tests := []struct {
		bodyLen  int
		frameMax uint32
		frames   int // body frames
	}{
		{0, 4096, 0},
		{1, 4096, 1},
		{4088, 4096, 1},
		{4089, 4096, 2},
		{3 * 4088, 4096, 3},
		{3*4088 + 1, 4096, 4},
		{100000, 0, 1},
		{100000, 131072, 1},
		{300000, 131072, 3},
		{40000, 20008, 2}, // direct-write path: 20000-byte chunks
		{100, 50, 3},      // tiny frame_max: 42-byte chunks
	}
	for _, tt := range tests {
		body := make([]byte, tt.bodyLen)
		for i := range body {
			body[i] = byte(i * 7)
		}
		var out bytes.Buffer
		fw := NewFrameWriter(&out)
		if err := fw.WriteMethod(5, &BasicDeliver{ConsumerTag: "c", DeliveryTag: 1}); err != nil {
			t.Fatal(err)
		}
		if err := fw.WriteContent(5, ClassBasic, props, body, tt.frameMax); err != nil {
			t.Fatal(err)
		}
		if err := fw.Flush(); err != nil {
			t.Fatal(err)
		}
		fr := NewFrameReader(&out)
		fr.SetMaxFrameSize(tt.frameMax)
		if f, err := fr.ReadFrame(); err != nil || f.Type != FrameMethod {
			t.Fatalf("%+v: method frame %v", tt, err)
		}
		f, err := fr.ReadFrame()
		if err != nil || f.Type != FrameHeader || f.Channel != 5 {
			t.Fatalf("%+v: header frame %v", tt, err)
		}
		var got message.Properties
		class, size, err := DecodeContentHeader(f.Payload, &got)
		if err != nil || class != ClassBasic || size != uint64(tt.bodyLen) || got.ContentType != "text/plain" || got.Headers["h"] != "v" {
			t.Fatalf("%+v: header %d %d %+v %v", tt, class, size, got, err)
		}
		var rebuilt []byte
		n := 0
		for {
			f, err := fr.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil || f.Type != FrameBody || f.Channel != 5 {
				t.Fatalf("%+v: body frame %d: %v", tt, n, err)
			}
			if tt.frameMax != 0 && len(f.Payload)+FrameOverhead > int(tt.frameMax) {
				t.Fatalf("%+v: body frame of %d", tt, len(f.Payload))
			}
			rebuilt = append(rebuilt, f.Payload...)
			n++
		}
		if n != tt.frames || !bytes.Equal(rebuilt, body) {
			t.Fatalf("%+v: %d body frames, body equal %v", tt, n, bytes.Equal(rebuilt, body))
		}
	}
}

func TestWriteContentHeaderTooLarge(t *testing.T) {
	var out bytes.Buffer
	fw := NewFrameWriter(&out)
	props := &message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"big": strings.Repeat("x", 5000)}}
	if err := fw.WriteContent(1, ClassBasic, props, []byte("b"), 4096); err == nil {
		t.Fatal("no error")
	}
	if err := fw.WriteContent(1, ClassBasic, nil, []byte("b"), 8); err == nil {
		t.Fatal("frameMax 8 accepted")
	}
	if fw.Buffered() != 0 {
		t.Fatal("partial content buffered")
	}
}

func TestFrameWriterAllocs(t *testing.T) {
	fw := NewFrameWriter(io.Discard)
	deliver := &BasicDeliver{ConsumerTag: "ctag", DeliveryTag: 1, Exchange: "ex", RoutingKey: "rk"}
	props := &message.Properties{Flags: message.FlagContentType | message.FlagHeaders | message.FlagDeliveryMode,
		ContentType: "application/json", Headers: message.Table{"a": int32(1), "b": "two"}, DeliveryMode: 2}
	body := make([]byte, 1024)
	run := func() {
		fw.WriteMethod(1, deliver)
		fw.WriteContent(1, ClassBasic, props, body, 131072)
		fw.Flush()
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocs per delivery", n)
	}
}

// timeoutReader returns the first part of the data, then a timeout error
// once, then the rest.
type timeoutReader struct {
	parts [][]byte
	fail  bool
}

var errTimeout = errors.New("i/o timeout")

func (r *timeoutReader) Read(p []byte) (int, error) {
	if r.fail {
		r.fail = false
		return 0, errTimeout
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	if len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
		r.fail = true
	}
	return n, nil
}

func TestFrameReaderRetryAfterTimeout(t *testing.T) {
	f := frameBytes(FrameMethod, 1, []byte{0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	fr := NewFrameReader(&timeoutReader{parts: [][]byte{f[:5], f[5:]}})
	if _, err := fr.ReadFrame(); err != errTimeout {
		t.Fatalf("first read: %v", err)
	}
	got, err := fr.ReadFrame()
	if err != nil || !bytes.Equal(got.Payload, f[7:len(f)-1]) {
		t.Fatalf("after retry: %v", err)
	}
}
