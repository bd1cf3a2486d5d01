package connlimit

import "testing"

func TestLimits(t *testing.T) {
	l := &Limiter{Max: 3, MaxPerUser: 2}
	for _, u := range []string{"a", "a", "b"} {
		if err := l.Admit(u); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	if err := l.Admit("c"); err == nil || err.Error() != "connection limit (3) is reached" {
		t.Fatalf("total: %v", err)
	}
	l.Release("b")
	if err := l.Admit("a"); err == nil || err.Error() != "connection limit (2) is reached for user 'a'" {
		t.Fatalf("per user: %v", err)
	}
	if err := l.Admit("c"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	var unlimited Limiter
	for i := 0; i < 100; i++ {
		if err := unlimited.Admit("x"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHandshakes(t *testing.T) {
	l := &Limiter{MaxHandshaking: 2}
	for range 2 {
		if err := l.StartHandshake(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.StartHandshake(); err != ErrTooManyHandshakes {
		t.Fatalf("third: %v", err)
	}
	if l.Handshaking() != 2 {
		t.Fatalf("a refusal is counted: %d", l.Handshaking())
	}
	l.EndHandshake()
	if err := l.StartHandshake(); err != nil {
		t.Fatalf("after an end: %v", err)
	}
	var unlimited Limiter
	for range 100 {
		if err := unlimited.StartHandshake(); err != nil {
			t.Fatal(err)
		}
	}
}
