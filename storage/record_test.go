package storage

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// everyProperty is a message with every property set, each string
// property n bytes long, and a headers table holding every value type the
// message model has, nested as deep as the codec allows.
func everyProperty(n int, body []byte) *message.Message {
	s := func(c string) string { return strings.Repeat(c, n) }
	nested := message.Table{"leaf": "x"}
	for i := 0; i < maxCodecDepth-1; i++ {
		nested = message.Table{"t": nested}
	}
	p := message.Properties{Flags: 0xfffc,
		ContentType: s("a"), ContentEncoding: s("b"), DeliveryMode: 2, Priority: 255,
		CorrelationID: s("c"), ReplyTo: s("d"), Expiration: s("e"), MessageID: s("f"),
		Timestamp: math.MaxInt64, Type: s("g"), UserID: s("h"), AppID: s("i"), ClusterID: s("j"),
		Headers: message.Table{
			"void": nil, "bool": true, "false": false, "i8": int8(math.MinInt8), "u8": uint8(math.MaxUint8),
			"i16": int16(math.MinInt16), "u16": uint16(math.MaxUint16), "i32": int32(math.MinInt32),
			"u32": uint32(math.MaxUint32), "i64": int64(math.MinInt64), "u64": uint64(math.MaxUint64),
			"int": int(math.MaxInt64), "f32": float32(math.MaxFloat32), "f64": math.SmallestNonzeroFloat64,
			"dec": message.Decimal{Scale: 255, Value: math.MinInt32}, "str": s("k"), "bytes": []byte(s("l")),
			"array": []any{int32(1), "two", []any{nil, true}, message.Table{"x": int8(3)}},
			"time":  time.Unix(1<<40, 0).UTC(), "deep": nested, s("m"): "long key",
		}}
	return &message.Message{Exchange: s("x"), RoutingKey: s("r"), Properties: p, Body: body}
}

// TestMessageRecordRoundTripsEveryFieldAtItsLimit: the record codec is
// total — what the broker holds is written and read back unchanged — for
// every field at its largest: strings past AMQP's 255-byte short strings
// (a STOMP destination or header can be longer, and the 8-bit length of
// format 1 silently corrupted such records), past 65,535 bytes, every
// table value type, the deepest nesting, a 16 MiB body, extreme integers.
func TestMessageRecordRoundTripsEveryFieldAtItsLimit(t *testing.T) {
	longName := strings.Repeat("q", 70000)
	targets := []target{
		{ref: broker.QueueRef{VHost: strings.Repeat("v", 255), Queue: longName}, delivered: true, returns: math.MaxUint32},
		{ref: qa},
	}
	for _, n := range []int{0, 255, 256, 300, 70000} {
		body := bytes.Repeat([]byte{0xa5}, 1<<10)
		if n == 70000 {
			body = bytes.Repeat([]byte{0x5a}, 16<<20)
		}
		m := everyProperty(n, body)
		rec, err := encodeMessage(nil, kindMessage, math.MaxUint64, math.MinInt64, targets, m)
		if err != nil {
			t.Fatalf("strings of %d bytes: %v", n, err)
		}
		kind, rest, err := splitRecord(rec)
		if err != nil || kind != kindMessage {
			t.Fatalf("strings of %d bytes: kind %d, %v", n, kind, err)
		}
		d, err := decodeMessage(rest)
		if err != nil {
			t.Fatalf("strings of %d bytes: %v", n, err)
		}
		if d.id != math.MaxUint64 || d.published != math.MinInt64 || !reflect.DeepEqual(d.targets, targets) {
			t.Fatalf("strings of %d bytes: head changed: %d %d %+v", n, d.id, d.published, d.targets)
		}
		if !reflect.DeepEqual(d.msg, m) {
			t.Fatalf("strings of %d bytes: the message changed in a round trip", n)
		}
		id, head, err := decodeMessageHead(rest)
		if err != nil || id != math.MaxUint64 || !reflect.DeepEqual(head, targets) {
			t.Fatalf("strings of %d bytes: head: %v", n, err)
		}
	}
	for _, key := range []string{"", strings.Repeat("k", 70000)} {
		for _, answer := range []string{"", "id seq", strings.Repeat("a", 70000)} {
			d, err := decodeDedup(encodeDedup(nil, broker.QueueRef{VHost: "/", Queue: longName}, key, math.MaxInt64, answer)[2:])
			if err != nil || d.Key != key || d.Scope.Queue != longName || d.ExpiresAt != math.MaxInt64 || d.Answer != answer {
				t.Fatalf("dedup record with a %d-byte key and a %d-byte answer: %v", len(key), len(answer), err)
			}
		}
	}
	ref := broker.QueueRef{VHost: longName, Queue: longName}
	if id, got, err := decodeRef(encodeRef(nil, kindSettled, 7, ref)[2:]); err != nil || id != 7 || got != ref {
		t.Fatalf("ref record: %v", err)
	}
	if got, ids, err := decodeRefs(encodeRefs(nil, kindSettledMany, ref, []uint64{1, math.MaxUint64})[2:]); err != nil || got != ref || len(ids) != 16 {
		t.Fatalf("refs record: %v", err)
	}
}

// TestLongNamesSurviveTheStore: the same through the store and a reopen,
// as issue #12 showed it: a 300-byte routing key or property was confirmed,
// then read back as "record truncated" and gone after a restart.
func TestLongNamesSurviveTheStore(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir, testKeyring(t, "k1"))
	m := everyProperty(300, []byte("body"))
	logSync(t, s, 1, []broker.QueueRef{qa}, m)
	if got, err := s.ReadMessage(1); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("read back before the restart: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := openStore(t, dir, s.keyring())
	defer s.Close()
	got := collect(rec)
	if len(got) != 1 || !reflect.DeepEqual(got[0].Msg, m) {
		t.Fatalf("after the restart: %d messages", len(got))
	}
}

// TestUnstorableMessageIsRefusedAndForgotten: a message the codec cannot
// write (a header value of a type outside the message model) fails its
// confirm and leaves nothing behind in the store's memory; format 1 kept
// it in Store.pending for good.
func TestUnstorableMessageIsRefusedAndForgotten(t *testing.T) {
	s, _ := openStore(t, t.TempDir(), nil)
	defer s.Close()
	m := &message.Message{Body: make([]byte, 1<<20), Properties: message.Properties{Flags: message.FlagHeaders,
		Headers: message.Table{"bad": struct{}{}}}}
	errc := make(chan error, 1)
	s.LogMessage(1, 1, []broker.QueueRef{qa}, m, func(err error) { errc <- err })
	if err := <-errc; err == nil {
		t.Fatal("an unstorable message was confirmed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) != 0 || len(s.msgs) != 0 {
		t.Fatalf("the refused message stayed: %d pending, %d indexed", len(s.pending), len(s.msgs))
	}
}

// TestOldFormatIsRefused: a log written in format 1 (first byte its kind)
// makes Open fail with a clear error instead of skipping its messages.
func TestOldFormatIsRefused(t *testing.T) {
	if _, _, err := splitRecord([]byte{kindMessage, 1, 2, 3}); err != errOldFormat {
		t.Fatalf("format-1 record: %v", err)
	}
	if _, _, err := splitRecord([]byte{0x83, kindMessage}); err == nil {
		t.Fatal("an unknown version was accepted")
	}
}
