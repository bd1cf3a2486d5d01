package conformance

import (
	"runtime"
	"testing"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// TestAMQPAnnouncedBodyNotPreallocated: a content header announces the
// body's size, and the body may never come. The broker once allocated the
// whole announced body (up to the 16 MiB message limit) on the header:
// 64 channels of one small header each held 1 GiB of heap, and 2,047
// channels gigabytes. Memory must follow the bytes that arrive.
func TestAMQPAnnouncedBodyNotPreallocated(t *testing.T) {
	b := brokertest.New(t)
	r := rawAMQPDial(t, b.AMQPAddr())
	r.handshake(rawHandshake{})
	const channels = 64
	for id := uint16(1); id <= channels; id++ {
		r.openChannel(id)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for id := uint16(1); id <= channels; id++ {
		r.send(id, &wire.BasicPublish{RoutingKey: "nowhere"})
		r.sendHeader(id, 16<<20-1)
	}
	// The broker reads a connection's frames in order: once the next
	// channel is open, every header above has been handled.
	r.openChannel(channels + 1)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d KiB for %d announced 16 MiB bodies", grew>>10, channels)
	if grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB for %d content headers and no body", grew>>20, channels)
	}
	// The bodies still arrive and complete the publishes.
	body := make([]byte, 64<<10)
	for id := uint16(1); id <= 2; id++ {
		for sent := 0; sent < 16<<20-1; sent += len(body) {
			r.sendFrame(wire.FrameBody, id, body[:min(len(body), 16<<20-1-sent)])
		}
	}
	r.openChannel(channels + 2)
}
