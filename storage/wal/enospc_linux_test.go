package wal

import (
	"bytes"
	"errors"
	"os/signal"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// fillUntilFailure runs appenders concurrently until each gets an error and
// returns the records whose appends succeeded, in position order, and every
// error seen.
func fillUntilFailure(t *testing.T, l *Log, goroutines int) (ok []entry, errs []error) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100000 {
				rec := payload(g*100000+i, 1000)
				pos, err := l.Append(rec)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				ok = append(ok, entry{pos, rec})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) != goroutines {
		t.Fatalf("%d of %d appenders saw an error", len(errs), goroutines)
	}
	// Sort by position: that is replay order.
	for i := 1; i < len(ok); i++ {
		for j := i; j > 0 && ok[j].pos < ok[j-1].pos; j-- {
			ok[j], ok[j-1] = ok[j-1], ok[j]
		}
	}
	return ok, errs
}

// checkFailedThenRecovers checks the failed state and that every record
// whose append succeeded is readable and replayed after reopen.
func checkFailedThenRecovers(t *testing.T, l *Log, dir string, opts Options, ok []entry, errs []error, cause error) {
	t.Helper()
	if len(ok) == 0 {
		t.Fatal("no append succeeded before the failure")
	}
	sawCause := false
	for _, err := range errs {
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("append error does not wrap ErrFailed: %v", err)
		}
		sawCause = sawCause || errors.Is(err, cause)
	}
	if !sawCause {
		t.Fatalf("no waiter got %v: %v", cause, errs)
	}
	t.Logf("%d appends succeeded, then: %v", len(ok), errs[0])
	if _, err := l.Append([]byte("more")); !errors.Is(err, ErrFailed) || !errors.Is(err, cause) {
		t.Fatalf("Append on a failed log: %v", err)
	}
	if err := l.AppendLazy([]byte("more")); !errors.Is(err, ErrFailed) {
		t.Fatalf("AppendLazy on a failed log: %v", err)
	}
	for _, e := range ok {
		if b, err := l.Read(e.pos); err != nil || !bytes.Equal(b, e.rec) {
			t.Fatalf("Read(%d) on the failed log: %v", e.pos, err)
		}
	}
	if err := l.Close(); !errors.Is(err, cause) {
		t.Fatalf("Close of a failed log: %v", err)
	}

	l, got := open(t, dir, opts)
	defer mustClose(t, l)
	r := l.Recovery()
	t.Logf("recovery: %d records, torn tail %v, damaged %v", r.Records, r.TornTail, r.Damaged)
	if len(r.Damaged) != 0 {
		t.Fatalf("a full disk damaged the log: %+v", r.Damaged)
	}
	// Every acknowledged record is there, in order. (Records whose append
	// failed may be there too: a failure is not a promise of absence.)
	i := 0
	for _, g := range got {
		if i < len(ok) && g.pos == ok[i].pos {
			if !bytes.Equal(g.rec, ok[i].rec) {
				t.Fatalf("record at %d changed", g.pos)
			}
			i++
		}
	}
	if i != len(ok) {
		t.Fatalf("only %d of %d acknowledged records replayed", i, len(ok))
	}
	for _, e := range ok {
		if b, err := l.Read(e.pos); err != nil || !bytes.Equal(b, e.rec) {
			t.Fatalf("Read(%d) after reopen: %v", e.pos, err)
		}
	}
}

// TestENOSPC fills a small tmpfs. Mounting needs root (CAP_SYS_ADMIN); the
// test skips without it, and TestFileSizeLimit covers the same path.
func TestENOSPC(t *testing.T) {
	for _, prealloc := range []bool{true, false} {
		name := "fallocate"
		if !prealloc {
			name = "grow-by-write"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
				t.Skipf("cannot mount a small tmpfs: %v", err)
			}
			t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
			opts := Options{SegmentSize: 64 << 10, noPrealloc: !prealloc}
			l, _ := open(t, dir, opts)
			ok, errs := fillUntilFailure(t, l, 8)
			checkFailedThenRecovers(t, l, dir, opts, ok, errs, syscall.ENOSPC)
		})
	}
}

// TestFileSizeLimit makes writes fail part way through a batch with a
// file-size rlimit (EFBIG, SIGXFSZ ignored): the same failure path as a
// full disk, without privileges.
func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1 << 20, noPrealloc: true}
	l, _ := open(t, dir, opts)
	before := appendN(t, l, 0, 20, 1000)
	size := l.Segments()[0].Size

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	lim := unix.Rlimit{Cur: uint64(size) + 20000, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	restore := func() {
		unix.Setrlimit(unix.RLIMIT_FSIZE, &old)
		signal.Reset(syscall.SIGXFSZ)
	}
	defer restore()
	ok, errs := fillUntilFailure(t, l, 8)
	restore()
	checkFailedThenRecovers(t, l, dir, opts, append(before, ok...), errs, syscall.EFBIG)
}
