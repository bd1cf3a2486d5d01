package wal

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes the file's data and the metadata needed to read it back
// (its size), but not timestamps: one disk flush instead of two.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// preallocate reserves size bytes for f, so that a full disk shows up here,
// when a segment is created, rather than in the middle of a batch write, and
// so that appends do not allocate blocks. It reports errPreallocUnsupported
// when the file system cannot do it.
func preallocate(f *os.File, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fallocate(int(fd), 0, 0, size)
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	switch {
	case serr == nil:
		return nil
	case errors.Is(serr, unix.EOPNOTSUPP), errors.Is(serr, unix.ENOSYS):
		return errPreallocUnsupported
	}
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: serr}
}

// flock takes an exclusive, non-blocking flock on f. The lock belongs to
// the open file description, so it conflicts with other processes and with
// a second Open in this process alike, and the kernel drops it when the
// process dies, however it dies.
func flock(f *os.File) (busy bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if serr != unix.EINTR {
				return
			}
		}
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
