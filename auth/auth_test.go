package auth

import (
	"net"
	"testing"
)

func TestDefaultGuestLoopbackOnly(t *testing.T) {
	s := DefaultStore()
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	remote := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5000}
	cases := []struct {
		user, pass string
		from       net.Addr
		ok         bool
	}{
		{"guest", "guest", local, true},
		{"guest", "guest", &net.TCPAddr{IP: net.IPv6loopback}, true},
		{"guest", "guest", remote, false},
		{"guest", "wrong", local, false},
		{"nobody", "guest", local, false},
		{"guest", "guest", nil, false},
	}
	for _, c := range cases {
		u, err := s.Authenticate(c.user, c.pass, c.from)
		if (err == nil) != c.ok {
			t.Errorf("%s/%s from %v: err=%v", c.user, c.pass, c.from, err)
		}
		if err == nil && u.Name != c.user {
			t.Errorf("got user %q", u.Name)
		}
	}
	addUser(t, s, "app", "secret")
	if _, err := s.Authenticate("app", "secret", remote); err != nil {
		t.Errorf("non-loopback user from remote: %v", err)
	}
}
