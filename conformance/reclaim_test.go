package conformance

import (
	"errors"
	"flag"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

var reclaimCount = flag.Int("reclaim.count", 100000, "messages in TestDiskSpaceIsReclaimed (1000000 for the full-size run)")

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		// A segment compaction removes between the directory read and its
		// stat is gone: it counts for nothing, not as an error.
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type ackAllSink struct {
	mu   sync.Mutex
	tags []uint64
}

func (a *ackAllSink) Deliver(d broker.Delivery) {
	a.mu.Lock()
	a.tags = append(a.tags, d.Tag)
	a.mu.Unlock()
}
func (a *ackAllSink) Cancelled(string) {}
func (a *ackAllSink) Full() bool       { return false }

// TestDiskSpaceIsReclaimed publishes persistent 1 KiB messages to a durable
// queue and acks them all; the data folder must come back near its starting
// size (segments are 4 MiB here so the test stays small). Purge and queue
// delete must free their space too. Run with -reclaim.count=1000000 for the
// full-size proof.
func TestDiskSpaceIsReclaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes hundreds of megabytes")
	}
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir), func(c *server.Config) { c.SegmentSize = 4 << 20; c.Sync = "50ms" })
	v, _ := b.Broker.VHost("/")
	for _, q := range []string{"acked", "purged", "deleted"} {
		if _, err := v.DeclareQueue(broker.QueueDecl{Name: q, Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	start := dirSize(t, dir)
	body := make([]byte, 1024)
	sink := &ackAllSink{}
	s := v.NewSession(1, sink)
	if _, err := s.Consume("acked", broker.ConsumeSpec{}); err != nil {
		t.Fatal(err)
	}
	props := message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: message.Persistent}
	n := *reclaimCount
	for i := 0; i < n; i++ {
		if _, err := s.Publish("", "acked", &message.Message{Properties: props, Body: body}, broker.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			sink.mu.Lock()
			tags := sink.tags
			sink.tags = nil
			sink.mu.Unlock()
			if len(tags) > 0 {
				if err := s.Ack(tags[len(tags)-1], true); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	sink.mu.Lock()
	if len(sink.tags) > 0 {
		if err := s.Ack(0, true); err != nil {
			t.Fatal(err)
		}
	}
	sink.mu.Unlock()
	for i := 0; i < n/10; i++ {
		for _, q := range []string{"purged", "deleted"} {
			if _, err := s.Publish("", q, &message.Message{Properties: props, Body: body}, broker.PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	peak := dirSize(t, dir)
	if _, err := v.PurgeQueue("purged", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeleteQueue("deleted", false, false, 0); err != nil {
		t.Fatal(err)
	}
	// Enough new traffic to seal the active segment, then compaction.
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "filler", Durable: true}); err != nil {
		t.Fatal(err)
	}
	fs := v.NewSession(2, &ackAllSink{})
	for i := 0; i < 5000; i++ {
		_, _ = fs.Publish("", "filler", &message.Message{Properties: props, Body: body}, broker.PublishOptions{})
	}
	_, _ = v.PurgeQueue("filler", 0)
	waitFor(t, 30e9, "compaction", func() bool { return dirSize(t, dir) < start+3*(4<<20)+(1<<20) })
	written := b.Store().Stats().Bytes
	t.Logf("%d messages: %d KiB written to the log; data folder start %d KiB, peak seen %d KiB, end %d KiB",
		n, written>>10, start>>10, peak>>10, dirSize(t, dir)>>10)
	if written < uint64(n)*1024 {
		t.Fatalf("only %d bytes logged: the messages were not written", written)
	}
}
