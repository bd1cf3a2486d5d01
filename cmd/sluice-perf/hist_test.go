package main

import (
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestHistBucketsCoverEveryValue(t *testing.T) {
	// Each value falls into a bucket whose upper edge is at least the value
	// and at most 1/64 above it; buckets are monotonic.
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, 1 << 40, 1<<63 + 5, ^uint64(0)}
	for _, v := range vals {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("value %d: index %d out of range", v, i)
		}
		u := histUpper(i)
		if u < v {
			t.Fatalf("value %d: bucket %d upper edge %d is below it", v, i, u)
		}
		if v >= histExact && float64(u-v) > float64(v)/64+1 {
			t.Fatalf("value %d: bucket upper edge %d too far above", v, u)
		}
		if i > 0 && histUpper(i-1) >= v {
			t.Fatalf("value %d: previous bucket's edge %d already covers it", v, histUpper(i-1))
		}
	}
}

func TestHistQuantilesMatchSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var h hist
	var xs []float64
	for i := 0; i < 100000; i++ {
		// Log-normal-ish latencies from 10µs to seconds.
		d := time.Duration(float64(10*time.Microsecond) * (1 + rng.ExpFloat64()*rng.ExpFloat64()*50))
		h.record(d)
		xs = append(xs, float64(d))
	}
	sort.Float64s(xs)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := xs[int(q*float64(len(xs)))-1]
		got := float64(h.quantile(q))
		if got < exact*0.999 || got > exact*1.02 {
			t.Errorf("q%.3f: histogram says %.0f, samples say %.0f", q, got, exact)
		}
	}
	if time.Duration(h.max) != time.Duration(xs[len(xs)-1]) {
		t.Errorf("max %d, want %.0f", h.max, xs[len(xs)-1])
	}
	if h.quantile(1) != time.Duration(h.max) {
		t.Errorf("q1 is not the max")
	}
}

func TestHistSmallAndMerged(t *testing.T) {
	var a, b hist
	if a.quantile(0.99) != 0 || a.mean() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	for i := 1; i <= 100; i++ {
		a.record(time.Duration(i)) // exact buckets
	}
	if got := a.quantile(0.5); got != 50 {
		t.Fatalf("p50 of 1..100 is %d", got)
	}
	if got := a.quantile(0.99); got != 99 {
		t.Fatalf("p99 of 1..100 is %d", got)
	}
	b.record(time.Second)
	b.record(-5) // a negative duration counts as 0
	a.merge(&b)
	if a.n != 102 || a.max != uint64(time.Second) || a.min != 0 {
		t.Fatalf("merged: n %d max %d min %d", a.n, a.max, a.min)
	}
	if got := a.quantile(0.999); got != time.Second {
		t.Fatalf("p99.9 after merge is %v", got)
	}
	a.reset()
	if a.n != 0 || a.quantile(0.5) != 0 {
		t.Fatal("reset left data")
	}
}
