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
