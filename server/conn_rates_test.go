package server

import (
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/conninfo"
)

func TestIORates(t *testing.T) {
	var r ioRates
	t0 := time.Unix(1000, 0)
	a := conninfo.Conn{Name: "a", IO: conninfo.IO{RecvOct: 100, SendOct: 1000}}
	r.sample([]conninfo.Conn{a}, t0)
	if recv, send := r.rates("a"); recv != 0 || send != 0 {
		t.Fatalf("rates after one sample: %v %v, want 0 0", recv, send)
	}
	a.IO.RecvOct, a.IO.SendOct = 600, 1333
	b := conninfo.Conn{Name: "b", IO: conninfo.IO{RecvOct: 5}}
	r.sample([]conninfo.Conn{a, b}, t0.Add(5*time.Second))
	if recv, send := r.rates("a"); recv != 100 || send != 66.6 {
		t.Fatalf("rates of a: %v %v, want 100 66.6", recv, send)
	}
	if recv, _ := r.rates("b"); recv != 0 {
		t.Fatalf("a new connection's rate: %v", recv)
	}
	// A closed connection is forgotten; a counter that went down (a new
	// connection with a reused name) gives no negative rate.
	b.IO.RecvOct = 1
	r.sample([]conninfo.Conn{b}, t0.Add(10*time.Second))
	if _, ok := r.last["a"]; ok {
		t.Fatal("a closed connection is still sampled")
	}
	if recv, _ := r.rates("b"); recv != 0 {
		t.Fatalf("rate of a counter that went down: %v", recv)
	}
}
