package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/broker/message"
)

// -record rewrites the seed corpora under testdata/fuzz from the traffic of
// the real client in TestRealClient.
var record = flag.Bool("record", false, "record real client traffic as fuzz seed corpus")

// received is one method the client sent, with its content if it has any.
type received struct {
	channel uint16
	m       Method
	props   message.Properties
	body    []byte
}

// scriptedServer is just enough of a broker, written with this package, to
// let the real amqp091-go client connect and run a session: it answers every
// synchronous method with its -ok and reports what the client sent.
type scriptedServer struct {
	conn     net.Conn
	fr       *FrameReader
	mu       sync.Mutex // guards fw
	fw       *FrameWriter
	frameMax uint32
	got      chan received
	done     chan error

	// Recorded client traffic, for the seed corpora (server goroutine only
	// until done).
	raw       bytes.Buffer
	methods   map[string][]byte
	headers   [][]byte
	tables    map[string][]byte
	confirmed map[uint16]uint64 // channel -> publish count in confirm mode
}

func startScriptedServer(t *testing.T, conn net.Conn, frameMax uint32) *scriptedServer {
	s := &scriptedServer{
		conn: conn, fw: NewFrameWriter(conn), frameMax: frameMax,
		got: make(chan received, 100), done: make(chan error, 1),
		methods: map[string][]byte{}, tables: map[string][]byte{}, confirmed: map[uint16]uint64{},
	}
	s.fr = NewFrameReader(io.TeeReader(conn, &s.raw))
	go func() { s.done <- s.run() }()
	return s
}

func (s *scriptedServer) send(channel uint16, m Method) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fw.WriteMethod(channel, m); err != nil {
		return err
	}
	return s.fw.Flush()
}

func (s *scriptedServer) sendContent(channel uint16, m Method, props *message.Properties, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fw.WriteMethod(channel, m); err != nil {
		return err
	}
	if err := s.fw.WriteContent(channel, ClassBasic, props, body, s.frameMax); err != nil {
		return err
	}
	return s.fw.Flush()
}

// next reads the next method frame, skipping heartbeats, with its content.
func (s *scriptedServer) next() (received, error) {
	for {
		f, err := s.fr.ReadFrame()
		if err != nil {
			return received{}, err
		}
		if f.Type == FrameHeartbeat {
			continue
		}
		if f.Type != FrameMethod {
			return received{}, fmt.Errorf("frame type %d, want method", f.Type)
		}
		m, err := DecodeMethod(f.Payload)
		if err != nil {
			return received{}, err
		}
		name := MethodName(m.ClassID(), m.MethodID())
		if _, ok := s.methods[name]; !ok {
			s.methods[name] = append([]byte(nil), f.Payload...)
		}
		r := received{channel: f.Channel, m: m}
		if !HasContent(m) {
			return r, nil
		}
		f, err = s.fr.ReadFrame()
		if err != nil || f.Type != FrameHeader {
			return r, fmt.Errorf("content header: type %d, %v", f.Type, err)
		}
		s.headers = append(s.headers, append([]byte(nil), f.Payload...))
		_, size, err := DecodeContentHeader(f.Payload, &r.props)
		if err != nil {
			return r, err
		}
		if r.props.Headers != nil {
			s.tables["publish-headers"] = rawHeaders(f.Payload)
		}
		for uint64(len(r.body)) < size {
			f, err = s.fr.ReadFrame()
			if err != nil || f.Type != FrameBody {
				return r, fmt.Errorf("body: type %d, %v", f.Type, err)
			}
			r.body = append(r.body, f.Payload...)
		}
		return r, nil
	}
}

func (s *scriptedServer) expect(want Method) (received, error) {
	r, err := s.next()
	if err == nil && (r.m.ClassID() != want.ClassID() || r.m.MethodID() != want.MethodID()) {
		err = fmt.Errorf("got %s, want %s", MethodName(r.m.ClassID(), r.m.MethodID()), MethodName(want.ClassID(), want.MethodID()))
	}
	return r, err
}

func (s *scriptedServer) run() error {
	s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := ReadProtocolHeader(s.conn); err != nil {
		return err
	}
	start := &ConnectionStart{
		VersionMajor: 0, VersionMinor: 9,
		ServerProperties: message.Table{
			"product": "sluice", "version": "test",
			"capabilities": message.Table{
				"publisher_confirms": true, "exchange_exchange_bindings": true, "basic.nack": true,
				"consumer_cancel_notify": true, "connection.blocked": true, "authentication_failure_close": true,
			},
		},
		Mechanisms: "PLAIN AMQPLAIN", Locales: "en_US",
	}
	if err := s.send(0, start); err != nil {
		return err
	}
	r, err := s.expect(&ConnectionStartOk{})
	if err != nil {
		return err
	}
	s.got <- r
	if err := s.send(0, &ConnectionTune{ChannelMax: 2047, FrameMax: s.frameMax, Heartbeat: 0}); err != nil {
		return err
	}
	if r, err = s.expect(&ConnectionTuneOk{}); err != nil {
		return err
	}
	s.got <- r
	s.fr.SetMaxFrameSize(r.m.(*ConnectionTuneOk).FrameMax)
	if r, err = s.expect(&ConnectionOpen{}); err != nil {
		return err
	}
	s.got <- r
	if err := s.send(0, &ConnectionOpenOk{}); err != nil {
		return err
	}
	for {
		r, err := s.next()
		if err != nil {
			return err
		}
		s.got <- r
		var reply Method
		switch m := r.m.(type) {
		case *ChannelOpen:
			reply = &ChannelOpenOk{}
		case *ChannelFlow:
			reply = &ChannelFlowOk{Active: m.Active}
		case *ChannelClose:
			reply = &ChannelCloseOk{}
		case *ExchangeDeclare:
			if !m.NoWait {
				reply = &ExchangeDeclareOk{}
			}
		case *ExchangeDelete:
			reply = &ExchangeDeleteOk{}
		case *ExchangeBind:
			reply = &ExchangeBindOk{}
		case *ExchangeUnbind:
			reply = &ExchangeUnbindOk{}
		case *QueueDeclare:
			reply = &QueueDeclareOk{Queue: m.Queue, MessageCount: 3, ConsumerCount: 1}
		case *QueueBind:
			reply = &QueueBindOk{}
		case *QueueUnbind:
			reply = &QueueUnbindOk{}
		case *QueuePurge:
			reply = &QueuePurgeOk{MessageCount: 5}
		case *QueueDelete:
			reply = &QueueDeleteOk{MessageCount: 7}
		case *BasicQos:
			reply = &BasicQosOk{}
		case *BasicConsume:
			reply = &BasicConsumeOk{ConsumerTag: m.ConsumerTag}
		case *BasicCancel:
			reply = &BasicCancelOk{ConsumerTag: m.ConsumerTag}
		case *BasicGet:
			reply = &BasicGetEmpty{}
		case *BasicRecover:
			reply = &BasicRecoverOk{}
		case *ConfirmSelect:
			s.confirmed[r.channel] = 0
			reply = &ConfirmSelectOk{}
		case *TxSelect:
			reply = &TxSelectOk{}
		case *TxCommit:
			reply = &TxCommitOk{}
		case *TxRollback:
			reply = &TxRollbackOk{}
		case *ConnectionUpdateSecret:
			reply = &ConnectionUpdateSecretOk{}
		case *BasicPublish:
			if n, ok := s.confirmed[r.channel]; ok {
				s.confirmed[r.channel] = n + 1
				reply = &BasicAck{DeliveryTag: n + 1}
			}
			if m.Exchange == "" {
				if err := s.sendContent(r.channel, &BasicReturn{ReplyCode: NoRoute, ReplyText: "NO_ROUTE",
					Exchange: m.Exchange, RoutingKey: m.RoutingKey}, &r.props, r.body); err != nil {
					return err
				}
			}
		case *ConnectionClose:
			return s.send(0, &ConnectionCloseOk{})
		}
		if reply != nil {
			if err := s.send(r.channel, reply); err != nil {
				return err
			}
		}
	}
}

// rawHeaders returns the headers table exactly as the client encoded it in
// a content header payload.
func rawHeaders(p []byte) []byte {
	d := NewDecoder(p)
	d.ReadShort()
	d.ReadShort()
	d.ReadLonglong()
	flags, _ := d.ReadShort()
	if flags&message.FlagContentType != 0 {
		d.ReadShortstr()
	}
	if flags&message.FlagContentEncoding != 0 {
		d.ReadShortstr()
	}
	start := d.off
	d.ReadTable()
	return append([]byte(nil), p[start:d.off]...)
}

// fromClient converts amqp091-go table values to the types this package
// decodes them into, for comparisons.
func fromClient(v any) any {
	switch x := v.(type) {
	case amqp.Table:
		t := message.Table{}
		for k, e := range x {
			t[k] = fromClient(e)
		}
		return t
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = fromClient(e)
		}
		return a
	case amqp.Decimal:
		return message.Decimal{Scale: x.Scale, Value: x.Value}
	case time.Time:
		return x.UTC()
	case int:
		return int32(x) // amqp091-go writes int as 'I'
	}
	return v
}

func clientHeaders() amqp.Table {
	return amqp.Table{
		"bool": true, "int8": int8(-8), "uint8": uint8(200), "int16": int16(-1600), "uint16": uint16(60000),
		"int": int(-7), "int32": int32(-32000000), "uint32": uint32(4000000000), "int64": int64(-1 << 40),
		"float32": float32(1.5), "float64": 2.25, "decimal": amqp.Decimal{Scale: 2, Value: -12345},
		"string": "héllo", "bytes": []byte{0, 1, 2, 0xff}, "void": nil,
		"time":  time.Unix(1700000000, 0),
		"array": []any{int32(1), "two", []any{true, nil}, amqp.Table{"x": nil}, []byte("b")},
		"table": amqp.Table{"nested": amqp.Table{"deep": int64(1)}, "n": int32(7)},
		"x-death": []any{amqp.Table{"count": int64(1), "queue": "q", "reason": "expired",
			"time": time.Unix(1700000001, 0), "routing-keys": []any{"rk"}}},
	}
}

func TestRealClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback TCP: %v", err)
	}
	defer ln.Close()
	const frameMax = 4096
	accepted := make(chan *scriptedServer, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- startScriptedServer(t, c, frameMax)
	}()

	cfg := amqp.Config{Heartbeat: 10 * time.Second, Properties: amqp.Table{"connection_name": "wire-test"}}
	conn, err := amqp.DialConfig("amqp://guest:guest@"+ln.Addr().String()+"/vh", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	defer s.conn.Close()

	next := func() received {
		t.Helper()
		select {
		case r := <-s.got:
			return r
		case err := <-s.done:
			// The server may have sent its last method and ended
			// already: take the method and leave the result.
			select {
			case r := <-s.got:
				s.done <- err
				return r
			default:
			}
			t.Fatalf("server ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("timeout waiting for the client")
		}
		panic("unreachable")
	}

	// Handshake.
	so := next().m.(*ConnectionStartOk)
	if so.Mechanism != "PLAIN" || so.Response != "\x00guest\x00guest" || so.Locale != "en_US" {
		t.Fatalf("start-ok %+v", so)
	}
	if caps, _ := so.ClientProperties["capabilities"].(message.Table); caps["basic.nack"] != true || caps["publisher_confirms"] != true {
		t.Fatalf("client capabilities %#v", so.ClientProperties)
	}
	if so.ClientProperties["connection_name"] != "wire-test" {
		t.Fatalf("client properties %#v", so.ClientProperties)
	}
	// client-properties is start-ok's first argument, after the ids.
	startOk := s.methods["connection.start-ok"]
	s.tables["client-properties"] = startOk[4 : 8+int(binary.BigEndian.Uint32(startOk[4:]))]
	if tok := next().m.(*ConnectionTuneOk); tok.FrameMax != frameMax || tok.ChannelMax != 2047 {
		t.Fatalf("tune-ok %+v", tok)
	}
	if open := next().m.(*ConnectionOpen); open.VirtualHost != "vh" {
		t.Fatalf("open %+v", open)
	}

	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if r := next(); r.channel != 1 {
		t.Fatalf("channel.open on %d", r.channel)
	}

	args := amqp.Table{"x-max-length": int32(10), "x-queue-type": "classic", "x-message-ttl": int64(60000)}
	if err := ch.ExchangeDeclare("ex", "topic", true, false, true, false, args); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*ExchangeDeclare); !reflect.DeepEqual(*got, ExchangeDeclare{Exchange: "ex", Type: "topic",
		Durable: true, Internal: true, Arguments: fromClient(args).(message.Table)}) {
		t.Fatalf("exchange.declare %+v", got)
	}
	q, err := ch.QueueDeclare("q", true, true, false, false, args)
	if err != nil || q.Name != "q" || q.Messages != 3 || q.Consumers != 1 {
		t.Fatalf("%+v %v", q, err)
	}
	if got := next().m.(*QueueDeclare); !reflect.DeepEqual(*got, QueueDeclare{Queue: "q", Durable: true,
		AutoDelete: true, Arguments: fromClient(args).(message.Table)}) {
		t.Fatalf("queue.declare %+v", got)
	}
	if _, err := ch.QueueDeclarePassive("q", false, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*QueueDeclare); !got.Passive || !got.Exclusive || got.Durable || got.Arguments != nil {
		t.Fatalf("passive queue.declare %+v", got)
	}
	if err := ch.QueueBind("q", "rk.#", "ex", false, amqp.Table{"x-match": "all"}); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*QueueBind); got.Queue != "q" || got.Exchange != "ex" || got.RoutingKey != "rk.#" || got.Arguments["x-match"] != "all" {
		t.Fatalf("queue.bind %+v", got)
	}
	if err := ch.ExchangeBind("dst", "k", "ex", false, nil); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*ExchangeBind); got.Destination != "dst" || got.Source != "ex" || got.RoutingKey != "k" {
		t.Fatalf("exchange.bind %+v", got)
	}
	if err := ch.ExchangeUnbind("dst", "k", "ex", false, nil); err != nil {
		t.Fatal(err)
	}
	next()
	if err := ch.QueueUnbind("q", "rk.#", "ex", nil); err != nil {
		t.Fatal(err)
	}
	next()
	if n, err := ch.QueuePurge("q", false); err != nil || n != 5 {
		t.Fatal(n, err)
	}
	next()
	if err := ch.Qos(10, 0, true); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*BasicQos); *got != (BasicQos{PrefetchCount: 10, Global: true}) {
		t.Fatalf("basic.qos %+v", got)
	}
	if _, ok, err := ch.Get("q", true); err != nil || ok {
		t.Fatal(ok, err)
	}
	if got := next().m.(*BasicGet); *got != (BasicGet{Queue: "q", NoAck: true}) {
		t.Fatalf("basic.get %+v", got)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	next()
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 4))
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))

	// Publish with every table type and every property; the body spans
	// several frames at frame_max 4096.
	body := bytes.Repeat([]byte("0123456789"), 1000)
	pub := amqp.Publishing{
		Headers: clientHeaders(), ContentType: "application/octet-stream", ContentEncoding: "identity",
		DeliveryMode: amqp.Persistent, Priority: 5, CorrelationId: "corr", ReplyTo: "reply",
		Expiration: "60000", MessageId: "m1", Timestamp: time.Unix(1700000002, 0), Type: "t",
		UserId: "guest", AppId: "wire-test", Body: body,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ch.PublishWithContext(ctx, "ex", "rk.a", true, false, pub); err != nil {
		t.Fatal(err)
	}
	r := next()
	if got := r.m.(*BasicPublish); *got != (BasicPublish{Exchange: "ex", RoutingKey: "rk.a", Mandatory: true}) {
		t.Fatalf("basic.publish %+v", got)
	}
	if !bytes.Equal(r.body, body) {
		t.Fatalf("body of %d bytes differs", len(r.body))
	}
	wantProps := message.Properties{
		Flags: message.FlagContentType | message.FlagContentEncoding | message.FlagHeaders | message.FlagDeliveryMode |
			message.FlagPriority | message.FlagCorrelationID | message.FlagReplyTo | message.FlagExpiration |
			message.FlagMessageID | message.FlagTimestamp | message.FlagType | message.FlagUserID | message.FlagAppID,
		ContentType: "application/octet-stream", ContentEncoding: "identity",
		Headers:      fromClient(clientHeaders()).(message.Table),
		DeliveryMode: 2, Priority: 5, CorrelationID: "corr", ReplyTo: "reply", Expiration: "60000",
		MessageID: "m1", Timestamp: 1700000002, Type: "t", UserID: "guest", AppID: "wire-test",
	}
	if !reflect.DeepEqual(r.props, wantProps) {
		t.Fatalf("properties\n got %#v\nwant %#v", r.props, wantProps)
	}
	select {
	case c := <-confirms:
		if !c.Ack || c.DeliveryTag != 1 {
			t.Fatalf("confirm %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no confirm")
	}

	// Mandatory publish to the default exchange: the server returns it.
	if err := ch.PublishWithContext(ctx, "", "nowhere", true, false, amqp.Publishing{Body: []byte("ret")}); err != nil {
		t.Fatal(err)
	}
	next()
	select {
	case ret := <-returns:
		if ret.ReplyCode != NoRoute || ret.RoutingKey != "nowhere" || string(ret.Body) != "ret" {
			t.Fatalf("return %+v", ret)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no return")
	}
	<-confirms

	// Consume, and deliver the published message back with this package's
	// encoder: the client must see exactly what it sent.
	deliveries, err := ch.Consume("q", "ctag", false, false, false, false, amqp.Table{"x-priority": int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*BasicConsume); got.ConsumerTag != "ctag" || got.Arguments["x-priority"] != int32(3) {
		t.Fatalf("basic.consume %+v", got)
	}
	for tag := uint64(1); tag <= 2; tag++ {
		if err := s.sendContent(1, &BasicDeliver{ConsumerTag: "ctag", DeliveryTag: tag, Redelivered: tag == 2,
			Exchange: "ex", RoutingKey: "rk.a"}, &r.props, r.body); err != nil {
			t.Fatal(err)
		}
	}
	var ds []amqp.Delivery
	for len(ds) < 2 {
		select {
		case d := <-deliveries:
			ds = append(ds, d)
		case <-time.After(5 * time.Second):
			t.Fatal("no delivery")
		}
	}
	for i, d := range ds {
		if d.DeliveryTag != uint64(i+1) || d.Redelivered != (i == 1) || d.Exchange != "ex" || d.RoutingKey != "rk.a" ||
			!bytes.Equal(d.Body, body) || d.ContentType != pub.ContentType || d.ContentEncoding != pub.ContentEncoding ||
			d.DeliveryMode != 2 || d.Priority != 5 || d.CorrelationId != "corr" || d.ReplyTo != "reply" ||
			d.Expiration != "60000" || d.MessageId != "m1" || !d.Timestamp.Equal(pub.Timestamp) || d.Type != "t" ||
			d.UserId != "guest" || d.AppId != "wire-test" {
			t.Fatalf("delivery %d: %+v", i, d)
		}
		if !reflect.DeepEqual(fromClient(d.Headers), fromClient(clientHeaders())) {
			t.Fatalf("delivered headers\n got %#v\nwant %#v", d.Headers, clientHeaders())
		}
	}
	if err := ds[0].Ack(false); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*BasicAck); *got != (BasicAck{DeliveryTag: 1}) {
		t.Fatalf("basic.ack %+v", got)
	}
	if err := ds[1].Nack(true, true); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*BasicNack); *got != (BasicNack{DeliveryTag: 2, Multiple: true, Requeue: true}) {
		t.Fatalf("basic.nack %+v", got)
	}
	if err := ds[1].Reject(false); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*BasicReject); *got != (BasicReject{DeliveryTag: 2}) {
		t.Fatalf("basic.reject %+v", got)
	}
	if err := ch.Cancel("ctag", false); err != nil {
		t.Fatal(err)
	}
	next()

	// Connection-level RabbitMQ extensions.
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 2))
	if err := s.send(0, &ConnectionBlocked{Reason: "low on memory"}); err != nil {
		t.Fatal(err)
	}
	s.send(0, &ConnectionUnblocked{})
	for _, want := range []amqp.Blocking{{Active: true, Reason: "low on memory"}, {Active: false}} {
		select {
		case b := <-blocked:
			if b != want {
				t.Fatalf("blocking %+v, want %+v", b, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no blocking notification")
		}
	}
	if err := conn.UpdateSecret("new-secret", "rotation"); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*ConnectionUpdateSecret); *got != (ConnectionUpdateSecret{NewSecret: "new-secret", Reason: "rotation"}) {
		t.Fatalf("update-secret %+v", got)
	}

	// Transactions on a second channel, then orderly shutdown.
	ch2, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	next()
	if err := ch2.Tx(); err != nil {
		t.Fatal(err)
	}
	next()
	if err := ch2.TxCommit(); err != nil {
		t.Fatal(err)
	}
	next()
	if err := ch2.TxRollback(); err != nil {
		t.Fatal(err)
	}
	next()
	if _, err := ch2.QueueDelete("q", true, false, false); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*QueueDelete); !got.IfUnused || got.IfEmpty {
		t.Fatalf("queue.delete %+v", got)
	}
	if err := ch2.ExchangeDelete("ex", false, false); err != nil {
		t.Fatal(err)
	}
	next()
	if err := ch2.Close(); err != nil {
		t.Fatal(err)
	}
	next()
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if got := next().m.(*ConnectionClose); got.ReplyCode != ReplySuccess {
		t.Fatalf("connection.close %+v", got)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("server: %v", err)
	}

	if *record {
		recordCorpus(t, s)
	}
}

// recordCorpus writes the client's traffic as seed corpus files in the
// format `go test -fuzz` reads.
func recordCorpus(t *testing.T, s *scriptedServer) {
	write := func(target, name string, data []byte, extra ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		for _, e := range extra {
			content += e + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "client-"+name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// FuzzFrameReader's second value is the read chunk size (0: whole).
	write("FuzzFrameReader", "session", s.raw.Bytes(), "uint8(0)")
	write("FuzzFrameReader", "session-chunked", s.raw.Bytes(), "uint8(13)")
	for name, p := range s.methods {
		write("FuzzDecodeMethod", name, p)
	}
	for name, p := range s.tables {
		write("FuzzDecodeTable", name, p)
	}
	for i, p := range s.headers {
		write("FuzzContentHeader", fmt.Sprintf("publish-%d", i), p)
	}
}
