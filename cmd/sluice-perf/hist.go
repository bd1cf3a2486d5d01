package main

import (
	"math"
	"math/bits"
	"time"
)

// hist is a log-linear histogram of durations in nanoseconds: values below
// 128 ns are exact, larger ones fall into buckets 1/64 of their power of two
// wide, so any percentile is within 1.6% of the true value. Recording is
// allocation-free. A hist is not safe for concurrent use.
type hist struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max uint64
}

const (
	histExact   = 128
	histSub     = 64
	histBuckets = histExact + (64-7)*histSub
)

func histIndex(v uint64) int {
	if v < histExact {
		return int(v)
	}
	l := bits.Len64(v)    // 8..64
	top := v >> uint(l-7) // 64..127
	return histExact + (l-8)*histSub + int(top-histSub)
}

// histUpper is the largest value that falls into bucket i.
func histUpper(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	i -= histExact
	l := i/histSub + 8
	top := uint64(i%histSub + histSub)
	shift := uint(l - 7)
	return (top+1)<<shift - 1
}

func (h *hist) record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *hist) merge(o *hist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

func (h *hist) reset() { *h = hist{} }

// quantile returns the value at quantile q (0..1): the upper edge of the
// bucket holding the ceil(q*n)-th smallest value, never above the true max.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			u := histUpper(i)
			if u > h.max {
				u = h.max
			}
			if u < h.min {
				u = h.min
			}
			return time.Duration(u)
		}
	}
	return time.Duration(h.max)
}

func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
