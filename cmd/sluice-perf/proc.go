package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procMem is a process's resident set and its peak, in KiB, from
// /proc/PID/status.
type procMem struct {
	RSSKiB int64
	HWMKiB int64
}

func readProcMem(pid int) (procMem, error) {
	var m procMem
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			m.RSSKiB = parseKiB(line)
		case strings.HasPrefix(line, "VmHWM:"):
			m.HWMKiB = parseKiB(line)
		}
	}
	return m, sc.Err()
}

func parseKiB(line string) int64 {
	fs := strings.Fields(line)
	if len(fs) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(fs[1], 10, 64)
	return n
}

// resetHWM resets the process's VmHWM to its current RSS (Linux: writing 5 to
// /proc/PID/clear_refs), so the peak covers one scenario. Best effort: it
// needs permission over the process.
func resetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procCPU is the process's user+system CPU time in clock ticks from
// /proc/PID/stat (fields 14 and 15).
func procCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command name (field 2) may hold spaces; it ends at the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fs := strings.Fields(s[i+1:])
	// fs[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fs) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	u, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	return u + st, nil
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100
