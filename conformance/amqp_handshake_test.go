package conformance

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
	"github.com/sluice-mq/sluice/server"
)

// TestAMQPHandshakeFrameLimit: before connection.tune-ok a client has not
// agreed to any frame_max, and before start-ok it has not authenticated,
// so the broker accepts only small frames then, as RabbitMQ does (4,096
// bytes until tune): --amqp-max-handshake-frame. A start-ok past it gets
// 501 FRAME_ERROR; it was read whole (up to 128 KiB) and answered with
// connection.tune.
func TestAMQPHandshakeFrameLimit(t *testing.T) {
	b := brokertest.New(t)

	r := rawAMQPDial(t, b.AMQPAddr())
	r.write([]byte(wire.ProtocolHeader))
	rawExpect[*wire.ConnectionStart](r)
	r.send(0, &wire.ConnectionStartOk{ClientProperties: message.Table{"product": "raw", "padding": strings.Repeat("p", 5000)},
		Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	if cc := r.expectConnClose(wire.FrameError, "FRAME_ERROR - frame size *"); !strings.Contains(cc.ReplyText, "frame_max of 4096") {
		t.Fatalf("connection.close %q does not name the limit", cc.ReplyText)
	}

	// A start-ok within the bound still opens.
	r = rawAMQPDial(t, b.AMQPAddr())
	r.write([]byte(wire.ProtocolHeader))
	rawExpect[*wire.ConnectionStart](r)
	r.send(0, &wire.ConnectionStartOk{ClientProperties: message.Table{"product": "raw", "padding": strings.Repeat("p", 3500)},
		Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	rawExpect[*wire.ConnectionTune](r)
}

// TestAMQPHandshakingConnectionLimit: connections that have not finished
// their handshake are bounded by --max-handshaking-connections, shared
// with STOMP; past it a new AMQP connection is closed before anything is
// read. There was no bound: every socket got connection.start and held
// its buffers until the handshake timeout.
func TestAMQPHandshakingConnectionLimit(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MaxHandshaking = 2 })
	// Two connections wait in their handshake: connection.start has come,
	// so the broker counts them. (Counting starts when the broker's
	// goroutine for a socket runs, so a probe dialled before that may take
	// a slot first, and a waiting socket be refused instead.)
	var waiting []net.Conn
	for i := 0; i < 2; i++ {
		p := rawAMQPDial(t, b.AMQPAddr())
		p.write([]byte(wire.ProtocolHeader))
		if f, err := p.readFrame(amqpWait); err != nil || f.Type != wire.FrameMethod {
			t.Fatalf("waiting connection %d: no connection.start: %v", i, err)
		}
		waiting = append(waiting, p.nc)
	}
	// A third is refused: closed before anything is read.
	nc, err := net.Dial("tcp", b.AMQPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte(wire.ProtocolHeader))
	_ = nc.SetReadDeadline(time.Now().Add(amqpWait))
	f, err := wire.NewFrameReader(nc).ReadFrame()
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection past the bound: frame %v, error %v; want it closed", f, err)
	}
	// Once one of them goes, a new connection handshakes as usual.
	waiting[0].Close()
	var r *rawAMQP
	eventually(t, "a connection to be served after one left", func() bool {
		p := rawAMQPDial(t, b.AMQPAddr())
		p.write([]byte(wire.ProtocolHeader))
		if f, err := p.readFrame(2 * time.Second); err == nil && f.Type == wire.FrameMethod {
			r = p
			return true
		}
		p.nc.Close()
		return false
	})
	r.send(0, &wire.ConnectionStartOk{ClientProperties: message.Table{"product": "raw"},
		Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	tune := rawExpect[*wire.ConnectionTune](r)
	r.send(0, &wire.ConnectionTuneOk{FrameMax: tune.FrameMax})
	r.send(0, &wire.ConnectionOpen{VirtualHost: "/"})
	rawExpect[*wire.ConnectionOpenOk](r)
}

// connection.open refused: RabbitMQ's connection.close names connection.open
// (class 10, method 40) as the failed method, whatever the reason; the Java
// client shows it, and the texts are 3.10's (checked side by side).
func TestAMQPOpenRefusalsNameConnectionOpen(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(201, "PUT", "/api/users/noperm", `{"password":"np","tags":""}`)
	api.want(201, "PUT", "/api/vhosts/limited", "")
	api.want(204, "PUT", "/api/permissions/limited/guest", `{"configure":".*","write":".*","read":".*"}`)
	api.want(204, "PUT", "/api/vhost-limits/limited/max-connections", `{"value":0}`)
	for _, c := range []struct{ user, pass, vhost, text string }{
		{"guest", "guest", "nosuch", "NOT_ALLOWED - vhost nosuch not found"},
		{"noperm", "np", "/", "NOT_ALLOWED - access to vhost '/' refused for user 'noperm'"},
		{"guest", "guest", "limited", "NOT_ALLOWED - access to vhost 'limited' refused for user 'guest': connection limit (0) is reached"},
	} {
		r := rawAMQPDial(t, b.AMQPAddr())
		r.startOK(rawHandshake{user: c.user, pass: c.pass})
		tune := rawExpect[*wire.ConnectionTune](r)
		r.send(0, &wire.ConnectionTuneOk{ChannelMax: tune.ChannelMax, FrameMax: tune.FrameMax})
		r.send(0, &wire.ConnectionOpen{VirtualHost: c.vhost})
		cl := rawExpect[*wire.ConnectionClose](r)
		if cl.ReplyCode != 530 || cl.ReplyText != c.text || cl.FailedClassID != 10 || cl.FailedMethodID != 40 {
			t.Errorf("open %q as %s: %+v", c.vhost, c.user, cl)
		}
	}
}

// connection.start's server properties have the keys RabbitMQ's have (the
// Java client's getServerProperties shows them; some tools print them).
func TestAMQPServerPropertiesKeys(t *testing.T) {
	b := brokertest.New(t)
	r := rawAMQPDial(t, b.AMQPAddr())
	r.write([]byte(wire.ProtocolHeader))
	start := rawExpect[*wire.ConnectionStart](r)
	var keys []string
	for k := range start.ServerProperties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"capabilities", "cluster_name", "copyright", "information", "platform", "product", "version"}
	if !slices.Equal(keys, want) {
		t.Fatalf("server properties %v, want the keys %v", keys, want)
	}
}
