package storage

import "github.com/sluice-mq/sluice/storage/wal"

// liveMsg is the index entry of a message some queue still needs (or of a
// spilled transient message). A backlog keeps one per message while the
// bodies are on disk, so it is kept to 32 bytes: one target inline, more
// only for messages routed to several durable queues; its segment is
// looked up from pos when needed, and the message itself is kept aside
// (Store.pending) only while its record is being written.
type liveMsg struct {
	pos  wal.Pos // 0 until its append completes
	size uint32  // record bytes
	// The durable queues holding it, by queue id; deliveredBit set once
	// delivered from that queue. t0 is the first, more the rest.
	t0      uint32
	more    *[]uint32
	n       uint16 // number of targets
	copying bool   // being copied forward by compaction
	spilled bool   // a transient message paged out: never recovered
}

const deliveredBit = 1 << 31

// targetAt returns the i-th target.
func (lm *liveMsg) targetAt(i int) uint32 {
	if i == 0 {
		return lm.t0
	}
	return (*lm.more)[i-1]
}

func (lm *liveMsg) setTarget(i int, t uint32) {
	if i == 0 {
		lm.t0 = t
	} else {
		(*lm.more)[i-1] = t
	}
}

func (lm *liveMsg) addTarget(t uint32) {
	if lm.n == 0 {
		lm.t0 = t
	} else {
		if lm.more == nil {
			lm.more = new([]uint32)
		}
		*lm.more = append(*lm.more, t)
	}
	lm.n++
}

// find returns the index of queue qid among the targets, or -1.
func (lm *liveMsg) find(qid uint32) int {
	for i := 0; i < int(lm.n); i++ {
		if lm.targetAt(i)&^deliveredBit == qid {
			return i
		}
	}
	return -1
}

// removeTarget drops the i-th target, keeping the order of the rest.
func (lm *liveMsg) removeTarget(i int) {
	if i == 0 {
		if lm.n > 1 {
			lm.t0 = (*lm.more)[0]
			*lm.more = (*lm.more)[1:]
		}
	} else {
		*lm.more = append((*lm.more)[:i-1], (*lm.more)[i:]...)
	}
	lm.n--
	if lm.more != nil && len(*lm.more) == 0 {
		lm.more = nil
	}
}
