// Package auth decides who may connect and what they may do: users, their
// passwords and tags, where they may connect from, their permissions per
// vhost, topic permissions and limits (Registry). Every protocol adapter
// asks the same Store, so a user and a permission mean the same thing over
// AMQP, STOMP and the HTTP API.
package auth

import (
	"errors"
	"net"
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
	// Tags as RabbitMQ's (administrator, monitoring, ...).
	Tags []string
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
	// RecordAttempt counts one authentication attempt of protocol
	// (ProtocolAMQP, ...), as RabbitMQ's auth_attempt_metrics.
	RecordAttempt(protocol string, ok bool)
	// VHostAccess checks that user may open a connection to vhost.
	VHostAccess(user, vhost string) error
	// Authorize checks that user may do op on a queue or exchange;
	// a refusal is a *Denied with RabbitMQ's text.
	Authorize(user, vhost string, kind Kind, name string, op Op) error
	// AuthorizeTopic checks a routing key against topic permissions.
	AuthorizeTopic(user, vhost, exchange, key string, op Op) error
	// TopicRestricted reports whether user has a topic permission on
	// exchange in vhost (AuthorizeTopic can refuse something there).
	TopicRestricted(user, vhost, exchange string) bool
	// UserLimit and VHostLimit return a limit (LimitMaxConnections, ...);
	// ok is false when there is none.
	UserLimit(user, name string) (n int64, ok bool)
	VHostLimit(vhost, name string) (n int64, ok bool)
}

// DefaultStore is a registry with RabbitMQ's default user, guest/guest,
// an administrator with every permission on vhost "/", accepted from
// loopback only.
func DefaultStore() *Registry {
	r := NewRegistry("guest")
	if err := r.Bootstrap("", ""); err != nil {
		panic(err) // only a failing random source gets here
	}
	return r
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
