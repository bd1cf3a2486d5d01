package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// addRecoverSeeds adds FuzzRecover's segment corpus (testdata/fuzz) as
// seeds: whole segments that reach each path of the batch decoder.
func addRecoverSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzRecover", "*"))
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		_, lit, _ := strings.Cut(string(text), "[]byte(")
		data, err := strconv.Unquote(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lit), ")")))
		if err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		f.Add([]byte(data))
	}
}

// FuzzScanSegment runs the batch and record decoder (scanSegment, what
// recovery runs on every segment) over arbitrary bytes in memory, without
// the files FuzzRecover needs, so many more inputs run per second. Every
// record it emits must lie inside the input, aligned and in order, with
// a record checksum that verifies (checked here independently); where
// writing resumes must be aligned and inside the input; a segment of n
// bytes must not make it allocate much more than n (a batch header may
// claim 4 GiB). The same input as a file name goes to parseSegmentName.
func FuzzScanSegment(f *testing.F) {
	addRecoverSeeds(f)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if id, ok := parseSegmentName(string(data)); ok && segmentName(id) != string(data) {
			t.Fatalf("segment name %q parsed as %d, which is named %q", data, id, segmentName(id))
		}
		const id = Pos(1 << 40) // not zero, so positions and offsets differ
		last := Pos(0)
		var res scanResult
		var err error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err = scanSegment(bytes.NewReader(data), "fuzz.wal", id, int64(len(data)), func(pos Pos, rec []byte) error {
			off := int64(pos - id)
			if pos < id || off%alignment != 0 || off < batchHeaderSize || off+recordHeaderSize+int64(len(rec)) > int64(len(data)) {
				t.Fatalf("record at %d (%d bytes) outside the %d-byte segment", off, len(rec), len(data))
			}
			if pos <= last && last != 0 {
				t.Fatalf("record at %d after %d", pos, last)
			}
			last = pos
			if int(le.Uint32(data[off:])) != len(rec) || !bytes.Equal(data[off+recordHeaderSize:off+recordHeaderSize+int64(len(rec))], rec) {
				t.Fatalf("record at %d is not what the segment holds there", off)
			}
			if recordCRC(pos, rec) != le.Uint32(data[off+4:]) {
				t.Fatalf("record at %d emitted with a bad checksum", off)
			}
			return nil
		})
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 4*uint64(len(data))+256<<10 {
			t.Fatalf("scanning %d bytes allocated %d", len(data), got)
		}
		if err != nil {
			t.Fatalf("scanning bytes in memory: %v", err)
		}
		if res.end < 0 || res.end > int64(len(data)) || res.end%alignment != 0 {
			t.Fatalf("writing would resume at %d of %d bytes", res.end, len(data))
		}
		if last != 0 && int64(last-id) >= res.end {
			t.Fatalf("record at %d past the end %d", last-id, res.end)
		}
	})
}

// damageLog is a log on /dev/shm (when there is one) that FuzzReadDamaged
// damages and repairs in place, one input after another: set up once per
// fuzzing process, so an input costs two pwrites and a few preads.
type damageLog struct {
	log     *Log
	file    *os.File // the segment, opened for writing the damage
	orig    []byte   // the segment as written
	end     int64    // bytes of batches in it
	records []entry
}

func newDamageLog(f *testing.F) *damageLog {
	dir, err := os.MkdirTemp("/dev/shm", "walfuzz")
	if err != nil {
		dir = f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	l, err := Open(dir, Options{SegmentSize: 64 << 10, Sync: SyncNever, noSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	d := &damageLog{log: l}
	// Sizes around the read-ahead, so both of Read's paths are reached.
	for i, batch := range [][]int{{0, 1, 7, 8}, {100, readAhead - recordHeaderSize, readAhead + 5000}, {12}} {
		var recs [][]byte
		for j, n := range batch {
			recs = append(recs, payload(10*i+j, n))
		}
		ps, err := l.AppendBatch(recs)
		if err != nil {
			f.Fatal(err)
		}
		for j := range ps {
			d.records = append(d.records, entry{ps[j], recs[j]})
		}
	}
	seg := l.Segments()[0]
	d.end = seg.Size
	path := filepath.Join(dir, segmentName(seg.ID))
	if d.orig, err = os.ReadFile(path); err != nil {
		f.Fatal(err)
	}
	if d.file, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.file.Close() })
	return d
}

// FuzzReadDamaged damages a written segment under an open log (disk
// corruption after recovery: the case of a paged-out message read back
// much later) and reads it: Read must never panic, never allocate more
// than the segment holds, and return every record whose bytes were not
// touched exactly as written. A damaged record comes back as an error,
// or — only if the damage left a matching checksum — as what is there.
// pos is an arbitrary position to read as well.
func FuzzReadDamaged(f *testing.F) {
	f.Add(uint32(0), []byte{0xff}, uint32(0))
	f.Add(uint32(batchHeaderSize), []byte{0xff, 0xff, 0xff, 0x7f}, uint32(batchHeaderSize))
	f.Add(uint32(batchHeaderSize+4), []byte{1}, uint32(batchHeaderSize+8))
	f.Add(uint32(200), bytes.Repeat([]byte{0}, 64), uint32(4096))
	d := newDamageLog(f)
	f.Fuzz(func(t *testing.T, off uint32, damage []byte, pos uint32) {
		if len(damage) > 256 {
			damage = damage[:256]
		}
		at := int64(off) % d.end
		damage = damage[:min(int64(len(damage)), d.end-at)]
		if _, err := d.file.WriteAt(damage, at); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := d.file.WriteAt(d.orig[at:at+int64(len(damage))], at); err != nil {
				t.Fatal(err)
			}
		}()
		cur := bytes.Clone(d.orig)
		copy(cur[at:], damage)
		changed := func(from, to int64) bool {
			return from < at+int64(len(damage)) && at < to && !bytes.Equal(damage[max(from-at, 0):min(to-at, int64(len(damage)))], d.orig[max(from, at):min(to, at+int64(len(damage)))])
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, e := range d.records {
			start := int64(e.pos) // segment 0: a position is a file offset
			rec, err := d.log.Read(e.pos)
			if !changed(start, start+recordSize(len(e.rec))) {
				if err != nil || !bytes.Equal(rec, e.rec) {
					t.Fatalf("undamaged record at %d: %d bytes, %v", start, len(rec), err)
				}
				continue
			}
			var c *Corruption
			if err != nil && !errors.As(err, &c) {
				t.Fatalf("damaged record at %d: %T %v, want a *Corruption", start, err, err)
			}
			if err == nil {
				// Only a checksum the damage happened to match lets it
				// through: then it must be what the file holds now.
				n := int64(le.Uint32(cur[start:]))
				if int64(len(rec)) != n || !bytes.Equal(rec, cur[start+recordHeaderSize:start+recordHeaderSize+n]) || recordCRC(e.pos, rec) != le.Uint32(cur[start+4:]) {
					t.Fatalf("damaged record at %d read back as %d bytes that are not on disk", start, len(rec))
				}
			}
		}
		if _, err := d.log.Read(Pos(pos)); err == nil && (int64(pos)%alignment != 0 || int64(pos)+recordHeaderSize > d.end) {
			t.Fatalf("Read(%d) outside the segment's records gave no error", pos)
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 2*uint64(d.end)+256<<10 {
			t.Fatalf("reading a %d-byte segment allocated %d bytes", d.end, got)
		}
	})
}
