//go:build unix && !linux

package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync falls back to fsync where fdatasync is not available.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate is not implemented outside Linux: segments grow as written.
func preallocate(f *os.File, size int64) error { return errPreallocUnsupported }

// flock takes an exclusive, non-blocking flock on f.
func flock(f *os.File) (busy bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
	}); err != nil {
		return false, err
	}
	if serr == unix.EWOULDBLOCK {
		return true, nil
	}
	if serr != nil {
		return false, &os.PathError{Op: "flock", Path: f.Name(), Err: serr}
	}
	return false, nil
}
