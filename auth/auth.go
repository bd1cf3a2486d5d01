// Package auth decides who may connect: users, their passwords and where
// they may connect from. Both protocol adapters ask the same Store, so a user
// means the same thing over AMQP and STOMP.
package auth

import (
	"crypto/subtle"
	"errors"
	"net"
	"sync"
)

// ErrRefused is every authentication failure. Callers must not tell a
// client which part was wrong, so there is only one error.
var ErrRefused = errors.New("authentication refused")

// User is an authenticated principal.
type User struct {
	Name string
	// LoopbackOnly users may connect only from a loopback address, as
	// RabbitMQ's default guest user.
	LoopbackOnly bool
}

// Store checks credentials.
type Store interface {
	// Authenticate returns the user when password is right for name and the
	// user may connect from remote.
	Authenticate(name, password string, remote net.Addr) (*User, error)
	// AuthenticateExternal returns user name, whose identity a verified
	// TLS client certificate established (SASL EXTERNAL, STOMP
	// certificate login): no password, but the user must exist and may
	// connect from remote.
	AuthenticateExternal(name string, remote net.Addr) (*User, error)
}

// MemoryStore is a Store held in memory: the default until users live in
// storage.
type MemoryStore struct {
	mu    sync.RWMutex
	users map[string]memoryUser
}

type memoryUser struct {
	user     User
	password []byte
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{users: map[string]memoryUser{}} }

// DefaultStore holds the user guest/guest, accepted from loopback only, as
// RabbitMQ ships.
func DefaultStore() *MemoryStore {
	s := NewMemoryStore()
	s.Add(User{Name: "guest", LoopbackOnly: true}, "guest")
	return s
}

// Add creates or replaces a user.
func (s *MemoryStore) Add(u User, password string) {
	s.mu.Lock()
	s.users[u.Name] = memoryUser{user: u, password: []byte(password)}
	s.mu.Unlock()
}

// Authenticate implements Store.
func (s *MemoryStore) Authenticate(name, password string, remote net.Addr) (*User, error) {
	s.mu.RLock()
	u, ok := s.users[name]
	s.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare(u.password, []byte(password)) != 1 {
		return nil, ErrRefused
	}
	if u.user.LoopbackOnly && !IsLoopback(remote) {
		return nil, ErrRefused
	}
	user := u.user
	return &user, nil
}

// AuthenticateExternal implements Store.
func (s *MemoryStore) AuthenticateExternal(name string, remote net.Addr) (*User, error) {
	s.mu.RLock()
	u, ok := s.users[name]
	s.mu.RUnlock()
	if !ok || (u.user.LoopbackOnly && !IsLoopback(remote)) {
		return nil, ErrRefused
	}
	user := u.user
	return &user, nil
}

// IsLoopback reports whether addr is a loopback TCP address. Anything else,
// unix sockets and in-memory pipes included, is not.
func IsLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case nil:
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
