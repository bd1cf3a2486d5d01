package auth

import (
	"sync"
	"testing"
)

func TestAttemptsCountsAndOrder(t *testing.T) {
	var a Attempts
	a.Record(ProtocolSTOMP, true)
	a.Record(ProtocolAMQP, false)
	a.Record(ProtocolSTOMP, false)
	a.Record("mqtt", true) // not a protocol sluice has: not counted
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				a.Record(ProtocolHTTP, j%10 != 0)
			}
		}()
	}
	wg.Wait()
	got := a.Snapshot()
	want := []AttemptCounts{
		{Protocol: ProtocolSTOMP, Total: 2, Failed: 1, Succeeded: 1},
		{Protocol: ProtocolAMQP, Total: 1, Failed: 1},
		{Protocol: ProtocolHTTP, Total: 8000, Failed: 800, Succeeded: 7200},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	a.Reset()
	if s := a.Snapshot(); len(s) != 0 {
		t.Fatalf("after Reset: %+v", s)
	}
	a.Record(ProtocolSQS, true)
	if s := a.Snapshot(); len(s) != 1 || s[0].Protocol != ProtocolSQS || s[0].Total != 1 {
		t.Fatalf("after Reset and one attempt: %+v", s)
	}
}
