// Package connlimit counts authenticated client connections against the
// broker's limits. One Limiter is shared by every protocol listener, so
// --max-connections and --max-connections-per-user bound the broker as a
// whole, not each protocol separately.
package connlimit

import (
	"fmt"
	"sync"
)

// Limiter admits connections up to Max in total and MaxPerUser per user;
// zero means no limit. The zero Limiter admits everything.
type Limiter struct {
	Max, MaxPerUser int

	mu      sync.Mutex
	total   int
	perUser map[string]int
}

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
