package sqs

import (
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
)

func TestFIFOSendsWindow(t *testing.T) {
	var f fifoSends
	q1, q2 := &broker.Queue{}, &broker.Queue{}
	t0 := time.Unix(1000, 0)
	k := fifoKey{q1, dedupKey(nil, []byte("body"))}
	if _, dup := f.claim(k, "id1", "1", t0); dup {
		t.Fatal("a first send was a duplicate")
	}
	if e, dup := f.claim(k, "id2", "2", t0.Add(fifoWindow-time.Second)); !dup || e.id != "id1" || e.seq != "1" {
		t.Fatalf("within the window: %+v %v", e, dup)
	}
	if _, dup := f.claim(fifoKey{q2, k.key}, "id3", "3", t0); dup {
		t.Fatal("the same key in another queue was a duplicate")
	}
	id := "id4"
	if _, dup := f.claim(fifoKey{q1, dedupKey(&id, []byte("body"))}, "id4", "4", t0); dup {
		t.Fatal("a MessageDeduplicationId matched a content hash")
	}
	if e, dup := f.claim(k, "id5", "5", t0.Add(fifoWindow)); dup {
		t.Fatalf("after the window: %+v", e)
	}
	f.forget(k, "id1") // not the entry's send any more: kept
	if e, dup := f.claim(k, "id6", "6", t0.Add(fifoWindow+time.Second)); !dup || e.id != "id5" {
		t.Fatalf("forget of an older send dropped the newer entry: %+v %v", e, dup)
	}
	f.forget(k, "id5")
	if _, dup := f.claim(k, "id7", "7", t0.Add(fifoWindow+2*time.Second)); dup {
		t.Fatal("a send that was not stored still made a duplicate")
	}
	// Everything of t0 is gone once its window passed.
	f.claim(fifoKey{q2, "x"}, "id8", "8", t0.Add(3*fifoWindow))
	if len(f.m) != 1 {
		t.Fatalf("%d entries kept past their window", len(f.m))
	}
}
