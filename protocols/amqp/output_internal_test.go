package amqp

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// TestHeartbeatWithoutWriter checks that a heartbeat sent with no writer
// running, by the timer's goroutine itself, does not lose or reorder the
// output queued while it writes: that goes out after it, through a writer.
func TestHeartbeatWithoutWriter(t *testing.T) {
	s := &Server{cfg: Config{}}
	s.cfg.setDefaults()
	server, client := net.Pipe()
	defer client.Close()
	c := newConn(s, server)
	defer c.abort("test over")
	c.frameMax.Store(wire.DefaultFrameMax)

	sent := make(chan struct{})
	go func() { c.out.heartbeat(); close(sent) }()
	// net.Pipe has no buffer: the heartbeat's write waits for this read,
	// so the method below is queued while it is under way.
	var beat [8]byte
	deadline := time.Now().Add(5 * time.Second)
	_ = client.SetReadDeadline(deadline)
	for {
		c.out.mu.Lock()
		taken := c.out.running
		c.out.mu.Unlock()
		if taken || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.out.method(1, &wire.ChannelOpenOk{})
	if _, err := io.ReadFull(client, beat[:]); err != nil || !bytes.Equal(beat[:], heartbeatFrame) {
		t.Fatalf("read % x, %v; want the heartbeat frame", beat, err)
	}
	<-sent
	fr := wire.NewFrameReader(client)
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.DecodeMethod(f.Payload)
	if _, ok := m.(*wire.ChannelOpenOk); !ok || err != nil || f.Channel != 1 {
		t.Fatalf("after the heartbeat: channel %d, %T, %v; want channel.open-ok on 1", f.Channel, m, err)
	}

	// With a writer running, a heartbeat is queued behind its output.
	c.out.method(1, &wire.ChannelFlowOk{Active: true})
	c.out.heartbeat()
	if f, err = fr.ReadFrame(); err != nil || f.Type != wire.FrameMethod {
		t.Fatalf("%+v, %v; want channel.flow-ok first", f, err)
	}
	if f, err = fr.ReadFrame(); err != nil || f.Type != wire.FrameHeartbeat {
		t.Fatalf("%+v, %v; want the heartbeat", f, err)
	}
}
