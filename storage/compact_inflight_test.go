package storage

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// TestCompactionNeverRemovesInFlightRecords is issue #12's first loss
// path: the log rolls to a new segment in the middle of a write round,
// and the round's completions (where the store learns each message's
// position and counts it live) run only at its end. A compaction between
// the two saw a sealed head with nothing live and removed it, taking
// confirmed messages with it. Several publishers, tiny segments and
// compaction in a tight loop make the window wide.
func TestCompactionNeverRemovesInFlightRecords(t *testing.T) {
	for _, segSize := range []int64{16 << 10, 64 << 10} {
		t.Run(fmt.Sprint("segment=", segSize), func(t *testing.T) {
			dir := t.TempDir()
			s, _, err := Open(Options{Dir: dir, SegmentSize: segSize, CompactInterval: time.Hour, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			const publishers, perPublisher = 4, 3000
			stop := make(chan struct{})
			var compacting sync.WaitGroup
			compacting.Add(1)
			go func() {
				defer compacting.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := s.Compact(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			var next atomic.Uint64
			var confirmed sync.Map
			var wg sync.WaitGroup
			for p := 0; p < publishers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var inflight sync.WaitGroup
					for i := 0; i < perPublisher; i++ {
						id := next.Add(1)
						m := &message.Message{RoutingKey: "q", Body: fmt.Appendf(nil, "m-%d-%0200d", id, id)}
						inflight.Add(1)
						s.LogMessage(id, 1, []broker.QueueRef{qa}, m, func(err error) {
							if err == nil {
								confirmed.Store(id, true)
							}
							inflight.Done()
						})
						if i%64 == 63 {
							inflight.Wait()
						}
					}
					inflight.Wait()
				}()
			}
			wg.Wait()
			close(stop)
			compacting.Wait()
			var unreadable int
			confirmed.Range(func(k, _ any) bool {
				if _, err := s.ReadMessage(k.(uint64)); err != nil {
					unreadable++
				}
				return true
			})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, rec, err := Open(Options{Dir: dir, SegmentSize: segSize, CompactInterval: time.Hour, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			got := map[uint64]bool{}
			for m := range rec.Messages {
				got[m.ID] = true
			}
			var lost, total int
			confirmed.Range(func(k, _ any) bool {
				total++
				if !got[k.(uint64)] {
					lost++
				}
				return true
			})
			if unreadable > 0 || lost > 0 {
				t.Fatalf("of %d confirmed messages, %d were unreadable before the restart and %d gone after it", total, unreadable, lost)
			}
		})
	}
}

// TestCopyDedupForwardPairsKeysWithTheirPositions: copying de-duplication
// ids forward skips those that moved on meanwhile; the ones after a skipped
// id must still get their own new positions (they were paired with the
// wrong ones, so an id could stay counted in the segment being removed).
func TestCopyDedupForwardPairsKeysWithTheirPositions(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(Options{Dir: dir, SegmentSize: 4 << 10, CompactInterval: time.Hour, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exp := time.Now().Add(time.Hour).UnixNano()
	keys := []dedupKey{{qa, "k1"}, {qa, "k2"}, {qa, "k3"}}
	for _, k := range keys {
		s.LogDedup(k.scope, k.key, exp, "")
	}
	// Fill the first segment so that the copies land in another one.
	for len(s.log.Segments()) < 2 {
		if _, err := s.log.Append(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	head := s.dedup[keys[0]].seg
	// k1 moved on (logged again elsewhere) before the copy reached it.
	s.dedup[keys[0]].seg = head + 1
	s.mu.Unlock()
	if err := s.copyDedupForward(head, keys); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys[1:] {
		ld := s.dedup[k]
		if ld.seg == head {
			t.Errorf("%s still counted in the copied segment", k.key)
		}
	}
}
