package conformance

import (
	"context"
	"errors"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	"github.com/sluice-mq/sluice/server"
)

// Connection-level behaviour: protocol header, authentication, vhosts,
// handshake and heartbeat timeouts, frame and message size limits, framing
// errors, channel_max, connection limits, server properties and shutdown.

func TestAMQPProtocolHeaderMismatch(t *testing.T) {
	b := brokertest.New(t)
	for name, header := range map[string]string{
		"AMQP 0-9-0":    "AMQP\x00\x00\x09\x00",
		"AMQP 0-10":     "AMQP\x01\x01\x00\x0a",
		"AMQP 1.0":      "AMQP\x00\x01\x00\x00",
		"AMQP 1.0 SASL": "AMQP\x03\x01\x00\x00",
		"AMQP 0-8":      "AMQP\x01\x01\x08\x00",
		"HTTP":          "GET / HTTP/1.1\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := net.Dial("tcp", b.AMQPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write([]byte(header)); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(amqpWait))
			got, err := io.ReadAll(nc)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("socket not closed after a bad header (read %q)", got)
			}
			if string(got) != "AMQP\x00\x00\x09\x01" {
				t.Fatalf("server answered %q, want the AMQP 0-9-1 header", got)
			}
		})
	}
}

func TestAMQPBadPassword(t *testing.T) {
	b := brokertest.New(t)
	url := strings.Replace(b.AMQPURL(), "guest:guest", "guest:wrong", 1)
	_, err := amqp.Dial(url)
	if err == nil {
		t.Fatal("dial with a wrong password succeeded")
	}
	var ae *amqp.Error
	if err != amqp.ErrCredentials && (!errors.As(err, &ae) || ae.Code != 403) {
		t.Fatalf("dial error %v, want ErrCredentials or 403", err)
	}
	// Unknown user: the same answer, so as not to reveal who exists.
	_, err = amqp.Dial(strings.Replace(b.AMQPURL(), "guest:guest", "nobody:guest", 1))
	if err != amqp.ErrCredentials && (!errors.As(err, &ae) || ae.Code != 403) {
		t.Fatalf("dial error %v, want ErrCredentials or 403", err)
	}

	// A client that announces authentication_failure_close gets
	// connection.close 403 with RabbitMQ's text.
	r := rawAMQPDial(t, b.AMQPAddr())
	r.startOK(rawHandshake{pass: "wrong", user: "guest", caps: message.Table{"authentication_failure_close": true}})
	r.expectConnClose(403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.")

	// One that does not is disconnected without a word, as RabbitMQ does:
	// older clients cannot take a connection.close in reply to start-ok.
	r = rawAMQPDial(t, b.AMQPAddr())
	r.startOK(rawHandshake{pass: "wrong", user: "guest"})
	r.expectEOF()
}

func TestAMQPGuestFromNonLoopback(t *testing.T) {
	t.Skip("guest is refused from non-loopback addresses; the test broker listens on 127.0.0.1 only, so this cannot be exercised here")
}

func TestAMQPAMQPlainAuth(t *testing.T) {
	b := brokertest.New(t)
	conn := amqpDialConfig(t, b.AMQPURL(), amqp.Config{SASL: []amqp.Authentication{&amqp.AMQPlainAuth{Username: "guest", Password: "guest"}}})
	stillUsable(t, conn)
	_, err := amqp.DialConfig(b.AMQPURL(), amqp.Config{SASL: []amqp.Authentication{&amqp.AMQPlainAuth{Username: "guest", Password: "bad"}}})
	var ae *amqp.Error
	if err != amqp.ErrCredentials && (!errors.As(err, &ae) || ae.Code != 403) {
		t.Fatalf("dial error %v, want ErrCredentials or 403", err)
	}
	// The mechanisms offered; an unknown one is refused.
	r := rawAMQPDial(t, b.AMQPAddr())
	start := r.startOK(rawHandshake{mechanism: "CRAM-MD5", response: "x"})
	if start.Mechanisms != "PLAIN AMQPLAIN" || start.Locales != "en_US" || start.VersionMajor != 0 || start.VersionMinor != 9 {
		t.Fatalf("connection.start %+v", start)
	}
	r.expectConnClose(503, "COMMAND_INVALID - unknown authentication mechanism 'CRAM-MD5'")
}

func TestAMQPUnknownVHost(t *testing.T) {
	b := brokertest.New(t)
	_, err := amqp.Dial(b.AMQPURL() + "nosuch")
	wantAMQPError(t, err, 530, "NOT_ALLOWED - vhost nosuch not found")
}

func TestAMQPHandshakeTimeout(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, func(c *server.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	// Says nothing at all.
	silent := rawAMQPDial(t, b.AMQPAddr())
	// Sends the header, then nothing.
	header := rawAMQPDial(t, b.AMQPAddr())
	header.write([]byte(wire.ProtocolHeader))
	rawExpect[*wire.ConnectionStart](header)
	// Authenticates, then stalls before connection.open.
	tuned := rawAMQPDial(t, b.AMQPAddr())
	tuned.startOK(rawHandshake{})
	rawExpect[*wire.ConnectionTune](tuned)
	for _, r := range []*rawAMQP{silent, header, tuned} {
		r.expectEOF()
	}
	// A connection that finished the handshake is not subject to it.
	conn := amqpDial(t, b)
	time.Sleep(500 * time.Millisecond)
	stillUsable(t, conn)
}

func TestAMQPHeartbeatNegotiation(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	// The client asks for 1 s against the server's 60 s: the lower wins and
	// server heartbeats keep an idle client's connection alive.
	conn := amqpDialConfig(t, b.AMQPURL(), amqp.Config{Heartbeat: time.Second})
	if conn.Config.Heartbeat != time.Second {
		t.Fatalf("negotiated heartbeat %v", conn.Config.Heartbeat)
	}
	r := rawAMQPDial(t, b.AMQPAddr())
	tune := r.handshake(rawHandshake{heartbeat: 1})
	if tune.Heartbeat != 60 || tune.FrameMax != 131072 || tune.ChannelMax != 2047 {
		t.Fatalf("connection.tune %+v, want RabbitMQ's defaults", tune)
	}
	// The raw client heartbeats for a while and counts the server's.
	beats := 0
	until := time.Now().Add(2500 * time.Millisecond)
	lastSent := time.Now()
	for time.Now().Before(until) {
		if time.Since(lastSent) >= 400*time.Millisecond {
			if err := r.fw.WriteHeartbeat(); err != nil {
				t.Fatal(err)
			}
			must(t, r.fw.Flush(), "flush")
			lastSent = time.Now()
		}
		f, err := r.readFrame(100 * time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			t.Fatalf("connection lost while heartbeating: %v", err)
		}
		if f.Type == wire.FrameHeartbeat && f.Channel == 0 {
			beats++
		}
	}
	if beats < 2 {
		t.Fatalf("%d server heartbeats in 2.5 s with a 1 s interval", beats)
	}
	// Then it goes silent: the server hangs up after about two intervals.
	silentFrom := time.Now()
	r.expectEOF()
	if gone := time.Since(silentFrom); gone < time.Second {
		t.Fatalf("closed %v after the client went silent, before even one interval", gone)
	}
	// The idle amqp091-go client was kept alive all along.
	stillUsable(t, conn)
}

func TestAMQPFrameTooLarge(t *testing.T) {
	b := brokertest.New(t)
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{frameMax: 4096})
	r.openChannel(1)
	r.send(1, &wire.BasicPublish{RoutingKey: "q"})
	r.sendHeader(1, 5000)
	r.sendFrame(wire.FrameBody, 1, make([]byte, 5000))
	r.expectConnClose(501, "FRAME_ERROR - *")

	// A frame_max above the server's in tune-ok is refused.
	r = rawAMQPDial(t, b.AMQPAddr())
	r.startOK(rawHandshake{})
	rawExpect[*wire.ConnectionTune](r)
	r.send(0, &wire.ConnectionTuneOk{ChannelMax: 10, FrameMax: 200000})
	r.expectConnClose(530, "NOT_ALLOWED - negotiated frame_max = 200000 is higher than the maximum allowed value (131072)")
	r = rawAMQPDial(t, b.AMQPAddr())
	r.startOK(rawHandshake{})
	rawExpect[*wire.ConnectionTune](r)
	r.send(0, &wire.ConnectionTuneOk{ChannelMax: 10, FrameMax: 1024})
	r.expectConnClose(530, "NOT_ALLOWED - negotiated frame_max = 1024 is lower than the minimum allowed value (4096)")
}

func TestAMQPMessageTooLarge(t *testing.T) {
	_, conn, ch := amqpSetup(t, func(c *server.Config) { c.MaxMessageSize = 1024 })
	declareQ(t, ch, "big", nil)
	pub(t, ch, "", "big", amqp.Publishing{Body: make([]byte, 1024)})
	getOne(t, ch, "big", true)
	notify := ch.NotifyClose(make(chan *amqp.Error, 1))
	pub(t, ch, "", "big", amqp.Publishing{Body: make([]byte, 2000)})
	e := waitClosed(t, notify, "channel")
	wantAMQPError(t, e, 406, "PRECONDITION_FAILED - message size 2000 is larger than configured max size 1024")
	stillUsable(t, conn)
	if n := messageCount(t, conn, "big"); n != 0 {
		t.Fatalf("oversized message enqueued: %d", n)
	}
}

func TestAMQPContentFraming(t *testing.T) {
	b := brokertest.New(t)
	setup := func() *rawAMQP {
		r := rawAMQPDial(t, b.AMQPAddr())
		r.handshake(rawHandshake{frameMax: 4096})
		r.openChannel(1)
		return r
	}
	// A body split over several frames is assembled.
	r := setup()
	r.send(1, &wire.QueueDeclare{Queue: "framing"})
	rawExpect[*wire.QueueDeclareOk](r)
	r.send(1, &wire.BasicPublish{RoutingKey: "framing"})
	r.sendHeader(1, 10)
	r.sendFrame(wire.FrameBody, 1, []byte("0123"))
	r.sendFrame(wire.FrameBody, 1, []byte("456789"))
	r.send(1, &wire.BasicGet{Queue: "framing", NoAck: true})
	if ok := rawExpect[*wire.BasicGetOk](r); ok.RoutingKey != "framing" {
		t.Fatalf("get-ok %+v", ok)
	}
	r.readFrame(amqpWait)
	f, err := r.readFrame(amqpWait)
	if err != nil || f.Type != wire.FrameBody || string(f.Payload) != "0123456789" {
		t.Fatalf("body %q %v", f.Payload, err)
	}

	cases := []struct {
		name string
		run  func(*rawAMQP)
		code uint16
		text string
	}{
		{"body exceeds the announced size", func(r *rawAMQP) {
			r.send(1, &wire.BasicPublish{RoutingKey: "framing"})
			r.sendHeader(1, 5)
			r.sendFrame(wire.FrameBody, 1, []byte("0123456789"))
		}, 501, "FRAME_ERROR - *"},
		{"method instead of the content header", func(r *rawAMQP) {
			r.send(1, &wire.BasicPublish{RoutingKey: "framing"})
			r.send(1, &wire.BasicQos{})
		}, 505, "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"},
		{"method in the middle of the body", func(r *rawAMQP) {
			r.send(1, &wire.BasicPublish{RoutingKey: "framing"})
			r.sendHeader(1, 10)
			r.sendFrame(wire.FrameBody, 1, []byte("0123"))
			r.send(1, &wire.BasicQos{})
		}, 505, "UNEXPECTED_FRAME - expected content body, got non content body frame instead"},
		{"second header in the middle of the body", func(r *rawAMQP) {
			r.send(1, &wire.BasicPublish{RoutingKey: "framing"})
			r.sendHeader(1, 10)
			r.sendFrame(wire.FrameBody, 1, []byte("0123"))
			r.sendHeader(1, 10)
		}, 505, "UNEXPECTED_FRAME - expected content body, got non content body frame instead"},
		{"content header without a method", func(r *rawAMQP) {
			r.sendHeader(1, 10)
		}, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead"},
		{"body without a method", func(r *rawAMQP) {
			r.sendFrame(wire.FrameBody, 1, []byte("x"))
		}, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead"},
		{"method on a channel never opened", func(r *rawAMQP) {
			r.send(7, &wire.BasicQos{})
		}, 504, "CHANNEL_ERROR - expected 'channel.open'"},
		{"second channel.open", func(r *rawAMQP) {
			r.send(1, &wire.ChannelOpen{})
		}, 504, "CHANNEL_ERROR - second 'channel.open' seen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := setup()
			r.t = t
			tc.run(r)
			r.expectConnClose(tc.code, tc.text)
		})
	}
}

func TestAMQPChannelMax(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.ChannelMax = 2 })
	conn := amqpDial(t, b)
	if conn.Config.ChannelMax != 2 {
		t.Fatalf("negotiated channel_max %d", conn.Config.ChannelMax)
	}
	amqpChan(t, conn)
	amqpChan(t, conn)
	if _, err := conn.Channel(); err == nil {
		t.Fatal("amqp091-go opened a third channel")
	}

	r := rawAMQPDial(t, b.AMQPAddr())
	if tune := r.handshake(rawHandshake{channelMax: 2}); tune.ChannelMax != 2 {
		t.Fatalf("tune channel_max %d", tune.ChannelMax)
	}
	r.openChannel(1)
	r.openChannel(2)
	// Closing one frees a slot.
	r.send(2, &wire.ChannelClose{ReplyCode: 200, ReplyText: "bye"})
	rawExpect[*wire.ChannelCloseOk](r)
	r.openChannel(2)
	r.send(3, &wire.ChannelOpen{})
	r.expectConnClose(530, "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)")

	// A channel_max above the server's in tune-ok is refused.
	r = rawAMQPDial(t, b.AMQPAddr())
	r.startOK(rawHandshake{})
	rawExpect[*wire.ConnectionTune](r)
	r.send(0, &wire.ConnectionTuneOk{ChannelMax: 5, FrameMax: 131072})
	r.expectConnClose(530, "NOT_ALLOWED - negotiated channel_max = 5 is higher than the maximum allowed value (2)")
}

func TestAMQPConnectionLimit(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxConnections = 2 })
	first := amqpDial(t, b)
	amqpDial(t, b)
	_, err := amqp.Dial(b.AMQPURL())
	wantAMQPError(t, err, 530, "NOT_ALLOWED - *")
	// The existing connections are unaffected; closing one frees a slot.
	must(t, first.Close(), "close")
	eventually(t, "a free connection slot", func() bool {
		c, err := amqp.Dial(b.AMQPURL())
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func TestAMQPConnectionLimitPerUser(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxConnectionsPerUser = 1 })
	first := amqpDial(t, b)
	_, err := amqp.Dial(b.AMQPURL())
	wantAMQPError(t, err, 530, "NOT_ALLOWED - *")
	stillUsable(t, first)
	must(t, first.Close(), "close")
	eventually(t, "the user's slot to be freed", func() bool {
		c, err := amqp.Dial(b.AMQPURL())
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func TestAMQPUpdateSecret(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	must(t, conn.UpdateSecret("new-secret", "rotation"), "connection.update-secret")
	stillUsable(t, conn)
}

func TestAMQPServerProperties(t *testing.T) {
	_, conn, _ := amqpSetup(t)
	props := conn.Properties
	if props["product"] != "sluice" {
		t.Fatalf("product %#v", props["product"])
	}
	for _, k := range []string{"version", "platform", "cluster_name", "information"} {
		if s, ok := props[k].(string); !ok || s == "" {
			t.Fatalf("server property %s = %#v", k, props[k])
		}
	}
	caps, ok := props["capabilities"].(amqp.Table)
	if !ok {
		t.Fatalf("capabilities %#v", props["capabilities"])
	}
	// RabbitMQ's set: consumer_priorities is among them (x-priority on
	// basic.consume works, see TestAMQPConsumerPriority).
	want := []string{"authentication_failure_close", "basic.nack", "connection.blocked", "consumer_cancel_notify",
		"consumer_priorities", "direct_reply_to", "exchange_exchange_bindings", "per_consumer_qos", "publisher_confirms"}
	var got []string
	for k, v := range caps {
		if v != true {
			t.Fatalf("capability %s = %#v", k, v)
		}
		got = append(got, k)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("capabilities %v, want exactly %v", got, want)
	}
	// amqp091-go registers for connection.blocked; nothing is blocked now.
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	stillUsable(t, conn)
	select {
	case bl := <-blocked:
		t.Fatalf("unexpected %+v", bl)
	default:
	}
}

func TestAMQPGracefulShutdown(t *testing.T) {
	b := brokertest.New(t)
	conn := amqpDial(t, b)
	ch := amqpChan(t, conn)
	declareQ(t, ch, "sd", nil)
	pubBody(t, ch, "", "sd", "unacked")
	consume(t, ch, "sd", "", false, nil)
	notify := conn.NotifyClose(make(chan *amqp.Error, 1))

	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{})

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), amqpWait)
		defer cancel()
		done <- b.Shutdown(ctx)
	}()
	const text = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
	wantConnClosed(t, notify, 320, text)
	r.expectConnClose(320, text)
	select {
	case err := <-done:
		must(t, err, "shutdown")
	case <-time.After(amqpWait):
		t.Fatal("shutdown did not finish")
	}
	// Nothing listens any more.
	if c, err := net.DialTimeout("tcp", b.AMQPAddr(), time.Second); err == nil {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, _ := c.Read(make([]byte, 1)); n > 0 {
			t.Fatal("a new connection was served after shutdown")
		}
		c.Close()
	}
}

func TestAMQPChannelZeroErrors(t *testing.T) {
	b := brokertest.New(t)
	cases := []struct {
		name string
		run  func(*rawAMQP)
		code uint16
		text string
	}{
		{"channel method on channel 0", func(r *rawAMQP) { r.send(0, &wire.BasicQos{}) },
			504, "CHANNEL_ERROR - unexpected method in connection state running"},
		{"heartbeat on a channel", func(r *rawAMQP) { r.sendFrame(wire.FrameHeartbeat, 1, nil) },
			505, "UNEXPECTED_FRAME - type 8, all octets = <<>>"},
		{"content header on channel 0", func(r *rawAMQP) { r.sendHeader(0, 10) },
			505, "UNEXPECTED_FRAME - type 2, all octets = <<0,60,0,0,0,0,0,0,0,0,0,10,0,0>>"},
		{"body on channel 0", func(r *rawAMQP) { r.sendFrame(wire.FrameBody, 0, []byte("hello")) },
			505, `UNEXPECTED_FRAME - type 3, all octets = <<"hello">>`},
		{"long body on channel 0", func(r *rawAMQP) { r.sendFrame(wire.FrameBody, 0, []byte("0123456789abcdefXYZ")) },
			505, `UNEXPECTED_FRAME - type 3, first 16 octets = <<"0123456789abcdef">>`},
		{"unknown frame type", func(r *rawAMQP) { r.sendFrame(9, 0, nil) }, 501, "FRAME_ERROR - *"},
		// Methods only a server sends, and connection methods on a channel:
		// RabbitMQ 3.10's words.
		{"channel.open-ok from the client", func(r *rawAMQP) { r.send(1, &wire.ChannelOpenOk{}) },
			503, "COMMAND_INVALID - unimplemented method"},
		{"queue.declare-ok from the client", func(r *rawAMQP) { r.send(1, &wire.QueueDeclareOk{}) },
			503, "COMMAND_INVALID - unimplemented method"},
		{"basic.get-empty from the client", func(r *rawAMQP) { r.send(1, &wire.BasicGetEmpty{}) },
			503, "COMMAND_INVALID - unimplemented method"},
		{"connection.tune-ok on a channel", func(r *rawAMQP) { r.send(1, &wire.ConnectionTuneOk{}) },
			503, "COMMAND_INVALID - unimplemented method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rawAMQPDial(t, b.AMQPAddr())
			r.handshake(rawHandshake{})
			r.openChannel(1)
			tc.run(r)
			r.expectConnClose(tc.code, tc.text)
		})
	}
	// A heartbeat on channel 0 is fine at any time.
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{})
	r.sendFrame(wire.FrameHeartbeat, 0, nil)
	r.openChannel(1)
}

// accessRequest is access.request (class 30, method 10), which AMQP 0-9-1's
// final XML (and so the generated codec) no longer has but old clients
// still send.
type accessRequest struct{}

func (accessRequest) ClassID() uint16          { return 30 }
func (accessRequest) MethodID() uint16         { return 10 }
func (accessRequest) Read(*wire.Decoder) error { return nil }
func (accessRequest) Write(e *wire.Encoder) {
	e.WriteShortstr("/data")
	e.WriteOctet(0x1f) // exclusive, passive, active, write, read
}

// An access.request on a channel gets access.request-ok with ticket 1, as
// RabbitMQ answers it (checked with raw frames against RabbitMQ 3.10),
// and the channel goes on.
func TestAMQPAccessRequest(t *testing.T) {
	b := brokertest.New(t)
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{})
	r.openChannel(1)
	r.send(1, accessRequest{})
	f, err := r.readFrame(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != wire.FrameMethod || f.Channel != 1 || string(f.Payload) != "\x00\x1e\x00\x0b\x00\x01" {
		t.Fatalf("got frame type %d channel %d payload %x, want access.request-ok (001e000b0001) on channel 1", f.Type, f.Channel, f.Payload)
	}
	r.send(1, &wire.QueueDeclare{Queue: "after-access-request"})
	rawExpect[*wire.QueueDeclareOk](r)
}
