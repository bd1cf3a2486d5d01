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

func TestOpened(t *testing.T) {
	var o Opened
	if err := o.Enter("u", "/", -1, 0); err == nil || err.Error() != "access to vhost '/' refused for user 'u': connection limit (0) is reached" {
		t.Fatalf("vhost limit 0: %v", err)
	}
	if err := o.Enter("u", "/", 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := o.Enter("u", "/", 1, 2); err == nil || err.Error() != "connection refused for user 'u': user connection limit (1) is reached" {
		t.Fatalf("user limit: %v", err)
	}
	if err := o.Enter("v", "/", -1, 2); err != nil {
		t.Fatal(err)
	}
	if err := o.Enter("w", "/", -1, 2); err == nil || err.Error() != "access to vhost '/' refused for user 'w': connection limit (2) is reached" {
		t.Fatalf("vhost limit: %v", err)
	}
	o.Leave("u", "/")
	if err := o.Enter("u", "/", 1, 2); err != nil {
		t.Fatalf("after Leave: %v", err)
	}
	if err := o.OpenChannel("u", 1); err != nil {
		t.Fatal(err)
	}
	if err := o.OpenChannel("u", 1); err == nil || err.Error() != "number of channels opened for user 'u' has reached the maximum allowed user limit of (1)" {
		t.Fatalf("channels: %v", err)
	}
	o.CloseChannel("u")
	if err := o.OpenChannel("u", 1); err != nil {
		t.Fatalf("after CloseChannel: %v", err)
	}
	if len(o.perUser) != 2 || len(o.channels) != 1 {
		t.Fatalf("maps: %v %v", o.perUser, o.channels)
	}
}
