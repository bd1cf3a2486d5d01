package main

import "testing"

func TestTrackerAllDelivered(t *testing.T) {
	r := router{mode: "direct", producers: 2, queues: 1}
	tr := newTracker(r)
	pub := []uint64{1000, 500}
	for p, n := range pub {
		for s := uint64(0); s < n; s++ {
			if !tr.record(0, p, s) {
				t.Fatalf("record(%d, %d) refused", p, s)
			}
		}
	}
	a := tr.check(pub)
	if !a.ok() || a.Expected != 1500 || a.Received != 1500 {
		t.Fatalf("accounting %+v", a)
	}
}

func TestTrackerFindsLossDuplicatesAndPhantoms(t *testing.T) {
	r := router{mode: "direct", producers: 1, queues: 1}
	tr := newTracker(r)
	for s := uint64(0); s < 100; s++ {
		if s == 42 || s == 77 {
			continue // lost
		}
		tr.record(0, 0, s)
	}
	if tr.record(0, 0, 5) {
		t.Fatal("a duplicate was accepted")
	}
	tr.record(0, 0, 100) // never published (publisher said 100)
	a := tr.check([]uint64{100})
	if a.ok() {
		t.Fatal("accounting passed")
	}
	if a.Lost != 2 || a.Duplicates != 1 || a.Phantom != 1 || a.Received != 98 || a.Expected != 100 {
		t.Fatalf("accounting %+v", a)
	}
	if len(a.Examples) == 0 {
		t.Fatal("no example of what is missing")
	}
}

func TestTrackerRoutingDirectManyQueues(t *testing.T) {
	// 2 producers over 5 queues: producer 0 takes queues 0, 2, 4 in turn,
	// producer 1 takes 1, 3.
	r := router{mode: "direct", producers: 2, queues: 5}
	if got := r.producerQueues(0); len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 4 {
		t.Fatalf("producer 0 queues %v", got)
	}
	tr := newTracker(r)
	pub := []uint64{10, 7}
	for p, n := range pub {
		for s := uint64(0); s < n; s++ {
			tr.record(r.target(p, s), p, s)
		}
	}
	if a := tr.check(pub); !a.ok() || a.Expected != 17 {
		t.Fatalf("accounting %+v", a)
	}
	// A delivery on the wrong queue is caught.
	if tr.record(1, 0, 0) {
		t.Fatal("misrouted delivery accepted")
	}
	if a := tr.check(pub); a.ok() || a.Misrouted != 1 {
		t.Fatalf("accounting %+v", a)
	}
	// Expected counts add up to what was published.
	for p, n := range pub {
		var sum uint64
		for q := 0; q < 5; q++ {
			sum += r.expected(p, q, n)
		}
		if sum != n {
			t.Fatalf("producer %d: expected counts add to %d, want %d", p, sum, n)
		}
	}
}

func TestTrackerFanoutNeedsEveryQueue(t *testing.T) {
	r := router{mode: "fanout", producers: 1, queues: 3}
	tr := newTracker(r)
	for q := 0; q < 3; q++ {
		for s := uint64(0); s < 50; s++ {
			if q == 2 && s == 49 {
				continue
			}
			tr.record(q, 0, s)
		}
	}
	a := tr.check([]uint64{50})
	if a.ok() || a.Expected != 150 || a.Lost != 1 || tr.expectedTotal([]uint64{50}) != 150 {
		t.Fatalf("accounting %+v", a)
	}
}

func TestTrackerRejectsForeignProducers(t *testing.T) {
	tr := newTracker(router{mode: "direct", producers: 1, queues: 1})
	if tr.record(0, 3, 0) {
		t.Fatal("unknown producer accepted")
	}
	if a := tr.check([]uint64{0}); a.ok() {
		t.Fatal("a foreign message passed")
	}
}
