package storage

import (
	"slices"
	"sort"
	"time"

	"github.com/sluice-mq/sluice/storage/wal"
)

// compactLoop reclaims head segments every CompactInterval.
func (s *Store) compactLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.CompactInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Compact(); err != nil {
				s.lg.Error().Err(err).Msg("storage: compaction failed; will retry")
			}
		}
	}
}

// Compact removes head segments that hold no live message and copies the
// few live messages of sparse head segments forward first. It stops at the
// first head segment that is mostly live: its data is needed anyway.
func (s *Store) Compact() error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	defer s.noteLive()
	for {
		segs := s.log.Segments()
		sort.Slice(segs, func(i, j int) bool { return segs[i].ID < segs[j].ID })
		if len(segs) == 0 || !segs[0].Sealed {
			return nil
		}
		head := segs[0]
		s.mu.Lock()
		now := time.Now().UnixNano()
		var keep []dedupKey
		for k, ld := range s.dedup {
			if ld.seg != head.ID {
				continue
			}
			if ld.exp <= now {
				s.accountDedup(ld, -1)
				delete(s.dedup, k)
			} else {
				keep = append(keep, k)
			}
		}
		st := s.segs[head.ID]
		live, liveBytes := 0, int64(0)
		if st != nil {
			live, liveBytes = st.live, st.liveBytes
		}
		s.mu.Unlock()
		if live > 0 {
			if liveBytes*2 > head.Size {
				return nil
			}
			// A head whose live data is still going down (a queue
			// draining it) frees itself: copying it would only write
			// again what consumers are about to take. Copy once it
			// stopped shrinking since the last pass. Every segment's
			// live bytes are noted at the end of a pass, so that one
			// pass can take as many stopped heads as there are:
			// taking one per pass fell behind a busy log.
			if prev, seen := s.prevLive[head.ID]; !seen || liveBytes < prev {
				return nil
			}
			if err := s.copyForward(head); err != nil {
				return err
			}
			if err := s.copyDedupForward(head.ID, keep); err != nil {
				return err
			}
		}
		if err := s.log.RemoveSegment(head.ID); err != nil {
			return err
		}
		s.counters.reclaimed.Add(1)
		s.counters.copied.Add(uint64(live))
		s.mu.Lock()
		delete(s.segs, head.ID)
		s.mu.Unlock()
		s.lg.Debug().Uint64("segment", uint64(head.ID)).Int("copied", live).Msg("storage: segment reclaimed")
	}
}

// noteLive records every segment's live bytes for the next pass.
func (s *Store) noteLive() {
	s.mu.Lock()
	live := make(map[wal.Pos]int64, len(s.segs))
	for id, st := range s.segs {
		live[id] = st.liveBytes
	}
	s.mu.Unlock()
	s.prevLive = live
}

// copyChunk bounds the record bytes one copy-forward step holds in
// memory and writes in one batch.
const copyChunk = 4 << 20

// copyForward rewrites the live messages of segment seg at the tail of the
// log, with the queues that still hold them, sealed under the current key,
// copyChunk bytes at a time.
func (s *Store) copyForward(seg wal.SegmentInfo) error {
	var ids []uint64
	s.mu.Lock()
	for id, lm := range s.msgs {
		if lm.pos != 0 && lm.pos >= seg.ID && lm.pos < seg.End() {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(ids)
	for len(ids) > 0 {
		n, err := s.copyForwardChunk(seg, ids)
		if err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// copyForwardChunk copies the first messages of ids, up to copyChunk
// bytes, and reports how many ids it went through.
func (s *Store) copyForwardChunk(seg wal.SegmentInfo, ids []uint64) (int, error) {
	type job struct {
		id uint64
		lm *liveMsg
	}
	var jobs []job
	var bytes int64
	n := 0
	s.mu.Lock()
	for ; n < len(ids) && bytes < copyChunk; n++ {
		if lm := s.msgs[ids[n]]; lm != nil && lm.pos != 0 && lm.pos >= seg.ID && lm.pos < seg.End() {
			lm.copying = true
			jobs = append(jobs, job{ids[n], lm})
			bytes += int64(lm.size)
		}
	}
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		for _, j := range jobs {
			j.lm.copying = false
		}
		s.resettle = s.resettle[:0]
		s.mu.Unlock()
	}
	recs := make([][]byte, 0, len(jobs))
	for _, j := range jobs {
		raw, err := s.log.Read(j.lm.pos)
		if err != nil {
			done()
			return 0, err
		}
		plain, err := s.keyring().openInPlace(raw, s.logBinding(j.lm.pos), s.opts.AcceptUnsealed)
		if err != nil {
			done()
			return 0, err
		}
		_, body, err := splitRecord(plain)
		if err != nil {
			done()
			return 0, err
		}
		d, err := decodeMessageBody(body, true)
		if err != nil {
			done()
			return 0, err
		}
		s.mu.Lock()
		targets := make([]target, 0, j.lm.n)
		for i := 0; i < int(j.lm.n); i++ {
			t := j.lm.targetAt(i)
			targets = append(targets, target{ref: s.queues[t&^deliveredBit], delivered: t&deliveredBit != 0,
				returns: s.returns[retKey{j.id, t &^ deliveredBit}]})
		}
		spilled, gone := j.lm.spilled, s.msgs[j.id] != j.lm
		s.mu.Unlock()
		kind := kindMessage
		if spilled {
			kind = kindSpill
		}
		if gone || (len(targets) == 0 && !spilled) {
			recs = append(recs, nil)
			continue
		}
		out, err := encodeMessage(nil, kind, d.id, d.published, targets, d.msg)
		if err != nil {
			done()
			return 0, err
		}
		recs = append(recs, out)
	}
	var batch [][]byte
	var which []int
	for i, r := range recs {
		if r != nil {
			batch = append(batch, r)
			which = append(which, i)
		}
	}
	var positions []wal.Pos
	if len(batch) > 0 {
		var err error
		if positions, err = s.log.AppendBatch(batch); err != nil {
			done()
			return 0, err
		}
	}
	s.mu.Lock()
	for k, i := range which {
		lm := jobs[i].lm
		lm.copying = false
		if s.msgs[jobs[i].id] != lm {
			continue // settled while being copied; the resettle below covers it
		}
		s.account(lm, -1)
		lm.pos, lm.size = positions[k], uint32(len(batch[k]))
		s.account(lm, +1)
	}
	for _, j := range jobs {
		j.lm.copying = false
	}
	// Settles that raced with the copy were logged before the copies: log
	// them again after, so that replay ends with them settled.
	again := s.resettle
	s.resettle = nil
	s.mu.Unlock()
	for _, p := range again {
		s.appendLazy(kindSettled, p.id, p.ref)
	}
	// The copies are durable (AppendBatch waited); the re-settles need not be.
	return n, nil
}

// copyDedupForward rewrites the unexpired de-duplication ids of segment seg
// at the tail.
func (s *Store) copyDedupForward(seg wal.Pos, keys []dedupKey) error {
	if len(keys) == 0 {
		return nil
	}
	// copied[i] is the key whose record is recs[i]: keys that moved on
	// meanwhile are skipped, so the two lists are not aligned with keys.
	var recs [][]byte
	var copied []dedupKey
	var olds []*liveDedup
	s.mu.Lock()
	for _, k := range keys {
		ld := s.dedup[k]
		if ld == nil || ld.seg != seg {
			continue
		}
		recs = append(recs, encodeDedup(nil, k.scope, k.key, ld.exp, ld.answer))
		copied = append(copied, k)
		olds = append(olds, ld)
	}
	s.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	positions, err := s.log.AppendBatch(recs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for i, k := range copied {
		ld := s.dedup[k]
		if ld == nil || ld.seg != seg {
			continue
		}
		s.accountDedup(ld, -1)
		nld := &liveDedup{seg: s.segmentOf(positions[i]), size: uint32(len(recs[i])), exp: olds[i].exp, answer: olds[i].answer}
		s.dedup[k] = nld
		s.accountDedup(nld, +1)
	}
	s.mu.Unlock()
	return nil
}
