package server

import (
	"os"
	"runtime/metrics"
	"strings"
	"syscall"
)

// The process's resources as /api/nodes reports them.

// memoryUsed is the memory the Go runtime holds from the OS, less what it
// has released: the figure the memory alarm compares (alarms.go).
func memoryUsed() uint64 {
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(samples)
	return samples[0].Value.Uint64() - samples[1].Value.Uint64()
}

// diskFree is the space free to the broker on the data directory's disk.
func diskFree(dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return st.Bavail * uint64(st.Bsize)
}

// fileDescriptors counts the open file descriptors (Linux's /proc) and
// returns the soft limit.
func fileDescriptors() (used, total int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		total = int(lim.Cur)
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		used = len(ents)
	}
	return used, total
}

// splitAlarms splits Alarms.Reason ("disk & memory") into names.
func splitAlarms(reason string) []string {
	if reason == "" {
		return nil
	}
	return strings.Split(reason, " & ")
}
