package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
	"github.com/sluice-mq/sluice/brokertest"
)

func TestStompConnectedHeaders(t *testing.T) {
	b := brokertest.New(t)
	for _, tc := range []struct{ accept, want string }{
		{"", "1.0"}, {"1.0", "1.0"}, {"1.1", "1.1"}, {"1.0,1.1,1.2", "1.2"}, {"1.2,2.0", "1.2"},
	} {
		r := rawDial(t, b.STOMPAddr())
		extra := []string{}
		hdr := "CONNECT\nhost:/\nlogin:guest\npasscode:guest\n"
		if tc.accept != "" {
			hdr += "accept-version:" + tc.accept + "\n"
		}
		r.write(hdr + "\n\x00")
		f := r.read()
		_ = extra
		if f.command != "CONNECTED" || f.headers["version"] != tc.want {
			t.Fatalf("accept %q: got %s %v", tc.accept, f.command, f.headers)
		}
		if !strings.HasPrefix(f.headers["server"], "sluice/") || !strings.HasPrefix(f.headers["session"], "session-") {
			t.Fatalf("CONNECTED headers %v", f.headers)
		}
		if f.headers["heart-beat"] != "0,0" {
			t.Fatalf("heart-beat %q without a request", f.headers["heart-beat"])
		}
	}
}

func TestStompVersionMismatch(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.write("CONNECT\naccept-version:2.0,3.1\nhost:/\n\n\x00")
	f := r.expectError("Version mismatch")
	if f.headers["version"] != "1.0,1.1,1.2" {
		t.Fatalf("version header %q", f.headers["version"])
	}
}

func TestStompStompCommandAndDefaultLogin(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	// No login: RabbitMQ's default user guest/guest, allowed from loopback.
	r.write("STOMP\naccept-version:1.2\nhost:/\n\n\x00")
	if f := r.read(); f.command != "CONNECTED" {
		t.Fatalf("got %s %v", f.command, f.headers)
	}
}

func TestStompAuthFailures(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.write("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:wrong\n\n\x00")
	f := r.expectError("Bad CONNECT")
	if !strings.Contains(string(f.body), "Access refused for user 'guest'") {
		t.Fatalf("body %q", f.body)
	}
	r = rawDial(t, b.STOMPAddr())
	r.write("CONNECT\naccept-version:1.2\nhost:nosuch\nlogin:guest\npasscode:guest\n\n\x00")
	f = r.expectError("Bad CONNECT")
	if !strings.Contains(string(f.body), "Virtual host 'nosuch' access denied") {
		t.Fatalf("body %q", f.body)
	}
	// go-stomp's default host header is the dialled host, as with RabbitMQ.
	if _, err := stomp.Dial("tcp", b.STOMPAddr()); err == nil {
		t.Fatal("connect with host 127.0.0.1 succeeded")
	}
}

func TestStompCommandBeforeConnect(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.write("SEND\ndestination:/queue/x\n\nhi\x00")
	r.expectError("Illegal command")
}

func TestStompSendSubscribeQueue(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, err := c.Subscribe("/queue/basic", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send("/queue/basic", "text/plain", []byte("hello"), stomp.SendOpt.Receipt,
		stomp.SendOpt.Header("custom", "a:b\\c")); err != nil {
		t.Fatal(err)
	}
	m := recv(t, sub)
	if string(m.Body) != "hello" || m.ContentType != "text/plain" || m.Destination != "/queue/basic" {
		t.Fatalf("got %q %q %q", m.Body, m.ContentType, m.Destination)
	}
	if m.Header.Get("custom") != "a:b\\c" || m.Header.Get("redelivered") != "false" {
		t.Fatalf("headers %v", m.Header)
	}
	if m.Header.Get("subscription") != sub.Id() {
		t.Fatalf("subscription %q, want %q", m.Header.Get("subscription"), sub.Id())
	}
	mid := m.Header.Get("message-id")
	if !strings.HasPrefix(mid, "T_"+sub.Id()+"@@session-") {
		t.Fatalf("message-id %q", mid)
	}
	if m.Header.Get("ack") != "" {
		t.Fatalf("auto subscription got an ack header %q", m.Header.Get("ack"))
	}
}

func TestStompReceipts(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	frames := []string{
		"SUBSCRIBE\nid:s1\ndestination:/queue/rcpt\nreceipt:r1\n\n\x00",
		"SEND\ndestination:/queue/other\nreceipt:r2\n\nx\x00",
		"BEGIN\ntransaction:t1\nreceipt:r3\n\n\x00",
		"SEND\ndestination:/queue/other\ntransaction:t1\nreceipt:r4\n\nx\x00",
		"ABORT\ntransaction:t1\nreceipt:r5\n\n\x00",
		"UNSUBSCRIBE\nid:s1\nreceipt:r6\n\n\x00",
		"DISCONNECT\nreceipt:r7\n\n\x00",
	}
	r.write(strings.Join(frames, ""))
	// r4 never comes: a SEND in a transaction is done at COMMIT, and this
	// one was aborted (RabbitMQ sends no receipt for it either).
	for _, want := range []string{"r1", "r2", "r3", "r5", "r6", "r7"} {
		f := r.read()
		if f.command != "RECEIPT" || f.headers["receipt-id"] != want {
			t.Fatalf("got %s %v, want RECEIPT %s", f.command, f.headers, want)
		}
	}
	r.expectClosed()
}

// A SEND in a transaction is done at COMMIT, and so is its receipt: it
// follows the COMMIT's own receipt, as RabbitMQ sends it (from the
// publish's confirm once the commit has published). An ACK's receipt in a
// transaction comes at once, as in RabbitMQ.
func TestStompTransactionalSendReceiptAtCommit(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/queue/txr\n\nm1\x00" +
		"SUBSCRIBE\nid:0\ndestination:/queue/txr\nack:client-individual\n\n\x00")
	m := r.read()
	if m.command != "MESSAGE" {
		t.Fatalf("got %s, want MESSAGE", m.command)
	}
	r.write("BEGIN\ntransaction:t1\nreceipt:r-begin\n\n\x00" +
		"ACK\nid:" + m.headers["ack"] + "\ntransaction:t1\nreceipt:r-ack\n\n\x00" +
		"SEND\ndestination:/queue/txr-other\ntransaction:t1\nreceipt:r-send\n\nhello\x00" +
		"SEND\ndestination:/queue/txr-other\ntransaction:t1\npersistent:true\nreceipt:r-send-p\n\nhello\x00")
	for _, want := range []string{"r-begin", "r-ack"} {
		if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != want {
			t.Fatalf("got %s %v, want RECEIPT %s", f.command, f.headers, want)
		}
	}
	if f, err := r.readErr(300 * time.Millisecond); err == nil {
		t.Fatalf("before COMMIT: got %s %v, want nothing", f.command, f.headers)
	}
	r.write("COMMIT\ntransaction:t1\nreceipt:r-commit\n\n\x00")
	for _, want := range []string{"r-commit", "r-send", "r-send-p"} {
		if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != want {
			t.Fatalf("got %s %v, want RECEIPT %s", f.command, f.headers, want)
		}
	}
	// A COMMIT without a receipt still releases its SENDs' receipts.
	r.write("BEGIN\ntransaction:t2\n\n\x00" +
		"SEND\ndestination:/queue/txr-other\ntransaction:t2\nreceipt:r-send-2\n\nhello\x00" +
		"COMMIT\ntransaction:t2\n\n\x00")
	if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "r-send-2" {
		t.Fatalf("got %s %v, want RECEIPT r-send-2", f.command, f.headers)
	}
}

func TestStompAckModes(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	q := "/queue/ackmodes"
	for i := 0; i < 5; i++ {
		if err := c.Send(q, "", []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	// client: acking the third acks the first three.
	c2 := stompDial(t, b)
	sub, err := c2.Subscribe(q, stomp.AckClient)
	if err != nil {
		t.Fatal(err)
	}
	var ms []*stomp.Message
	for i := 0; i < 5; i++ {
		ms = append(ms, recv(t, sub))
	}
	if ms[0].Header.Get("ack") == "" {
		t.Fatal("1.2 client subscription without ack header")
	}
	if err := c2.Ack(ms[2]); err != nil {
		t.Fatal(err)
	}
	_ = c2.Disconnect()
	// The two unacked come back, redelivered; client-individual acks one.
	c3 := stompDial(t, b)
	sub3, err := c3.Subscribe(q, stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	m3 := recv(t, sub3)
	m4 := recv(t, sub3)
	if string(m3.Body) != "3" || string(m4.Body) != "4" || m3.Header.Get("redelivered") != "true" {
		t.Fatalf("redelivered %q %q %v", m3.Body, m4.Body, m3.Header)
	}
	if err := c3.Ack(m4); err != nil {
		t.Fatal(err)
	}
	_ = c3.Disconnect()
	c4 := stompDial(t, b)
	sub4, err := c4.Subscribe(q, stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, sub4); string(m.Body) != "3" {
		t.Fatalf("got %q, want 3 (4 was acked individually)", m.Body)
	}
	expectNone(t, sub4, 200*time.Millisecond)
}

func TestStompClientAckIsPerSubscription(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	subA, err := c.Subscribe("/queue/pa", stomp.AckClient)
	if err != nil {
		t.Fatal(err)
	}
	subB, err := c.Subscribe("/queue/pb", stomp.AckClient)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send("/queue/pb", "", []byte("b1"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	mb := recv(t, subB)
	if err := c.Send("/queue/pa", "", []byte("a1"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	ma := recv(t, subA)
	// A cumulative ack on A must not settle B's earlier message.
	if err := c.Ack(ma); err != nil {
		t.Fatal(err)
	}
	_ = mb
	_ = c.Disconnect()
	c2 := stompDial(t, b)
	s2, _ := c2.Subscribe("/queue/pb", stomp.AckAuto)
	if m := recv(t, s2); string(m.Body) != "b1" {
		t.Fatalf("got %q", m.Body)
	}
	s3, _ := c2.Subscribe("/queue/pa", stomp.AckAuto)
	expectNone(t, s3, 200*time.Millisecond)
}

func TestStompNack(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, err := c.Subscribe("/queue/nack", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Send("/queue/nack", "", []byte("n"))
	m := recv(t, sub)
	if err := c.Nack(m); err != nil {
		t.Fatal(err)
	}
	m = recv(t, sub) // requeued by default
	if m.Header.Get("redelivered") != "true" {
		t.Fatalf("not redelivered: %v", m.Header)
	}
	// requeue:false drops it (no dead-letter exchange).
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	_ = c.Disconnect()
	r.write("SUBSCRIBE\nid:x\ndestination:/queue/nack\nack:client-individual\n\n\x00")
	f := r.read()
	r.write("NACK\nid:" + f.headers["ack"] + "\nrequeue:false\nreceipt:done\n\n\x00")
	if f := r.read(); f.command != "RECEIPT" {
		t.Fatalf("got %s", f.command)
	}
	r.write("DISCONNECT\n\n\x00")
	c3 := stompDial(t, b)
	s3, _ := c3.Subscribe("/queue/nack", stomp.AckAuto)
	expectNone(t, s3, 200*time.Millisecond)
}

func TestStompTransactions(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, err := c.Subscribe("/queue/tx", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	tx := c.Begin()
	if err := tx.Send("/queue/tx", "", []byte("t1")); err != nil {
		t.Fatal(err)
	}
	expectNone(t, sub, 200*time.Millisecond)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	m := recv(t, sub)
	if string(m.Body) != "t1" {
		t.Fatalf("got %q", m.Body)
	}
	tx = c.Begin()
	_ = tx.Send("/queue/tx", "", []byte("aborted"))
	if err := tx.Ack(m); err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(); err != nil {
		t.Fatal(err)
	}
	expectNone(t, sub, 200*time.Millisecond)
	// The ack was aborted too: m is still unacked and comes back.
	_ = c.Disconnect()
	c2 := stompDial(t, b)
	s2, _ := c2.Subscribe("/queue/tx", stomp.AckAuto)
	if m := recv(t, s2); string(m.Body) != "t1" {
		t.Fatalf("got %q", m.Body)
	}
	expectNone(t, s2, 200*time.Millisecond)
}

func TestStompTransactionAckCommit(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, _ := c.Subscribe("/queue/txack", stomp.AckClient)
	_ = c.Send("/queue/txack", "", []byte("1"))
	m := recv(t, sub)
	tx := c.Begin()
	_ = tx.Ack(m)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	_ = c.Disconnect()
	c2 := stompDial(t, b)
	s2, _ := c2.Subscribe("/queue/txack", stomp.AckAuto)
	expectNone(t, s2, 200*time.Millisecond)
}

func TestStompBadTransaction(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("COMMIT\ntransaction:nope\n\n\x00")
	f := r.expectRefusal("Bad transaction")
	if !strings.Contains(string(f.body), "nope") {
		t.Fatalf("body %q", f.body)
	}
}

// TestStompErrorsOnFrames: each refusal's ERROR, and what survives it, as
// RabbitMQ 3.10.8's plugin answers (checked side by side): a frame the
// session refuses (a missing or invalid header, an unknown destination,
// subscription or transaction) gets an ERROR and the connection goes on;
// a channel error of the core (not_found, precondition_failed), a
// duplicated subscription id, and a frame that cannot be parsed close it.
func TestStompErrorsOnFrames(t *testing.T) {
	b := brokertest.New(t)
	for _, tc := range []struct {
		frame, want string
		closes      bool
	}{
		{"SEND\nreceipt:r\n\nx\x00", "Missing destination", false},
		{"SEND\ndestination:/queue/x\nmessage-id:1\n\n\x00", "Invalid header", false},
		{"SEND\ndestination:/nowhere/x\n\n\x00", "Unknown destination", false},
		{"SEND\ndestination:/queue/a/b\n\n\x00", "Invalid destination", false},
		{"SEND\ndestination:/temp-queue/a\n\n\x00", "Invalid destination", false},
		{"SEND\ndestination:/exchange/nosuch/k\n\n\x00", "not_found", true},
		// (A SUBSCRIBE without id is taken, as RabbitMQ takes it:
		// TestStompSubscribeWithoutID.)
		{"SUBSCRIBE\nid:1\ndestination:/amq/queue/nosuch\n\n\x00", "not_found", true},
		{"SUBSCRIBE\nid:1\ndestination:/topic/x\ndurable:true\nack:sometimes\n\n\x00", "Processing error", false},
		{"SUBSCRIBE\nid:1\ndestination:/queue/dup\n\n\x00SUBSCRIBE\nid:1\ndestination:/queue/dup\n\n\x00", "Duplicated subscription identifier", true},
		{"UNSUBSCRIBE\nid:none\n\n\x00", "No subscription found", false},
		{"UNSUBSCRIBE\n\n\x00", "Missing destination or id", false},
		{"ACK\n\n\x00", "Missing header", false},
		{"ACK\nid:garbage\n\n\x00", "Invalid header", false},
		{"NACK\nid:garbage\n\n\x00", "Invalid header", false},
		{"ACK\nid:T_x@@session-1@@1\n\n\x00", "Subscription not found", false},
		{"BEGIN\n\n\x00", "Missing transaction", false},
		{"ABORT\ntransaction:none\n\n\x00", "Bad transaction", false},
		{"SEND\ndestination:/queue/x\ntransaction:none\n\n\x00", "Bad transaction", false},
		{"MESSAGE\ndestination:/queue/x\n\n\x00", "Bad command", false},
		// sluice's reader refuses a command line that cannot be a command
		// before it reads the rest (RabbitMQ reads on and goes on).
		{"FOO\n\n\x00", "Bad command", true},
		{"SEND\ndestination:/queue/x\nuser-id:mallory\n\n\x00", "precondition_failed", true},
		{"SEND\ndestination:/queue/x\ncontent-length:zz\n\n\x00", "content-length", true},
		{"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00", "Bad CONNECT", true},
	} {
		r := rawDial(t, b.STOMPAddr())
		r.connect()
		r.write(tc.frame)
		if tc.closes {
			r.expectError(tc.want)
		} else {
			r.expectRefusal(tc.want)
		}
	}
	// A refused frame with a receipt: an ERROR without receipt-id, as
	// RabbitMQ's, and no RECEIPT follows for it.
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/nowhere\nreceipt:refused\n\nx\x00SEND\ndestination:/queue/x\nreceipt:taken\n\nx\x00")
	if f := r.read(); f.command != "ERROR" || f.headers["receipt-id"] != "" {
		t.Fatalf("got %s %v", f.command, f.headers)
	}
	if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "taken" {
		t.Fatalf("got %s %v, want the next frame's RECEIPT", f.command, f.headers)
	}
}

func TestStompPrefetch(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	for i := 0; i < 10; i++ {
		_ = c.Send("/queue/prefetch", "", []byte{byte('0' + i)})
	}
	c2 := stompDial(t, b)
	sub, err := c2.Subscribe("/queue/prefetch", stomp.AckClientIndividual, stomp.SubscribeOpt.Header("prefetch-count", "2"))
	if err != nil {
		t.Fatal(err)
	}
	m1, m2 := recv(t, sub), recv(t, sub)
	expectNone(t, sub, 300*time.Millisecond)
	_ = c2.Ack(m1)
	m3 := recv(t, sub)
	if string(m3.Body) != "2" {
		t.Fatalf("got %q", m3.Body)
	}
	expectNone(t, sub, 200*time.Millisecond)
	_ = m2
	// A second subscription without prefetch-count is not limited.
	sub2, _ := c2.Subscribe("/queue/prefetch2", stomp.AckClientIndividual)
	for i := 0; i < 5; i++ {
		_ = c.Send("/queue/prefetch2", "", []byte("x"))
	}
	for i := 0; i < 5; i++ {
		recv(t, sub2)
	}
}

func TestStompRedeliveryOnDisconnect(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, _ := c.Subscribe("/queue/redeliver", stomp.AckClient)
	_ = c.Send("/queue/redeliver", "", []byte("r"))
	m := recv(t, sub)
	if m.Header.Get("redelivered") != "false" {
		t.Fatal("first delivery marked redelivered")
	}
	// Drop the socket without DISCONNECT.
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:a\ndestination:/queue/redeliver2\nack:client\n\n\x00SEND\ndestination:/queue/redeliver2\n\nz\x00")
	if f := r.read(); f.command != "MESSAGE" {
		t.Fatalf("got %s", f.command)
	}
	r.nc.Close()
	_ = c.Disconnect()
	c2 := stompDial(t, b)
	for _, q := range []string{"/queue/redeliver", "/queue/redeliver2"} {
		s, _ := c2.Subscribe(q, stomp.AckAuto)
		m := recv(t, s)
		if m.Header.Get("redelivered") != "true" {
			t.Fatalf("%s: not redelivered: %v", q, m.Header)
		}
	}
}

func TestStompVersion10And11Ack(t *testing.T) {
	b := brokertest.New(t)
	for _, v := range []string{"1.0", "1.1"} {
		r := rawDial(t, b.STOMPAddr())
		r.write("CONNECT\naccept-version:" + v + "\nhost:/\n\n\x00")
		if f := r.read(); f.headers["version"] != v {
			t.Fatalf("version %v", f.headers)
		}
		q := "/queue/v" + v
		sub := "SUBSCRIBE\nid:s\ndestination:" + q + "\nack:client\n\n\x00"
		if v == "1.0" {
			sub = "SUBSCRIBE\ndestination:" + q + "\nack:client\n\n\x00"
		}
		r.write(sub + "SEND\ndestination:" + q + "\n\nbody\x00")
		f := r.read()
		if f.command != "MESSAGE" || f.headers["ack"] != "" {
			t.Fatalf("%s: %s %v", v, f.command, f.headers)
		}
		if v == "1.0" && f.headers["subscription"] != "" {
			t.Fatalf("1.0 without id got subscription %q", f.headers["subscription"])
		}
		r.write("ACK\nmessage-id:" + f.headers["message-id"] + "\nsubscription:s\nreceipt:a\n\n\x00")
		if f := r.read(); f.command != "RECEIPT" {
			t.Fatalf("%s: %s %v %q", v, f.command, f.headers, f.body)
		}
		r.write("DISCONNECT\n\n\x00")
		r.expectClosed()
	}
	c := stompDial(t, b)
	s, _ := c.Subscribe("/queue/v1.0", stomp.AckAuto)
	expectNone(t, s, 200*time.Millisecond)
}

func TestStomp10HeaderTrimAndNoEscaping(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.write("CONNECT\nhost:/\n\n\x00")
	r.read()
	r.write("SUBSCRIBE\ndestination:/queue/ten\n\n\x00SEND\ndestination:/queue/ten\nk: spaced\\c\n\n\x00")
	f := r.read()
	if f.headers["k"] != "spaced\\c" {
		t.Fatalf("1.0 header %q", f.headers["k"])
	}
}

func TestStompBinaryBodyWithNUL(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	sub, _ := c.Subscribe("/queue/bin", stomp.AckAuto)
	body := []byte{0, 1, 2, 0, 255, '\n', 0}
	if err := c.Send("/queue/bin", "application/octet-stream", body); err != nil {
		t.Fatal(err)
	}
	m := recv(t, sub)
	if string(m.Body) != string(body) {
		t.Fatalf("got %v", m.Body)
	}
	if m.Header.Get(frame.ContentLength) != "7" {
		t.Fatalf("content-length %q", m.Header.Get(frame.ContentLength))
	}
}

func TestStompReceiptForRejectedSend(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:1\ndestination:/queue/full\nx-max-length:1\nx-overflow:reject-publish\n\n\x00" +
		"UNSUBSCRIBE\nid:1\n\n\x00" +
		"SEND\ndestination:/queue/full\npersistent:true\nreceipt:first\n\n1\x00" +
		"SEND\ndestination:/queue/full\n\n2 is dropped without a receipt to answer\x00" +
		"SEND\ndestination:/queue/full\nreceipt:second\n\n3\x00")
	if f := r.read(); f.command != "RECEIPT" || f.headers["receipt-id"] != "first" {
		t.Fatalf("got %s %v", f.command, f.headers)
	}
	f := r.expectError("Message rejected")
	if f.headers["receipt-id"] != "second" || strings.Count(strings.Join(f.order, ","), "receipt-id") != 1 {
		t.Fatalf("ERROR headers %v, in order %v (want one receipt-id)", f.headers, f.order)
	}
}

func TestStompPersistentSendReceipt(t *testing.T) {
	b := brokertest.New(t)
	c := stompDial(t, b)
	for i := 0; i < 20; i++ {
		if err := c.Send("/queue/durable-msgs", "", []byte("p"), stomp.SendOpt.Receipt,
			stomp.SendOpt.Header("persistent", "true")); err != nil {
			t.Fatal(err)
		}
	}
	tx := c.Begin()
	for i := 0; i < 5; i++ {
		_ = tx.Send("/queue/durable-msgs", "", []byte("t"), stomp.SendOpt.Header("persistent", "true"))
	}
	if err := tx.CommitWithReceipt(); err != nil {
		t.Fatal(err)
	}
	ch := amqpChannel(t, b)
	q, err := ch.QueueDeclarePassive("durable-msgs", true, false, false, false, nil)
	if err != nil || q.Messages != 25 {
		t.Fatalf("%d messages, %v", q.Messages, err)
	}
}
