package wal

import "testing"

// BenchmarkOpen measures recovery of a log with 3 full 64 MiB segments of
// 1 KiB records plus an almost empty active segment: every batch is
// verified and the zero tail of the active segment scanned.
func BenchmarkOpen(b *testing.B) {
	dir := benchDir(b)
	l, err := Open(dir, Options{Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	rec := payload(1, 1024)
	for range 3 * 64 * 1000 {
		if err := l.AppendLazy(rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		l, err := Open(dir, Options{Replay: func(Pos, []byte) error { return nil }})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(l.Recovery().Records), "records")
		l.Close()
	}
}
