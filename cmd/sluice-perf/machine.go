package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// fsyncResult is the disk's synchronous write rate.
type fsyncResult struct {
	Kind string `json:"kind"` // "fsync"
	Dir  string `json:"dir"`
	Size int    `json:"size"`
	// Append: each write extends the file (as a log without preallocation).
	AppendOps      int64   `json:"append_ops"`
	AppendPerSec   float64 `json:"append_per_sec"`
	AppendMeanMS   float64 `json:"append_mean_ms"`
	OverwriteOps   int64   `json:"overwrite_ops"`
	OverwritePerSc float64 `json:"overwrite_per_sec"`
	OverwriteMean  float64 `json:"overwrite_mean_ms"`
	Seconds        float64 `json:"seconds_each"`
}

func cmdFsync(args []string) error {
	fs := flag.NewFlagSet("sluice-perf fsync", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "directory on the disk to measure")
	dur := fs.Duration("duration", 2*time.Second, "how long each mode runs")
	size := fs.Int("size", 4096, "bytes per write")
	jsonPath := fs.String("json", "", "write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res := fsyncResult{Kind: "fsync", Dir: *dir, Size: *size, Seconds: dur.Seconds()}
	var err error
	res.AppendOps, res.AppendPerSec, res.AppendMeanMS, err = fsyncLoop(*dir, *size, *dur, true)
	if err != nil {
		return err
	}
	res.OverwriteOps, res.OverwritePerSc, res.OverwriteMean, err = fsyncLoop(*dir, *size, *dur, false)
	if err != nil {
		return err
	}
	fmt.Printf("fdatasync on %s, %d-byte writes:\n", *dir, *size)
	fmt.Printf("  appending   %7.0f writes+fdatasync/s (mean %.3f ms, %d in %.1f s)\n", res.AppendPerSec, res.AppendMeanMS, res.AppendOps, dur.Seconds())
	fmt.Printf("  overwriting %7.0f writes+fdatasync/s (mean %.3f ms, %d in %.1f s)\n", res.OverwritePerSc, res.OverwriteMean, res.OverwriteOps, dur.Seconds())
	if *jsonPath != "" {
		return writeJSON(*jsonPath, res)
	}
	return nil
}

// fsyncLoop writes size bytes and calls fdatasync until d has passed.
func fsyncLoop(dir string, size int, d time.Duration, appendMode bool) (ops int64, perSec, meanMS float64, err error) {
	f, err := os.CreateTemp(dir, "sluice-perf-fsync-*")
	if err != nil {
		return 0, 0, 0, err
	}
	name := f.Name()
	defer os.Remove(name)
	defer f.Close()
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	if !appendMode {
		// A region written and synced once, then overwritten in place.
		for i := 0; i < 256; i++ {
			if _, err := f.Write(buf); err != nil {
				return 0, 0, 0, err
			}
		}
		if err := f.Sync(); err != nil {
			return 0, 0, 0, err
		}
	}
	fd := int(f.Fd())
	start := time.Now()
	var off int64
	for time.Since(start) < d {
		if appendMode {
			_, err = f.Write(buf)
		} else {
			_, err = f.WriteAt(buf, off)
			off = (off + int64(size)) % (256 * int64(size))
		}
		if err != nil {
			return 0, 0, 0, err
		}
		if err := syscall.Fdatasync(fd); err != nil {
			return 0, 0, 0, fmt.Errorf("fdatasync %s: %w", filepath.Base(name), err)
		}
		ops++
	}
	el := time.Since(start)
	return ops, float64(ops) / el.Seconds(), el.Seconds() * 1000 / float64(ops), nil
}

// loopbackResult is what the machine's loopback TCP carries with one writer
// and one reader.
type loopbackResult struct {
	Kind string `json:"kind"` // "loopback"
	Size int    `json:"size"`
	// Unbatched: one write(2) per message.
	UnbatchedMsgs   float64 `json:"unbatched_msgs_per_sec"`
	UnbatchedMiBps  float64 `json:"unbatched_mib_per_sec"`
	BatchedMsgs     float64 `json:"batched_msgs_per_sec"`
	BatchedMiBps    float64 `json:"batched_mib_per_sec"`
	SecondsEachMode float64 `json:"seconds_each"`
}

func cmdLoopback(args []string) error {
	fs := flag.NewFlagSet("sluice-perf loopback", flag.ContinueOnError)
	size := fs.Int("size", 1024, "message size in bytes")
	dur := fs.Duration("duration", 2*time.Second, "how long each mode runs")
	jsonPath := fs.String("json", "", "write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res := loopbackResult{Kind: "loopback", Size: *size, SecondsEachMode: dur.Seconds()}
	var err error
	if res.UnbatchedMsgs, err = loopbackRun(*size, *dur, false); err != nil {
		return err
	}
	if res.BatchedMsgs, err = loopbackRun(*size, *dur, true); err != nil {
		return err
	}
	res.UnbatchedMiBps = res.UnbatchedMsgs * float64(*size) / (1 << 20)
	res.BatchedMiBps = res.BatchedMsgs * float64(*size) / (1 << 20)
	fmt.Printf("loopback TCP, %d-byte messages, one writer and one reader:\n", *size)
	fmt.Printf("  one write(2) per message   %10.0f msg/s (%6.0f MiB/s)\n", res.UnbatchedMsgs, res.UnbatchedMiBps)
	fmt.Printf("  64 KiB buffered writes     %10.0f msg/s (%6.0f MiB/s)\n", res.BatchedMsgs, res.BatchedMiBps)
	if *jsonPath != "" {
		return writeJSON(*jsonPath, res)
	}
	return nil
}

// loopbackRun writes size-byte chunks over a loopback TCP connection for d
// and returns the messages per second that the reader received.
func loopbackRun(size int, d time.Duration, batched bool) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var got atomic.Int64
	readDone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			readDone <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			got.Add(int64(n))
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readDone <- err
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	msg := make([]byte, size)
	var w io.Writer = c
	var bw *bufio.Writer
	if batched {
		bw = bufio.NewWriterSize(c, 64<<10)
		w = bw
	}
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; ; i++ {
		if i%64 == 0 && time.Now().After(deadline) {
			break
		}
		if _, err := w.Write(msg); err != nil {
			return 0, err
		}
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			return 0, err
		}
	}
	c.Close()
	if err := <-readDone; err != nil {
		return 0, err
	}
	el := time.Since(start)
	return float64(got.Load()) / float64(size) / el.Seconds(), nil
}
