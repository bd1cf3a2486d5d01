package conformance

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// amqpWait bounds every wait for something the broker must do; it only
// matters when the test fails, so it is generous for slow machines.
const amqpWait = 10 * time.Second

// amqpQuiet is how long a test waits to be sure something does NOT happen.
const amqpQuiet = 200 * time.Millisecond

// amqpDial connects amqp091-go as guest and closes the connection at the end.
func amqpDial(t testing.TB, b *brokertest.Broker) *amqp.Connection {
	t.Helper()
	return amqpDialConfig(t, b.AMQPURL(), amqp.Config{})
}

func amqpDialConfig(t testing.TB, url string, cfg amqp.Config) *amqp.Connection {
	t.Helper()
	conn, err := amqp.DialConfig(url, cfg)
	if err != nil {
		t.Fatalf("amqp dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// amqpChan opens a channel.
func amqpChan(t testing.TB, conn *amqp.Connection) *amqp.Channel {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel.open: %v", err)
	}
	return ch
}

// amqpSetup is one broker, one connection and one channel.
func amqpSetup(t testing.TB, opts ...brokertest.Option) (*brokertest.Broker, *amqp.Connection, *amqp.Channel) {
	t.Helper()
	b := brokertest.New(t, opts...)
	conn := amqpDial(t, b)
	return b, conn, amqpChan(t, conn)
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// declareQ declares a non-durable queue with the given name and arguments.
func declareQ(t testing.TB, ch *amqp.Channel, name string, args amqp.Table) amqp.Queue {
	t.Helper()
	q, err := ch.QueueDeclare(name, false, false, false, false, args)
	if err != nil {
		t.Fatalf("queue.declare %q: %v", name, err)
	}
	return q
}

func pub(t testing.TB, ch *amqp.Channel, exchange, key string, p amqp.Publishing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), amqpWait)
	defer cancel()
	if err := ch.PublishWithContext(ctx, exchange, key, false, false, p); err != nil {
		t.Fatalf("basic.publish to %q/%q: %v", exchange, key, err)
	}
}

func pubBody(t testing.TB, ch *amqp.Channel, exchange, key, body string) {
	t.Helper()
	pub(t, ch, exchange, key, amqp.Publishing{Body: []byte(body)})
}

// consume starts a consumer and returns its deliveries.
func consume(t testing.TB, ch *amqp.Channel, queue, tag string, autoAck bool, args amqp.Table) <-chan amqp.Delivery {
	t.Helper()
	d, err := ch.Consume(queue, tag, autoAck, false, false, false, args)
	if err != nil {
		t.Fatalf("basic.consume %q: %v", queue, err)
	}
	return d
}

// next waits for one delivery.
func next(t testing.TB, ds <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-ds:
		if !ok {
			t.Fatal("delivery channel closed")
		}
		return d
	case <-time.After(amqpWait):
		t.Fatal("no delivery")
	}
	return amqp.Delivery{}
}

// nextBodies waits for n deliveries and returns their bodies.
func nextBodies(t testing.TB, ds <-chan amqp.Delivery, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, string(next(t, ds).Body))
	}
	return out
}

// none checks that no delivery arrives for a moment.
func none(t testing.TB, ds <-chan amqp.Delivery) {
	t.Helper()
	select {
	case d, ok := <-ds:
		if ok {
			t.Fatalf("unexpected delivery %q", d.Body)
		}
	case <-time.After(amqpQuiet):
	}
}

// getBody does a basic.get that must find a message.
func getOne(t testing.TB, ch *amqp.Channel, queue string, autoAck bool) amqp.Delivery {
	t.Helper()
	var d amqp.Delivery
	eventually(t, "basic.get-ok from "+queue, func() bool {
		var ok bool
		var err error
		d, ok, err = ch.Get(queue, autoAck)
		if err != nil {
			t.Fatalf("basic.get %q: %v", queue, err)
		}
		return ok
	})
	return d
}

// getEmpty does a basic.get that must find nothing.
func getEmpty(t testing.TB, ch *amqp.Channel, queue string) {
	t.Helper()
	d, ok, err := ch.Get(queue, true)
	if err != nil {
		t.Fatalf("basic.get %q: %v", queue, err)
	}
	if ok {
		t.Fatalf("basic.get %q: got %q, want get-empty", queue, d.Body)
	}
}

// nextConfirm waits for one publisher confirm.
func nextConfirm(t testing.TB, c <-chan amqp.Confirmation) amqp.Confirmation {
	t.Helper()
	select {
	case x := <-c:
		return x
	case <-time.After(amqpWait):
		t.Fatal("no publisher confirm")
	}
	return amqp.Confirmation{}
}

// eventually polls cond until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(amqpWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// messageCount is queue.declare passive's ready count, on a fresh channel.
func messageCount(t testing.TB, conn *amqp.Connection, queue string) int {
	t.Helper()
	ch := amqpChan(t, conn)
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("queue.declare passive %q: %v", queue, err)
	}
	return q.Messages
}

// waitCount polls until queue holds n ready messages.
func waitCount(t testing.TB, conn *amqp.Connection, queue string, n int) {
	t.Helper()
	eventually(t, "queue "+queue+" to hold messages", func() bool { return messageCount(t, conn, queue) == n })
}

// queueExists checks with a passive declare on a fresh channel; 404 means no.
func queueExists(t testing.TB, conn *amqp.Connection, queue string) bool {
	t.Helper()
	ch := amqpChan(t, conn)
	_, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err == nil {
		ch.Close()
		return true
	}
	wantAMQPError(t, err, 404, "NOT_FOUND - no queue '"+queue+"' in vhost '/'")
	return false
}

// exchangeExists is queueExists for exchanges.
func exchangeExists(t testing.TB, conn *amqp.Connection, name string) bool {
	t.Helper()
	ch := amqpChan(t, conn)
	err := ch.ExchangeDeclarePassive(name, "", false, false, false, false, nil)
	if err == nil {
		ch.Close()
		return true
	}
	wantAMQPError(t, err, 404, "NOT_FOUND - no exchange '"+name+"' in vhost '/'")
	return false
}

// wantAMQPError checks err is an *amqp.Error with code and, when text is
// not empty, exactly that reply text (a text ending in "*" is a prefix).
func wantAMQPError(t testing.TB, err error, code int, text string) *amqp.Error {
	t.Helper()
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v (%T), want AMQP %d %q", err, err, code, text)
	}
	if ae.Code != code {
		t.Fatalf("got AMQP %d %q, want %d %q", ae.Code, ae.Reason, code, text)
	}
	if text != "" {
		if p, ok := strings.CutSuffix(text, "*"); ok {
			if !strings.HasPrefix(ae.Reason, p) {
				t.Fatalf("got reply text %q, want prefix %q", ae.Reason, p)
			}
		} else if ae.Reason != text {
			t.Fatalf("got reply text %q, want %q", ae.Reason, text)
		}
	}
	return ae
}

// waitClosed waits for a NotifyClose channel to deliver an error.
func waitClosed(t testing.TB, c <-chan *amqp.Error, what string) *amqp.Error {
	t.Helper()
	select {
	case e := <-c:
		if e == nil {
			t.Fatalf("%s closed without an error", what)
		}
		return e
	case <-time.After(amqpWait):
		t.Fatalf("%s was not closed", what)
	}
	return nil
}

// wantConnClosed checks a connection was closed by the server with code.
func wantConnClosed(t testing.TB, notify <-chan *amqp.Error, code int, text string) {
	t.Helper()
	e := waitClosed(t, notify, "connection")
	if !e.Server {
		t.Fatalf("connection closed by the client, not the server: %v", e)
	}
	wantAMQPError(t, e, code, text)
}

// stillUsable checks the connection works on a new channel.
func stillUsable(t testing.TB, conn *amqp.Connection) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("connection not usable: %v", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatalf("connection not usable: %v", err)
	}
	pubBody(t, ch, "", q.Name, "ping")
	if d := getOne(t, ch, q.Name, true); string(d.Body) != "ping" {
		t.Fatalf("got %q", d.Body)
	}
	ch.Close()
}

// ---- raw client ----

// rawAMQP is a bare AMQP 0-9-1 client for what real clients will not send.
type rawAMQP struct {
	t  testing.TB
	nc net.Conn
	fr *wire.FrameReader
	fw *wire.FrameWriter
}

func rawAMQPDial(t testing.TB, addr string) *rawAMQP {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawAMQP{t: t, nc: nc, fr: wire.NewFrameReader(nc), fw: wire.NewFrameWriter(nc)}
}

func (r *rawAMQP) write(p []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(p); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawAMQP) send(ch uint16, m wire.Method) {
	r.t.Helper()
	if err := r.fw.WriteMethod(ch, m); err != nil {
		r.t.Fatalf("write %T: %v", m, err)
	}
	if err := r.fw.Flush(); err != nil {
		r.t.Fatalf("flush: %v", err)
	}
}

func (r *rawAMQP) sendFrame(typ uint8, ch uint16, payload []byte) {
	r.t.Helper()
	if err := r.fw.WriteFrame(typ, ch, payload); err != nil {
		r.t.Fatalf("write frame: %v", err)
	}
	if err := r.fw.Flush(); err != nil {
		r.t.Fatalf("flush: %v", err)
	}
}

// sendHeader sends a content header frame for class basic.
func (r *rawAMQP) sendHeader(ch uint16, size uint64) {
	r.t.Helper()
	p, err := wire.EncodeContentHeader(nil, wire.ClassBasic, size, &message.Properties{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendFrame(wire.FrameHeader, ch, p)
}

// readFrame reads one frame, heartbeats included.
func (r *rawAMQP) readFrame(timeout time.Duration) (wire.Frame, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(timeout))
	return r.fr.ReadFrame()
}

// method reads up to the next method frame, skipping heartbeats.
func (r *rawAMQP) method() (uint16, wire.Method) {
	r.t.Helper()
	for {
		f, err := r.readFrame(amqpWait)
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		if f.Type == wire.FrameHeartbeat {
			continue
		}
		if f.Type != wire.FrameMethod {
			r.t.Fatalf("got frame type %d, want a method", f.Type)
		}
		m, err := wire.DecodeMethod(f.Payload)
		if err != nil {
			r.t.Fatalf("decode: %v", err)
		}
		return f.Channel, m
	}
}

// expect reads the next method and checks its type.
func rawExpect[M wire.Method](r *rawAMQP) M {
	r.t.Helper()
	ch, m := r.method()
	want, ok := m.(M)
	if !ok {
		var zero M
		r.t.Fatalf("got %T %+v on channel %d, want %T", m, m, ch, zero)
	}
	return want
}

type rawHandshake struct {
	user, pass, vhost string
	mechanism         string
	response          string // overrides user/pass
	caps              message.Table
	channelMax        uint16
	frameMax          uint32
	heartbeat         uint16
}

// handshake runs the connection handshake up to open-ok.
func (r *rawAMQP) handshake(h rawHandshake) *wire.ConnectionTune {
	r.t.Helper()
	r.startOK(h)
	tune := rawExpect[*wire.ConnectionTune](r)
	fm := h.frameMax
	if fm == 0 {
		fm = tune.FrameMax
	}
	r.send(0, &wire.ConnectionTuneOk{ChannelMax: h.channelMax, FrameMax: fm, Heartbeat: h.heartbeat})
	r.fr.SetMaxFrameSize(0)
	vhost := h.vhost
	if vhost == "" {
		vhost = "/"
	}
	r.send(0, &wire.ConnectionOpen{VirtualHost: vhost})
	rawExpect[*wire.ConnectionOpenOk](r)
	return tune
}

// startOK sends the header and answers connection.start.
func (r *rawAMQP) startOK(h rawHandshake) *wire.ConnectionStart {
	r.t.Helper()
	r.write([]byte(wire.ProtocolHeader))
	start := rawExpect[*wire.ConnectionStart](r)
	if h.user == "" {
		h.user, h.pass = "guest", "guest"
	}
	mech, resp := h.mechanism, h.response
	if mech == "" {
		mech = "PLAIN"
	}
	if resp == "" {
		resp = "\x00" + h.user + "\x00" + h.pass
	}
	props := message.Table{"product": "raw"}
	if h.caps != nil {
		props["capabilities"] = h.caps
	}
	r.send(0, &wire.ConnectionStartOk{ClientProperties: props, Mechanism: mech, Response: resp, Locale: "en_US"})
	return start
}

// openChannel opens channel id.
func (r *rawAMQP) openChannel(id uint16) {
	r.t.Helper()
	r.send(id, &wire.ChannelOpen{})
	if ch, _ := r.method(); ch != id {
		r.t.Fatalf("open-ok on channel %d, want %d", ch, id)
	}
}

// expectConnClose reads until connection.close, answers close-ok and
// checks the code and text (prefix when text ends in "*").
func (r *rawAMQP) expectConnClose(code uint16, text string) *wire.ConnectionClose {
	r.t.Helper()
	for {
		ch, m := r.method()
		cc, ok := m.(*wire.ConnectionClose)
		if !ok {
			r.t.Logf("skipping %T on channel %d while waiting for connection.close", m, ch)
			continue
		}
		if cc.ReplyCode != code {
			r.t.Fatalf("connection.close %d %q, want %d", cc.ReplyCode, cc.ReplyText, code)
		}
		if p, ok := strings.CutSuffix(text, "*"); ok {
			if !strings.HasPrefix(cc.ReplyText, p) {
				r.t.Fatalf("connection.close text %q, want prefix %q", cc.ReplyText, p)
			}
		} else if text != "" && cc.ReplyText != text {
			r.t.Fatalf("connection.close text %q, want %q", cc.ReplyText, text)
		}
		// The server may already have hung up (after a framing error it
		// cannot read a close-ok), so a failed write is fine.
		if r.fw.WriteMethod(0, &wire.ConnectionCloseOk{}) == nil {
			_ = r.fw.Flush()
		}
		r.expectEOF()
		return cc
	}
}

// expectEOF checks the server closes the socket, ignoring heartbeats.
func (r *rawAMQP) expectEOF() {
	r.t.Helper()
	for {
		f, err := r.readFrame(amqpWait)
		if err == nil {
			if f.Type == wire.FrameHeartbeat {
				continue
			}
			r.t.Fatalf("got frame type %d on channel %d, want the socket closed", f.Type, f.Channel)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatal("socket not closed by the server")
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
			strings.Contains(err.Error(), "connection reset") {
			return
		}
		r.t.Fatalf("read: %v", err)
	}
}
