package sqs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The remembered answers stay within their count, bytes and window.
func TestReceiveAttemptsBounded(t *testing.T) {
	var r receiveAttempts
	now := time.Now()
	big := receiveOut{Messages: []messageOut{{Body: strings.Repeat("x", 1<<20)}}}
	for i := 0; i < 40; i++ {
		r.put(attemptKey{nil, fmt.Sprint("big", i)}, &attempt{at: now, out: big})
	}
	if r.bytes > maxAttemptBytes || len(r.m) > 16 {
		t.Fatalf("%d answers, %d bytes", len(r.m), r.bytes)
	}
	if r.get(attemptKey{nil, "big39"}, now) == nil || r.get(attemptKey{nil, "big0"}, now) != nil {
		t.Fatal("the newest answer was forgotten, or the oldest kept")
	}
	for i := 0; i < maxAttempts+100; i++ {
		r.put(attemptKey{nil, fmt.Sprint("small", i)}, &attempt{at: now, out: receiveOut{}})
	}
	if len(r.m) > maxAttempts || len(r.order) != len(r.m) {
		t.Fatalf("%d answers, %d order slots", len(r.m), len(r.order))
	}
	// Replacing an answer keeps one slot; an old one is gone past the window.
	k := attemptKey{nil, "small9999"}
	r.put(k, &attempt{at: now, out: receiveOut{}})
	if len(r.order) != len(r.m) {
		t.Fatalf("%d slots for %d answers after a replace", len(r.order), len(r.m))
	}
	if r.get(k, now.Add(attemptWindow+time.Second)) != nil {
		t.Fatal("an answer was returned past its window")
	}
	r.put(attemptKey{nil, "late"}, &attempt{at: now.Add(attemptWindow + time.Minute), out: receiveOut{}})
	if len(r.m) != 1 {
		t.Fatalf("%d answers kept past their window", len(r.m))
	}
	for _, id := range []string{"", strings.Repeat("a", 129), "a b", "é"} {
		if validAttemptID(id) {
			t.Errorf("%q accepted", id)
		}
	}
	if !validAttemptID(`a-Z_0.9!"#$%&'()*+,/:;<=>?@[\]^{|}~` + "`") {
		t.Error("punctuation refused")
	}
}
