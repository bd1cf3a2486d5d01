package sqs

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// The encoding AWS documents for MD5OfMessageAttributes ("Calculating the
// MD5 message digest for message attributes", SQS Developer Guide),
// spelled out byte by byte: attributes sorted by name; for each, the name,
// the data type and the value, each behind a 4-byte big-endian length, and
// a transport byte (1 string/number, 2 binary) before the value.
func TestAttributesMD5Encoding(t *testing.T) {
	attrs := map[string]attrValue{
		"zeta":  {DataType: "Binary", BinaryValue: []byte{0xde, 0xad}},
		"alpha": {DataType: "Number.int", StringValue: "7"},
		"mid":   {DataType: "String", StringValue: "v"},
	}
	var want []byte
	want = append(want, 0, 0, 0, 5, 'a', 'l', 'p', 'h', 'a', 0, 0, 0, 10, 'N', 'u', 'm', 'b', 'e', 'r', '.', 'i', 'n', 't', 1, 0, 0, 0, 1, '7')
	want = append(want, 0, 0, 0, 3, 'm', 'i', 'd', 0, 0, 0, 6, 'S', 't', 'r', 'i', 'n', 'g', 1, 0, 0, 0, 1, 'v')
	want = append(want, 0, 0, 0, 4, 'z', 'e', 't', 'a', 0, 0, 0, 6, 'B', 'i', 'n', 'a', 'r', 'y', 2, 0, 0, 0, 2, 0xde, 0xad)
	sum := md5.Sum(want)
	if got := attributesMD5(attrs); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("attributesMD5 = %s, want %s", got, hex.EncodeToString(sum[:]))
	}
	if attributesMD5(nil) != "" {
		t.Fatal("no attributes must give no digest")
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	r := receipt{epoch: 0xdeadbeef01, tag: 42, recvAt: 1_700_000_000_123, queue: "orders.fifo"}
	got, ok := parseReceipt(r.String())
	if !ok || got != r {
		t.Fatalf("parseReceipt(String()) = %+v %v, want %+v", got, ok, r)
	}
	for _, bad := range []string{"", "x", "AQ", r.String() + "!", receipt{epoch: 1, tag: 0, recvAt: 1, queue: "q"}.String()} {
		if _, ok := parseReceipt(bad); ok {
			t.Errorf("parseReceipt(%q) accepted", bad)
		}
	}
}

func TestAccountIDs(t *testing.T) {
	if AccountID("/") != "000000000000" {
		t.Fatal("vhost / must be account 000000000000")
	}
	a, b := AccountID("prod"), AccountID("staging")
	if len(a) != 12 || a == b || a == "000000000000" || AccountID("prod") != a {
		t.Fatalf("account ids %s %s", a, b)
	}
	for _, tc := range []struct{ path, acct, q string }{
		{"/000000000000/q", "000000000000", "q"}, {"000000000000/q", "000000000000", "q"},
		{"/1/q%20x", "1", "q%20x"}, {"/a/b/c", "", ""}, {"/a", "", ""}, {"/a/", "", ""},
	} {
		acct, q, ok := parseQueuePath(tc.path)
		if acct != tc.acct || q != tc.q || ok != (tc.acct != "") {
			t.Errorf("parseQueuePath(%q) = %q %q %v", tc.path, acct, q, ok)
		}
	}
}

func TestSQSText(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "tab\tnl\n": "tab\tnl\n", "a\x00b": "a\uFFFDb",
		"\xff\xfe": "\uFFFD\uFFFD", "\uFFFE": "\uFFFD", "😀": "😀"} {
		if got := sqsText([]byte(in)); got != want {
			t.Errorf("sqsText(%q) = %q, want %q", in, got, want)
		}
		if validSQSText([]byte(in)) != (in == want) {
			t.Errorf("validSQSText(%q) = %v", in, !(in == want))
		}
	}
}

func TestFormatUUID(t *testing.T) {
	for _, b := range [][16]byte{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}} {
		c := b
		c[6] = c[6]&0x0f | 0x40
		c[8] = c[8]&0x3f | 0x80
		want := fmt.Sprintf("%x-%x-%x-%x-%x", c[0:4], c[4:6], c[6:8], c[8:10], c[10:16])
		if got := formatUUID(b); got != want {
			t.Fatalf("formatUUID(%x) = %s, want %s", b, got, want)
		}
	}
}

func TestSentMillis(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	m := &message.Message{Properties: message.Properties{Flags: message.FlagTimestamp | message.FlagMessageID, MessageID: newMessageIDAt(at), Timestamp: at.Unix()}}
	if m.Properties.MessageID[14] != '7' || m.Properties.MessageID[19] < '8' || m.Properties.MessageID[19] > 'b' {
		t.Fatalf("not a version 7 UUID: %s", m.Properties.MessageID)
	}
	if got := sentMillis(m); got != 1700000000123 {
		t.Fatalf("sentMillis = %d", got)
	}
	m.Properties.Timestamp++ // an id of another second: the property wins
	if got := sentMillis(m); got != 1700000001000 {
		t.Fatalf("sentMillis with a mismatched id = %d", got)
	}
	for _, id := range []string{"m-1", formatUUID([16]byte{1}), "zzzzzzzz-zzzz-7zzz-8zzz-zzzzzzzzzzzz"} {
		m := &message.Message{Properties: message.Properties{Flags: message.FlagTimestamp | message.FlagMessageID, MessageID: id, Timestamp: 5}}
		if got := sentMillis(m); got != 5000 {
			t.Fatalf("sentMillis(%s) = %d", id, got)
		}
	}
}

// SentTimestamp: an SQS-sent message's own milliseconds (also after
// dead-lettering, when it reached another queue later); else when the
// message reached the queue; else its timestamp property's second; else
// none.
func TestSentTimestamp(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	sqsSent := &message.Message{Properties: message.Properties{Flags: message.FlagTimestamp | message.FlagMessageID, MessageID: newMessageIDAt(at), Timestamp: at.Unix()}}
	later := time.UnixMilli(1700000099456).UnixNano()
	for _, c := range []struct {
		d    broker.Delivery
		want int64
		ok   bool
	}{
		{broker.Delivery{Msg: sqsSent, PublishedAt: later}, 1700000000123, true},
		{broker.Delivery{Msg: &message.Message{}, PublishedAt: later}, 1700000099456, true},
		{broker.Delivery{Msg: &message.Message{Properties: message.Properties{Flags: message.FlagTimestamp, Timestamp: 7}}, PublishedAt: later}, 1700000099456, true},
		{broker.Delivery{Msg: &message.Message{Properties: message.Properties{Flags: message.FlagTimestamp, Timestamp: 7}}}, 7000, true},
		{broker.Delivery{Msg: &message.Message{}}, 0, false},
	} {
		if got, ok := sentTimestamp(c.d); got != c.want || ok != c.ok {
			t.Errorf("sentTimestamp(%+v) = %d %v, want %d %v", c.d, got, ok, c.want, c.ok)
		}
	}
}

// validSQSTextSlow is the octet-at-a-time definition validSQSText's word
// fast path must agree with.
func validSQSTextSlow(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || !allowedRune(r) {
			return false
		}
		b = b[n:]
	}
	return true
}

func FuzzValidSQSText(f *testing.F) {
	for _, s := range []string{"", "plain text, long enough for words", "tab\tnl\n and more text here", "a\x00bcdefghijklmnop",
		"12345678\x1f", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", "😀😀😀", "abcdefg\xff", "\xef\xbf\xbe", "        \x19       "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := validSQSTextSlow(b)
		if got := validSQSText(b); got != want {
			t.Fatalf("validSQSText(%q) = %v, want %v", b, got, want)
		}
		if got := validSQSText(string(b)); got != want {
			t.Fatalf("validSQSText(string %q) = %v, want %v", b, got, want)
		}
	})
}

func BenchmarkValidSQSText(b *testing.B) {
	body := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 23))[:1024]
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !validSQSText(body) {
			b.Fatal("not text")
		}
	}
}
