package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover takes arbitrary bytes as the contents of a log's only
// segment. Open must not panic or fail, must replay only records whose
// checksums verify (checked here independently of the package's own
// code), and must leave a log that takes appends and reopens to the same
// records plus the new one, with no torn tail left.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(checkRecover)
}

// memDir returns a fresh directory in memory (/dev/shm) where there is
// one, so that fuzzing does not wait on a shared disk's writeback, and a
// temporary directory otherwise.
func memDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "walfuzz")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func checkRecover(t *testing.T, data []byte) {
	{
		dir := memDir(t)
		if err := os.WriteFile(filepath.Join(dir, segmentName(0)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		table := crc32.MakeTable(crc32.Castagnoli)
		var got []entry
		opts := Options{SegmentSize: MinSegmentSize, Sync: SyncNever, noSync: true}
		opts.Replay = func(pos Pos, rec []byte) error {
			off := int64(pos)
			if off%8 != 0 || off < batchHeaderSize || off+8+int64(len(rec)) > int64(len(data)) {
				t.Fatalf("replayed record at %d (%d bytes) outside the %d-byte file", pos, len(rec), len(data))
			}
			if len(got) > 0 && pos <= got[len(got)-1].pos {
				t.Fatalf("replay out of order: %d after %d", pos, got[len(got)-1].pos)
			}
			if n := binary.LittleEndian.Uint32(data[off:]); int(n) != len(rec) || !bytes.Equal(data[off+8:off+8+int64(n)], rec) {
				t.Fatalf("replayed record at %d is not what the file holds", pos)
			}
			h := crc32.New(table)
			binary.Write(h, binary.LittleEndian, uint64(pos))
			binary.Write(h, binary.LittleEndian, uint32(len(rec)))
			h.Write(rec)
			if h.Sum32() != binary.LittleEndian.Uint32(data[off+4:]) {
				t.Fatalf("replayed record at %d fails its checksum", pos)
			}
			got = append(got, entry{pos, bytes.Clone(rec)})
			return nil
		}
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		for _, e := range got {
			if b, err := l.Read(e.pos); err != nil || !bytes.Equal(b, e.rec) {
				t.Fatalf("Read(%d): %v", e.pos, err)
			}
		}
		damaged := len(l.Recovery().Damaged)
		pos, err := l.Append([]byte("fuzz"))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if len(got) > 0 && pos <= got[len(got)-1].pos {
			t.Fatalf("append at %d, before replayed record %d", pos, got[len(got)-1].pos)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		want := append(got, entry{pos, []byte("fuzz")})
		l, got = open(t, dir, Options{SegmentSize: MinSegmentSize, Sync: SyncNever, noSync: true})
		defer l.Close()
		checkReplay(t, got, want)
		if r := l.Recovery(); r.TornTail != nil || len(r.Damaged) != damaged {
			t.Fatalf("second recovery: torn tail %v, %d damaged regions (first had %d)", r.TornTail, len(r.Damaged), damaged)
		}
	}
}

// fuzzSeeds builds segment contents that reach each recovery path.
func fuzzSeeds(t *testing.T) map[string][]byte {
	dir := t.TempDir()
	l, _ := open(t, dir, Options{SegmentSize: MinSegmentSize})
	var offs []int64 // batch offsets
	for i := range 6 {
		ps, err := l.AppendBatch([][]byte{payload(i, 10*i), payload(i+100, 3)})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, int64(ps[0])-batchHeaderSize)
	}
	end := l.Segments()[0].Size
	mustClose(t, l)
	full, err := os.ReadFile(filepath.Join(dir, segmentName(0)))
	if err != nil {
		t.Fatal(err)
	}
	valid := full[:end]
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 700)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"valid":             valid,
		"valid-with-zeros":  full[:end+256],
		"torn-mid-batch":    valid[:offs[5]+50],
		"torn-mid-header":   valid[:offs[5]+13],
		"flip-middle-batch": mod(func(b []byte) []byte { b[offs[2]+40] ^= 1; return b }),
		"flip-last-batch":   mod(func(b []byte) []byte { b[offs[5]+40] ^= 1; return b }),
		"flip-header-len":   mod(func(b []byte) []byte { b[offs[3]+bhLength] ^= 0x10; return b }),
		"zero-hole":         mod(func(b []byte) []byte { clear(b[offs[1]:offs[3]]); return b }),
		"garbage-tail":      append(bytes.Clone(valid), garbage...),
		"garbage":           garbage,
		"zeros":             make([]byte, 512),
		"shifted":           append(make([]byte, 8), valid...),
	}
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzRecover when
// WAL_WRITE_FUZZ_SEEDS=1; otherwise it checks that the seeds exist.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRecover")
	if os.Getenv("WAL_WRITE_FUZZ_SEEDS") != "1" {
		if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
			t.Fatalf("no seed corpus in %s (run with WAL_WRITE_FUZZ_SEEDS=1): %v", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range fuzzSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
