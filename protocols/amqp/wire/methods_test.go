package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestAllMethodsRoundTrip(t *testing.T) {
	ms := allMethods()
	if len(ms) < 60 {
		t.Fatalf("only %d methods generated", len(ms))
	}
	for _, proto := range ms {
		name := MethodName(proto.ClassID(), proto.MethodID())
		t.Run(name, func(t *testing.T) {
			for seed := 0; seed < 4; seed++ {
				m := NewMethod(proto.ClassID(), proto.MethodID())
				if seed > 0 {
					fillMethod(m, seed)
				}
				p, err := EncodeMethod(nil, m)
				if err != nil {
					t.Fatal(err)
				}
				got, err := DecodeMethod(p)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if !reflect.DeepEqual(got, m) {
					t.Fatalf("seed %d: round trip\n got %#v\nwant %#v", seed, got, m)
				}
				// Every proper prefix must fail cleanly.
				for i := 0; i < len(p); i++ {
					if _, err := DecodeMethod(p[:i]); err == nil {
						t.Fatalf("prefix %d/%d decoded", i, len(p))
					}
				}
				var e *Error
				if _, err := DecodeMethod(append(p, 0)); !errors.As(err, &e) || e.Code != FrameError ||
					e.ClassID != m.ClassID() || e.MethodID != m.MethodID() {
					t.Fatalf("trailing byte: %v", err)
				}
			}
		})
	}
}

func TestMethodDecoderReuses(t *testing.T) {
	var md MethodDecoder
	p1, _ := EncodeMethod(nil, &BasicPublish{Exchange: "x", RoutingKey: "a", Mandatory: true})
	p2, _ := EncodeMethod(nil, &BasicPublish{RoutingKey: "b"})
	m1, err := md.Decode(p1)
	if err != nil {
		t.Fatal(err)
	}
	if got := *m1.(*BasicPublish); got != (BasicPublish{Exchange: "x", RoutingKey: "a", Mandatory: true}) {
		t.Fatalf("%+v", got)
	}
	m2, _ := md.Decode(p2)
	if m1 != m2 {
		t.Fatal("publish struct not reused")
	}
	if got := *m2.(*BasicPublish); got != (BasicPublish{RoutingKey: "b"}) {
		t.Fatalf("fields not reset: %+v", got)
	}
	// Non-hot methods are fresh each time.
	q, _ := EncodeMethod(nil, &QueueDeclare{Queue: "q"})
	a, _ := md.Decode(q)
	b, _ := md.Decode(q)
	if a == b {
		t.Fatal("queue.declare reused")
	}
}

func TestBitPacking(t *testing.T) {
	tests := []struct {
		name string
		m    Method
		want []byte // arguments only
	}{
		{"queue.declare all", &QueueDeclare{Queue: "q", Passive: true, Durable: true, Exclusive: true, AutoDelete: true, NoWait: true},
			[]byte{0, 0, 1, 'q', 0x1f, 0, 0, 0, 0}},
		{"queue.declare durable", &QueueDeclare{Queue: "q", Durable: true},
			[]byte{0, 0, 1, 'q', 0x02, 0, 0, 0, 0}},
		{"queue.declare auto-delete,no-wait", &QueueDeclare{Queue: "q", AutoDelete: true, NoWait: true},
			[]byte{0, 0, 1, 'q', 0x18, 0, 0, 0, 0}},
		{"exchange.declare internal", &ExchangeDeclare{Exchange: "e", Type: "topic", Internal: true},
			append([]byte{0, 0, 1, 'e', 5}, append([]byte("topic"), 0x08, 0, 0, 0, 0)...)},
		{"basic.consume", &BasicConsume{Queue: "q", ConsumerTag: "c", NoLocal: true, Exclusive: true},
			[]byte{0, 0, 1, 'q', 1, 'c', 0x05, 0, 0, 0, 0}},
		{"basic.publish mandatory", &BasicPublish{Exchange: "", RoutingKey: "k", Mandatory: true},
			[]byte{0, 0, 0, 1, 'k', 0x01}},
		{"basic.publish immediate", &BasicPublish{RoutingKey: "k", Immediate: true},
			[]byte{0, 0, 0, 1, 'k', 0x02}},
		{"basic.deliver redelivered", &BasicDeliver{ConsumerTag: "c", DeliveryTag: 258, Redelivered: true, Exchange: "e", RoutingKey: "k"},
			[]byte{1, 'c', 0, 0, 0, 0, 0, 0, 1, 2, 0x01, 1, 'e', 1, 'k'}},
		{"basic.nack", &BasicNack{DeliveryTag: 1, Multiple: true, Requeue: true},
			[]byte{0, 0, 0, 0, 0, 0, 0, 1, 0x03}},
		{"queue.delete if-empty", &QueueDelete{Queue: "q", IfEmpty: true},
			[]byte{0, 0, 1, 'q', 0x02}},
		{"connection.open", &ConnectionOpen{VirtualHost: "/", Reserved2: true},
			[]byte{1, '/', 0, 0x01}},
		{"confirm.select", &ConfirmSelect{NoWait: true}, []byte{0x01}},
		{"channel.flow", &ChannelFlow{Active: true}, []byte{0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EncodeMethod(nil, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p[4:], tt.want) {
				t.Fatalf("args % x, want % x", p[4:], tt.want)
			}
			got, err := DecodeMethod(p)
			if err != nil || !reflect.DeepEqual(got, tt.m) {
				t.Fatalf("decoded %#v, %v", got, err)
			}
		})
	}
	// Unused high bits are ignored on decode, as RabbitMQ does.
	got, err := DecodeMethod([]byte{0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 9, 0xfe})
	if err != nil || *got.(*BasicAck) != (BasicAck{DeliveryTag: 9}) {
		t.Fatalf("%#v %v", got, err)
	}
}

func TestUnknownMethod(t *testing.T) {
	tests := []struct {
		payload []byte
		code    uint16
	}{
		{[]byte{0, 60, 0, 99}, CommandInvalid},
		{[]byte{0, 60, 3, 0, 1, 2}, CommandInvalid},
		{[]byte{0, 11, 0, 10}, NotImplemented},
		{[]byte{0xff, 0xff, 0, 10}, NotImplemented},
		{[]byte{0, 60, 0}, FrameError},
		{nil, FrameError},
	}
	for _, tt := range tests {
		_, err := DecodeMethod(tt.payload)
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code {
			t.Errorf("% x: %v, want code %d", tt.payload, err, tt.code)
			continue
		}
		if len(tt.payload) >= 4 && (e.ClassID != uint16(tt.payload[0])<<8|uint16(tt.payload[1]) ||
			e.MethodID != uint16(tt.payload[2])<<8|uint16(tt.payload[3])) {
			t.Errorf("% x: ids %d/%d", tt.payload, e.ClassID, e.MethodID)
		}
		if !bytes.HasPrefix([]byte(e.Text), []byte(ReplyName(tt.code)+" - ")) {
			t.Errorf("text %q lacks prefix", e.Text)
		}
	}
}

func TestDecodeErrorNamesMethod(t *testing.T) {
	_, err := DecodeMethod([]byte{0, 50, 0, 10, 0, 0, 9, 'q'})
	var e *Error
	if !errors.As(err, &e) || e.Code != FrameError || e.ClassID != 50 || e.MethodID != 10 {
		t.Fatalf("%v", err)
	}
	if want := "FRAME_ERROR - cannot decode queue.declare: string length exceeds the frame"; e.Text != want {
		t.Fatalf("text %q, want %q", e.Text, want)
	}
}

func TestSpecConstants(t *testing.T) {
	codes := map[uint16]string{
		ReplySuccess: "REPLY_SUCCESS", ContentTooLarge: "CONTENT_TOO_LARGE", NoRoute: "NO_ROUTE",
		NoConsumers: "NO_CONSUMERS", ConnectionForced: "CONNECTION_FORCED", InvalidPath: "INVALID_PATH",
		AccessRefused: "ACCESS_REFUSED", NotFound: "NOT_FOUND", ResourceLocked: "RESOURCE_LOCKED",
		PreconditionFailed: "PRECONDITION_FAILED", FrameError: "FRAME_ERROR", SyntaxError: "SYNTAX_ERROR",
		CommandInvalid: "COMMAND_INVALID", ChannelError: "CHANNEL_ERROR", UnexpectedFrame: "UNEXPECTED_FRAME",
		ResourceError: "RESOURCE_ERROR", NotAllowed: "NOT_ALLOWED", NotImplemented: "NOT_IMPLEMENTED",
		InternalError: "INTERNAL_ERROR",
	}
	values := map[uint16]uint16{ReplySuccess: 200, ContentTooLarge: 311, NoRoute: 312, NoConsumers: 313,
		ConnectionForced: 320, InvalidPath: 402, AccessRefused: 403, NotFound: 404, ResourceLocked: 405,
		PreconditionFailed: 406, FrameError: 501, SyntaxError: 502, CommandInvalid: 503, ChannelError: 504,
		UnexpectedFrame: 505, ResourceError: 506, NotAllowed: 530, NotImplemented: 540, InternalError: 541}
	for c, name := range codes {
		if ReplyName(c) != name {
			t.Errorf("ReplyName(%d) = %q", c, ReplyName(c))
		}
		if values[c] != c {
			t.Errorf("%s = %d", name, c)
		}
	}
	if ReplyName(999) != "" {
		t.Error("unknown code named")
	}
	if !IsHardError(ConnectionForced) || IsHardError(NotFound) || IsHardError(AccessRefused) || !IsHardError(NotAllowed) {
		t.Error("IsHardError")
	}
	if FrameMethod != 1 || FrameHeader != 2 || FrameBody != 3 || FrameHeartbeat != 8 || FrameEnd != 0xce || FrameMinSize != 4096 {
		t.Error("frame constants")
	}
	ids := map[string][2]uint16{
		"connection.blocked": {10, 60}, "connection.unblocked": {10, 61}, "connection.update-secret": {10, 70},
		"connection.update-secret-ok": {10, 71}, "exchange.bind": {40, 30}, "exchange.unbind-ok": {40, 51},
		"basic.nack": {60, 120}, "confirm.select": {85, 10}, "confirm.select-ok": {85, 11}, "tx.rollback-ok": {90, 31},
		"basic.publish": {ClassBasic, MethodBasicPublish}, "queue.unbind": {ClassQueue, MethodQueueUnbind},
	}
	for name, id := range ids {
		if got := MethodName(id[0], id[1]); got != name {
			t.Errorf("MethodName(%d,%d) = %q, want %q", id[0], id[1], got, name)
		}
	}
	content := map[string]bool{"basic.publish": true, "basic.return": true, "basic.deliver": true, "basic.get-ok": true}
	for _, m := range allMethods() {
		name := MethodName(m.ClassID(), m.MethodID())
		if HasContent(m) != content[name] {
			t.Errorf("HasContent(%s) = %v", name, HasContent(m))
		}
	}
}

func TestNewError(t *testing.T) {
	e := NewError(NotFound, "no queue 'q' in vhost '/'")
	if e.Text != "NOT_FOUND - no queue 'q' in vhost '/'" || e.Code != 404 || e.Hard() {
		t.Fatalf("%+v", e)
	}
	if NewError(NotFound, e.Text).Text != e.Text {
		t.Fatal("prefix doubled")
	}
	long := NewError(PreconditionFailed, string(bytes.Repeat([]byte("é"), 300)))
	if len(long.Text) > 255 || !bytes.HasSuffix([]byte(long.Text), []byte("é...")) {
		t.Fatalf("not cut on a rune boundary: %d %q", len(long.Text), long.Text[240:])
	}
	// The text must always be encodable as a short string.
	if _, err := EncodeMethod(nil, &ConnectionClose{ReplyCode: long.Code, ReplyText: long.Text}); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeShortstrTooLong(t *testing.T) {
	_, err := EncodeMethod(nil, &QueueDeclare{Queue: string(make([]byte, 256))})
	var e *Error
	if !errors.As(err, &e) || e.Code != InternalError {
		t.Fatalf("%v", err)
	}
}

func TestErrorCloseMethod(t *testing.T) {
	_, err := DecodeMethod([]byte{0, 60, 0, 99})
	var e *Error
	errors.As(err, &e)
	if cm, ok := e.CloseMethod().(*ConnectionClose); !ok || cm.ReplyCode != CommandInvalid ||
		cm.FailedClassID != 60 || cm.FailedMethodID != 99 || cm.ReplyText != e.Text {
		t.Fatalf("%#v", e.CloseMethod())
	}
	soft := NewError(NotFound, "no queue 'q'")
	soft.ClassID, soft.MethodID = ClassQueue, MethodQueueDeclare
	if cm, ok := soft.CloseMethod().(*ChannelClose); !ok || cm.ReplyCode != NotFound || cm.FailedClassID != 50 || cm.FailedMethodID != 10 {
		t.Fatalf("%#v", soft.CloseMethod())
	}
}

func TestPreencoded(t *testing.T) {
	m := &ConnectionStart{VersionMinor: 9, Mechanisms: "PLAIN", Locales: "en_US",
		ServerProperties: map[string]any{"product": "sluice", "capabilities": map[string]any{"basic.nack": true}}}
	pre, err := Preencode(m)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := EncodeMethod(nil, m)
	for i := 0; i < 2; i++ { // written twice, the same bytes
		got, err := EncodeMethod(nil, pre)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("write %d: %v\n got % x\nwant % x", i, err, got, want)
		}
	}
	if pre.ClassID() != ClassConnection || pre.MethodID() != MethodConnectionStart {
		t.Fatalf("ids %d.%d", pre.ClassID(), pre.MethodID())
	}
	if err := pre.Read(&Decoder{}); err == nil {
		t.Fatal("a Preencoded decoded")
	}
	if _, err := Preencode(&BasicConsumeOk{ConsumerTag: string(make([]byte, 300))}); err == nil {
		t.Fatal("an over-long short string preencoded")
	}
}

// TestMethodDecoderReusesShortStrings: a connection that keeps publishing
// to one exchange and key decodes them without allocating, and strings it
// has not seen, or has seen fall out of the cache, still come out right.
func TestMethodDecoderReusesShortStrings(t *testing.T) {
	var md MethodDecoder
	enc := func(x, k string) []byte {
		p, err := EncodeMethod(nil, &BasicPublish{Exchange: x, RoutingKey: k})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	same := enc("amq.topic", "orders.eu")
	if _, err := md.Decode(same); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = md.Decode(same) }); n != 0 {
		t.Fatalf("repeated publish: %v allocs", n)
	}
	for i := 0; i < 50; i++ {
		x, k := fmt.Sprintf("x%d", i%7), fmt.Sprintf("k%d", i%3)
		m, err := md.Decode(enc(x, k))
		if err != nil {
			t.Fatal(err)
		}
		if p := m.(*BasicPublish); p.Exchange != x || p.RoutingKey != k {
			t.Fatalf("decoded %q/%q, want %q/%q", p.Exchange, p.RoutingKey, x, k)
		}
	}
}
