package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// entry is one replayed record.
type entry struct {
	pos Pos
	rec []byte
}

// testLogger collects Logger calls.
type testLogger struct {
	mu   sync.Mutex
	msgs []string
}

func (tl *testLogger) log(msg string, kv ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.msgs = append(tl.msgs, fmt.Sprint(append([]any{msg}, kv...)...))
}

func (tl *testLogger) all() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return strings.Join(tl.msgs, "\n")
}

// open opens dir and returns the log and the records it replayed.
func open(t testing.TB, dir string, opts Options) (*Log, []entry) {
	t.Helper()
	var got []entry
	opts.Replay = func(pos Pos, rec []byte) error {
		got = append(got, entry{pos, bytes.Clone(rec)})
		return nil
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, got
}

// payload is a deterministic record of n bytes for index i.
func payload(i, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(i), uint64(n)))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	if n >= 8 {
		copy(b, fmt.Sprintf("%08d", i%100000000))
	}
	return b
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func checkReplay(t *testing.T, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].pos != want[i].pos || !bytes.Equal(got[i].rec, want[i].rec) {
			t.Fatalf("record %d: got pos %d (%d bytes), want pos %d (%d bytes)", i, got[i].pos, len(got[i].rec), want[i].pos, len(want[i].rec))
		}
	}
}

// appendN appends n records of varying sizes (up to maxSize) one by one.
func appendN(t *testing.T, l *Log, start, n, maxSize int) []entry {
	t.Helper()
	var out []entry
	for i := start; i < start+n; i++ {
		rec := payload(i, (i*137)%(maxSize+1))
		pos, err := l.Append(rec)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, entry{pos, rec})
	}
	return out
}

func TestRoundTripManySegments(t *testing.T) {
	dir := t.TempDir()
	l, got := open(t, dir, Options{SegmentSize: 16 << 10})
	if len(got) != 0 {
		t.Fatalf("fresh log replayed %d records", len(got))
	}
	want := appendN(t, l, 0, 400, 3000)
	for i := 1; i < len(want); i++ {
		if want[i].pos <= want[i-1].pos {
			t.Fatalf("positions not increasing: %d then %d", want[i-1].pos, want[i].pos)
		}
	}
	for _, e := range want {
		b, err := l.Read(e.pos)
		if err != nil {
			t.Fatalf("Read(%d): %v", e.pos, err)
		}
		if !bytes.Equal(b, e.rec) {
			t.Fatalf("Read(%d) returned other bytes", e.pos)
		}
	}
	segs := l.Segments()
	if len(segs) < 20 {
		t.Fatalf("only %d segments; the test wants many", len(segs))
	}
	var records int64
	for i, s := range segs {
		records += s.Records
		if s.Sealed != (i < len(segs)-1) {
			t.Fatalf("segment %d sealed=%v", i, s.Sealed)
		}
		if filepath.Base(s.Path) != fmt.Sprintf("%020d.wal", s.ID) {
			t.Fatalf("segment file %s for ID %d", s.Path, s.ID)
		}
		if i > 0 && s.ID != segs[i-1].End() {
			t.Fatalf("segment %d starts at %d, previous ends at %d", i, s.ID, segs[i-1].End())
		}
		if fi, err := os.Stat(s.Path); err != nil || fi.Size() < s.Capacity {
			t.Fatalf("segment %s not preallocated: %v %v", s.Path, fi.Size(), err)
		}
	}
	if records != int64(len(want)) {
		t.Fatalf("segments hold %d records, want %d", records, len(want))
	}
	if si, ok := l.SegmentOf(want[200].pos); !ok || want[200].pos < si.ID || want[200].pos >= si.End() {
		t.Fatalf("SegmentOf(%d) = %+v, %v", want[200].pos, si, ok)
	}
	mustClose(t, l)

	// Reopen replays everything in order and appends continue after it.
	l, got = open(t, dir, Options{SegmentSize: 16 << 10})
	checkReplay(t, got, want)
	r := l.Recovery()
	if r.TornTail != nil || len(r.Damaged) != 0 || r.Records != int64(len(want)) || r.Segments != len(segs) {
		t.Fatalf("recovery of a clean log: %+v", r)
	}
	more := appendN(t, l, 400, 50, 3000)
	if more[0].pos <= want[len(want)-1].pos {
		t.Fatalf("append after reopen at %d, before the last record %d", more[0].pos, want[len(want)-1].pos)
	}
	want = append(want, more...)
	mustClose(t, l)
	l, got = open(t, dir, Options{SegmentSize: 16 << 10})
	checkReplay(t, got, want)
	mustClose(t, l)
}

func TestEmptyAndLargeRecords(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentSize: MinSegmentSize})
	max := int(MinSegmentSize - batchHeaderSize - recordHeaderSize)
	var want []entry
	for _, n := range []int{0, 1, 7, 8, 9, max, 0, max - 1} {
		rec := payload(n, n)
		pos, err := l.Append(rec)
		if err != nil {
			t.Fatalf("Append(%d bytes): %v", n, err)
		}
		want = append(want, entry{pos, rec})
	}
	if _, err := l.Append(make([]byte, max+1)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversized Append: %v", err)
	}
	mustClose(t, l)
	l, got := open(t, dir, Options{SegmentSize: MinSegmentSize})
	checkReplay(t, got, want)
	mustClose(t, l)
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{SegmentSize: 1 << 20})
	const goroutines, each = 32, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := l.Append(payload(g*each+i, 256)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("stats: %+v (%.1f appends per sync)", st, float64(st.Appends)/float64(st.Syncs))
	if st.Appends != goroutines*each {
		t.Fatalf("Appends = %d, want %d", st.Appends, goroutines*each)
	}
	if st.Batches >= st.Appends || st.Syncs >= st.Appends {
		t.Fatalf("no group commit: %+v", st)
	}
	if st.Syncs == 0 || st.Bytes == 0 {
		t.Fatalf("stats not counted: %+v", st)
	}
	mustClose(t, l)
}

func TestConcurrentReadsDuringWrites(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentSize: 8 << 10})
	var (
		mu      sync.Mutex
		written []entry
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		failed  = make(chan error, 16)
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				rec := payload(g*1000+i, 10+(i*31)%900)
				var pos Pos
				var err error
				switch i % 3 {
				case 0:
					pos, err = l.Append(rec)
				case 1:
					done := make(chan struct{})
					var cbErr error
					err = l.AppendAsync(rec, func(p Pos, e error) { pos, cbErr = p, e; close(done) })
					if err == nil {
						<-done
						err = cbErr
					}
				case 2:
					var ps []Pos
					ps, err = l.AppendBatch([][]byte{rec})
					if err == nil {
						pos = ps[0]
					}
				}
				if err != nil {
					failed <- err
					return
				}
				mu.Lock()
				written = append(written, entry{pos, rec})
				mu.Unlock()
			}
		}()
	}
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				if len(written) == 0 {
					mu.Unlock()
					continue
				}
				e := written[rng.IntN(len(written))]
				mu.Unlock()
				b, err := l.Read(e.pos)
				if err != nil {
					failed <- fmt.Errorf("Read(%d): %w", e.pos, err)
					return
				}
				if !bytes.Equal(b, e.rec) {
					failed <- fmt.Errorf("Read(%d) returned other bytes", e.pos)
					return
				}
				_ = l.Segments()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(failed)
	for err := range failed {
		t.Fatal(err)
	}
	mustClose(t, l)
}

func TestModesAndReplayOrder(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval(2 * time.Millisecond), SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			l, _ := open(t, dir, Options{SegmentSize: 8 << 10, Sync: mode})
			var want []entry
			for i := range 200 {
				rec := payload(i, (i*53)%700)
				switch i % 4 {
				case 0, 1:
					pos, err := l.Append(rec)
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, entry{pos, rec})
				case 2:
					// Lazy records have no position for the caller, but
					// replay after a clean Close has them, in order.
					if err := l.AppendLazy(rec); err != nil {
						t.Fatal(err)
					}
					want = append(want, entry{0, rec})
				case 3:
					ps, err := l.AppendBatch([][]byte{rec, payload(-i, 33)})
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, entry{ps[0], rec}, entry{ps[1], payload(-i, 33)})
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			st := l.Stats()
			if st.Appends != uint64(len(want)) {
				t.Fatalf("Appends = %d, want %d", st.Appends, len(want))
			}
			mustClose(t, l)
			if err := l.Close(); !errors.Is(err, ErrClosed) {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := l.Append([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Append after Close: %v", err)
			}
			if _, err := l.Read(want[0].pos); !errors.Is(err, ErrClosed) {
				t.Fatalf("Read after Close: %v", err)
			}
			l, got := open(t, dir, Options{SegmentSize: 8 << 10, Sync: mode})
			defer mustClose(t, l)
			if len(got) != len(want) {
				t.Fatalf("replayed %d, want %d", len(got), len(want))
			}
			for i := range want {
				if (want[i].pos != 0 && got[i].pos != want[i].pos) || !bytes.Equal(got[i].rec, want[i].rec) {
					t.Fatalf("record %d differs", i)
				}
			}
		})
	}
}

func TestSyncInterval(t *testing.T) {
	// The interval is long enough that no tick can come between the
	// Append and the check below even on a loaded machine.
	l, _ := open(t, t.TempDir(), Options{Sync: SyncInterval(300 * time.Millisecond)})
	defer mustClose(t, l)
	start := time.Now()
	if _, err := l.Append([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Give the writer the moment it needs to finish its round.
	time.Sleep(20 * time.Millisecond)
	if s := l.Stats().Syncs; s != 0 && time.Since(start) < 300*time.Millisecond {
		t.Fatalf("SyncInterval synced in the append path: %d", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Syncs == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no fdatasync within the interval")
		}
		time.Sleep(time.Millisecond)
	}
	// Nothing written since: the timer does not sync again.
	s := l.Stats().Syncs
	time.Sleep(30 * time.Millisecond)
	if l.Stats().Syncs != s {
		t.Fatal("fdatasync without new writes")
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestLazyRidesWithNextSync(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{})
	defer mustClose(t, l)
	for i := range 100 {
		if err := l.AppendLazy(payload(i, 50)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append([]byte("durable")); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Appends != 101 {
		t.Fatalf("Appends = %d", st.Appends)
	}
	// Lazy records alone cost no fdatasync: every sync was for the Append.
	if st.Syncs != 1 {
		t.Fatalf("Syncs = %d, want 1", st.Syncs)
	}
}

func TestBackpressure(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentSize: 64 << 10, MaxPendingBytes: 4096})
	const n = 3000
	var wg sync.WaitGroup
	wg.Add(n)
	var mu sync.Mutex
	var last Pos
	for i := range n {
		if err := l.AppendAsync(payload(i, 500), func(p Pos, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil || p <= last {
				t.Errorf("append %d: pos %d after %d, %v", i, p, last, err)
			}
			last = p
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	mustClose(t, l)
	l, got := open(t, dir, Options{SegmentSize: 64 << 10})
	defer mustClose(t, l)
	if len(got) != n {
		t.Fatalf("replayed %d of %d", len(got), n)
	}
}

func TestAppendBatchIsOneBatch(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{SegmentSize: 8 << 10})
	defer mustClose(t, l)
	recs := [][]byte{payload(1, 100), payload(2, 200), payload(3, 300)}
	before := l.Stats()
	ps, err := l.AppendBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	if d := l.Stats().Batches - before.Batches; d != 1 {
		t.Fatalf("AppendBatch wrote %d batches", d)
	}
	for i, p := range ps {
		if b, err := l.Read(p); err != nil || !bytes.Equal(b, recs[i]) {
			t.Fatalf("Read(%d): %v", p, err)
		}
	}
	// A group that does not fit in what is left of a segment goes whole
	// into the next one.
	big := [][]byte{make([]byte, 3000), make([]byte, 3000)}
	for range 3 {
		ps, err := l.AppendBatch(big)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := l.SegmentOf(ps[0])
		b, _ := l.SegmentOf(ps[1])
		if a.ID != b.ID {
			t.Fatalf("a group was split across segments %d and %d", a.ID, b.ID)
		}
	}
	if _, err := l.AppendBatch([][]byte{make([]byte, 5000), make([]byte, 5000)}); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversized group: %v", err)
	}
}

// writeLog writes records into dir as single-record batches, plus one final
// three-record batch, and returns them and the file offset of that batch.
func writeLog(t *testing.T, dir string, opts Options, n int) (want []entry, last []entry, lastBatch Corruption) {
	t.Helper()
	l, _ := open(t, dir, opts)
	want = appendN(t, l, 0, n, 500)
	recs := [][]byte{payload(-1, 100), payload(-2, 100), payload(-3, 100)}
	ps, err := l.AppendBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		last = append(last, entry{ps[i], recs[i]})
	}
	si, _ := l.SegmentOf(ps[0])
	mustClose(t, l)
	off := int64(ps[0]-si.ID) - batchHeaderSize
	return want, last, Corruption{File: si.Path, Segment: si.ID, Offset: off}
}

func checkTail(t *testing.T, r Recovery, file string, off int64) {
	t.Helper()
	if r.TornTail == nil {
		t.Fatalf("torn tail not reported: %+v", r)
	}
	if r.TornTail.File != file || r.TornTail.Offset != off {
		t.Fatalf("torn tail reported at %s:%d, want %s:%d", r.TornTail.File, r.TornTail.Offset, file, off)
	}
	if len(r.Damaged) != 0 {
		t.Fatalf("a torn tail reported as damage: %+v", r.Damaged)
	}
}

func TestTornTail(t *testing.T) {
	cases := []struct {
		name string
		cut  func(batchOff int64) int64 // new file size
	}{
		{"mid-header", func(o int64) int64 { return o + 12 }},
		{"mid-first-record", func(o int64) int64 { return o + batchHeaderSize + 50 }},
		// Between whole records: the first record is complete, the batch
		// is not, and a batch is all or nothing.
		{"mid-batch", func(o int64) int64 { return o + batchHeaderSize + recordSize(100) }},
		{"last-byte", func(o int64) int64 { return o + batchHeaderSize + 3*recordSize(100) - 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tl := &testLogger{}
			opts := Options{SegmentSize: 16 << 10, Logger: tl.log}
			want, last, lb := writeLog(t, dir, opts, 60)
			if err := os.Truncate(lb.File, tc.cut(lb.Offset)); err != nil {
				t.Fatal(err)
			}
			l, got := open(t, dir, opts)
			checkReplay(t, got, want)
			checkTail(t, l.Recovery(), lb.File, lb.Offset)
			if !strings.Contains(tl.all(), "torn tail") || !strings.Contains(tl.all(), filepath.Base(lb.File)) {
				t.Fatalf("logger was not told: %q", tl.all())
			}
			for _, e := range last {
				if _, err := l.Read(e.pos); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Read of a cut record: %v", err)
				}
			}
			// The log continues where the last good batch ended.
			pos, err := l.Append([]byte("after"))
			if err != nil {
				t.Fatal(err)
			}
			if pos != lb.Pos()+batchHeaderSize {
				t.Fatalf("append after recovery at %d, want %d", pos, lb.Pos()+batchHeaderSize)
			}
			mustClose(t, l)
			l, got = open(t, dir, opts)
			checkReplay(t, got, append(want, entry{pos, []byte("after")}))
			if r := l.Recovery(); r.TornTail != nil || len(r.Damaged) != 0 {
				t.Fatalf("second recovery not clean: %+v", r)
			}
			mustClose(t, l)
		})
	}
}

// flip inverts one byte of a file.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestFlippedByteInLastBatch(t *testing.T) {
	for _, where := range []int64{3, 9, batchHeaderSize + 2, batchHeaderSize + 8 + 50, batchHeaderSize + 2*recordSize(100) + 99} {
		t.Run(strconv.Itoa(int(where)), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 16 << 10}
			want, last, lb := writeLog(t, dir, opts, 20)
			flip(t, lb.File, lb.Offset+where)
			l, got := open(t, dir, opts)
			checkReplay(t, got, want)
			checkTail(t, l.Recovery(), lb.File, lb.Offset)
			// The bad tail is zeroed on disk, not left to be misread later.
			b := make([]byte, 3*recordSize(100)+batchHeaderSize)
			f, _ := os.Open(lb.File)
			f.ReadAt(b, lb.Offset)
			f.Close()
			if !allZero(b) {
				t.Fatal("torn tail was not zeroed")
			}
			_ = last
			mustClose(t, l)
		})
	}
}

func TestFlippedByteInMiddleSegment(t *testing.T) {
	for _, lastBatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("lastBatchOfSegment=%v", lastBatch), func(t *testing.T) {
			dir := t.TempDir()
			tl := &testLogger{}
			opts := Options{SegmentSize: MinSegmentSize, Logger: tl.log}
			l, _ := open(t, dir, opts)
			want := appendN(t, l, 0, 80, 500)
			segs := l.Segments()
			if len(segs) < 5 {
				t.Fatalf("%d segments", len(segs))
			}
			victim := segs[2]
			// Pick a record in the victim: its second, or its last.
			var vi int
			var idx []int
			for i, e := range want {
				if e.pos >= victim.ID && e.pos < victim.End() {
					idx = append(idx, i)
				}
			}
			vi = idx[1]
			if lastBatch {
				vi = idx[len(idx)-1]
			}
			bad := want[vi]
			mustClose(t, l)
			if len(bad.rec) == 0 {
				t.Skip("empty record chosen")
			}
			flip(t, victim.Path, int64(bad.pos-victim.ID)+recordHeaderSize)

			l, got := open(t, dir, opts)
			defer mustClose(t, l)
			wantAfter := append(append([]entry(nil), want[:vi]...), want[vi+1:]...)
			checkReplay(t, got, wantAfter)
			r := l.Recovery()
			if r.TornTail != nil {
				t.Fatalf("middle damage reported as a torn tail: %+v", r.TornTail)
			}
			if len(r.Damaged) != 1 {
				t.Fatalf("Damaged = %+v", r.Damaged)
			}
			d := r.Damaged[0]
			batchOff := int64(bad.pos-victim.ID) - batchHeaderSize
			if d.File != victim.Path || d.Offset != batchOff {
				t.Fatalf("damage reported at %s:%d, want %s:%d", d.File, d.Offset, victim.Path, batchOff)
			}
			if !strings.Contains(tl.all(), "CORRUPTION") {
				t.Fatalf("logger not told loudly: %q", tl.all())
			}
			// Reading the damaged record is an error naming the file and
			// offset, never the bad bytes.
			_, err := l.Read(bad.pos)
			var c *Corruption
			if !errors.As(err, &c) || c.File != victim.Path || c.Offset != int64(bad.pos-victim.ID) {
				t.Fatalf("Read of damaged record: %v", err)
			}
			if !strings.Contains(err.Error(), victim.Path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if segs := l.Segments(); segs[2].Damaged != 1 {
				t.Fatalf("segment stats do not show the damage: %+v", segs[2])
			}
			// ScanSegment reports the same damage and yields the rest.
			var n int
			dmg, err := l.ScanSegment(victim.ID, func(Pos, []byte) error { n++; return nil })
			if err != nil || len(dmg) != 1 || n != len(idx)-1 {
				t.Fatalf("ScanSegment: %d records, damage %+v, %v", n, dmg, err)
			}
		})
	}
}

func TestZeroFilledTailHasNoPhantoms(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 16 << 10}
	l, _ := open(t, dir, opts)
	want := appendN(t, l, 0, 10, 300)
	segs := l.Segments()
	mustClose(t, l)
	// The segment is preallocated with zeros; add more zeros past it, as a
	// file system that extends a file with zeros after a crash would.
	last := segs[len(segs)-1].Path
	if err := os.Truncate(last, 64<<10); err != nil {
		t.Fatal(err)
	}
	l, got := open(t, dir, opts)
	checkReplay(t, got, want)
	if r := l.Recovery(); r.TornTail != nil || len(r.Damaged) != 0 {
		t.Fatalf("zeros reported as damage: %+v", r)
	}
	mustClose(t, l)

	// A segment that is entirely zeros holds nothing.
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, segmentName(0)), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	l, got = open(t, dir, opts)
	if len(got) != 0 || l.Recovery().TornTail != nil {
		t.Fatalf("zero segment: %d records, %+v", len(got), l.Recovery())
	}
	mustClose(t, l)
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{})
	_, err := Open(dir, Options{})
	want := fmt.Sprintf("data directory %s is in use by another process (pid %d)", dir, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want %q", err, want)
	}

	// Another process gets the same answer.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpen$")
	cmd.Env = append(os.Environ(), "WAL_HELPER_DIR="+dir)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), want) {
		t.Fatalf("other process: %s", out)
	}

	mustClose(t, l)
	l, _ = open(t, dir, Options{}) // the lock was released
	mustClose(t, l)
}

// TestHelperOpen is run by TestSecondOpenFails in a child process.
func TestHelperOpen(t *testing.T) {
	dir := os.Getenv("WAL_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	l, err := Open(dir, Options{})
	if err == nil {
		l.Close()
		fmt.Println("opened")
		return
	}
	fmt.Println(err)
}

func TestRemoveSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: MinSegmentSize}
	l, _ := open(t, dir, opts)
	want := appendN(t, l, 0, 150, 400)
	segs := l.Segments()
	if len(segs) < 5 {
		t.Fatalf("%d segments", len(segs))
	}
	if err := l.RemoveSegment(segs[len(segs)-1].ID); !errors.Is(err, ErrActiveSegment) {
		t.Fatalf("removing the active segment: %v", err)
	}
	if err := l.RemoveSegment(segs[0].ID + 8); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing a non-segment: %v", err)
	}
	// Not only a prefix: drop the first and a middle one.
	gone := map[Pos]bool{segs[0].ID: true, segs[2].ID: true}
	for id := range gone {
		if err := l.RemoveSegment(id); err != nil {
			t.Fatal(err)
		}
	}
	var kept []entry
	for _, e := range want {
		si := segs[0]
		for _, s := range segs {
			if e.pos >= s.ID && e.pos < s.End() {
				si = s
			}
		}
		if gone[si.ID] {
			if _, err := l.Read(e.pos); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Read from a removed segment: %v", err)
			}
			continue
		}
		kept = append(kept, e)
	}
	more := appendN(t, l, 150, 10, 400)
	kept = append(kept, more...)
	mustClose(t, l)
	for id := range gone {
		if _, err := os.Stat(filepath.Join(dir, segmentName(id))); !os.IsNotExist(err) {
			t.Fatalf("segment file %d still there: %v", id, err)
		}
	}
	l, got := open(t, dir, opts)
	checkReplay(t, got, kept)
	if r := l.Recovery(); r.TornTail != nil || len(r.Damaged) != 0 || r.Segments != len(l.Segments()) {
		t.Fatalf("recovery: %+v", r)
	}
	for _, e := range kept {
		if b, err := l.Read(e.pos); err != nil || !bytes.Equal(b, e.rec) {
			t.Fatalf("Read(%d) after reopen: %v", e.pos, err)
		}
	}
	mustClose(t, l)
}

func TestCopyForward(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentSize: MinSegmentSize})
	defer mustClose(t, l)
	want := appendN(t, l, 0, 100, 300)
	victim := l.Segments()[1]
	if !victim.Sealed {
		t.Fatal("victim not sealed")
	}
	// Copy the victim's records forward, then drop it.
	moved := map[Pos]Pos{}
	var recs []entry
	if dmg, err := l.ScanSegment(victim.ID, func(p Pos, rec []byte) error {
		recs = append(recs, entry{p, bytes.Clone(rec)})
		return nil
	}); err != nil || len(dmg) != 0 {
		t.Fatal(err, dmg)
	}
	if int64(len(recs)) != victim.Records {
		t.Fatalf("scanned %d records, segment has %d", len(recs), victim.Records)
	}
	for _, r := range recs {
		np, err := l.Append(r.rec)
		if err != nil {
			t.Fatal(err)
		}
		moved[r.pos] = np
	}
	if err := l.RemoveSegment(victim.ID); err != nil {
		t.Fatal(err)
	}
	for _, e := range want {
		p := e.pos
		if np, ok := moved[p]; ok {
			p = np
		}
		if b, err := l.Read(p); err != nil || !bytes.Equal(b, e.rec) {
			t.Fatalf("Read(%d): %v", p, err)
		}
	}
	if _, err := l.ScanSegment(victim.ID, func(Pos, []byte) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("scan of removed segment: %v", err)
	}
}

func TestReadRejectsBadPositions(t *testing.T) {
	l, _ := open(t, t.TempDir(), Options{SegmentSize: MinSegmentSize})
	defer mustClose(t, l)
	want := appendN(t, l, 0, 5, 100)
	if _, err := l.Read(0); err == nil {
		t.Fatal("Read(0) succeeded")
	}
	for _, p := range []Pos{want[4].pos + 1<<20, 1 << 62} {
		if _, err := l.Read(p); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Read(%d): %v", p, err)
		}
	}
	// A batch header position or a misaligned one is not a record.
	if _, err := l.Read(want[1].pos - batchHeaderSize); err == nil {
		t.Fatal("Read of a batch header succeeded")
	}
	if _, err := l.Read(want[1].pos + 3); err == nil {
		t.Fatal("Read of a misaligned position succeeded")
	}
}

func TestOpenRejectsOverlappingSegments(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentSize: MinSegmentSize})
	appendN(t, l, 0, 3, 100)
	mustClose(t, l)
	b, _ := os.ReadFile(filepath.Join(dir, segmentName(0)))
	os.WriteFile(filepath.Join(dir, segmentName(40)), b, 0o644)
	if _, err := Open(dir, Options{SegmentSize: MinSegmentSize}); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("Open with overlapping segments: %v", err)
	}
}
