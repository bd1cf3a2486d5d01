package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// readAhead is how many bytes Read fetches with its first pread: enough for
// the header and a typical message, so most reads take one system call.
const readAhead = 4 << 10

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readAhead); return &b }}

// Read returns a copy of the payload of the record at pos. It reads the
// record with pread and verifies its checksum; a mismatch is returned as a
// *Corruption naming the file and offset. Read takes no lock that the writer
// holds during a write or an fdatasync, so it never waits for the disk
// beyond its own read.
func (l *Log) Read(pos Pos) ([]byte, error) {
	s, err := l.lookup(pos)
	if err != nil {
		return nil, err
	}
	off := int64(pos - s.id)
	end := s.end.Load()
	if off%alignment != 0 || off+recordHeaderSize > end {
		return nil, fmt.Errorf("%w: pos %d is not a record position in segment %s", ErrNotFound, pos, s.path)
	}
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	buf := (*bp)[:min(readAhead, end-off)]
	if _, err := s.f.ReadAt(buf, off); err != nil {
		return nil, l.readError(s, off, err)
	}
	length := int64(le.Uint32(buf))
	crc := le.Uint32(buf[4:])
	if length > end-off-recordHeaderSize {
		return nil, &Corruption{File: s.path, Segment: s.id, Offset: off, Length: recordHeaderSize,
			Reason: fmt.Sprintf("record length %d runs past the end of the segment's data", length)}
	}
	rec := make([]byte, length)
	n := copy(rec, buf[recordHeaderSize:])
	if int64(n) < length {
		if _, err := s.f.ReadAt(rec[n:], off+recordHeaderSize+int64(n)); err != nil {
			return nil, l.readError(s, off, err)
		}
	}
	if recordCRC(pos, rec) != crc {
		return nil, &Corruption{File: s.path, Segment: s.id, Offset: off, Length: recordSize(int(length)),
			Reason: "record checksum mismatch"}
	}
	return rec, nil
}

func (l *Log) lookup(pos Pos) (*segment, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	s := l.find(pos)
	if s == nil || pos >= s.id+Pos(s.end.Load()) {
		return nil, fmt.Errorf("%w: pos %d", ErrNotFound, pos)
	}
	return s, nil
}

func (l *Log) readError(s *segment, off int64, err error) error {
	if errors.Is(err, os.ErrClosed) {
		// RemoveSegment or Close closed the file under us.
		l.segMu.RLock()
		closed := l.closed
		l.segMu.RUnlock()
		if closed {
			return ErrClosed
		}
		return fmt.Errorf("%w: segment %s was removed", ErrNotFound, s.path)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("wal: read %s at offset %d: %w", s.path, off, err)
}

// Segments describes every segment, in position order; the last one is
// active.
func (l *Log) Segments() []SegmentInfo {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.info()
	}
	return out
}

func (s *segment) info() SegmentInfo {
	return SegmentInfo{
		ID: s.id, Path: s.path, Size: s.end.Load(), Capacity: s.capacity,
		Records: s.records.Load(), Batches: s.batches.Load(), Sealed: s.sealed.Load(), Damaged: s.damaged,
	}
}

// SegmentOf returns the segment holding pos, for reference counting by
// segment in the layer above.
func (l *Log) SegmentOf(pos Pos) (SegmentInfo, bool) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	s := l.find(pos)
	if s == nil || pos >= s.id+Pos(s.end.Load()) {
		return SegmentInfo{}, false
	}
	return s.info(), true
}

// RemoveSegment deletes a sealed segment. Removal is not limited to a
// prefix of the log: a layer that copies a segment's live records forward
// (appends them again) can remove any sealed segment once nothing refers
// to it. Reads of its positions then fail with ErrNotFound, also in later
// Opens. The active segment cannot be removed.
func (l *Log) RemoveSegment(id Pos) error {
	l.segMu.Lock()
	if l.closed {
		l.segMu.Unlock()
		return ErrClosed
	}
	i, ok := slices.BinarySearchFunc(l.segs, id, func(s *segment, id Pos) int {
		switch {
		case s.id < id:
			return -1
		case s.id > id:
			return 1
		}
		return 0
	})
	if !ok {
		l.segMu.Unlock()
		return fmt.Errorf("%w: segment %d", ErrNotFound, id)
	}
	if i == len(l.segs)-1 || !l.segs[i].sealed.Load() {
		// Not sealed yet: the active segment, or one whose records'
		// completions have not all run.
		l.segMu.Unlock()
		return fmt.Errorf("%w: segment %d", ErrActiveSegment, id)
	}
	s := l.segs[i]
	l.segs = slices.Delete(l.segs, i, i+1)
	l.segMu.Unlock()
	// A concurrent ReadAt holds a reference on the descriptor, so Close
	// cannot pull it from under the read; later reads get os.ErrClosed.
	s.f.Close()
	if err := os.Remove(s.path); err != nil {
		return fmt.Errorf("wal: remove segment: %w", err)
	}
	if err := l.syncDir(); err != nil {
		return fmt.Errorf("wal: sync %s after removing %s: %w", l.dir, s.path, err)
	}
	return nil
}

// ScanSegment calls fn with every valid record of segment id, in order, for
// copy-forward compaction. It reads the segment sequentially and verifies
// every checksum, like recovery; damaged regions are skipped and returned,
// never silently dropped. On the active segment it scans what was written
// when it started. rec is only valid during the call; an error from fn
// stops the scan and is returned.
func (l *Log) ScanSegment(id Pos, fn func(pos Pos, rec []byte) error) ([]Corruption, error) {
	l.segMu.RLock()
	if l.closed {
		l.segMu.RUnlock()
		return nil, ErrClosed
	}
	s := l.find(id)
	l.segMu.RUnlock()
	if s == nil || s.id != id {
		return nil, fmt.Errorf("%w: segment %d", ErrNotFound, id)
	}
	res, err := scanSegment(s.f, s.path, s.id, s.end.Load(), fn)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return nil, fmt.Errorf("%w: segment %s was removed or the log closed", ErrNotFound, s.path)
		}
		return nil, err
	}
	bad := res.bad
	if res.tail != nil {
		bad = append(bad, *res.tail)
	}
	return bad, nil
}
