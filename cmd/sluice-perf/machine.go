package main

import (
	"bufio"
	"encoding/binary"
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
	// Relay latency: messages at RelayRate msg/s from a writer through a
	// forwarding goroutine to a reader, two loopback TCP hops, as a
	// publisher's message reaches a consumer through a broker that does
	// nothing else. No broker can deliver faster on this machine.
	RelayRate  float64 `json:"relay_rate"`
	RelayP50MS float64 `json:"relay_p50_ms"`
	RelayP99MS float64 `json:"relay_p99_ms"`
	RelayP999  float64 `json:"relay_p999_ms"`
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
	res.RelayRate = 5000
	h, err := loopbackRelay(*size, *dur, res.RelayRate)
	if err != nil {
		return err
	}
	res.RelayP50MS = float64(h.quantile(0.5)) / 1e6
	res.RelayP99MS = float64(h.quantile(0.99)) / 1e6
	res.RelayP999 = float64(h.quantile(0.999)) / 1e6
	res.UnbatchedMiBps = res.UnbatchedMsgs * float64(*size) / (1 << 20)
	res.BatchedMiBps = res.BatchedMsgs * float64(*size) / (1 << 20)
	fmt.Printf("loopback TCP, %d-byte messages, one writer and one reader:\n", *size)
	fmt.Printf("  one write(2) per message   %10.0f msg/s (%6.0f MiB/s)\n", res.UnbatchedMsgs, res.UnbatchedMiBps)
	fmt.Printf("  64 KiB buffered writes     %10.0f msg/s (%6.0f MiB/s)\n", res.BatchedMsgs, res.BatchedMiBps)
	fmt.Printf("  relayed at %.0f msg/s (2 hops, 1 forwarder): p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms\n",
		res.RelayRate, res.RelayP50MS, res.RelayP99MS, res.RelayP999)
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

// loopbackRelay sends size-byte messages at rate msg/s for d over loopback
// TCP to a goroutine that forwards each one over a second connection to a
// reader, and returns the one-way delays: the floor under any broker's
// end-to-end latency on this machine.
func loopbackRelay(size int, d time.Duration, rate float64) (*hist, error) {
	size = max(size, 8)
	pair := func() (net.Conn, net.Conn, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, err
		}
		s := <-accepted
		if s == nil {
			c.Close()
			return nil, nil, errors.New("loopback relay: accept failed")
		}
		return c, s, nil
	}
	in, relayIn, err := pair()
	if err != nil {
		return nil, err
	}
	defer in.Close()
	relayOut, out, err := pair()
	if err != nil {
		relayIn.Close()
		return nil, err
	}
	defer out.Close()
	go func() { // the forwarder
		defer relayIn.Close()
		defer relayOut.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := relayIn.Read(buf)
			if n > 0 {
				if _, werr := relayOut.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	h := &hist{}
	readDone := make(chan error, 1)
	epoch := time.Now()
	go func() {
		msg := make([]byte, size)
		for {
			if _, err := io.ReadFull(out, msg); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = nil
				}
				readDone <- err
				return
			}
			sent := time.Duration(binary.LittleEndian.Uint64(msg))
			h.record(time.Since(epoch) - sent)
		}
	}()
	msg := make([]byte, size)
	gap := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for end := next.Add(d); next.Before(end); next = next.Add(gap) {
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		binary.LittleEndian.PutUint64(msg, uint64(time.Since(epoch)))
		if _, err := in.Write(msg); err != nil {
			return nil, err
		}
	}
	in.Close()
	if err := <-readDone; err != nil {
		return nil, err
	}
	return h, nil
}
