package storage

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/storage/wal"
)

// TestCompactionCatchesUpInOneTick: sparse head segments that have
// stopped shrinking are all copied forward and removed in one compaction
// pass. Compaction used to take at most one such segment per pass (one
// per second), slower than a busy log grows when records stay live long
// (a day-long de-duplication window): the log reached 20,000 segments in
// the torture test.
func TestCompactionCatchesUpInOneTick(t *testing.T) {
	dir := t.TempDir()
	s := openQuietStore(t, dir)
	body := bytes.Repeat([]byte("x"), 1000)
	const n = 20000 // about 20 segments of 1 MiB
	var wg sync.WaitGroup
	for i := uint64(1); i <= n; i++ {
		wg.Add(1)
		s.LogMessage(i, 1, []broker.QueueRef{qa}, &message.Message{Body: body}, func(error) { wg.Done() })
	}
	wg.Wait()
	// One message in ten stays: every segment is about 10% live.
	for i := uint64(1); i <= n; i++ {
		if i%10 != 0 {
			s.LogSettled(qa, i)
		}
	}
	if err := s.log.Sync(); err != nil {
		t.Fatal(err)
	}
	before := len(s.log.Segments())
	// The first pass sees how live every segment is; the second finds
	// none of them shrinking and reclaims them all.
	for range 2 {
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	if after := len(s.log.Segments()); after > 4 {
		t.Fatalf("segments before %d, after two passes %d; want the sparse ones reclaimed", before, after)
	}
	s.Close()
	s2, rec := openStore(t, dir, nil)
	defer s2.Close()
	if got := len(collect(rec)); got != n/10 {
		t.Fatalf("%d messages after compaction and reopen, want %d", got, n/10)
	}
}

// TestCompactionLeavesADrainingHead: a head segment whose live data went
// down since the last pass is being drained by consumers; copying it
// would write again what they are about to take, so it is left alone.
func TestCompactionLeavesADrainingHead(t *testing.T) {
	s := openQuietStore(t, t.TempDir())
	defer s.Close()
	body := bytes.Repeat([]byte("x"), 1000)
	const n = 3000 // about 3 segments of 1 MiB
	for i := uint64(1); i <= n; i++ {
		logSync(t, s, i, []broker.QueueRef{qa}, &message.Message{Body: body})
		if i%10 != 0 {
			s.LogSettled(qa, i)
		}
	}
	if err := s.log.Sync(); err != nil {
		t.Fatal(err)
	}
	head := headSegment(s)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	s.LogSettled(qa, 10, 20, 30) // consumers take from the head
	if err := s.log.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := headSegment(s); got != head {
		t.Fatalf("a draining head segment was copied forward (head %d, now %d)", head, got)
	}
	if err := s.Compact(); err != nil { // stopped shrinking: now it goes
		t.Fatal(err)
	}
	if got := headSegment(s); got == head {
		t.Fatal("a head that stopped shrinking was kept")
	}
}

func headSegment(s *Store) wal.Pos {
	segs := s.log.Segments()
	head := segs[0].ID
	for _, seg := range segs {
		head = min(head, seg.ID)
	}
	return head
}

// openQuietStore is openStore without the background compaction, so that
// the test's own passes are the only ones.
func openQuietStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, _, err := Open(Options{Dir: dir, SegmentSize: 1 << 20, CompactInterval: time.Hour, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
