package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

func allProperties() message.Properties {
	return message.Properties{
		Flags: message.FlagContentType | message.FlagContentEncoding | message.FlagHeaders |
			message.FlagDeliveryMode | message.FlagPriority | message.FlagCorrelationID | message.FlagReplyTo |
			message.FlagExpiration | message.FlagMessageID | message.FlagTimestamp | message.FlagType |
			message.FlagUserID | message.FlagAppID | message.FlagClusterID,
		ContentType: "application/json", ContentEncoding: "gzip", Headers: sampleTable(),
		DeliveryMode: message.Persistent, Priority: 9, CorrelationID: "corr", ReplyTo: "amq.rabbitmq.reply-to",
		Expiration: "60000", MessageID: "msg-1", Timestamp: 1700000000, Type: "order.created",
		UserID: "guest", AppID: "sluice-test", ClusterID: "c1",
	}
}

func TestContentHeaderRoundTrip(t *testing.T) {
	all := allProperties()
	tests := []struct {
		name  string
		props message.Properties
	}{
		{"none", message.Properties{}},
		{"all", all},
		{"empty values present", message.Properties{Flags: message.FlagContentType | message.FlagHeaders | message.FlagPriority | message.FlagTimestamp,
			Timestamp: 0}},
		{"delivery mode only", message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: message.Transient}},
		{"cluster id only", message.Properties{Flags: message.FlagClusterID, ClusterID: "x"}},
	}
	// Each flag alone.
	for f := uint16(0x8000); f >= message.FlagClusterID; f >>= 1 {
		p := all
		p.Flags = f
		tests = append(tests, struct {
			name  string
			props message.Properties
		}{"flag " + string(rune('A'+15-bitIndex(f))), keepFlagged(p)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EncodeContentHeader(nil, ClassBasic, 123456789012, &tt.props)
			if err != nil {
				t.Fatal(err)
			}
			if flags := uint16(p[12])<<8 | uint16(p[13]); flags != tt.props.Flags {
				t.Fatalf("wire flags %#x, want %#x", flags, tt.props.Flags)
			}
			var got message.Properties
			class, size, err := DecodeContentHeader(p, &got)
			if err != nil || class != ClassBasic || size != 123456789012 {
				t.Fatalf("%d %d %v", class, size, err)
			}
			want := tt.props
			if want.Headers != nil && len(want.Headers) == 0 {
				want.Headers = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %#v\nwant %#v", got, want)
			}
			for i := 0; i < len(p); i++ {
				if _, _, err := DecodeContentHeader(p[:i], &got); err == nil {
					t.Fatalf("prefix %d/%d decoded", i, len(p))
				}
			}
		})
	}
}

func bitIndex(f uint16) int {
	for i := 0; i < 16; i++ {
		if f == 1<<i {
			return i
		}
	}
	return -1
}

// keepFlagged zeroes the properties whose flag is not set, as decoding does.
func keepFlagged(p message.Properties) message.Properties {
	var q message.Properties
	q.Flags = p.Flags
	enc, _ := EncodeContentHeader(nil, ClassBasic, 0, &p)
	DecodeContentHeader(enc, &q)
	return q
}

func TestContentHeaderWire(t *testing.T) {
	p := message.Properties{Flags: message.FlagContentType | message.FlagDeliveryMode, ContentType: "t", DeliveryMode: 2}
	got, _ := EncodeContentHeader(nil, 60, 5, &p)
	want := []byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x90, 0x00, 1, 't', 2}
	if !bytes.Equal(got, want) {
		t.Fatalf("% x\n% x", got, want)
	}
	// Properties without their flag are not written; unknown bits dropped.
	p = message.Properties{Flags: 0x0003, ContentType: "ignored"}
	got, _ = EncodeContentHeader(nil, 60, 0, &p)
	if !bytes.Equal(got[12:], []byte{0, 0}) {
		t.Fatalf("% x", got)
	}
	got, _ = EncodeContentHeader(nil, 60, 0, nil)
	if len(got) != 14 {
		t.Fatalf("nil props: % x", got)
	}
}

func TestContentHeaderFlags(t *testing.T) {
	base := []byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	tests := []struct {
		name  string
		rest  []byte
		flags uint16
		code  uint16 // 0: success
	}{
		{"continuation, empty second word", []byte{0x80, 0x01, 0x00, 0x00, 1, 'x'}, 0x8000, 0},
		{"two continuations", []byte{0x10, 0x01, 0x00, 0x01, 0x00, 0x00, 2}, 0x1000, 0},
		{"continuation word with a property", []byte{0x00, 0x01, 0x80, 0x00}, 0, SyntaxError},
		{"undefined bit 1", []byte{0x00, 0x02}, 0, SyntaxError},
		{"missing continuation word", []byte{0x00, 0x01}, 0, FrameError},
		{"trailing", []byte{0x00, 0x00, 0}, 0, FrameError},
	}
	for _, tt := range tests {
		var p message.Properties
		_, _, err := DecodeContentHeader(append(append([]byte{}, base...), tt.rest...), &p)
		if tt.code == 0 {
			if err != nil || p.Flags != tt.flags {
				t.Errorf("%s: flags %#x, %v", tt.name, p.Flags, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code {
			t.Errorf("%s: %v, want %d", tt.name, err, tt.code)
		}
	}
}
