package wal

import (
	"errors"
	"fmt"
	"io"
)

// windowSize is how much a scan reads with one pread. Scanning streams a
// segment through this window instead of loading the file whole.
const windowSize = 1 << 20

// window reads a file through a reusable buffer. A slice it returns is valid
// until the next call.
type window struct {
	r    io.ReaderAt
	size int64 // bytes the scan may look at
	buf  []byte
	off  int64 // file offset of buf[0]
	n    int   // valid bytes in buf
}

var errPastEnd = errors.New("past end of segment")

// bytes returns the n bytes at off.
func (w *window) bytes(off int64, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > w.size {
		return nil, errPastEnd
	}
	if off >= w.off && off+n <= w.off+int64(w.n) {
		return w.buf[off-w.off : off-w.off+n], nil
	}
	want := max(n, windowSize)
	want = min(want, w.size-off)
	if int64(cap(w.buf)) < want {
		w.buf = make([]byte, want)
	}
	w.buf = w.buf[:want]
	m, err := w.r.ReadAt(w.buf, off)
	if int64(m) < n {
		w.n = 0
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	w.off, w.n = off, m
	return w.buf[:n], nil
}

// scanResult is what a scan of one segment found.
type scanResult struct {
	end     int64 // offset just past the last valid batch: where writing resumes
	batches int64
	records int64
	bad     []Corruption // damaged regions followed by valid batches
	tail    *Corruption  // damage after the last valid batch, nil if only zeros follow
}

// scanner verifies the batches of one segment file.
type scanner struct {
	path string
	id   Pos
	size int64
	main window // follows the batches
	scan window // resync: walks the bytes after damage
	prob window // resync: verifies a candidate batch
}

func newScanner(r io.ReaderAt, path string, id Pos, size int64) *scanner {
	return &scanner{
		path: path, id: id, size: size,
		main: window{r: r, size: size},
		scan: window{r: r, size: size},
		prob: window{r: r, size: size},
	}
}

// scanSegment reads every batch in r[0:size), calls emit (if not nil) with
// each record of each batch whose header, body and record checksums all
// verify, and steps over damage by searching for the next valid batch, so
// that one bad batch costs only itself. The rec slice passed to emit is only
// valid during the call.
func scanSegment(r io.ReaderAt, path string, id Pos, size int64, emit func(Pos, []byte) error) (scanResult, error) {
	s := newScanner(r, path, id, size)
	var res scanResult
	off := int64(0)
	for off+batchHeaderSize <= size {
		n, count, zero, hdrOK, reason, err := s.batchAt(&s.main, off, emit)
		if err != nil {
			return res, err
		}
		if reason == "" && !zero {
			off += n
			res.end = off
			res.batches++
			res.records += count
			continue
		}
		from := off + alignment
		if hdrOK {
			// The header checksum vouches for the length: skip the whole
			// damaged batch as one unit.
			from = off + n
		}
		next, nonzeroEnd, err := s.resync(from)
		if err != nil {
			return res, err
		}
		if next < 0 {
			if zero && nonzeroEnd <= from {
				return res, nil // clean end: zeros up to the end of the file
			}
			if zero {
				reason = "garbage after zero-filled region"
			}
			end := max(nonzeroEnd, from)
			res.tail = s.corruption(off, end-off, reason)
			return res, nil
		}
		if zero {
			reason = "zero-filled region before a valid batch (lost write)"
		}
		res.bad = append(res.bad, *s.corruption(off, next-off, reason))
		off = next
	}
	// Fewer than batchHeaderSize bytes remain: anything but zeros there is
	// a torn header.
	if off < size {
		b, err := s.main.bytes(off, size-off)
		if err != nil {
			return res, s.ioError(off, err)
		}
		if !allZero(b) {
			res.tail = s.corruption(off, size-off, "torn batch header at end of file")
		}
	}
	return res, nil
}

func (s *scanner) corruption(off, length int64, reason string) *Corruption {
	return &Corruption{File: s.path, Segment: s.id, Offset: off, Length: length, Reason: reason}
}

func (s *scanner) ioError(off int64, err error) error {
	return fmt.Errorf("wal: read %s at offset %d: %w", s.path, off, err)
}

// batchAt checks the batch at off. n is its total size, valid when hdrOK
// (the header verified and the batch lies within the file). zero means the
// header bytes are all zero. A non-empty reason means the batch is bad; emit
// is only called for a good batch, after all of it has verified.
func (s *scanner) batchAt(w *window, off int64, emit func(Pos, []byte) error) (n, count int64, zero, hdrOK bool, reason string, err error) {
	h, err := w.bytes(off, batchHeaderSize)
	if err != nil {
		return 0, 0, false, false, "", s.ioError(off, err)
	}
	if allZero(h) {
		return 0, 0, true, false, "", nil
	}
	bh, reason := decodeBatchHeader(h)
	if reason != "" {
		return 0, 0, false, false, reason, nil
	}
	pos := s.id + Pos(off)
	if bh.pos != pos {
		// A header that verifies but names another position is stale or
		// misplaced data, not a batch of this segment at this offset.
		return 0, 0, false, false, fmt.Sprintf("batch header names position %d, expected %d", bh.pos, pos), nil
	}
	if bh.length > s.size-off-batchHeaderSize {
		return 0, 0, false, false, fmt.Sprintf("batch of %d bytes extends past end of file (torn write)", bh.length), nil
	}
	n = batchHeaderSize + bh.length
	body, err := w.bytes(off+batchHeaderSize, bh.length)
	if err != nil {
		return 0, 0, false, false, "", s.ioError(off, err)
	}
	if crc := crc32c(body); crc != bh.bodyCRC {
		return n, bh.count, false, true, fmt.Sprintf("batch checksum mismatch (%d records lost)", bh.count), nil
	}
	// Every record must verify and the records must fill the body exactly.
	p := int64(0)
	for i := int64(0); i < bh.count; i++ {
		if p+recordHeaderSize > bh.length {
			return n, bh.count, false, true, "batch body shorter than its record count", nil
		}
		length := int64(le.Uint32(body[p:]))
		size := recordHeaderSize + align8(length)
		if size > bh.length-p {
			return n, bh.count, false, true, fmt.Sprintf("record at offset %d overruns its batch", off+batchHeaderSize+p), nil
		}
		rpos := pos + batchHeaderSize + Pos(p)
		if le.Uint32(body[p+4:]) != recordCRC(rpos, body[p+recordHeaderSize:p+recordHeaderSize+length]) {
			return n, bh.count, false, true, fmt.Sprintf("record checksum mismatch at offset %d", off+batchHeaderSize+p), nil
		}
		p += size
	}
	if p != bh.length {
		return n, bh.count, false, true, "batch body longer than its records", nil
	}
	if emit != nil {
		for p = 0; p < bh.length; {
			length := int64(le.Uint32(body[p:]))
			if err := emit(pos+batchHeaderSize+Pos(p), body[p+recordHeaderSize:p+recordHeaderSize+length]); err != nil {
				return n, bh.count, false, true, "", err
			}
			p += recordHeaderSize + align8(length)
		}
	}
	return n, bh.count, false, true, "", nil
}

// resync looks for the first fully valid batch at an aligned offset >= from.
// It returns its offset, or -1 if there is none, and the end of the last
// non-zero 8-byte word it saw (<= from if everything was zero), which bounds
// the garbage to zero out when the damage turns out to be a torn tail.
func (s *scanner) resync(from int64) (next, nonzeroEnd int64, err error) {
	from = align8(from)
	nonzeroEnd = from
	for off := from; off < s.size; {
		n := min(int64(windowSize), s.size-off)
		chunk, err := s.scan.bytes(off, n)
		if err != nil {
			return -1, nonzeroEnd, s.ioError(off, err)
		}
		for i := int64(0); i < n; i += alignment {
			word := chunk[i:min(i+alignment, n)]
			if allZero(word) {
				continue
			}
			nonzeroEnd = off + i + int64(len(word))
			if len(word) < 4 || le.Uint32(word) != batchMagic || off+i+batchHeaderSize > s.size {
				continue
			}
			_, _, _, _, reason, err := s.batchAt(&s.prob, off+i, nil)
			if err != nil {
				return -1, nonzeroEnd, err
			}
			if reason == "" {
				return off + i, nonzeroEnd, nil
			}
		}
		off += n
	}
	return -1, nonzeroEnd, nil
}
