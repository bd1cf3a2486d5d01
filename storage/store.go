package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/storage/wal"
)

// Options configure Open.
type Options struct {
	// Dir is the data directory; the log lives in Dir/wal.
	Dir string
	// Keyring seals everything written; nil writes plain records.
	Keyring *Keyring
	// Sync is the log's durability mode: wal.SyncAlways (the default: a
	// confirm waits for the fsync covering its message) or
	// wal.SyncInterval(d) (confirm once written, fsync every d).
	Sync        wal.SyncMode
	SegmentSize int64
	// CompactInterval is how often head segments are checked for reclaim
	// (default 1 s).
	CompactInterval time.Duration
	// AcceptUnsealed lets a store with a keyring read unsealed records
	// (format byte 0x00), to encrypt a data directory that was written
	// without a keyring; without it such records make Open fail, because
	// whoever can write the data directory could inject them.
	AcceptUnsealed bool
	Logger         zerolog.Logger
}

// Store is the durable store behind the broker.
type Store struct {
	counters storeCounters // for Metrics (metrics.go)

	opts   Options
	log    *wal.Log
	keys   atomic.Pointer[Keyring] // swapped by SetKeyring (SIGHUP)
	dataID [16]byte                // the data directory's identity (IDENTITY)
	sealer *logSealer
	lg     zerolog.Logger

	mu   sync.Mutex
	msgs map[uint64]*liveMsg
	// returns counts, per message and queue, the times a delivered
	// message came back unacked (x-delivery-limit), so that a copy made
	// by compaction carries the count. Only returned messages are here.
	returns map[retKey]uint32
	// pending holds messages whose record is being written, for reads.
	pending  map[uint64]*message.Message
	segs     map[wal.Pos]*segStats
	queueIDs map[broker.QueueRef]uint32
	queues   []broker.QueueRef // by id
	perQueue []int64           // live bytes on disk by queue id
	resettle []pendingSettle
	// dedup ids still inside their window: they keep their segment alive.
	dedup  map[dedupKey]*liveDedup
	closed atomic.Bool

	// compactMu serializes Compact (the loop's and any caller's); it
	// guards prevLive, every segment's live bytes when the last pass
	// ended.
	compactMu sync.Mutex
	prevLive  map[wal.Pos]int64

	defsMu sync.Mutex
	stop   chan struct{}
	wg     sync.WaitGroup
}

type retKey struct {
	id  uint64
	qid uint32
}

type segStats struct {
	live      int
	liveBytes int64
}

type dedupKey struct {
	scope broker.QueueRef
	key   string
}

type liveDedup struct {
	seg    wal.Pos
	size   uint32
	exp    int64
	answer string // carried forward by compaction with the id
}

type pendingSettle struct {
	id  uint64
	ref broker.QueueRef
}

// Recovered is what Open found to give back to the broker.
type Recovered struct {
	Definitions broker.Definitions
	// Messages yields the messages still owed to queues, in id order,
	// reading each back from the log: a backlog is never all in memory.
	// It must be run once, before traffic.
	Messages iter.Seq[broker.RecoveredMessage]
	// MessageCount is how many Messages yields.
	MessageCount int
	Dedup        []broker.RecoveredDedup
	Log          wal.Recovery
}

// Open opens (or creates) the store in opts.Dir and replays it.
func Open(opts Options) (*Store, *Recovered, error) {
	if opts.CompactInterval == 0 {
		opts.CompactInterval = time.Second
	}
	s := &Store{opts: opts, lg: opts.Logger, msgs: map[uint64]*liveMsg{}, pending: map[uint64]*message.Message{},
		returns: map[retKey]uint32{},
		segs:    map[wal.Pos]*segStats{}, queueIDs: map[broker.QueueRef]uint32{}, stop: make(chan struct{}),
		dedup: map[dedupKey]*liveDedup{}}
	s.keys.Store(opts.Keyring)
	rec := &Recovered{}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, nil, err
	}
	var err error
	if s.dataID, err = loadIdentity(opts.Dir); err != nil {
		return nil, nil, err
	}
	if rec.Definitions, err = s.loadDefinitions(); err != nil {
		return nil, nil, err
	}
	r := &replayer{s: s, dedups: map[dedupKey]dedupAt{}}
	s.sealer = &logSealer{keys: s.keyring, dataID: s.dataID}
	l, err := wal.Open(filepath.Join(opts.Dir, "wal"), wal.Options{Sync: opts.Sync, SegmentSize: opts.SegmentSize,
		Replay: r.record, Logger: s.walLogger, Sealer: s.sealer, OnSync: s.synced})
	if err != nil {
		return nil, nil, err
	}
	s.log = l
	rec.Log = l.Recovery()
	r.report()
	s.indexRecovered(rec)
	s.restoreDedup(rec, r.dedups)
	s.wg.Add(1)
	go s.compactLoop()
	return s, rec, nil
}

// identityFile holds the data directory's random identity, which sealed
// records are bound to (see crypto.go).
const identityFile = "IDENTITY"

// loadIdentity reads the data directory's identity, creating it in a new
// directory.
func loadIdentity(dir string) ([16]byte, error) {
	var id [16]byte
	path := filepath.Join(dir, identityFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if n, derr := hex.Decode(id[:], bytes.TrimSpace(data)); derr != nil || n != len(id) {
			return id, fmt.Errorf("%s: not 32 hex digits", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	if _, err := rand.Read(id[:]); err != nil {
		return id, err
	}
	return id, writeFileAtomic(path, []byte(hex.EncodeToString(id[:])+"\n"))
}

// loadDefinitions reads the definitions file, if there is one.
func (s *Store) loadDefinitions() (broker.Definitions, error) {
	data, err := os.ReadFile(filepath.Join(s.opts.Dir, definitionsFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return broker.Definitions{}, nil
	case err != nil:
		return broker.Definitions{}, err
	}
	plain, err := s.keyring().open(nil, data, s.definitionsBinding(), s.opts.AcceptUnsealed)
	if errors.Is(err, ErrUnsealed) {
		return broker.Definitions{}, fmt.Errorf("%s: %w: %s", definitionsFile, err, acceptUnsealedHint)
	}
	if err != nil {
		return broker.Definitions{}, fmt.Errorf("%s: %w", definitionsFile, err)
	}
	d, err := unmarshalDefinitions(plain)
	if err != nil {
		return d, fmt.Errorf("%s: %w", definitionsFile, err)
	}
	return d, nil
}

func (s *Store) definitionsBinding() binding {
	return binding{place: placeDefinitions, dataID: s.dataID}
}

func (s *Store) logBinding(pos wal.Pos) binding {
	return binding{place: placeLog, dataID: s.dataID, pos: uint64(pos)}
}

// acceptUnsealedHint says what to do about unsealed records.
const acceptUnsealedHint = "the data directory was written without encryption (or modified); " +
	"to encrypt an existing unencrypted data directory, start once with --encryption-accept-unsealed"

func (s *Store) walLogger(msg string, kv ...any) {
	ev := s.lg.Warn()
	for i := 0; i+1 < len(kv); i += 2 {
		ev = ev.Interface(fmt.Sprint(kv[i]), kv[i+1])
	}
	ev.Msg("wal: " + msg)
}

// dedupAt is a recovered de-duplication record and where it lies.
type dedupAt struct {
	d   broker.RecoveredDedup
	pos wal.Pos
	n   uint32
}

// replayer builds the index straight from the log replay: a message record
// becomes a live entry, later records settle or mark it. Bodies are not
// kept; the recovered messages are read back one at a time afterwards.
type replayer struct {
	s        *Store
	plain    []byte
	bad      int
	unsealed int
	dedups   map[dedupKey]dedupAt
}

// record replays one log record (wal.Options.Replay).
func (r *replayer) record(pos wal.Pos, raw []byte) error {
	s := r.s
	var err error
	r.plain, err = s.keyring().open(r.plain[:0], raw, s.logBinding(pos), s.opts.AcceptUnsealed)
	if errors.Is(err, ErrUnsealed) {
		// Refuse the whole log: skipping would lose the messages, and
		// serving them would let whoever can write the data directory
		// inject messages.
		return fmt.Errorf("storage: record at %d: %w: %s", pos, err, acceptUnsealedHint)
	}
	if errors.Is(err, errOldFormat) {
		return err
	}
	if err != nil || len(r.plain) == 0 {
		// Authenticated encryption failed or an unknown format: the
		// record is reported, never served.
		r.bad++
		s.lg.Error().Err(err).Uint64("pos", uint64(pos)).Msg("storage: unreadable record skipped")
		return nil
	}
	if len(raw) > 0 && raw[0] == formatPlain && s.keyring() != nil {
		r.unsealed++
	}
	kind, body, err := splitRecord(r.plain)
	if errors.Is(err, errOldFormat) {
		return err // refuse the whole log rather than skip its messages
	}
	switch kind {
	case kindMessage:
		id, targets, err := decodeMessageHead(body)
		if err != nil {
			r.bad++
			s.lg.Error().Err(err).Uint64("pos", uint64(pos)).Msg("storage: undecodable message record skipped")
			return nil
		}
		lm := &liveMsg{pos: pos, size: uint32(len(raw))}
		for _, t := range targets {
			qid := s.queueID(t.ref)
			if t.returns > 0 {
				s.returns[retKey{id, qid}] = t.returns // a copy carries its count
			} else {
				delete(s.returns, retKey{id, qid})
			}
			if t.delivered {
				qid |= deliveredBit
			}
			lm.addTarget(qid)
		}
		s.msgs[id] = lm
	case kindSettled, kindDelivered, kindReturned:
		id, ref, err := decodeRef(body)
		if err != nil {
			r.bad++
			return nil
		}
		r.applyRef(kind, id, s.queueID(ref))
	case kindSettledMany, kindDeliveredMany:
		ref, ids, err := decodeRefs(body)
		if err != nil {
			r.bad++
			return nil
		}
		one := kindSettled
		if kind == kindDeliveredMany {
			one = kindDelivered
		}
		qid := s.queueID(ref)
		for len(ids) >= 8 {
			r.applyRef(one, binary.LittleEndian.Uint64(ids), qid)
			ids = ids[8:]
		}
	case kindSpill:
		// A transient message paged out before the restart: gone.
	case kindDedup:
		d, err := decodeDedup(body)
		if err != nil {
			r.bad++
			return nil
		}
		r.dedups[dedupKey{d.Scope, d.Key}] = dedupAt{d, pos, uint32(len(raw))}
	default:
		r.bad++
	}
	return nil
}

// applyRef replays a settled, delivered or returned record.
func (r *replayer) applyRef(kind byte, id uint64, qid uint32) {
	s := r.s
	lm := s.msgs[id]
	if lm == nil {
		return
	}
	i := lm.find(qid)
	if i < 0 {
		return
	}
	switch kind {
	case kindDelivered:
		lm.setTarget(i, lm.targetAt(i)|deliveredBit)
	case kindReturned:
		s.returns[retKey{id, qid}]++
	default:
		delete(s.returns, retKey{id, qid})
		lm.removeTarget(i)
		if lm.n == 0 {
			delete(s.msgs, id)
		}
	}
}

// report logs what the replay could not use.
func (r *replayer) report() {
	if r.bad > 0 {
		r.s.lg.Error().Int("records", r.bad).Msg("storage: some log records could not be read (damage, tampering or a missing key); the rest was recovered")
	}
	if r.unsealed > 0 {
		r.s.lg.Warn().Int("records", r.unsealed).Msg("storage: unsealed records accepted (--encryption-accept-unsealed); they are sealed as compaction rewrites them")
	}
}

// indexRecovered accounts the live messages found by the replay and sets
// up rec.Messages, which reads them back one at a time.
func (s *Store) indexRecovered(rec *Recovered) {
	for k := range s.returns {
		if lm := s.msgs[k.id]; lm == nil || lm.find(k.qid) < 0 {
			delete(s.returns, k)
		}
	}
	ids := make([]uint64, 0, len(s.msgs))
	for id, lm := range s.msgs {
		s.account(lm, +1)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rec.MessageCount = len(ids)
	rec.Messages = func(yield func(broker.RecoveredMessage) bool) {
		for _, id := range ids {
			m, published, err := s.readLive(id)
			if err != nil {
				if !errors.Is(err, errNotLive) {
					s.lg.Error().Err(err).Uint64("message", id).Msg("storage: cannot read back a recovered message; it stays in the log, unsettled")
				}
				continue
			}
			rm := broker.RecoveredMessage{ID: id, PublishedAt: published, Msg: m}
			s.mu.Lock()
			if lm := s.msgs[id]; lm != nil {
				for i := 0; i < int(lm.n); i++ {
					t := lm.targetAt(i)
					qid := t &^ deliveredBit
					rm.Queues = append(rm.Queues, broker.RecoveredTarget{QueueRef: s.queues[qid],
						Delivered: t&deliveredBit != 0, Returns: s.returns[retKey{id, qid}]})
				}
			}
			s.mu.Unlock()
			if len(rm.Queues) > 0 && !yield(rm) {
				return
			}
		}
	}
}

// restoreDedup keeps the de-duplication ids still inside their window.
func (s *Store) restoreDedup(rec *Recovered, dedups map[dedupKey]dedupAt) {
	now := time.Now().UnixNano()
	for k, d := range dedups {
		if d.d.ExpiresAt <= now {
			continue
		}
		ld := &liveDedup{seg: s.segmentOf(d.pos), size: d.n, exp: d.d.ExpiresAt, answer: d.d.Answer}
		s.dedup[k] = ld
		s.accountDedup(ld, +1)
		rec.Dedup = append(rec.Dedup, d.d)
	}
}

// keyring is the current keyring (nil: records are written plain).
func (s *Store) keyring() *Keyring { return s.keys.Load() }

// SetKeyring replaces the keyring while running (key rotation on SIGHUP):
// new records are sealed with the new first key, and records under keys
// still listed stay readable. A keyring cannot be taken away, only replaced.
func (s *Store) SetKeyring(k *Keyring) error {
	if k == nil && s.keys.Load() != nil {
		return errors.New("storage: refusing to turn encryption off while running")
	}
	s.keys.Store(k)
	return nil
}

// queueID interns a queue reference. s.mu held (or during Open).
func (s *Store) queueID(ref broker.QueueRef) uint32 {
	if id, ok := s.queueIDs[ref]; ok {
		return id
	}
	id := uint32(len(s.queues))
	s.queueIDs[ref] = id
	s.queues = append(s.queues, ref)
	s.perQueue = append(s.perQueue, 0)
	return id
}

// segmentOf finds the segment holding pos.
func (s *Store) segmentOf(pos wal.Pos) wal.Pos {
	if info, ok := s.log.SegmentOf(pos); ok {
		return info.ID
	}
	return 0
}

// account adds (sign +1) or removes (-1) a live message's bytes.
func (s *Store) account(lm *liveMsg, sign int) {
	seg := s.segmentOf(lm.pos)
	st := s.segs[seg]
	if st == nil {
		st = &segStats{}
		s.segs[seg] = st
	}
	st.live += sign
	st.liveBytes += int64(sign) * int64(lm.size)
	for i := 0; i < int(lm.n); i++ {
		s.perQueue[lm.targetAt(i)&^deliveredBit] += int64(sign) * int64(lm.size) / int64(lm.n)
	}
}

// LogMessage implements broker.Persister. It refuses a record that would
// leave less than copyRoom free in a segment.
func (s *Store) LogMessage(id uint64, publishedAt int64, refs []broker.QueueRef, m *message.Message, done func(error)) error {
	return s.logMessage(id, publishedAt, refs, m, s.copyRoom(), done)
}

// LogCopy implements broker.Persister: a copy may fill a segment.
func (s *Store) LogCopy(id uint64, publishedAt int64, refs []broker.QueueRef, m *message.Message, done func(error)) error {
	return s.logMessage(id, publishedAt, refs, m, 0, done)
}

// copyRoom is what a published message's record must leave free in a
// segment, so that the copies the core makes of it later, larger by their
// x-death headers (a few hundred bytes per dead-lettering with names at
// their 255-byte limit), still fit: an eighth of a segment, at most 64
// KiB. With the default 64 MiB segments and 16 MiB messages it never
// matters; it does with small --segment-size values.
func (s *Store) copyRoom() int {
	return min(s.log.MaxRecord()/8, 64<<10)
}

// ErrNoRoomToCopy refuses a message that would fit a segment with too
// little room for its later copies (copyRoom).
var ErrNoRoomToCopy = errors.New("storage: message too large for the log's segments (with room for dead-letter headers)")

func (s *Store) logMessage(id uint64, publishedAt int64, refs []broker.QueueRef, m *message.Message, room int, done func(error)) error {
	targets := make([]target, len(refs))
	lm := &liveMsg{}
	s.mu.Lock()
	s.pending[id] = m
	for i, r := range refs {
		targets[i] = target{ref: r}
		lm.addTarget(s.queueID(r))
	}
	s.msgs[id] = lm
	s.mu.Unlock()
	rec, err := s.sealMessage(kindMessage, id, publishedAt, targets, m)
	if err == nil && room > 0 && len(rec)+room > s.log.MaxRecord() {
		err = fmt.Errorf("%w: a record of %d bytes, at most %d allowed", ErrNoRoomToCopy, len(rec), s.log.MaxRecord()-room)
	}
	if err != nil {
		s.forget(id, lm)
		s.fail(id, done, err)
		return err
	}
	return s.append(id, lm, rec, done)
}

// sealMessage encodes a message record; the log seals it as it writes it
// (logSealer), bound to its position.
func (s *Store) sealMessage(kind byte, id uint64, publishedAt int64, targets []target, m *message.Message) ([]byte, error) {
	return encodeMessage(make([]byte, 0, messageRecordSize(targets, m)), kind, id, publishedAt, targets, m)
}

// append writes sealed message record rec for index entry lm. A
// transient spill (done nil) is not waited for by anyone and costs no
// fsync of its own.
func (s *Store) append(id uint64, lm *liveMsg, rec []byte, done func(error)) error {
	cb := func(pos wal.Pos, err error) {
		s.mu.Lock()
		if cur := s.msgs[id]; cur == lm {
			if err == nil {
				lm.pos, lm.size = pos, uint32(len(rec))
				s.account(lm, +1)
			} else {
				delete(s.msgs, id) // never logged: nothing to settle or read
			}
		}
		delete(s.pending, id)
		s.mu.Unlock()
		if done != nil {
			done(err)
		}
	}
	var err error
	if done == nil {
		err = s.log.AppendAsyncNoSync(rec, cb)
	} else {
		err = s.log.AppendAsync(rec, cb)
	}
	if err != nil {
		s.forget(id, lm)
		s.fail(id, done, err)
	}
	return err
}

// forget drops the index entry and pending body of message id, whose record
// was never written: a refused message must not stay in memory for good.
func (s *Store) forget(id uint64, lm *liveMsg) {
	s.mu.Lock()
	if s.msgs[id] == lm {
		delete(s.msgs, id)
	}
	delete(s.pending, id)
	s.mu.Unlock()
}

// Spill implements broker.Persister: it registers transient message m so
// that its queue can drop it from memory; reads are served from m until
// WriteSpills has written its record, which is never recovered. It takes
// only s.mu: it runs under a queue's lock.
func (s *Store) Spill(id uint64, m *message.Message) error {
	if s.closed.Load() {
		return wal.ErrClosed
	}
	s.mu.Lock()
	s.msgs[id] = &liveMsg{spilled: true}
	s.pending[id] = m
	s.mu.Unlock()
	return nil
}

// WriteSpills implements broker.Persister: it writes the records of
// messages registered by Spill, skipping those unspilled meanwhile. It may
// wait for the log's back-pressure, so it is called without queue locks.
func (s *Store) WriteSpills(ids []uint64) {
	for _, id := range ids {
		s.mu.Lock()
		lm, m := s.msgs[id], s.pending[id]
		s.mu.Unlock()
		if lm == nil || !lm.spilled || m == nil || lm.pos != 0 {
			continue
		}
		rec, err := s.sealMessage(kindSpill, id, 0, nil, m)
		if err != nil {
			// Cannot happen for a message the broker holds (the codec is
			// total); the body stays in pending, readable.
			s.lg.Error().Err(err).Uint64("message", id).Msg("storage: cannot spill a message; it stays in memory")
			continue
		}
		s.append(id, lm, rec, nil)
	}
}

// Unspill implements broker.Persister: a spilled message left its queue.
func (s *Store) Unspill(id uint64) {
	s.mu.Lock()
	if lm := s.msgs[id]; lm != nil && lm.spilled {
		if lm.pos != 0 {
			s.account(lm, -1)
		}
		delete(s.msgs, id)
		delete(s.pending, id) // its record may not even be written yet
	}
	s.mu.Unlock()
}

// errNotLive answers a read of a message no queue holds any more.
var errNotLive = errors.New("storage: message is not live")

// ReadMessage implements broker.Persister: it reads a paged-out message
// back.
func (s *Store) ReadMessage(id uint64) (*message.Message, error) {
	m, _, err := s.readLive(id)
	return m, err
}

// readLive reads live message id: from memory while its write is pending,
// else from the log. A compaction may move the record between the index
// lookup and the read; then the lookup is repeated.
func (s *Store) readLive(id uint64) (*message.Message, int64, error) {
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		lm := s.msgs[id]
		if lm == nil {
			s.mu.Unlock()
			return nil, 0, errNotLive
		}
		if lm.pos == 0 {
			m := s.pending[id]
			s.mu.Unlock()
			if m == nil {
				return nil, 0, errNotLive
			}
			return m, 0, nil
		}
		pos := lm.pos
		s.mu.Unlock()
		m, published, err := s.readAt(pos)
		if err != nil && errors.Is(err, wal.ErrNotFound) && attempt < 3 {
			continue
		}
		return m, published, err
	}
}

// readAt reads and decodes the message record at pos.
func (s *Store) readAt(pos wal.Pos) (*message.Message, int64, error) {
	raw, err := s.log.Read(pos)
	if err != nil {
		return nil, 0, err
	}
	// One buffer: decrypted in place, and the body stays in it.
	plain, err := s.keyring().openInPlace(raw, s.logBinding(pos), s.opts.AcceptUnsealed)
	if err != nil {
		return nil, 0, err
	}
	kind, body, err := splitRecord(plain)
	if err != nil {
		return nil, 0, err
	}
	if kind != kindMessage && kind != kindSpill {
		return nil, 0, fmt.Errorf("storage: record at %d is not a message", pos)
	}
	d, err := decodeMessageBody(body, true)
	if err != nil {
		return nil, 0, err
	}
	return d.msg, d.published, nil
}

func (s *Store) fail(id uint64, done func(error), err error) {
	s.lg.Error().Err(err).Uint64("message", id).Msg("storage: cannot log message")
	if done != nil {
		done(err)
	}
}

func (s *Store) accountDedup(ld *liveDedup, sign int) {
	st := s.segs[ld.seg]
	if st == nil {
		st = &segStats{}
		s.segs[ld.seg] = st
	}
	st.live += sign
	st.liveBytes += int64(sign) * int64(ld.size)
}

// LogDedup implements broker.Persister. The record keeps its segment
// alive until the id's window has passed.
func (s *Store) LogDedup(scope broker.QueueRef, key string, exp int64, answer string) {
	rec := encodeDedup(nil, scope, key, exp, answer)
	k := dedupKey{scope, key}
	err := s.log.AppendAsync(rec, func(pos wal.Pos, err error) {
		if err != nil {
			return
		}
		s.mu.Lock()
		if old := s.dedup[k]; old != nil {
			s.accountDedup(old, -1)
		}
		ld := &liveDedup{seg: s.segmentOf(pos), size: uint32(len(rec)), exp: exp, answer: answer}
		s.dedup[k] = ld
		s.accountDedup(ld, +1)
		s.mu.Unlock()
	})
	if err != nil {
		s.lg.Error().Err(err).Msg("storage: cannot log a de-duplication id; the window may not survive a restart")
	}
}

// LogSettled implements broker.Persister.
func (s *Store) LogSettled(ref broker.QueueRef, ids ...uint64) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	qid := s.queueID(ref)
	for _, id := range ids {
		lm := s.msgs[id]
		if lm == nil || lm.spilled {
			continue
		}
		if i := lm.find(qid); i >= 0 {
			delete(s.returns, retKey{id, qid})
			if lm.pos != 0 {
				s.account(lm, -1)
			}
			lm.removeTarget(i)
			if lm.n == 0 {
				delete(s.msgs, id)
			} else if lm.pos != 0 {
				s.account(lm, +1)
			}
		}
		if lm.copying {
			s.resettle = append(s.resettle, pendingSettle{id, ref})
		}
	}
	s.mu.Unlock()
	s.appendRefs(kindSettled, kindSettledMany, ref, ids)
}

// LogDelivered implements broker.Persister.
func (s *Store) LogDelivered(ref broker.QueueRef, ids ...uint64) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	qid := s.queueID(ref)
	for _, id := range ids {
		if lm := s.msgs[id]; lm != nil && !lm.spilled {
			if i := lm.find(qid); i >= 0 {
				lm.setTarget(i, lm.targetAt(i)|deliveredBit)
			}
		}
	}
	s.mu.Unlock()
	s.appendRefs(kindDelivered, kindDeliveredMany, ref, ids)
}

// maxRefsPerRecord bounds the ids in one settled/delivered batch record.
const maxRefsPerRecord = 4096

// appendRefs logs ids of queue ref lazily: one record of kind one for a
// single id, records of kind many for a batch (an ack of many deliveries,
// a dispatch of many messages), which is far smaller than a record each.
func (s *Store) appendRefs(one, many byte, ref broker.QueueRef, ids []uint64) {
	if len(ids) == 1 {
		s.appendLazy(one, ids[0], ref)
		return
	}
	if s.closed.Load() {
		return
	}
	for len(ids) > 0 {
		n := min(len(ids), maxRefsPerRecord)
		batch := ids[:n]
		if err := s.appendSmall(func(dst []byte) []byte { return encodeRefs(dst, many, ref, batch) }); err != nil {
			s.lg.Error().Err(err).Msg("storage: cannot log settles/deliveries; messages may be redelivered after a restart")
			return
		}
		ids = ids[n:]
	}
}

// LogReturned implements broker.Persister.
func (s *Store) LogReturned(id uint64, ref broker.QueueRef) {
	s.mu.Lock()
	if lm := s.msgs[id]; lm != nil && !lm.spilled {
		if qid := s.queueID(ref); lm.find(qid) >= 0 {
			s.returns[retKey{id, qid}]++
		}
	}
	s.mu.Unlock()
	s.appendLazy(kindReturned, id, ref)
}

// scratchPool holds buffers for the small lazy records; the log copies
// what it is given, so a buffer goes back at once.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// appendLazy appends a small record without waiting for it. It must be
// called WITHOUT s.mu: AppendLazy can block on the log's backpressure, and
// the log's writer runs completion callbacks that take s.mu.
func (s *Store) appendLazy(kind byte, id uint64, ref broker.QueueRef) {
	if s.closed.Load() {
		return
	}
	if err := s.appendSmall(func(dst []byte) []byte { return encodeRef(dst, kind, id, ref) }); err != nil {
		s.lg.Error().Err(err).Msg("storage: cannot log settle/delivery; the message may be redelivered after a restart")
	}
}

// appendSmall encodes a record with encode into a pooled buffer and
// appends it lazily; the log copies it (and seals the copy), so the buffer
// goes back at once. Called without s.mu, like appendLazy.
func (s *Store) appendSmall(encode func(dst []byte) []byte) error {
	bp := scratchPool.Get().(*[]byte)
	plain := encode((*bp)[:0])
	err := s.log.AppendLazy(plain)
	*bp = plain
	scratchPool.Put(bp)
	return err
}

// SaveDefinitions implements broker.Persister.
func (s *Store) SaveDefinitions(d broker.Definitions) error {
	data, err := marshalDefinitions(d)
	if err != nil {
		return err
	}
	s.defsMu.Lock()
	defer s.defsMu.Unlock()
	return writeFileAtomic(filepath.Join(s.opts.Dir, definitionsFile), s.keyring().seal(nil, s.definitionsBinding(), data))
}

// QueueBytes reports the log bytes each queue's live messages take (a
// message shared by several queues is split between them).
func (s *Store) QueueBytes() map[broker.QueueRef]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[broker.QueueRef]int64, len(s.queues))
	for i, ref := range s.queues {
		if s.perQueue[i] > 0 {
			out[ref] = s.perQueue[i]
		}
	}
	return out
}

// Stats are the log's counters.
func (s *Store) Stats() wal.Stats { return s.log.Stats() }

// Close flushes and closes the log.
func (s *Store) Close() error {
	close(s.stop)
	s.wg.Wait()
	s.closed.Store(true)
	return s.log.Close()
}
