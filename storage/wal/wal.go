package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Pos is the position of a record: a byte offset in the log's position
// space, which is the ID of the segment holding the record plus the
// record's offset in that segment's file. Pos 0 is never a record (every
// segment begins with a batch header), so it can mean "none".
type Pos uint64

// Errors returned by the log. Failures of the file system are wrapped so
// that errors.Is finds both ErrFailed and the cause (e.g. syscall.ENOSPC).
var (
	ErrClosed         = errors.New("wal: log is closed")
	ErrFailed         = errors.New("wal: log failed")
	ErrLocked         = errors.New("wal: data directory is locked")
	ErrNotFound       = errors.New("wal: no such record or segment")
	ErrActiveSegment  = errors.New("wal: the active segment cannot be removed")
	ErrRecordTooLarge = errors.New("wal: record does not fit in a segment")

	errPreallocUnsupported = errors.New("preallocation not supported")
)

const (
	// DefaultSegmentSize is the segment size used when Options.SegmentSize
	// is zero.
	DefaultSegmentSize = 64 << 20
	// MinSegmentSize and MaxSegmentSize bound Options.SegmentSize. The
	// maximum keeps a batch length within its uint32 field.
	MinSegmentSize = 4 << 10
	MaxSegmentSize = 1 << 30
	// DefaultMaxBatchBytes is the batch size used when
	// Options.MaxBatchBytes is zero.
	DefaultMaxBatchBytes = 1 << 20
	// DefaultMaxPendingBytes is the backpressure threshold used when
	// Options.MaxPendingBytes is zero.
	DefaultMaxPendingBytes = 16 << 20
)

// SyncMode says when an append is reported complete relative to fdatasync.
// The zero value is SyncAlways.
type SyncMode struct {
	every time.Duration // 0: always; > 0: on a timer; < 0: never on a timer
}

// SyncAlways completes an append only after an fdatasync that covers it.
var SyncAlways = SyncMode{}

// SyncNever completes an append once it is written to the file and leaves
// flushing to the kernel, to segment rolls, to Sync and to Close.
var SyncNever = SyncMode{every: -1}

// SyncInterval completes an append once it is written to the file and
// fdatasyncs every d while there are unsynced writes: a crash of the machine
// (not of the process) can lose up to d of acknowledged appends.
// SyncInterval(d) with d <= 0 is SyncNever.
func SyncInterval(d time.Duration) SyncMode {
	if d <= 0 {
		return SyncNever
	}
	return SyncMode{every: d}
}

func (m SyncMode) String() string {
	switch {
	case m.every == 0:
		return "always"
	case m.every < 0:
		return "never"
	}
	return "every " + m.every.String()
}

// Options configure Open. The zero value is usable.
type Options struct {
	// SegmentSize is the size segment files are preallocated to, and so
	// the most bytes of batches a segment holds. Default 64 MiB.
	SegmentSize int64
	// Sync is the durability mode of Append and AppendAsync. Default
	// SyncAlways.
	Sync SyncMode
	// MaxPendingBytes bounds the payload bytes queued for the writer:
	// appends wait (AppendAsync and AppendLazy too) while more than this
	// is queued, so a fast producer cannot outrun the disk without limit.
	// Default 16 MiB.
	MaxPendingBytes int64
	// MaxBatchBytes caps one batch write; a group commit larger than this
	// is written as several batches and still synced once. Default 1 MiB.
	MaxBatchBytes int
	// Replay, if set, is called by Open with every valid record in log
	// order. rec is only valid during the call. An error aborts Open.
	Replay func(pos Pos, rec []byte) error
	// Logger, if set, receives events an operator must see: recovered
	// damage, a log that failed, a file system without preallocation. kv
	// are alternating keys and values. It is called from Open and from the
	// writer goroutine, so it must not block for long.
	Logger func(msg string, kv ...any)
	// Sealer, if set, transforms every payload as the writer places it,
	// knowing its position: the layer above uses it to encrypt records
	// bound to where they are written. Replay and Read return payloads as
	// stored (sealed); opening them is the caller's business. nil stores
	// payloads as given.
	Sealer Sealer
	// OnSync, if set, is told after each fdatasync of the active segment
	// how long it took and how many records it made durable (the group
	// commit's size). It runs on the writer goroutine: it must be quick.
	OnSync func(took time.Duration, records int)

	noPrealloc bool // tests: grow segments by writing, as without fallocate
	noSync     bool // fuzzing: skip every fsync (nothing here is durable then)
}

// MaxSealOverhead bounds the bytes a Sealer may add to a payload; record
// size limits are checked with this margin.
const MaxSealOverhead = 512

// Sealer transforms payloads as they are written (see Options.Sealer).
type Sealer interface {
	// Round is called once per write round. It returns the function that
	// seals payloads in that round and the exact number of bytes it adds
	// to each (at most MaxSealOverhead): fixed for the round, so that a
	// key rotation between rounds cannot make a record outgrow the room
	// reserved for it. seal appends the stored form of payload, to be
	// written at pos, to dst; it runs on the writer goroutine.
	Round() (seal func(dst []byte, pos Pos, payload []byte) []byte, overhead int)
}

// Stats are counters since Open.
type Stats struct {
	Appends uint64 // records written
	Batches uint64 // batches written (one pwrite each)
	Syncs   uint64 // fdatasync calls on segment files
	Bytes   uint64 // bytes written to segment files
}

// SegmentInfo describes one segment. The records of a segment are exactly
// those with ID <= pos < End().
type SegmentInfo struct {
	ID       Pos    // position of the segment's first byte; names the file
	Path     string // the segment file
	Size     int64  // bytes of batches (the next write goes here if active)
	Capacity int64  // size the file is preallocated to
	Records  int64  // valid records in the segment
	Batches  int64  // valid batches in the segment
	Sealed   bool   // no longer written to and every record's completion has run; only sealed segments can be removed
	Damaged  int    // damaged regions found when the log was opened (see Recovery)
}

// End is the position just past the segment's last batch.
func (s SegmentInfo) End() Pos { return s.ID + Pos(s.Size) }

// Corruption describes damaged bytes in a segment file. It is also the
// error Read returns for a record that fails its checksum.
type Corruption struct {
	File    string // segment file
	Segment Pos    // segment ID
	Offset  int64  // file offset where the damage starts
	Length  int64  // bytes of damage (records in them are lost)
	Reason  string
}

// Pos is the log position of the first damaged byte.
func (c *Corruption) Pos() Pos { return c.Segment + Pos(c.Offset) }

func (c *Corruption) Error() string {
	return fmt.Sprintf("wal: corrupt data in %s at offset %d (pos %d, %d bytes): %s", c.File, c.Offset, c.Pos(), c.Length, c.Reason)
}

// Recovery reports what Open found.
type Recovery struct {
	Segments int
	Batches  int64
	Records  int64 // records replayed
	End      Pos   // where the next record goes
	// TornTail is the damaged end of the last segment: a write cut short
	// by a crash (or garbage past the last batch). It was zeroed on disk;
	// the log continues from TornTail.Offset. Nil if the log ended cleanly.
	TornTail *Corruption
	// Damaged lists damage that valid batches follow, in the middle of a
	// segment or at the end of a sealed one: data was lost that a crash
	// alone does not explain. Replay went on past each region.
	Damaged []Corruption
}

// segment is one segment file.
type segment struct {
	id       Pos
	path     string
	f        *os.File
	capacity int64
	end      atomic.Int64 // bytes of batches; readers may read below it
	valid    int64        // at Open: end of the last valid batch
	records  atomic.Int64
	batches  atomic.Int64
	damaged  int
	// sealed is set once no record will be added and every record in it
	// has completed: a roll in the middle of a write round seals the
	// segment only after the round's completions have run, because the
	// layer above learns a record's position (and counts it live) only
	// in its completion. Until then the segment cannot be removed.
	sealed atomic.Bool
}

// request kinds.
const (
	reqAppend = iota // a record; complete via w or cb
	reqLazy          // a record nobody waits for
	reqGroup         // records that share a batch
	reqSync          // a barrier: complete after an fdatasync
	reqNoSync        // a record with a callback that asks for no fdatasync
)

type request struct {
	kind uint8
	rec  []byte
	recs [][]byte
	w    *waiter
	cb   func(Pos, error)
	pos  Pos
}

// waiter is what a blocked Append waits on; pooled so that Append does not
// allocate.
type waiter struct {
	ch   chan struct{}
	pos  Pos
	poss []Pos
	err  error
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

func (r *request) complete(err error) {
	if err != nil {
		r.pos = 0
	}
	switch {
	case r.w != nil:
		r.w.pos, r.w.err = r.pos, err
		r.w.ch <- struct{}{}
	case r.cb != nil:
		r.cb(r.pos, err)
	}
}

// Log is an open write-ahead log. All methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options
	lock *os.File

	// segMu guards the segment table only. It is never held across a
	// write or an fdatasync, so readers never wait for the disk.
	segMu  sync.RWMutex
	segs   []*segment // ascending by ID; the last one is active
	closed bool

	// qmu guards the queue of appends and the log's state.
	qmu     sync.Mutex
	queue   []request
	qclosed bool
	failErr error
	pending int64      // payload bytes queued
	qcond   *sync.Cond // on qmu: pending dropped, closed or failed
	wake    chan struct{}
	exited  chan struct{}

	// Owned by the writer goroutine.
	active      *segment
	off         int64 // == active.end
	spare       []request
	buf         []byte // batch being built: header, then records
	bopen       bool
	bstart      int64
	bcount      int
	dirty       bool          // writes to active not yet fdatasynced
	unsynced    int           // records written to active since its last fdatasync
	lastSync    time.Duration // how long the last fdatasync took
	lastSyncAt  time.Time
	gatherTimer *time.Timer
	prealloc    bool
	rolled      []*segment // rolled this round: sealed once it completes
	// The Sealer's seal function and overhead for the current round.
	seal         func(dst []byte, pos Pos, payload []byte) []byte
	sealOverhead int
	closeErr     error

	appends, batches, syncs, bytes atomic.Uint64
	recovery                       Recovery
}

func (o *Options) logf(msg string, kv ...any) {
	if o.Logger != nil {
		o.Logger(msg, kv...)
	}
}

// Open opens the log in dir, creating dir and the first segment if needed.
// It takes an exclusive lock on dir/LOCK for the life of the Log, verifies
// every segment, calls opts.Replay with every valid record in order, cuts
// a torn tail off the last segment and reports damage through the Recovery
// report and opts.Logger. Damage does not stop Open; only I/O errors, a
// Replay error or a locked directory do.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SegmentSize < MinSegmentSize || opts.SegmentSize > MaxSegmentSize {
		return nil, fmt.Errorf("wal: segment size %d out of range [%d, %d]", opts.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	opts.SegmentSize = align8(opts.SegmentSize)
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if os.IsNotExist(statErr) && !opts.noSync {
		// A new directory's name must be durable before anything in it
		// can be.
		if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, fmt.Errorf("wal: %w", err)
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:      dir,
		opts:     opts,
		lock:     lock,
		wake:     make(chan struct{}, 1),
		exited:   make(chan struct{}),
		prealloc: !opts.noPrealloc,
	}
	l.qcond = sync.NewCond(&l.qmu)
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			s.f.Close()
		}
		lock.Close()
		return nil, err
	}
	l.lastSyncAt = time.Now() // the interval counts from opening, not from the zero time
	go l.run()
	return l, nil
}

// lockDir takes the directory lock and writes our pid into it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	busy, err := flock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: lock %s: %w", path, err)
	}
	if busy {
		var b [32]byte
		n, _ := f.ReadAt(b[:], 0)
		f.Close()
		pid := strings.TrimSpace(string(b[:n]))
		if pid == "" {
			pid = "unknown"
		}
		return nil, &LockedError{Dir: dir, PID: pid}
	}
	pid := strconv.Itoa(os.Getpid()) + "\n"
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(pid), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: write pid to %s: %w", path, err)
	}
	return f, nil
}

// LockedError is returned by Open when another Log holds the directory.
type LockedError struct {
	Dir string
	PID string // as written in the LOCK file by the holder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("wal: data directory %s is in use by another process (pid %s)", e.Dir, e.PID)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// recover opens and verifies every segment and sets up the active one.
func (l *Log) recover() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	var ids []Pos
	for _, e := range entries {
		if id, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	rec := &l.recovery
	emit := func(pos Pos, b []byte) error {
		rec.Records++
		if l.opts.Replay != nil {
			return l.opts.Replay(pos, b)
		}
		return nil
	}
	for i, id := range ids {
		last := i == len(ids)-1
		path := filepath.Join(l.dir, segmentName(id))
		flag := os.O_RDONLY
		if last {
			flag = os.O_RDWR
		}
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			return fmt.Errorf("wal: %w", err)
		}
		s := &segment{id: id, path: path, f: f}
		l.segs = append(l.segs, s)
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("wal: %w", err)
		}
		if i > 0 {
			if prev := l.segs[i-1]; prev.id+Pos(prev.valid) > id {
				return fmt.Errorf("wal: segment %s overlaps the data of %s: positions are ambiguous, refusing to open", path, prev.path)
			}
		}
		res, err := scanSegment(f, path, id, fi.Size(), emit)
		if err != nil {
			return err
		}
		s.end.Store(res.end)
		s.records.Store(res.records)
		s.valid = res.end
		s.batches.Store(res.batches)
		s.capacity = max(fi.Size(), l.opts.SegmentSize)
		rec.Segments++
		rec.Batches += res.batches
		for _, c := range res.bad {
			l.reportDamage(c)
		}
		s.damaged = len(res.bad)
		if res.tail == nil {
			continue
		}
		if !last {
			// A sealed segment was fsynced before the next one was
			// created, so a crash cannot tear its end: this is damage.
			// Its bytes stay within the segment's range, so that Read
			// of a record there reports the damage instead of "not found".
			s.damaged++
			l.reportDamage(*res.tail)
			s.end.Store(res.tail.Offset + res.tail.Length)
			continue
		}
		rec.TornTail = res.tail
		l.opts.logf("wal: torn tail cut off", "file", path, "offset", res.tail.Offset, "pos", uint64(res.tail.Pos()), "bytes", res.tail.Length, "reason", res.tail.Reason)
		if err := l.zeroRange(f, res.tail.Offset, res.tail.Offset+res.tail.Length); err != nil {
			return fmt.Errorf("wal: zero torn tail of %s at offset %d: %w", path, res.tail.Offset, err)
		}
	}
	// A damaged tail counted into a sealed segment's range must not reach
	// into the next segment's positions.
	for i := 0; i+1 < len(l.segs); i++ {
		if s, next := l.segs[i], l.segs[i+1]; s.id+Pos(s.end.Load()) > next.id {
			s.end.Store(int64(next.id - s.id))
		}
	}
	if len(l.segs) == 0 {
		s, err := l.createSegment(0)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		rec.Segments = 1
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		s.sealed.Store(true)
	}
	l.active = l.segs[len(l.segs)-1]
	l.off = l.active.end.Load()
	rec.End = l.active.id + Pos(l.off)
	return nil
}

func (l *Log) reportDamage(c Corruption) {
	l.recovery.Damaged = append(l.recovery.Damaged, c)
	l.opts.logf("wal: CORRUPTION: data lost in the middle of the log", "file", c.File, "offset", c.Offset, "pos", uint64(c.Pos()), "bytes", c.Length, "reason", c.Reason)
}

// zeroRange overwrites [from, to) of f with zeros and syncs, so that bytes
// of a torn write can never be read as part of a later batch.
func (l *Log) zeroRange(f *os.File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return l.fdatasync(f)
}

func (l *Log) fdatasync(f *os.File) error {
	if l.opts.noSync {
		return nil
	}
	return fdatasync(f)
}

func (l *Log) fsync(f *os.File) error {
	if l.opts.noSync {
		return nil
	}
	return f.Sync()
}

func (l *Log) syncDir() error {
	if l.opts.noSync {
		return nil
	}
	return syncDir(l.dir)
}

// createSegment creates and preallocates the segment file for id and makes
// its name durable.
func (l *Log) createSegment(id Pos) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(path)
		l.syncDir()
		return nil, err
	}
	if l.prealloc {
		switch err := preallocate(f, l.opts.SegmentSize); {
		case errors.Is(err, errPreallocUnsupported):
			l.prealloc = false
			l.opts.logf("wal: file system cannot preallocate, segments will grow as written", "dir", l.dir)
		case err != nil:
			return fail(err)
		default:
			// Make the allocation durable now, once, instead of in the
			// first fdatasync of an append.
			if err := l.fsync(f); err != nil {
				return fail(err)
			}
		}
	}
	if err := l.syncDir(); err != nil {
		return fail(err)
	}
	return &segment{id: id, path: path, f: f, capacity: l.opts.SegmentSize}, nil
}

// syncDir makes creations and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Recovery returns what Open found.
func (l *Log) Recovery() Recovery { return l.recovery }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Stats returns counters since Open.
func (l *Log) Stats() Stats {
	return Stats{Appends: l.appends.Load(), Batches: l.batches.Load(), Syncs: l.syncs.Load(), Bytes: l.bytes.Load()}
}

func (l *Log) maxRecord() int64 {
	return l.opts.SegmentSize - batchHeaderSize - recordHeaderSize
}

// MaxRecord is the length of the largest record Append accepts: what one
// segment holds, less the sealing overhead when the log seals.
func (l *Log) MaxRecord() int {
	n := l.maxRecord()
	if l.opts.Sealer != nil {
		n -= MaxSealOverhead
	}
	return int(n)
}

func (l *Log) checkSize(n int) error {
	if l.opts.Sealer != nil {
		n += MaxSealOverhead
	}
	if int64(n) > l.maxRecord() {
		return fmt.Errorf("%w: %d bytes, segment size %d", ErrRecordTooLarge, n, l.opts.SegmentSize)
	}
	return nil
}

func (l *Log) enqueue(r request) error {
	size := int64(len(r.rec))
	for _, rec := range r.recs {
		size += int64(len(rec))
	}
	l.qmu.Lock()
	for {
		if l.qclosed {
			l.qmu.Unlock()
			return ErrClosed
		}
		if err := l.failErr; err != nil {
			l.qmu.Unlock()
			return err
		}
		// Backpressure: wait while the writer is behind by more than
		// MaxPendingBytes. A lone request of any size may go in.
		if l.pending == 0 || l.pending+size <= l.opts.MaxPendingBytes {
			break
		}
		l.qcond.Wait()
	}
	l.queue = append(l.queue, r)
	l.pending += size
	l.qmu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// Append writes rec and returns its position once it is durable according
// to the sync mode (with SyncAlways: after an fdatasync that covers it).
// rec is not retained after Append returns.
func (l *Log) Append(rec []byte) (Pos, error) {
	if err := l.checkSize(len(rec)); err != nil {
		return 0, err
	}
	w := waiterPool.Get().(*waiter)
	if err := l.enqueue(request{kind: reqAppend, rec: rec, w: w}); err != nil {
		waiterPool.Put(w)
		return 0, err
	}
	<-w.ch
	pos, err := w.pos, w.err
	w.err = nil
	waiterPool.Put(w)
	return pos, err
}

// AppendAsync writes rec and calls done with its position (or an error)
// when Append would have returned. done runs on the writer goroutine, in
// log order: it must be quick and must not call any Append method, Sync or
// Close (they may wait for the writer). rec must not be modified until done
// is called. If AppendAsync returns an error, done is not called.
// AppendAsync itself waits only for backpressure (MaxPendingBytes).
func (l *Log) AppendAsync(rec []byte, done func(Pos, error)) error {
	if done == nil {
		return l.AppendLazy(rec)
	}
	if err := l.checkSize(len(rec)); err != nil {
		return err
	}
	return l.enqueue(request{kind: reqAppend, rec: rec, cb: done})
}

// AppendAsyncNoSync is AppendAsync for a record that needs no durability:
// done is called once rec is written (not synced), and rec does not make
// its batch wait for an fdatasync. For data that only has to leave memory,
// such as transient messages paged out.
func (l *Log) AppendAsyncNoSync(rec []byte, done func(Pos, error)) error {
	if err := l.checkSize(len(rec)); err != nil {
		return err
	}
	return l.enqueue(request{kind: reqNoSync, rec: rec, cb: done})
}

// AppendLazy queues rec to be written with the next batch and returns
// without waiting for the write (only, like AppendAsync, for
// backpressure). It carries no durability promise: a crash may lose it
// (but never tears it: it is in a checksummed batch like any record), and a
// write error is reported only to later appends. Records appended after it
// and synced are written after it, so once a later Append returns, rec is
// durable too. rec is copied.
func (l *Log) AppendLazy(rec []byte) error {
	if err := l.checkSize(len(rec)); err != nil {
		return err
	}
	return l.enqueue(request{kind: reqLazy, rec: slices.Clone(rec)})
}

// AppendBatch writes recs as one atomic unit: all in one batch, so after a
// crash either all of them are in the log or none is. It returns their
// positions, once durable as for Append.
func (l *Log) AppendBatch(recs [][]byte) ([]Pos, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	var total int64
	for _, r := range recs {
		n := len(r)
		if l.opts.Sealer != nil {
			n += MaxSealOverhead
		}
		total += recordSize(n)
	}
	if total+batchHeaderSize > l.opts.SegmentSize {
		return nil, fmt.Errorf("%w: batch of %d records, %d bytes, segment size %d", ErrRecordTooLarge, len(recs), total, l.opts.SegmentSize)
	}
	w := &waiter{ch: make(chan struct{}, 1), poss: make([]Pos, len(recs))}
	if err := l.enqueue(request{kind: reqGroup, recs: recs, w: w}); err != nil {
		return nil, err
	}
	<-w.ch
	if w.err != nil {
		return nil, w.err
	}
	return w.poss, nil
}

// Sync writes everything queued so far and fdatasyncs it, whatever the
// sync mode.
func (l *Log) Sync() error {
	w := waiterPool.Get().(*waiter)
	if err := l.enqueue(request{kind: reqSync, w: w}); err != nil {
		waiterPool.Put(w)
		return err
	}
	<-w.ch
	err := w.err
	w.err = nil
	waiterPool.Put(w)
	return err
}

// Close writes and syncs everything queued, stops the writer, closes the
// segment files and releases the directory lock. It returns the error that
// failed the log, if one did.
func (l *Log) Close() error {
	l.qmu.Lock()
	if l.qclosed {
		l.qmu.Unlock()
		return ErrClosed
	}
	l.qclosed = true
	l.qcond.Broadcast()
	l.qmu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.exited
	l.segMu.Lock()
	l.closed = true
	for _, s := range l.segs {
		s.f.Close()
	}
	l.segs = nil
	l.segMu.Unlock()
	l.lock.Close() // releases the flock
	return l.closeErr
}

// failure returns the error that failed the log, or nil.
func (l *Log) failure() error {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return l.failErr
}

// fail puts the log in the failed state: it reports err for every append
// from now on. Nothing is retried: after a failed write or fdatasync the
// state of the file is unknown, and a retried fdatasync can report success
// for pages the kernel already dropped.
func (l *Log) fail(err error) error {
	l.qmu.Lock()
	first := l.failErr == nil
	if first {
		l.failErr = fmt.Errorf("%w: %w", ErrFailed, err)
		l.qcond.Broadcast()
	}
	ferr := l.failErr
	l.qmu.Unlock()
	if first {
		l.opts.logf("wal: log failed, appends are refused until it is reopened", "error", err.Error())
	}
	return ferr
}

// run is the writer goroutine: it takes everything queued, writes it as
// one batch per segment (or per MaxBatchBytes), fdatasyncs once, completes
// every request, and repeats.
func (l *Log) run() {
	defer close(l.exited)
	var tick <-chan time.Time
	if l.opts.Sync.every > 0 {
		t := time.NewTicker(l.opts.Sync.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.wake:
		case <-tick:
			if l.dirty && l.failure() == nil {
				if err := l.syncActive(); err != nil {
					l.fail(err)
				}
			}
			continue
		}
		synced := 0 // waiters the last round completed after an fdatasync
		for {
			if synced > 1 {
				l.gather(synced)
			}
			l.qmu.Lock()
			reqs := l.queue
			l.queue, l.spare = l.spare, nil
			closing := l.qclosed
			if l.pending > 0 {
				l.pending = 0
				l.qcond.Broadcast()
			}
			l.qmu.Unlock()
			if len(reqs) == 0 {
				if closing {
					l.finish()
					return
				}
				l.spare = reqs
				break
			}
			synced = l.process(reqs)
			clear(reqs) // drop references to callers' buffers
			l.spare = reqs[:0]
			// Under constant load the ticker case above is not reached:
			// keep the SyncInterval promise here.
			if every := l.opts.Sync.every; every > 0 && l.dirty && time.Since(l.lastSyncAt) >= every && l.failure() == nil {
				if err := l.syncActive(); err != nil {
					l.fail(err)
				}
			}
		}
	}
}

// gather gives the appenders that the last round just woke a moment to
// queue their next records, so that they join the next fdatasync instead of
// the one after it. Without it, concurrent appenders split into two cohorts
// that alternate, and each fdatasync carries only half of them. It waits
// until as many requests are queued as the last round completed, or for a
// quarter of the last fdatasync's duration (at most 200µs), whichever comes
// first; so it costs little next to what it saves, and nothing to a lone
// appender.
func (l *Log) gather(k int) {
	wait := min(l.lastSync/4, 200*time.Microsecond)
	if wait <= 0 {
		return
	}
	if l.gatherTimer == nil {
		l.gatherTimer = time.NewTimer(wait)
	} else {
		l.gatherTimer.Reset(wait)
	}
	defer l.gatherTimer.Stop()
	for {
		l.qmu.Lock()
		n, closing := len(l.queue), l.qclosed
		l.qmu.Unlock()
		if n >= k || closing {
			return
		}
		select {
		case <-l.wake: // something was queued: count again
		case <-l.gatherTimer.C:
			return
		}
	}
}

// finish is the writer's last act: sync what was written.
func (l *Log) finish() {
	if l.failure() == nil && l.dirty {
		if err := l.syncActive(); err != nil {
			l.fail(err)
		}
	}
	l.closeErr = l.failure()
}

// process writes and completes one round of requests. It returns how many
// waiters it completed after an fdatasync.
func (l *Log) process(reqs []request) (synced int) {
	if err := l.failure(); err != nil {
		for i := range reqs {
			reqs[i].complete(err)
		}
		return 0
	}
	needSync := false
	var n uint64
	if l.opts.Sealer != nil {
		l.seal, l.sealOverhead = l.opts.Sealer.Round()
	}
	for i := range reqs {
		r := &reqs[i]
		var err error
		switch r.kind {
		case reqSync:
			needSync = true
		case reqGroup:
			var total int64
			for _, rec := range r.recs {
				total += recordSize(len(rec) + l.sealOverhead)
			}
			if err = l.reserve(total); err == nil {
				for j, rec := range r.recs {
					r.w.poss[j] = l.add(rec)
				}
				n += uint64(len(r.recs))
			}
		default:
			if err = l.reserve(recordSize(len(r.rec) + l.sealOverhead)); err == nil {
				r.pos = l.add(r.rec)
				n++
			}
		}
		if err != nil {
			l.abort(reqs, err)
			return 0
		}
		if r.kind != reqLazy && r.kind != reqNoSync && l.opts.Sync.every == 0 {
			needSync = true
		}
	}
	if err := l.flush(); err != nil {
		l.abort(reqs, err)
		return 0
	}
	if needSync && l.dirty {
		if err := l.syncActive(); err != nil {
			l.abort(reqs, err)
			return 0
		}
	}
	l.appends.Add(n)
	for i := range reqs {
		if needSync && reqs[i].kind != reqLazy && reqs[i].kind != reqNoSync {
			synced++
		}
		reqs[i].complete(nil)
	}
	l.sealRolled()
	return synced
}

// sealRolled marks the segments the round rolled away from as sealed, now
// that the round's completions have run.
func (l *Log) sealRolled() {
	for _, s := range l.rolled {
		s.sealed.Store(true)
	}
	clear(l.rolled)
	l.rolled = l.rolled[:0]
}

// abort fails the log and every request of the round: none of them is
// known to be durable.
func (l *Log) abort(reqs []request, err error) {
	l.bopen = false
	err = l.fail(err)
	for i := range reqs {
		reqs[i].complete(err)
	}
	l.sealRolled()
}

// reserve makes sure the open batch can take size more bytes, flushing it
// or rolling to a new segment as needed.
func (l *Log) reserve(size int64) error {
	if l.bopen {
		n := int64(len(l.buf)) + size
		if n-batchHeaderSize <= int64(l.opts.MaxBatchBytes) && l.off+n <= l.active.capacity {
			return nil
		}
		if err := l.flush(); err != nil {
			return err
		}
	}
	if l.off+batchHeaderSize+size > l.active.capacity {
		if err := l.roll(); err != nil {
			return err
		}
	}
	l.bopen = true
	l.bstart = l.off
	l.bcount = 0
	l.buf = append(l.buf[:0], zeros[:batchHeaderSize]...)
	return nil
}

// add appends a record to the open batch, sealed if there is a Sealer,
// and returns its position.
func (l *Log) add(rec []byte) Pos {
	pos := l.active.id + Pos(l.bstart) + Pos(len(l.buf))
	if l.seal == nil {
		l.buf = appendRecord(l.buf, pos, rec)
	} else {
		at := len(l.buf)
		l.buf = append(l.buf, zeros[:recordHeaderSize]...)
		l.buf = l.seal(l.buf, pos, rec)
		payload := l.buf[at+recordHeaderSize:]
		if len(payload) != len(rec)+l.sealOverhead {
			panic(fmt.Sprintf("wal: sealer added %d bytes, announced %d", len(payload)-len(rec), l.sealOverhead))
		}
		le.PutUint32(l.buf[at:], uint32(len(payload)))
		le.PutUint32(l.buf[at+4:], recordCRC(pos, payload))
		l.buf = append(l.buf, zeros[:align8(int64(len(payload)))-int64(len(payload))]...)
	}
	l.bcount++
	return pos
}

// flush writes the open batch with one pwrite.
func (l *Log) flush() error {
	if !l.bopen {
		return nil
	}
	l.bopen = false
	s := l.active
	putBatchHeader(l.buf[:batchHeaderSize], s.id+Pos(l.bstart), l.buf[batchHeaderSize:], l.bcount)
	if _, err := s.f.WriteAt(l.buf, l.bstart); err != nil {
		return fmt.Errorf("write %s at offset %d: %w", s.path, l.bstart, errnoOf(err))
	}
	l.off += int64(len(l.buf))
	s.end.Store(l.off)
	s.records.Add(int64(l.bcount))
	l.unsynced += l.bcount
	s.batches.Add(1)
	l.batches.Add(1)
	l.bytes.Add(uint64(len(l.buf)))
	l.dirty = true
	// Do not keep a huge buffer from one large batch forever.
	if cap(l.buf) > 4*l.opts.MaxBatchBytes {
		l.buf = nil
	}
	return nil
}

func (l *Log) syncActive() error {
	start := time.Now()
	if err := l.fdatasync(l.active.f); err != nil {
		return fmt.Errorf("fdatasync %s: %w", l.active.path, errnoOf(err))
	}
	l.lastSyncAt = time.Now()
	l.lastSync = l.lastSyncAt.Sub(start)
	l.syncs.Add(1)
	l.dirty = false
	if l.opts.OnSync != nil {
		l.opts.OnSync(l.lastSync, l.unsynced)
	}
	l.unsynced = 0
	return nil
}

// roll seals the active segment and starts the next one. The sealed
// segment is synced first, in every sync mode, so that only the last
// segment can ever have a torn tail and damage anywhere else is known to
// be real.
func (l *Log) roll() error {
	if l.off == 0 {
		return fmt.Errorf("%w: nothing fits in an empty segment", ErrRecordTooLarge)
	}
	if l.dirty {
		if err := l.syncActive(); err != nil {
			return err
		}
	}
	s, err := l.createSegment(l.active.id + Pos(l.off))
	if err != nil {
		return fmt.Errorf("create segment: %w", unwrapPath(err))
	}
	l.segMu.Lock()
	l.segs = append(l.segs, s)
	l.segMu.Unlock()
	l.rolled = append(l.rolled, l.active)
	l.active, l.off = s, 0
	return nil
}

// errnoOf strips the *os.PathError from err where the caller names the
// file itself.
func errnoOf(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, filepath.Base(pe.Path), pe.Err)
	}
	return err
}

// find returns the segment whose ID is the greatest <= pos. segMu must be
// held.
func (l *Log) find(pos Pos) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].id > pos })
	if i == 0 {
		return nil
	}
	return l.segs[i-1]
}
