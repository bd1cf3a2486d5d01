package storage

import (
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/storage/wal"
)

// What the store tells /metrics (server/metrics.go). Nothing here costs a
// message anything: counts change per fdatasync and per reclaimed segment.

// storeCounters count the store's own work.
type storeCounters struct {
	reclaimed atomic.Uint64 // head segments removed by compaction
	copied    atomic.Uint64 // live messages compaction copied forward first
	// onSync is the observer SetSyncObserver installed, if any.
	onSync atomic.Pointer[func(took time.Duration, records int)]
}

// Metrics are the store's figures since it was opened.
type Metrics struct {
	Log               wal.Stats // appends, batches, fdatasyncs, bytes written
	Segments          int       // segment files
	DiskBytes         int64     // bytes of batches in them
	SegmentsReclaimed uint64    // head segments compaction removed
	MessagesCopied    uint64    // live messages compaction copied forward
}

// Metrics returns the store's figures now.
func (s *Store) Metrics() Metrics {
	m := Metrics{Log: s.log.Stats(), SegmentsReclaimed: s.counters.reclaimed.Load(), MessagesCopied: s.counters.copied.Load()}
	for _, seg := range s.log.Segments() {
		m.Segments++
		m.DiskBytes += seg.Size
	}
	return m
}

// SetSyncObserver has fn told, after each fdatasync of the log, how long
// it took and how many records it made durable. fn runs on the log's
// writer goroutine and must be quick (a histogram observation).
func (s *Store) SetSyncObserver(fn func(took time.Duration, records int)) {
	s.counters.onSync.Store(&fn)
}

// synced is the log's OnSync.
func (s *Store) synced(took time.Duration, records int) {
	if fn := s.counters.onSync.Load(); fn != nil {
		(*fn)(took, records)
	}
}
