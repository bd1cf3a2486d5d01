package conformance

import (
	"reflect"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// What RabbitMQ 3.10's STOMP plugin answers, checked side by side with raw
// frames, where sluice answered otherwise before.

// A SEND's expiration is checked as an AMQP publish's: an invalid one is a
// channel error (precondition_failed, the connection closes) with
// RabbitMQ's reason.
func TestStompSendExpirationRefused(t *testing.T) {
	b := brokertest.New(t)
	for _, tc := range []struct{ exp, reason string }{
		{"abc", "no_integer"},
		{"", "no_integer"},
		{"1.5", `{leftover_string,".5"}`},
		{"-5", "{value_negative,-5}"},
		{"99999999999999", "{value_too_large,99999999999999}"},
	} {
		r := rawDial(t, b.STOMPAddr())
		r.connect()
		r.write("SEND\ndestination:/queue/stomp-exp\nexpiration:" + tc.exp + "\nreceipt:r\n\nx\x00")
		f := r.nextError("precondition_failed")
		want := "PRECONDITION_FAILED - invalid expiration '" + tc.exp + "': " + tc.reason
		if string(f.body) != want {
			t.Errorf("expiration %q: body %q, want %q", tc.exp, f.body, want)
		}
		r.expectClosed()
	}
}

// priority and timestamp must be integers (spaces around them are
// trimmed, as RabbitMQ reads them); anything else refuses the SEND, and
// the session goes on. RabbitMQ 3.10's plugin fails to read them and
// answers ERROR "Processing error"; sluice's ERROR has that message
// header too, and a body that names the header. So does a SUBSCRIBE's
// prefetch-count.
func TestStompSendIntegerHeaders(t *testing.T) {
	b := brokertest.New(t)
	for _, h := range []string{"priority:abc", "priority:", "timestamp:abc", "timestamp:1.5"} {
		r := rawDial(t, b.STOMPAddr())
		r.connect()
		r.write("SEND\ndestination:/queue/stomp-int\n" + h + "\nreceipt:r\n\nx\x00")
		f := r.expectRefusal("Processing error")
		if name, _, _ := strings.Cut(h, ":"); !strings.Contains(string(f.body), name) {
			t.Errorf("%s: body %q does not name the header", h, f.body)
		}
	}
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:1\ndestination:/queue/stomp-int-ok\nprefetch-count:many\nreceipt:r\n\n\x00")
	r.expectRefusal("Processing error")
	r = rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:1\ndestination:/queue/stomp-int-ok\n\n\x00" +
		"SEND\ndestination:/queue/stomp-int-ok\npriority: 5\ntimestamp: 1700000000 \n\nx\x00")
	m := r.read()
	if m.command != "MESSAGE" || m.headers["priority"] != "5" || m.headers["timestamp"] != "1700000000" {
		t.Fatalf("got %s %v, want MESSAGE with priority 5 and timestamp 1700000000", m.command, m.headers)
	}
}

// A SUBSCRIBE without an id is taken in every version, as RabbitMQ takes
// it: the destination names the subscription, and its MESSAGEs carry no
// subscription header.
func TestStompSubscribeWithoutID(t *testing.T) {
	b := brokertest.New(t)
	for _, v := range []string{"1.1", "1.2"} {
		r := rawDial(t, b.STOMPAddr())
		r.write("CONNECT\naccept-version:" + v + "\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
		if f := r.read(); f.command != "CONNECTED" || f.headers["version"] != v {
			t.Fatalf("got %s %v, want CONNECTED version %s", f.command, f.headers, v)
		}
		q := "/queue/stomp-noid-" + v
		r.write("SUBSCRIBE\ndestination:" + q + "\nreceipt:r1\n\n\x00SEND\ndestination:" + q + "\n\nhi\x00")
		if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "r1" {
			t.Fatalf("%s: got %s %v %q, want RECEIPT r1", v, f.command, f.headers, f.body)
		}
		m := r.read()
		if m.command != "MESSAGE" || string(m.body) != "hi" || !strings.HasPrefix(m.headers["message-id"], "Q_"+q+"@@") {
			t.Fatalf("%s: got %s %v %q", v, m.command, m.headers, m.body)
		}
		if s, ok := m.headers["subscription"]; ok {
			t.Fatalf("%s: subscription header %q on a subscription without id", v, s)
		}
		// UNSUBSCRIBE by destination ends it.
		r.write("UNSUBSCRIBE\ndestination:" + q + "\nreceipt:r2\n\n\x00")
		if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "r2" {
			t.Fatalf("%s: got %s %v, want RECEIPT r2", v, f.command, f.headers)
		}
	}
}

// An error that closes the connection on a frame other than SEND still
// sends that frame's RECEIPT after the ERROR, as RabbitMQ's plugin does
// (its error path runs the frame's receipt step too); a SEND's receipt,
// which only a settled publish earns, does not come.
func TestStompReceiptAfterClosingError(t *testing.T) {
	b := brokertest.New(t)
	for _, tc := range []struct{ frames, want string }{
		{"SUBSCRIBE\nid:1\ndestination:/amq/queue/stomp-missing\nreceipt:r\n\n\x00", "not_found"},
		{"SUBSCRIBE\nid:1\ndestination:/exchange/stomp-missing/k\nreceipt:r\n\n\x00", "not_found"},
		{"SUBSCRIBE\nid:1\ndestination:/queue/stomp-dup\n\n\x00SUBSCRIBE\nid:1\ndestination:/queue/stomp-dup\nreceipt:r\n\n\x00", "Duplicated subscription identifier"},
	} {
		r := rawDial(t, b.STOMPAddr())
		r.connect()
		r.write(tc.frames)
		r.nextError(tc.want)
		if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "r" {
			t.Fatalf("after the ERROR %q: got %s %v, want RECEIPT r", tc.want, f.command, f.headers)
		}
		r.expectClosed()
	}
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/exchange/stomp-missing/k\nreceipt:r\n\nx\x00")
	r.nextError("not_found")
	r.expectClosed()
}

// An ACK's or NACK's RECEIPT goes out once the frame is taken, before the
// settle's effects, as RabbitMQ's plugin sends it (the ack goes to its
// channel afterwards): a NACK's redeliveries follow its RECEIPT, and the
// ERROR for an unknown delivery tag follows the RECEIPT too.
func TestStompAckReceiptBeforeItsEffects(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.write("CONNECT\naccept-version:1.1\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
	if f := r.read(); f.command != "CONNECTED" {
		t.Fatalf("got %s", f.command)
	}
	q := "/queue/stomp-ack-receipt"
	r.write("SEND\ndestination:" + q + "\n\nm1\x00SEND\ndestination:" + q + "\n\nm2\x00" +
		"SUBSCRIBE\nid:s\ndestination:" + q + "\nack:client\n\n\x00")
	var ids []string
	for i := 0; i < 2; i++ {
		m := r.read()
		if m.command != "MESSAGE" {
			t.Fatalf("got %s, want MESSAGE", m.command)
		}
		ids = append(ids, m.headers["message-id"])
	}
	// client mode: NACK of the second settles both, and both come back.
	r.write("NACK\nmessage-id:" + ids[1] + "\nsubscription:s\nreceipt:n1\n\n\x00")
	if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "n1" {
		t.Fatalf("got %s %v %q, want RECEIPT n1 before the redeliveries", f.command, f.headers, f.body)
	}
	for i := 0; i < 2; i++ {
		if m := r.read(); m.command != "MESSAGE" || m.headers["redelivered"] != "true" {
			t.Fatalf("got %s %v, want a redelivered MESSAGE", m.command, m.headers)
		}
	}
	// The first delivery's tag was settled by the NACK: unknown now.
	r.write("ACK\nmessage-id:" + ids[0] + "\nsubscription:s\nreceipt:a1\n\n\x00")
	if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "a1" {
		t.Fatalf("got %s %v %q, want RECEIPT a1 before the ERROR", f.command, f.headers, f.body)
	}
	r.nextError("precondition_failed")
	r.expectClosed()
}

// RabbitMQ's plugin copies every SEND header but destination and the
// property headers into the message's headers table: receipt,
// transaction, content-length, id, ack, subscription and redelivered
// reach an AMQP consumer as strings, and a STOMP subscriber sees those
// its MESSAGE frame does not carry itself (receipt, transaction, id),
// after its own. sluice kept STOMP's control headers out.
func TestStompSendHeadersCopied(t *testing.T) {
	b, conn, ch := amqpSetup(t)
	declareQ(t, ch, "stomp-copied", nil)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/amq/queue/stomp-copied\nreceipt:r1\nid:i\nack:a\nsubscription:s\nredelivered:true\ncontent-length:1\nzz:1\n\nx\x00")
	if f := r.read(); f.command != "RECEIPT" {
		t.Fatalf("got %s %v", f.command, f.headers)
	}
	r.write("BEGIN\ntransaction:t1\n\n\x00SEND\ndestination:/amq/queue/stomp-copied\ntransaction:t1\n\ny\x00COMMIT\ntransaction:t1\nreceipt:c\n\n\x00")
	if f := r.read(); f.command != "RECEIPT" {
		t.Fatalf("got %s %v", f.command, f.headers)
	}
	d := getOne(t, ch, "stomp-copied", true)
	want := amqp.Table{"receipt": "r1", "id": "i", "ack": "a", "subscription": "s", "redelivered": "true", "content-length": "1", "zz": "1"}
	if !reflect.DeepEqual(d.Headers, want) {
		t.Errorf("AMQP headers %v, want %v", d.Headers, want)
	}
	d = getOne(t, ch, "stomp-copied", true)
	if !reflect.DeepEqual(d.Headers, amqp.Table{"transaction": "t1"}) {
		t.Errorf("AMQP headers of the transaction's SEND %v, want transaction:t1", d.Headers)
	}
	_ = conn

	r.write("SEND\ndestination:/amq/queue/stomp-copied\nreceipt:r2\nid:i\nsubscription:s\nredelivered:true\n\nx\x00")
	r.read() // RECEIPT
	r.write("SUBSCRIBE\nid:s1\ndestination:/amq/queue/stomp-copied\n\n\x00")
	f := r.read()
	if f.command != "MESSAGE" || f.headers["receipt"] != "r2" || f.headers["id"] != "i" ||
		f.headers["subscription"] != "s1" || f.headers["redelivered"] != "false" {
		t.Errorf("MESSAGE %s %v, want receipt:r2, id:i and its own subscription and redelivered", f.command, f.headers)
	}
}

// An AMQP header named like a STOMP header reaches a STOMP subscriber when
// its MESSAGE frame does not carry that header itself, as RabbitMQ 3.10's
// plugin writes it (content-type without the property; ack on an auto-ack
// subscription); of one it carries (subscription, redelivered, its own
// content-length) the frame's own comes first. sluice left out every such
// name.
func TestStompShadowHeadersFromAMQP(t *testing.T) {
	b, _, ch := amqpSetup(t)
	declareQ(t, ch, "stomp-shadow", nil)
	pub(t, ch, "", "stomp-shadow", amqp.Publishing{Body: []byte("x"), Headers: amqp.Table{
		"content-type": "shadow", "ack": "a", "subscription": "other", "redelivered": "maybe", "content-length": "99"}})
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:s1\ndestination:/amq/queue/stomp-shadow\n\n\x00")
	f := r.read()
	want := map[string]string{"content-type": "shadow", "ack": "a", "subscription": "s1", "redelivered": "false", "content-length": "1"}
	for k, v := range want {
		if f.headers[k] != v {
			t.Errorf("%s: %q, want %q (headers %v)", k, f.headers[k], v, f.headers)
		}
	}
}

// A queue's durable, persistent, exclusive and auto-delete headers must
// be true or false (or True, False) where they declare a queue: RabbitMQ's
// plugin declares it with 'undefined' and answers "Processing error", the
// session going on. Where nothing is declared (a SEND to a topic) a
// persistent header that is not true is simply not persistent, as there.
func TestStompQueueFlagsMustBeBooleans(t *testing.T) {
	b := brokertest.New(t)
	for _, frame := range []string{
		"SUBSCRIBE\nid:1\ndestination:/topic/stomp-flags\ndurable:maybe\nreceipt:r\n\n\x00",
		"SUBSCRIBE\nid:1\ndestination:/queue/stomp-flags\nexclusive:yes\nreceipt:r\n\n\x00",
		"SUBSCRIBE\nid:1\ndestination:/queue/stomp-flags\nauto-delete:1\nreceipt:r\n\n\x00",
		"SEND\ndestination:/queue/stomp-flags-send\npersistent:maybe\nreceipt:r\n\nx\x00",
	} {
		r := rawDial(t, b.STOMPAddr())
		r.connect()
		r.write(frame)
		r.expectRefusal("Processing error")
	}
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/topic/stomp-flags\npersistent:maybe\nreceipt:r\n\nx\x00")
	if f := r.read(); f.command != "RECEIPT" {
		t.Fatalf("SEND to a topic with persistent:maybe: %s %v %q", f.command, f.headers, f.body)
	}
}

// A CONNECT whose heart-beat header does not parse is refused with
// RabbitMQ 3.10's message header, "Processing error", the body naming the
// header; the login being refused, sluice closes (RabbitMQ keeps the
// socket, not logged in).
func TestStompConnectBadHeartbeat(t *testing.T) {
	b := brokertest.New(t)
	for _, hb := range []string{"x,y", "1000", "1000,"} {
		r := rawDial(t, b.STOMPAddr())
		r.write("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:" + hb + "\n\n\x00")
		f := r.expectError("Processing error")
		if !strings.Contains(string(f.body), "heart-beat") {
			t.Errorf("heart-beat:%s: body %q does not name the header", hb, f.body)
		}
	}
}
