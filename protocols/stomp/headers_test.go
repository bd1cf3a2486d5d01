package stomp

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// readFrame parses raw as version v.
func readFrame(t testing.TB, raw string, v frame.Version) *frame.Frame {
	t.Helper()
	r := frame.NewReader(strings.NewReader(raw), frame.Limits{})
	r.SetVersion(v)
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return f
}

func TestStompBuildMessage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v       frame.Version
		headers string
		body    string
		props   message.Properties
	}{
		{name: "nothing", headers: "destination:/queue/q\n", props: message.Properties{}},
		{name: "every property", v: frame.V12,
			headers: "destination:/queue/q\ncontent-type:text/plain\ncontent-encoding:gzip\npersistent:true\npriority:9\n" +
				"correlation-id:c\nreply-to:/queue/r\nexpiration:1000\namqp-message-id:m\ntimestamp:1700000000\n" +
				"type:t\nuser-id:u\napp-id:a\n",
			body: "b",
			props: message.Properties{
				Flags: message.FlagContentType | message.FlagContentEncoding | message.FlagDeliveryMode | message.FlagPriority |
					message.FlagCorrelationID | message.FlagReplyTo | message.FlagExpiration | message.FlagMessageID |
					message.FlagTimestamp | message.FlagType | message.FlagUserID | message.FlagAppID,
				ContentType: "text/plain", ContentEncoding: "gzip", DeliveryMode: message.Persistent, Priority: 9,
				CorrelationID: "c", ReplyTo: "/queue/r", Expiration: "1000", MessageID: "m",
				Timestamp: 1700000000, Type: "t", UserID: "u", AppID: "a",
			}},
		{name: "STOMP's own headers but destination are copied, as RabbitMQ's plugin does", v: frame.V12,
			headers: "destination:/queue/q\nreceipt:r\ntransaction:t\nack:client\nid:1\nsubscription:s\nx-other:y\n",
			props: message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"x-other": "y",
				"receipt": "r", "transaction": "t", "ack": "client", "id": "1", "subscription": "s"}}},
		{name: "repeated headers: first wins", v: frame.V12,
			headers: "destination:/queue/q\nk:1\nk:2\ncontent-type:a\ncontent-type:b\n",
			props: message.Properties{Flags: message.FlagHeaders | message.FlagContentType, ContentType: "a",
				Headers: message.Table{"k": "1"}}},
		{name: "persistent false and junk numbers set nothing", v: frame.V12,
			headers: "destination:/queue/q\npersistent:false\npriority:high\ntimestamp:now\n",
			props:   message.Properties{}},
		{name: "priority out of range", v: frame.V12, headers: "priority:300\n", props: message.Properties{}},
		{name: "1.2 escapes decoded", v: frame.V12, headers: "k\\cx:a\\nb\\\\c\\r\n",
			props: message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"k:x": "a\nb\\c\r"}}},
		{name: "1.0 keeps backslashes and trims", v: frame.V10, headers: "k:  a\\nb\n",
			props: message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"k": "a\\nb"}}},
		{name: "content-length is copied too", v: frame.V12, headers: "content-length:3\n", body: "a\x00b",
			props: message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"content-length": "3"}}},
	} {
		raw := "SEND\n" + tc.headers + "\n" + tc.body + "\x00"
		f := readFrame(t, raw, tc.v)
		var in interner
		m := buildMessage(f, tc.v == frame.V10, &in)
		if !reflect.DeepEqual(m.Properties, tc.props) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, m.Properties, tc.props)
		}
		if string(m.Body) != tc.body {
			t.Errorf("%s: body %q, want %q", tc.name, m.Body, tc.body)
		}
	}
}

func TestStompBuildMessageCopiesEverything(t *testing.T) {
	buf := []byte("SEND\ndestination:/queue/q\ncorrelation-id:cid\nhdr:val\n\nbody\x00")
	r := frame.NewReader(strings.NewReader(string(buf)), frame.Limits{})
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	var in interner
	m := buildMessage(f, false, &in)
	// Scribble over the reader's buffer: the message must not change.
	for i := range f.Body {
		f.Body[i] = 'X'
	}
	for _, h := range f.Headers {
		for i := range h.Value {
			h.Value[i] = 'X'
		}
	}
	if string(m.Body) != "body" || m.Properties.CorrelationID != "cid" || m.Properties.Headers["hdr"] != "val" {
		t.Fatalf("message aliases the frame: %q %+v", m.Body, m.Properties)
	}
}

func TestStompBuildMessageAllocations(t *testing.T) {
	raw := "SEND\ndestination:/queue/q\ncontent-type:text/plain\n\n" + strings.Repeat("x", 1024) + "\x00"
	f := readFrame(t, raw, frame.V12)
	var in interner
	buildMessage(f, false, &in)
	n := testing.AllocsPerRun(100, func() { buildMessage(f, false, &in) })
	if n > 2 {
		t.Fatalf("%v allocations per SEND without user headers, want at most 2 (message, bytes)", n)
	}
	// Most clients send content-length, which goes into the headers
	// table as in RabbitMQ: the table costs a few more, not one per byte.
	raw = "SEND\ndestination:/queue/q\ncontent-type:text/plain\ncontent-length:1024\n\n" + strings.Repeat("x", 1024) + "\x00"
	f = readFrame(t, raw, frame.V12)
	buildMessage(f, false, &in)
	n = testing.AllocsPerRun(100, func() { buildMessage(f, false, &in) })
	if n > 5 {
		t.Fatalf("%v allocations per SEND with content-length, want at most 5 (message, bytes, a table of one)", n)
	}
}

func TestStompMessageHeadersRendering(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	m := &message.Message{Exchange: "", RoutingKey: "q", Body: []byte("b"), Properties: message.Properties{
		Flags: message.FlagContentType | message.FlagContentEncoding | message.FlagDeliveryMode | message.FlagPriority |
			message.FlagCorrelationID | message.FlagReplyTo | message.FlagExpiration | message.FlagMessageID |
			message.FlagTimestamp | message.FlagType | message.FlagUserID | message.FlagAppID | message.FlagHeaders,
		ContentType: "ct", ContentEncoding: "ce", DeliveryMode: message.Persistent, Priority: 4,
		CorrelationID: "c", ReplyTo: "amq.gen-r", Expiration: "10", MessageID: "m", Timestamp: ts.Unix(),
		Type: "t", UserID: "u", AppID: "a",
		Headers: message.Table{
			"s": "str", "b": []byte("bytes"), "t": true, "f": false, "i8": int8(-8), "u16": uint16(16),
			"i32": int32(-32), "i64": int64(1 << 40), "f32": float32(0.5), "f64": 2.25, "nan": math.NaN(),
			"dec": message.Decimal{Scale: 3, Value: -5}, "ts": ts, "void": nil,
			"arr": []any{"x", int64(1), true, nil, message.Table{"b": 2.0, "a": "\"q\"\n"}},
			"tbl": message.Table{"z": []any{}, "y": []byte{0xff}},
			// Keys that clash with the frame's own headers are left out;
			// one the frame lacks is written, as RabbitMQ's plugin does.
			"destination": "/queue/fake", "content-type": "fake", "message-id": "fake", "ack": "shadow",
			"content-length": "always the frame's own",
		},
	}}
	var b fieldBuilder
	b.add("destination", "/queue/q") // as the writer adds them first
	b.add("message-id", "T_1@@s@@1")
	b.addMessageProperties(m)
	got := map[string]string{}
	for _, f := range b.fields {
		if _, dup := got[f.Name]; dup {
			t.Fatalf("header %s written twice", f.Name)
		}
		got[f.Name] = f.Value
	}
	want := map[string]string{
		"content-type": "ct", "content-encoding": "ce", "persistent": "true", "priority": "4", "correlation-id": "c",
		"reply-to": "/reply-queue/amq.gen-r", "expiration": "10", "amqp-message-id": "m", "timestamp": "1700000000",
		"type": "t", "user-id": "u", "app-id": "a",
		// Of the header table, as RabbitMQ's plugin: long strings and
		// 32- and 64-bit integers only.
		"s": "str", "i32": "-32", "i64": "1099511627776",
		"destination": "/queue/q", "message-id": "T_1@@s@@1", "ack": "shadow",
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected header %s = %q", k, got[k])
			}
		}
	}
	// A destination-shaped reply-to is kept; delivery mode 1 is
	// persistent:1, as RabbitMQ's plugin writes any mode but 2 (checked
	// against 3.10 with pika).
	m2 := &message.Message{Properties: message.Properties{Flags: message.FlagReplyTo | message.FlagDeliveryMode,
		ReplyTo: "/topic/x", DeliveryMode: message.Transient}}
	b.reset()
	b.addMessageProperties(m2)
	if len(b.fields) != 2 || b.fields[0] != (frame.Field{Name: "persistent", Value: "1"}) ||
		b.fields[1] != (frame.Field{Name: "reply-to", Value: "/topic/x"}) {
		t.Fatalf("fields %v", b.fields)
	}
}

func TestStompQueueArgs(t *testing.T) {
	f := readFrame(t, "SUBSCRIBE\nx-max-length: 5\nx-message-ttl:100\nx-expires:2000\nx-max-length-bytes:10\n"+
		"x-max-priority:3\nx-dead-letter-exchange:dlx\nx-dead-letter-routing-key:k\nx-overflow:reject-publish\n"+
		"x-queue-type:classic\nx-single-active-consumer:true\nx-delivery-limit:4\nx-unknown:1\nx-queue-name:q\n"+
		"x-max-length:6\n\n\x00", frame.V12)
	args, err := queueArgs(f)
	if err != nil {
		t.Fatal(err)
	}
	want := message.Table{"x-max-length": int64(5), "x-message-ttl": int64(100), "x-expires": int64(2000),
		"x-max-length-bytes": int64(10), "x-max-priority": int64(3), "x-dead-letter-exchange": "dlx",
		"x-dead-letter-routing-key": "k", "x-overflow": "reject-publish", "x-queue-type": "classic",
		"x-single-active-consumer": true, "x-delivery-limit": int64(4)}
	if !reflect.DeepEqual(args, want) {
		t.Fatalf("got %v\nwant %v", args, want)
	}
	for _, bad := range []string{"x-max-length:ten", "x-message-ttl:", "x-single-active-consumer:yes"} {
		if _, err := queueArgs(readFrame(t, "SUBSCRIBE\n"+bad+"\n\n\x00", frame.V12)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if args, _ := queueArgs(readFrame(t, "SUBSCRIBE\nid:1\n\n\x00", frame.V12)); args != nil {
		t.Fatalf("args %v without x- headers", args)
	}
}

func TestStompParseAckID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ctag string
		tag  uint64
		ok   bool
	}{
		{"T_sub@@session-abc@@42", "T_sub", 42, true},
		{"T_a@@b@@session-x@@7", "T_a@@b", 7, true},
		{"Q_/queue/x@@session-1@@1", "Q_/queue/x", 1, true},
		{"T_sub@@session@@", "", 0, false},
		{"T_sub@@session@@-1", "", 0, false},
		{"T_sub@@12", "", 0, false},
		{"garbage", "", 0, false},
		{"T_s@@s@@99999999999999999999999", "", 0, false},
	} {
		ctag, tag, ok := parseAckID([]byte(tc.in))
		if ok != tc.ok || (ok && (string(ctag) != tc.ctag || tag != tc.tag)) {
			t.Errorf("%q: %q %d %v", tc.in, ctag, tag, ok)
		}
	}
}

func TestStompSubscriptionTakeUpTo(t *testing.T) {
	s := &subscription{}
	for i := uint64(1); i <= 3000; i += 2 {
		s.pending = append(s.pending, i)
	}
	got, ok := s.takeUpTo(5, nil)
	if !ok || !reflect.DeepEqual(got, []uint64{1, 3, 5}) {
		t.Fatalf("got %v %v", got, ok)
	}
	if _, ok := s.takeUpTo(5, nil); ok {
		t.Fatal("took an already taken tag")
	}
	if _, ok := s.takeUpTo(8, nil); ok {
		t.Fatal("took a tag that was never delivered")
	}
	got, ok = s.takeUpTo(2999, nil)
	if !ok || len(got) != 1497 || got[0] != 7 || got[len(got)-1] != 2999 {
		t.Fatalf("got %d tags, %v", len(got), ok)
	}
	if len(s.pending) != 0 || s.head != 0 {
		t.Fatalf("pending %d head %d after taking all", len(s.pending), s.head)
	}
}

func TestStompQueueDecl(t *testing.T) {
	c := &conn{id: 7}
	for _, tc := range []struct {
		headers string
		kind    destKind
		want    broker.QueueDecl
	}{
		{"", destQueue, broker.QueueDecl{Durable: true}},
		{"durable:false\n", destQueue, broker.QueueDecl{Exclusive: true, AutoDelete: true}},
		{"persistent:false\n", destQueue, broker.QueueDecl{Exclusive: true, AutoDelete: true}},
		{"durable:false\nexclusive:false\n", destQueue, broker.QueueDecl{AutoDelete: true}},
		{"auto-delete:true\n", destQueue, broker.QueueDecl{Durable: true, AutoDelete: true}},
		{"", destTopic, broker.QueueDecl{AutoDelete: true}},
		{"durable:true\n", destTopic, broker.QueueDecl{Durable: true, AutoDelete: true}},
		{"durable:true\nauto-delete:false\n", destTopic, broker.QueueDecl{Durable: true}},
		{"", destExchange, broker.QueueDecl{Exclusive: true, AutoDelete: true}},
		{"durable:true\nauto-delete:false\nexclusive:false\n", destExchange, broker.QueueDecl{Durable: true}},
	} {
		d, err := c.queueDecl(readFrame(t, "SUBSCRIBE\n"+tc.headers+"\n\x00", frame.V12), tc.kind, "n")
		if err != nil {
			t.Fatal(err)
		}
		tc.want.Name, tc.want.Owner = "n", 7
		if !reflect.DeepEqual(d, tc.want) {
			t.Errorf("%v %q: %+v, want %+v", tc.kind, tc.headers, d, tc.want)
		}
	}
}
