package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// router says which queues a producer's message goes to. Producers and
// queues are numbered from 0.
type router struct {
	mode      string // "direct", "topic" or "fanout"
	producers int
	queues    int
}

// producerQueues are the queues producer p publishes to in direct and topic
// mode: with at least as many producers as queues, queue p%queues; with fewer,
// the queues q with q%producers == p, taken in turn.
func (r router) producerQueues(p int) []int {
	if r.producers >= r.queues {
		return []int{p % r.queues}
	}
	var qs []int
	for q := p; q < r.queues; q += r.producers {
		qs = append(qs, q)
	}
	return qs
}

// target is the queue message seq of producer p is published to (direct and
// topic mode).
func (r router) target(p int, seq uint64) int {
	qs := r.producerQueues(p)
	return qs[seq%uint64(len(qs))]
}

// routes reports whether message seq of producer p should reach queue q.
func (r router) routes(p int, seq uint64, q int) bool {
	if r.mode == "fanout" {
		return true
	}
	return r.target(p, seq) == q
}

// expected is how many of the first n messages of producer p belong to queue q.
func (r router) expected(p, q int, n uint64) uint64 {
	if r.mode == "fanout" {
		return n
	}
	qs := r.producerQueues(p)
	for i, x := range qs {
		if x == q {
			k := uint64(len(qs))
			if n <= uint64(i) {
				return 0
			}
			return (n - uint64(i) + k - 1) / k
		}
	}
	return 0
}

// copies is how many deliveries one published message should produce.
func (r router) copies() int {
	if r.mode == "fanout" {
		return r.queues
	}
	return 1
}

// stream is what one queue received from one producer: a bitmap of sequence
// numbers.
type stream struct {
	mu     sync.Mutex
	bits   []uint64
	unique uint64
	dups   uint64
}

// tracker accounts for every sequence number: each (queue, producer) pair
// has a bitmap, so a message delivered twice, delivered to the wrong queue,
// never published, or never delivered is found.
type tracker struct {
	r         router
	streams   []stream // [q*producers+p]
	unique    atomic.Int64
	dups      atomic.Int64
	misrouted atomic.Int64
	bogus     atomic.Int64 // bodies that are not ours (bad producer index)
}

func newTracker(r router) *tracker {
	return &tracker{r: r, streams: make([]stream, r.queues*r.producers)}
}

// record notes that queue q delivered message seq of producer p. It returns
// false for a duplicate or a message that does not belong there.
func (t *tracker) record(q, p int, seq uint64) bool {
	if p < 0 || p >= t.r.producers || q < 0 || q >= t.r.queues {
		t.bogus.Add(1)
		return false
	}
	if !t.r.routes(p, seq, q) {
		t.misrouted.Add(1)
		return false
	}
	s := &t.streams[q*t.r.producers+p]
	w, bit := seq/64, uint64(1)<<(seq%64)
	s.mu.Lock()
	if w >= uint64(len(s.bits)) {
		n := 2 * uint64(len(s.bits))
		if n <= w {
			n = w + 1
		}
		if n < 16 {
			n = 16
		}
		nb := make([]uint64, n)
		copy(nb, s.bits)
		s.bits = nb
	}
	if s.bits[w]&bit != 0 {
		s.dups++
		s.mu.Unlock()
		t.dups.Add(1)
		return false
	}
	s.bits[w] |= bit
	s.unique++
	s.mu.Unlock()
	t.unique.Add(1)
	return true
}

// expectedTotal is the number of deliveries that published[p] messages per
// producer should produce.
func (t *tracker) expectedTotal(published []uint64) uint64 {
	var n uint64
	for _, c := range published {
		n += c
	}
	return n * uint64(t.r.copies())
}

// accounting is the verdict of check.
type accounting struct {
	Expected   uint64   `json:"expected"`
	Received   uint64   `json:"received_unique"`
	Lost       uint64   `json:"lost"`
	Duplicates uint64   `json:"duplicates"`
	Phantom    uint64   `json:"phantom"`
	Misrouted  uint64   `json:"misrouted"`
	Examples   []string `json:"examples,omitempty"`
}

func (a accounting) ok() bool {
	return a.Lost == 0 && a.Duplicates == 0 && a.Phantom == 0 && a.Misrouted == 0 && a.Received == a.Expected
}

// check compares what was received with what was published: published[p]
// messages (sequence numbers 0..published[p]-1) of producer p. Call it once
// consumers have stopped.
func (t *tracker) check(published []uint64) accounting {
	var a accounting
	a.Misrouted = uint64(t.misrouted.Load() + t.bogus.Load())
	a.Duplicates = uint64(t.dups.Load())
	for q := 0; q < t.r.queues; q++ {
		for p := 0; p < t.r.producers; p++ {
			var n uint64
			if p < len(published) {
				n = published[p]
			}
			s := &t.streams[q*t.r.producers+p]
			s.mu.Lock()
			exp := t.r.expected(p, q, n)
			a.Expected += exp
			// Count what arrived below n (published) and above (phantom).
			var got uint64
			for w, word := range s.bits {
				if word == 0 {
					continue
				}
				for b := 0; b < 64; b++ {
					if word&(1<<uint(b)) == 0 {
						continue
					}
					seq := uint64(w)*64 + uint64(b)
					if seq < n {
						got++
					} else {
						a.Phantom++
						if len(a.Examples) < 5 {
							a.Examples = append(a.Examples, fmt.Sprintf("queue %d producer %d seq %d was delivered but never published", q, p, seq))
						}
					}
				}
			}
			if got < exp {
				a.Lost += exp - got
				if len(a.Examples) < 5 {
					// Name the first missing sequence number.
					for seq := uint64(0); seq < n; seq++ {
						if !t.r.routes(p, seq, q) {
							continue
						}
						w := seq / 64
						if w >= uint64(len(s.bits)) || s.bits[w]&(1<<(seq%64)) == 0 {
							a.Examples = append(a.Examples, fmt.Sprintf("queue %d producer %d: %d of %d missing, first seq %d", q, p, exp-got, exp, seq))
							break
						}
					}
				}
			}
			a.Received += got
			s.mu.Unlock()
		}
	}
	return a
}
