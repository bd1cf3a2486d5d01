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

	// Opened counts open connections and channels against the limits
	// of the user database (per user and per vhost).
	Opened Opened

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

// Opened counts open connections per user and per vhost, and open
// channels per user, against the limits the user database sets
// (RabbitMQ's user and vhost max-connections, user max-channels). A
// negative limit is none; 0 refuses everything, as RabbitMQ. Counting and
// checking happen under one lock, so concurrent opens cannot both pass
// the last free place. The zero Opened is ready to use and shared by
// every protocol listener.
type Opened struct {
	mu       sync.Mutex
	perUser  map[string]int64
	perVHost map[string]int64
	channels map[string]int64
	// Counts since start for /metrics (Totals).
	conns, chans                                 int64
	connsOpened, connsClosed, chOpened, chClosed uint64
}

// OpenedTotals are the connections and channels open now and opened and
// closed since the broker started (RabbitMQ's rabbitmq_connections,
// rabbitmq_connections_opened_total, ...).
type OpenedTotals struct {
	Connections, Channels                                                int64
	ConnectionsOpened, ConnectionsClosed, ChannelsOpened, ChannelsClosed uint64
}

// Totals returns the counts of every user and vhost together.
func (o *Opened) Totals() OpenedTotals {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OpenedTotals{Connections: o.conns, Channels: o.chans, ConnectionsOpened: o.connsOpened,
		ConnectionsClosed: o.connsClosed, ChannelsOpened: o.chOpened, ChannelsClosed: o.chClosed}
}

// LimitError is Enter's refusal; VHost says it was the vhost's limit
// (not the user's), which STOMP reports in other words.
type LimitError struct {
	VHost bool
	text  string
}

func (e *LimitError) Error() string { return e.text }

// Enter counts a connection of user opening vhost, or returns why it is
// refused, in RabbitMQ's words (rabbit_reader: the vhost's limit first).
// Every entered connection must Leave.
func (o *Opened) Enter(user, vhost string, userMax, vhostMax int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if vhostMax >= 0 && o.perVHost[vhost] >= vhostMax {
		return &LimitError{VHost: true, text: fmt.Sprintf("access to vhost '%s' refused for user '%s': connection limit (%d) is reached", vhost, user, vhostMax)}
	}
	if userMax >= 0 && o.perUser[user] >= userMax {
		return &LimitError{text: fmt.Sprintf("connection refused for user '%s': user connection limit (%d) is reached", user, userMax)}
	}
	if o.perUser == nil {
		o.perUser, o.perVHost = map[string]int64{}, map[string]int64{}
	}
	o.perUser[user]++
	o.perVHost[vhost]++
	o.conns++
	o.connsOpened++
	return nil
}

// Leave uncounts an entered connection.
func (o *Opened) Leave(user, vhost string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	dec(o.perUser, user)
	dec(o.perVHost, vhost)
	o.conns--
	o.connsClosed++
}

// OpenChannel counts a channel of user against max, or returns
// RabbitMQ's refusal. Every counted channel must CloseChannel.
func (o *Opened) OpenChannel(user string, max int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if max >= 0 && o.channels[user] >= max {
		return fmt.Errorf("number of channels opened for user '%s' has reached the maximum allowed user limit of (%d)", user, max)
	}
	if o.channels == nil {
		o.channels = map[string]int64{}
	}
	o.channels[user]++
	o.chans++
	o.chOpened++
	return nil
}

// CloseChannel uncounts a channel counted by OpenChannel.
func (o *Opened) CloseChannel(user string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	dec(o.channels, user)
	o.chans--
	o.chClosed++
}

func dec(m map[string]int64, k string) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}
