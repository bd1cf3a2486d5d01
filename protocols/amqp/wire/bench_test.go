package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

func BenchmarkDecodeBasicPublish(b *testing.B) {
	p, _ := EncodeMethod(nil, &BasicPublish{Exchange: "amq.topic", RoutingKey: "orders.eu.created", Mandatory: true})
	b.Run("DecodeMethod", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeMethod(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MethodDecoder", func(b *testing.B) {
		var md MethodDecoder
		b.ReportAllocs()
		for b.Loop() {
			if _, err := md.Decode(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeBasicAck(b *testing.B) {
	p, _ := EncodeMethod(nil, &BasicAck{DeliveryTag: 123456, Multiple: true})
	var md MethodDecoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := md.Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBasicDeliver(b *testing.B) {
	fw := NewFrameWriter(io.Discard)
	m := &BasicDeliver{ConsumerTag: "amq.ctag-3Yx9mmvOQ2K9xvvQ", DeliveryTag: 1, Exchange: "amq.topic", RoutingKey: "orders.eu.created"}
	b.ReportAllocs()
	for b.Loop() {
		m.DeliveryTag++
		if err := fw.WriteMethod(1, m); err != nil {
			b.Fatal(err)
		}
		fw.Flush()
	}
}

func benchHeaders() message.Table {
	return message.Table{
		"x-retry-count": int32(3), "trace-id": "4bf92f3577b34da6a3ce929d0e0e4736", "tenant": "acme",
		"x-first-death-queue": "orders", "priority-class": uint8(2),
		"x-death": []any{message.Table{"count": int64(1), "queue": "orders", "reason": "rejected",
			"exchange": "amq.topic", "routing-keys": []any{"orders.eu.created"}}},
	}
}

func BenchmarkDecodeTable(b *testing.B) {
	p, _ := EncodeTable(nil, benchHeaders())
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTable(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeContent(b *testing.B) {
	fw := NewFrameWriter(io.Discard)
	props := &message.Properties{
		Flags:       message.FlagContentType | message.FlagHeaders | message.FlagDeliveryMode | message.FlagMessageID | message.FlagTimestamp,
		ContentType: "application/json", Headers: benchHeaders(), DeliveryMode: message.Persistent, MessageID: "m-1",
	}
	body := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := fw.WriteContent(1, ClassBasic, props, body, DefaultFrameMax); err != nil {
			b.Fatal(err)
		}
		fw.Flush()
	}
}

// loopReader replays the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func BenchmarkReadFrame(b *testing.B) {
	var out bytes.Buffer
	fw := NewFrameWriter(&out)
	fw.WriteMethod(1, &BasicPublish{Exchange: "amq.topic", RoutingKey: "orders.eu.created"})
	fw.WriteContent(1, ClassBasic, &message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: 2}, make([]byte, 1024), DefaultFrameMax)
	fw.Flush()
	fr := NewFrameReader(&loopReader{data: out.Bytes()})
	b.SetBytes(int64(out.Len()) / 3)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fr.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
