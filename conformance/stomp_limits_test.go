package conformance

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// checkOthersWork is the property every bad-input test ends with: the
// broker and its other sessions carry on.
func checkOthersWork(t *testing.T, c *stomp.Conn, sub *stomp.Subscription, tag string) {
	t.Helper()
	if err := c.Send(sub.Destination(), "", []byte(tag), stomp.SendOpt.Receipt); err != nil {
		t.Fatalf("other session after %s: %v", tag, err)
	}
	if m := recv(t, sub); string(m.Body) != tag {
		t.Fatalf("other session after %s: got %q", tag, m.Body)
	}
}

// Crossing a limit costs only the session that crossed it: frame and
// header limits close it (the stream cannot be read on), limits on what a
// session holds refuse the frame and it goes on; other sessions work.
func TestStompLimitsHurtOnlyThatSession(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) {
		c.STOMPMaxFrameSize = 64 << 10
		c.STOMPMaxHeaders = 20
		c.STOMPMaxSubscriptions = 3
		c.STOMPMaxTransactions = 2
	})
	good := stompDial(t, b)
	sub, err := good.Subscribe("/queue/bystander", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	many := strings.Repeat("h:v\n", 21)
	for _, tc := range []struct {
		name, frame, want string
	}{
		{"frame size with content-length", "SEND\ndestination:/queue/x\ncontent-length:100000\n\n" + strings.Repeat("x", 100000) + "\x00", "frame exceeds MaxBody"},
		{"frame size without content-length", "SEND\ndestination:/queue/x\n\n" + strings.Repeat("x", 100000) + "\x00", "MaxFrameSize"},
		{"header count", "SEND\ndestination:/queue/x\n" + many + "\n\x00", "MaxHeaders"},
		{"header line", "SEND\ndestination:/queue/x\nbig:" + strings.Repeat("y", 70<<10) + "\n\n\x00", "frame exceeds"},
		// Limits on what a session holds refuse the frame that crosses
		// them; the session goes on (tested below).
		{"malformed header", "SEND\ndestination:/queue/x\nno colon here\n\n\x00", "header line without colon"},
		{"bad escape", "SEND\ndestination:/queue/x\nk:\\q\n\n\x00", "escape"},
		{"bad content-length", "SEND\ndestination:/queue/x\ncontent-length:-1\n\n\x00", "content-length"},
		{"no NUL after body", "SEND\ndestination:/queue/x\ncontent-length:1\n\nab\x00", "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDial(t, b.STOMPAddr())
			r.connect()
			go func() { _ = r.writeErr([]byte(tc.frame)) }()
			f := r.expectError(tc.want)
			if f.headers["content-type"] != "text/plain" || len(f.body) == 0 {
				t.Fatalf("ERROR without explanation: %v %q", f.headers, f.body)
			}
			checkOthersWork(t, good, sub, tc.name)
		})
	}
	for _, tc := range []struct{ name, frame, want string }{
		{"subscriptions", "SUBSCRIBE\nid:1\ndestination:/queue/a\n\n\x00SUBSCRIBE\nid:2\ndestination:/queue/b\n\n\x00" +
			"SUBSCRIBE\nid:3\ndestination:/queue/c\n\n\x00SUBSCRIBE\nid:4\ndestination:/queue/d\n\n\x00", "Too many subscriptions"},
		{"transactions", "BEGIN\ntransaction:a\n\n\x00BEGIN\ntransaction:b\n\n\x00BEGIN\ntransaction:c\n\n\x00", "Too many transactions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDial(t, b.STOMPAddr())
			r.connect()
			r.write(tc.frame)
			r.expectRefusal(tc.want)
			checkOthersWork(t, good, sub, tc.name)
		})
	}
	t.Run("header line limit", func(t *testing.T) {
		b2 := brokertest.New(t)
		r := rawDial(t, b2.STOMPAddr())
		r.connect()
		go func() {
			_ = r.writeErr([]byte("SEND\ndestination:/queue/x\nbig:" + strings.Repeat("y", 65<<10) + "\n\n\x00"))
		}()
		r.expectError("MaxHeaderLine")
	})
	t.Run("oversized CONNECT", func(t *testing.T) {
		r := rawDial(t, b.STOMPAddr())
		go func() { _ = r.writeErr([]byte("CONNECT\n" + many + "\n\x00")) }()
		r.expectError("MaxHeaders")
		checkOthersWork(t, good, sub, "oversized CONNECT")
	})
}

// TestStompTransactionBytes: a transaction holds its SENDs until COMMIT,
// bodies and headers alike, so both count against tx-max-bytes (the
// setting AMQP's transactions share). Headers once counted nothing: a
// transaction of header-heavy SENDs with empty bodies had no bound but the
// 100,000 operations.
func TestStompTransactionBytes(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) {
		c.MaxMessageSize = 32 << 10
		c.TxMaxBytes = 64 << 10
	})
	good := stompDial(t, b)
	sub, err := good.Subscribe("/queue/tx-bytes-bystander", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, header, body string }{
		{"bodies", "", strings.Repeat("b", 30<<10)},
		{"headers", "big:" + strings.Repeat("h", 30<<10) + "\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDial(t, b.STOMPAddr())
			r.connect()
			r.write("BEGIN\ntransaction:t\n\n\x00")
			for i := 0; i < 3; i++ {
				r.write("SEND\ndestination:/queue/tx-bytes\ntransaction:t\n" + tc.header + "\n" + tc.body + "\x00")
			}
			// The body names the setting an operator can raise.
			if f := r.expectRefusal("Transaction too large"); !strings.Contains(string(f.body), "tx-max-bytes") {
				t.Errorf("ERROR body %q does not name tx-max-bytes", f.body)
			}
			checkOthersWork(t, good, sub, tc.name)
		})
	}
}

func TestStompMessageSizeLimit(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxMessageSize = 1000 })
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SEND\ndestination:/queue/x\ncontent-length:1001\n\n" + strings.Repeat("x", 1001) + "\x00")
	r.expectError("MaxBody")
}

func TestStompHeartbeatTimeout(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	// The client promises a heart-beat every second, then goes silent.
	f := r.connect("heart-beat:1000,0")
	if f.headers["heart-beat"] != "0,1000" {
		t.Fatalf("CONNECTED heart-beat %q", f.headers["heart-beat"])
	}
	start := time.Now()
	r.expectClosed()
	if d := time.Since(start); d < time.Second || d > 4*time.Second {
		t.Fatalf("closed after %v, want about 1.5 s", d)
	}
}

func TestStompHeartbeatsKeepAlive(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	f := r.connect("heart-beat:1000,1000")
	if f.headers["heart-beat"] != "1000,1000" {
		t.Fatalf("CONNECTED heart-beat %q", f.headers["heart-beat"])
	}
	// Send heart-beats for 3 s and count the server's.
	buf := make([]byte, 64)
	beats := 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		r.write("\n")
		_ = r.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := r.br.Read(buf)
		if err == nil {
			beats += bytes.Count(buf[:n], []byte("\n"))
		}
	}
	if beats < 2 {
		t.Fatalf("%d heart-beats from the server in 3 s", beats)
	}
	// Still alive.
	r.write("SUBSCRIBE\nid:x\ndestination:/queue/hb\nreceipt:alive\n\n\x00")
	for {
		f := r.read()
		if f.command == "RECEIPT" {
			break
		}
	}
	// Too-eager clients get the floor of one second.
	r2 := rawDial(t, b.STOMPAddr())
	if f := r2.connect("heart-beat:10,10"); f.headers["heart-beat"] != "1000,1000" {
		t.Fatalf("CONNECTED heart-beat %q", f.headers["heart-beat"])
	}
}

func TestStompHandshakeTimeout(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	r := rawDial(t, b.STOMPAddr())
	r.expectClosed()
}

func TestStompShutdownSendsError(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		close(done)
	}()
	r.expectError("Server shutdown")
	<-done
}

// A client that pipelines frames without reading the replies meets TCP
// backpressure; once it reads, every receipt arrives in order.
func TestStompPipelineWithoutReading(t *testing.T) {
	b := brokertest.New(t)
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	const n = 20000
	pad := strings.Repeat("p", 1000) // 20 MB of receipts outgrow the socket buffers
	go func() {
		var buf bytes.Buffer
		for i := 0; i < n; i++ {
			buf.WriteString("BEGIN\ntransaction:t\nreceipt:" + pad + strconv.Itoa(i) + "\n\n\x00")
			if buf.Len() > 64<<10 {
				if r.writeErr(buf.Bytes()) != nil {
					return
				}
				buf.Reset()
			}
		}
		_ = r.writeErr(buf.Bytes())
	}()
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < n; i++ {
		f := r.read()
		if f.command != "RECEIPT" || f.headers["receipt-id"] != pad+strconv.Itoa(i) {
			t.Fatalf("frame %d: %s %v", i, f.command, f.headers)
		}
	}
}

// A consumer that stops reading stops getting deliveries once its output
// is full; when it reads again everything arrives, in order, once.
func TestStompSlowConsumer(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.OutputHighWater = 64 << 10 })
	r := rawDial(t, b.STOMPAddr())
	r.connect()
	r.write("SUBSCRIBE\nid:s\ndestination:/queue/slow\nreceipt:ok\n\n\x00")
	if f := r.read(); f.command != "RECEIPT" {
		t.Fatal(f.command)
	}
	p := stompDial(t, b)
	body := bytes.Repeat([]byte("z"), 8<<10)
	const n = 2000 // 16 MiB, far more than the socket buffers and the high water mark
	go func() {
		for i := 0; i < n; i++ {
			if err := p.Send("/queue/slow", "", append([]byte(strconv.Itoa(i)+":"), body...)); err != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < n; i++ {
		f := r.read()
		if f.command != "MESSAGE" || !bytes.HasPrefix(f.body, []byte(strconv.Itoa(i)+":")) {
			t.Fatalf("message %d: %s %q", i, f.command, f.body[:min(len(f.body), 10)])
		}
	}
}
