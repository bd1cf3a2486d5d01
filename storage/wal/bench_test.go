package wal

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// benchDir is where benchmarks put their files: WAL_BENCH_DIR if set (to
// measure the broker's data disk), else a temporary directory.
func benchDir(b *testing.B) string {
	if d := os.Getenv("WAL_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "walbench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

func reportRates(b *testing.B, l *Log, start time.Time) {
	el := time.Since(start).Seconds()
	st := l.Stats()
	b.ReportMetric(float64(b.N)/el, "appends/s")
	b.ReportMetric(float64(st.Syncs)/el, "fsyncs/s")
	if st.Syncs > 0 {
		b.ReportMetric(float64(st.Appends)/float64(st.Syncs), "appends/fsync")
	}
}

func benchAppend(b *testing.B, mode SyncMode, appenders int) {
	l, err := Open(benchDir(b), Options{Sync: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rec := payload(1, 1024)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if appenders == 1 {
		for range b.N {
			if _, err := l.Append(rec); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((appenders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Append(rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	reportRates(b, l, start)
}

// BenchmarkAppendSync1: one appender, 1 KiB records, SyncAlways: one
// fdatasync per append, so it runs at the disk's fsync rate.
func BenchmarkAppendSync1(b *testing.B) { benchAppend(b, SyncAlways, 1) }

// BenchmarkAppendSync16: 16 concurrent appenders share fdatasyncs.
func BenchmarkAppendSync16(b *testing.B) { benchAppend(b, SyncAlways, 16) }

// BenchmarkAppendNoSync: one appender, completion after the write only.
func BenchmarkAppendNoSync(b *testing.B) { benchAppend(b, SyncNever, 1) }

// BenchmarkAppendNoSync16: 16 appenders, completion after the write only.
func BenchmarkAppendNoSync16(b *testing.B) { benchAppend(b, SyncNever, 16) }

// BenchmarkAppendAsync: a pipeline of AppendAsync calls with SyncAlways,
// as a broker connection does: it never waits for one append to finish
// before sending the next.
func BenchmarkAppendAsync(b *testing.B) {
	l, err := Open(benchDir(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rec := payload(1, 1024)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	var done atomic.Int64
	fin := make(chan struct{})
	cb := func(_ Pos, err error) {
		if err != nil {
			b.Error(err)
		}
		if done.Add(1) == int64(b.N) {
			close(fin)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := l.AppendAsync(rec, cb); err != nil {
			b.Fatal(err)
		}
	}
	<-fin
	b.StopTimer()
	reportRates(b, l, start)
}

// BenchmarkReadAt reads random 1 KiB records from a 64 MiB log.
func BenchmarkReadAt(b *testing.B) {
	l, err := Open(benchDir(b), Options{Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rec := payload(1, 1024)
	var ps []Pos
	for range 60000 {
		p, err := l.Append(rec)
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := l.Read(ps[rng.IntN(len(ps))]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawFdatasync measures the disk under the log: 1 KiB pwrite +
// fdatasync, appending into a preallocated file as the log does, in the
// same directory the log benchmarks use. Its fsyncs/s is the ceiling of
// BenchmarkAppendSync1 and the unit of group-commit gain.
func BenchmarkRawFdatasync(b *testing.B) {
	for _, tc := range []struct {
		name     string
		prealloc bool
		stride   int64
	}{
		{"append-preallocated", true, 1024},
		{"overwrite-block", true, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(benchDir(b), "raw"), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := preallocate(f, 256<<20); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			buf := payload(1, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var off int64
			for range b.N {
				if _, err := f.WriteAt(buf, off%(255<<20)); err != nil {
					b.Fatal(err)
				}
				if err := fdatasync(f); err != nil {
					b.Fatal(err)
				}
				off += tc.stride
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
		})
	}
}
