// Package connlimit counts client connections against the broker's
// limits. One Limiter is shared by every protocol listener, so
// --max-connections, --max-connections-per-user and
// --max-handshaking-connections bound the broker as a whole, not each
// protocol separately.
package connlimit

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Limiter admits authenticated connections up to Max in total and
// MaxPerUser per user, and bounds the connections still in their
// handshake at MaxHandshaking; zero means no limit. The zero Limiter
// admits everything.
type Limiter struct {
	Max, MaxPerUser int
	// MaxHandshaking bounds the connections accepted but not yet
	// authenticated. Max and MaxPerUser count users, so until a connection
	// has logged in nothing else bounds how many sockets (and their read
	// buffers) anyone can hold open until the handshake timeout.
	MaxHandshaking int

	handshaking atomic.Int64

	mu      sync.Mutex
	total   int
	perUser map[string]int
}

// ErrTooManyHandshakes is StartHandshake's refusal.
var ErrTooManyHandshakes = errors.New("too many connections in handshake")

// StartHandshake counts a connection that has not authenticated yet, or
// refuses it with ErrTooManyHandshakes when MaxHandshaking are already
// in their handshake. A counted connection must call EndHandshake once,
// when it has authenticated or failed to.
func (l *Limiter) StartHandshake() error {
	n := l.handshaking.Add(1)
	if l.MaxHandshaking > 0 && n > int64(l.MaxHandshaking) {
		l.handshaking.Add(-1)
		return ErrTooManyHandshakes
	}
	return nil
}

// EndHandshake uncounts a connection counted by StartHandshake.
func (l *Limiter) EndHandshake() { l.handshaking.Add(-1) }

// Handshaking returns how many connections are in their handshake.
func (l *Limiter) Handshaking() int { return int(l.handshaking.Load()) }

// Admit counts a connection of user, or returns why it is refused (the
// text RabbitMQ gives). Every admitted connection must be Released.
func (l *Limiter) Admit(user string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max > 0 && l.total >= l.Max {
		return fmt.Errorf("connection limit (%d) is reached", l.Max)
	}
	if l.MaxPerUser > 0 && l.perUser[user] >= l.MaxPerUser {
		return fmt.Errorf("connection limit (%d) is reached for user '%s'", l.MaxPerUser, user)
	}
	if l.perUser == nil {
		l.perUser = map[string]int{}
	}
	l.total++
	l.perUser[user]++
	return nil
}

// Release uncounts an admitted connection of user.
func (l *Limiter) Release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perUser[user]--; l.perUser[user] <= 0 {
		delete(l.perUser, user)
	}
}
