package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The Registry holds users, their permissions per vhost, topic
// permissions and limits, with RabbitMQ's meaning for each, and answers
// the one authorization call every adapter makes (Authorize): AMQP, STOMP
// and the HTTP API ask the same question the same way, so a permission
// means the same everywhere.
//
// Reads far outnumber writes (a check per publish, a change per admin
// command), so readers load an immutable state through an atomic pointer
// and never lock; a writer copies the state, changes the copy, saves it
// (Saver) and only then publishes it, so a change that could not be made
// durable is not made at all.

// Tags RabbitMQ gives users; they decide what the HTTP API lets a user
// see and do.
const (
	TagAdministrator = "administrator"
	TagMonitoring    = "monitoring"
	TagPolicymaker   = "policymaker"
	TagManagement    = "management"
	TagImpersonator  = "impersonator"
)

// Limit names, as RabbitMQ's user and vhost limits.
const (
	LimitMaxConnections = "max-connections"
	LimitMaxChannels    = "max-channels"
	LimitMaxQueues      = "max-queues"
)

// Op is what a permission allows.
type Op uint8

const (
	Configure Op = iota
	Write
	Read
)

func (o Op) String() string {
	return [...]string{"configure", "write", "read"}[o]
}

// Kind is the kind of resource a permission is checked on.
type Kind uint8

const (
	Queue Kind = iota
	Exchange
)

func (k Kind) String() string { return [...]string{"queue", "exchange"}[k] }

// DefaultExchange is the name permissions see for the nameless default
// exchange, as RabbitMQ.
const DefaultExchange = "amq.default"

// UserRecord is a stored user, with RabbitMQ's definitions field names.
type UserRecord struct {
	Name             string           `json:"name"`
	PasswordHash     string           `json:"password_hash"`
	HashingAlgorithm string           `json:"hashing_algorithm"`
	Tags             []string         `json:"tags"`
	Limits           map[string]int64 `json:"limits,omitempty"`
	// AccessKeys sign SQS requests (AWS Signature Version 4) as this
	// user. The secret must be kept, not hashed: SigV4 verifies an HMAC
	// made with it. The user database is sealed at rest.
	AccessKeys []AccessKey `json:"access_keys,omitempty"`
}

// AccessKey is an AWS-style key pair.
type AccessKey struct {
	ID      string `json:"access_key_id"`
	Secret  string `json:"secret_access_key"`
	Created int64  `json:"created"` // unix seconds
}

// Permission is a user's configure, write and read patterns in a vhost.
type Permission struct {
	User      string `json:"user"`
	VHost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

// TopicPermission restricts the routing keys a user may publish with
// (write) or bind with (read) on one topic exchange.
type TopicPermission struct {
	User     string `json:"user"`
	VHost    string `json:"vhost"`
	Exchange string `json:"exchange"`
	Write    string `json:"write"`
	Read     string `json:"read"`
}

// Denied is a refused operation; its text is RabbitMQ's, without the
// reply code's name, which the adapter adds.
type Denied struct{ Text string }

func (d *Denied) Error() string { return d.Text }

// Errors of the Registry's writers.
var (
	ErrNoUser     = errors.New("no such user")
	ErrBadPattern = errors.New("invalid permission pattern")
)

// Change tells subscribers what changed, so that live connections follow:
// a deleted user's connections are closed.
type Change struct {
	UserDeleted string // the user deleted, or ""
}

// Saver makes the registry's persistent form durable; it is called with
// each change before the change takes effect.
type Saver func(data []byte) error

// Registry is the user database. The zero value is not usable: use
// NewRegistry.
type Registry struct {
	state atomic.Pointer[state]
	mu    sync.Mutex // serializes writers
	save  Saver
	subs  []func(Change)
	// loopbackOnly names the users who may connect only from a loopback
	// address (RabbitMQ's loopback_users, [guest] by default).
	loopbackOnly []string
	throttle     *Throttle
	attempts     Attempts
}

type state struct {
	users  map[string]*UserRecord
	perms  map[userVHost]*grant
	topics map[userVHost][]*topicGrant
	// vhostLimits holds each vhost's limits (absent: none).
	vhostLimits map[string]map[string]int64
	// keys finds an access key's user; rebuilt with each change, so that
	// an SQS request's lookup is one map read, not a walk over users.
	keys map[string]*UserRecord
}

// indexKeys builds st.keys from st.users.
func (st *state) indexKeys() {
	st.keys = map[string]*UserRecord{}
	for _, u := range st.users {
		for _, k := range u.AccessKeys {
			st.keys[k.ID] = u
		}
	}
}

type userVHost struct{ user, vhost string }

type grant struct {
	p                      Permission
	configure, write, read *regexp.Regexp
}

type topicGrant struct {
	p           TopicPermission
	write, read *regexp.Regexp
}

// NewRegistry returns an empty registry; users named in loopbackOnly may
// log in only from loopback addresses.
func NewRegistry(loopbackOnly ...string) *Registry {
	r := &Registry{loopbackOnly: loopbackOnly, throttle: NewThrottle()}
	r.state.Store(&state{users: map[string]*UserRecord{}, perms: map[userVHost]*grant{},
		topics: map[userVHost][]*topicGrant{}, vhostLimits: map[string]map[string]int64{}})
	return r
}

// SetSaver sets where changes are made durable (nil: nowhere).
func (r *Registry) SetSaver(s Saver) {
	r.mu.Lock()
	r.save = s
	r.mu.Unlock()
}

// Subscribe calls fn after each change that live connections must follow.
func (r *Registry) Subscribe(fn func(Change)) {
	r.mu.Lock()
	r.subs = append(r.subs, fn)
	r.mu.Unlock()
}

// compile turns a RabbitMQ permission pattern into a regexp: unanchored,
// and the empty string meaning "^$" (nothing but the empty name).
// Patterns are Erlang's re (PCRE); Go's RE2 lacks backreferences and
// lookaround, and such a pattern is refused with ErrBadPattern.
func compile(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		pattern = "^$"
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadPattern, pattern, err)
	}
	return re, nil
}

// expandTopic substitutes the variables RabbitMQ allows in topic
// permission patterns.
func expandTopic(pattern, user, vhost string) string {
	return strings.NewReplacer("{username}", user, "{vhost}", vhost).Replace(pattern)
}

// --- reads ---

// User returns the named user.
func (r *Registry) User(name string) (UserRecord, bool) {
	u, ok := r.state.Load().users[name]
	if !ok {
		return UserRecord{}, false
	}
	return cloneUser(u), true
}

// Users returns every user, sorted by name.
func (r *Registry) Users() []UserRecord {
	st := r.state.Load()
	out := make([]UserRecord, 0, len(st.users))
	for _, u := range st.users {
		out = append(out, cloneUser(u))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func cloneUser(u *UserRecord) UserRecord {
	c := *u
	c.AccessKeys = slices.Clone(u.AccessKeys)
	c.Tags = slices.Clone(u.Tags)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if u.Limits != nil {
		c.Limits = make(map[string]int64, len(u.Limits))
		for k, v := range u.Limits {
			c.Limits[k] = v
		}
	}
	return c
}

// HasTag reports whether user has tag.
func (r *Registry) HasTag(user, tag string) bool {
	u, ok := r.state.Load().users[user]
	return ok && slices.Contains(u.Tags, tag)
}

// Permissions returns every permission, sorted by vhost then user.
func (r *Registry) Permissions() []Permission {
	st := r.state.Load()
	out := make([]Permission, 0, len(st.perms))
	for _, g := range st.perms {
		out = append(out, g.p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].VHost != out[j].VHost {
			return out[i].VHost < out[j].VHost
		}
		return out[i].User < out[j].User
	})
	return out
}

// Permission returns user's permission in vhost.
func (r *Registry) Permission(user, vhost string) (Permission, bool) {
	g, ok := r.state.Load().perms[userVHost{user, vhost}]
	if !ok {
		return Permission{}, false
	}
	return g.p, true
}

// TopicPermissions returns every topic permission, sorted by vhost, user
// and exchange.
func (r *Registry) TopicPermissions() []TopicPermission {
	st := r.state.Load()
	var out []TopicPermission
	for _, gs := range st.topics {
		for _, g := range gs {
			out = append(out, g.p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.VHost != b.VHost {
			return a.VHost < b.VHost
		}
		if a.User != b.User {
			return a.User < b.User
		}
		return a.Exchange < b.Exchange
	})
	if out == nil {
		out = []TopicPermission{}
	}
	return out
}

// VHostLimits returns the limits of every vhost that has some.
func (r *Registry) VHostLimits() map[string]map[string]int64 {
	st := r.state.Load()
	out := make(map[string]map[string]int64, len(st.vhostLimits))
	for v, l := range st.vhostLimits {
		out[v] = cloneLimits(l)
	}
	return out
}

// VHostLimit returns vhost's limit name; ok is false when it has none (a
// negative limit is none too, as RabbitMQ).
func (r *Registry) VHostLimit(vhost, name string) (n int64, ok bool) {
	n, ok = r.state.Load().vhostLimits[vhost][name]
	return n, ok && n >= 0
}

// UserLimit returns user's limit name; ok is false when it has none.
func (r *Registry) UserLimit(user, name string) (n int64, ok bool) {
	u, found := r.state.Load().users[user]
	if !found {
		return 0, false
	}
	n, ok = u.Limits[name]
	return n, ok && n >= 0
}

func cloneLimits(l map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(l))
	for k, v := range l {
		c[k] = v
	}
	return c
}

// --- authentication (Store) ---

// Authenticate implements Store. A refusal is slowed per peer (Throttle):
// it returns only after the peer's delay.
func (r *Registry) Authenticate(name, password string, remote net.Addr) (*User, error) {
	u, ok := r.state.Load().users[name]
	if !ok || u.PasswordHash == "" || !verifyPassword(u.HashingAlgorithm, u.PasswordHash, password) {
		return nil, r.FailedLogin(remote)
	}
	return r.admitLogin(u, remote)
}

// AuthenticateExternal implements Store; refusals are slowed as
// Authenticate's.
func (r *Registry) AuthenticateExternal(name string, remote net.Addr) (*User, error) {
	u, ok := r.state.Load().users[name]
	if !ok {
		return nil, r.FailedLogin(remote)
	}
	return r.admitLogin(u, remote)
}

// FailedLogin records a refused login from remote, waits the peer's
// throttle delay and returns ErrRefused. Adapters that check credentials
// themselves (SQS signatures) call it on a refusal.
func (r *Registry) FailedLogin(remote net.Addr) error {
	if d := r.throttle.Failed(remote); d > 0 {
		time.Sleep(d)
	}
	return ErrRefused
}

// RecordAttempt implements Store: it counts one authentication attempt of
// protocol.
func (r *Registry) RecordAttempt(protocol string, ok bool) { r.attempts.Record(protocol, ok) }

// Attempts is the registry's count of authentication attempts.
func (r *Registry) Attempts() *Attempts { return &r.attempts }

// LoginSucceeded forgets remote's failed logins; for adapters that check
// credentials themselves (SQS signatures).
func (r *Registry) LoginSucceeded(remote net.Addr) { r.throttle.Succeeded(remote) }

// admitLogin is admit for a login: a success clears the peer's failures.
func (r *Registry) admitLogin(u *UserRecord, remote net.Addr) (*User, error) {
	user, err := r.admit(u, remote)
	if err != nil {
		return nil, r.FailedLogin(remote)
	}
	r.throttle.Succeeded(remote)
	return user, nil
}

func (r *Registry) admit(u *UserRecord, remote net.Addr) (*User, error) {
	loopback := slices.Contains(r.loopbackOnly, u.Name)
	if loopback && !IsLoopback(remote) {
		return nil, ErrRefused
	}
	return &User{Name: u.Name, LoopbackOnly: loopback, Tags: slices.Clone(u.Tags)}, nil
}

// --- authorization ---

// VHostAccess checks that user may use vhost at all: any permission
// entry for it, even one that matches nothing, grants access, as in
// RabbitMQ. A refusal is connection.open's 530 NOT_ALLOWED.
func (r *Registry) VHostAccess(user, vhost string) error {
	if _, ok := r.state.Load().perms[userVHost{user, vhost}]; ok {
		return nil
	}
	return &Denied{Text: "access to vhost '" + vhost + "' refused for user '" + user + "'"}
}

// Authorize checks that user may do op on the named queue or exchange of
// vhost. The nameless default exchange is checked as "amq.default". It
// allocates nothing when access is granted: it runs on every publish.
func (r *Registry) Authorize(user, vhost string, kind Kind, name string, op Op) error {
	if kind == Exchange && name == "" {
		name = DefaultExchange
	}
	if g, ok := r.state.Load().perms[userVHost{user, vhost}]; ok {
		var re *regexp.Regexp
		switch op {
		case Configure:
			re = g.configure
		case Write:
			re = g.write
		default:
			re = g.read
		}
		if re.MatchString(name) {
			return nil
		}
	}
	return &Denied{Text: "access to " + kind.String() + " '" + name + "' in vhost '" + vhost + "' refused for user '" + user + "'"}
}

// AuthorizeTopic checks a routing key against user's topic permissions
// on a topic exchange: write for a publish, read for a binding. With no
// topic permission for the exchange, every key is allowed, as RabbitMQ.
func (r *Registry) AuthorizeTopic(user, vhost, exchange, key string, op Op) error {
	gs := r.state.Load().topics[userVHost{user, vhost}]
	if len(gs) == 0 {
		return nil
	}
	for _, g := range gs {
		if g.p.Exchange != exchange {
			continue
		}
		re := g.write
		if op == Read {
			re = g.read
		}
		if re.MatchString(key) {
			return nil
		}
		return &Denied{Text: "access to topic '" + key + "' in exchange '" + exchange +
			"' in vhost '" + vhost + "' refused for user '" + user + "'"}
	}
	return nil
}

// --- writes ---

// change runs fn on a copy of the state, saves the result and publishes
// it; fn's error, or the save's, leaves everything as it was.
func (r *Registry) change(fn func(st *state) (Change, error)) error {
	r.mu.Lock()
	cur := r.state.Load()
	next := &state{users: make(map[string]*UserRecord, len(cur.users)), perms: make(map[userVHost]*grant, len(cur.perms)),
		topics: make(map[userVHost][]*topicGrant, len(cur.topics)), vhostLimits: make(map[string]map[string]int64, len(cur.vhostLimits))}
	for k, v := range cur.users {
		next.users[k] = v
	}
	for k, v := range cur.perms {
		next.perms[k] = v
	}
	for k, v := range cur.topics {
		next.topics[k] = v
	}
	for k, v := range cur.vhostLimits {
		next.vhostLimits[k] = v
	}
	ch, err := fn(next)
	if err == nil && r.save != nil {
		var data []byte
		if data, err = next.marshal(); err == nil {
			err = r.save(data)
		}
	}
	if err != nil {
		r.mu.Unlock()
		return err
	}
	next.indexKeys()
	r.state.Store(next)
	subs := slices.Clone(r.subs)
	r.mu.Unlock()
	if ch != (Change{}) {
		for _, fn := range subs {
			fn(ch)
		}
	}
	return nil
}

// PutUser creates or replaces a user; created says which. The record's
// password hash must already be hashed (HashPassword) or checked
// (CheckHash).
func (r *Registry) PutUser(u UserRecord) (created bool, err error) {
	if u.Name == "" {
		return false, errors.New("user name must not be empty")
	}
	if err := CheckHash(u.HashingAlgorithm, u.PasswordHash); err != nil {
		return false, err
	}
	if u.HashingAlgorithm == "" {
		u.HashingAlgorithm = HashSHA256
	}
	u = cloneUser(&u)
	err = r.change(func(st *state) (Change, error) {
		old, exists := st.users[u.Name]
		created = !exists
		if exists && u.Limits == nil {
			u.Limits = old.Limits // PUT of a user keeps its limits
		}
		if exists && u.AccessKeys == nil {
			u.AccessKeys = old.AccessKeys // and its access keys
		}
		st.users[u.Name] = &u
		return Change{}, nil
	})
	return created, err
}

// DeleteUser deletes a user with its permissions and topic permissions;
// its connections are closed (Change.UserDeleted).
func (r *Registry) DeleteUser(name string) error {
	return r.change(func(st *state) (Change, error) {
		if _, ok := st.users[name]; !ok {
			return Change{}, ErrNoUser
		}
		delete(st.users, name)
		for k := range st.perms {
			if k.user == name {
				delete(st.perms, k)
			}
		}
		for k := range st.topics {
			if k.user == name {
				delete(st.topics, k)
			}
		}
		return Change{UserDeleted: name}, nil
	})
}

// SetPermission sets a user's patterns in a vhost; the user must exist
// (the caller checks the vhost).
func (r *Registry) SetPermission(p Permission) error {
	g := &grant{p: p}
	var err error
	if g.configure, err = compile(p.Configure); err != nil {
		return err
	}
	if g.write, err = compile(p.Write); err != nil {
		return err
	}
	if g.read, err = compile(p.Read); err != nil {
		return err
	}
	return r.change(func(st *state) (Change, error) {
		if _, ok := st.users[p.User]; !ok {
			return Change{}, ErrNoUser
		}
		st.perms[userVHost{p.User, p.VHost}] = g
		return Change{}, nil
	})
}

// ClearPermission removes a user's permission in a vhost; found says
// whether there was one.
func (r *Registry) ClearPermission(user, vhost string) (found bool, err error) {
	err = r.change(func(st *state) (Change, error) {
		k := userVHost{user, vhost}
		_, found = st.perms[k]
		delete(st.perms, k)
		return Change{}, nil
	})
	return found, err
}

// SetTopicPermission sets a user's topic patterns for one exchange of a
// vhost, replacing any for the same exchange.
func (r *Registry) SetTopicPermission(p TopicPermission) error {
	g := &topicGrant{p: p}
	var err error
	if g.write, err = compile(expandTopic(p.Write, p.User, p.VHost)); err != nil {
		return err
	}
	if g.read, err = compile(expandTopic(p.Read, p.User, p.VHost)); err != nil {
		return err
	}
	return r.change(func(st *state) (Change, error) {
		if _, ok := st.users[p.User]; !ok {
			return Change{}, ErrNoUser
		}
		k := userVHost{p.User, p.VHost}
		gs := slices.DeleteFunc(slices.Clone(st.topics[k]), func(o *topicGrant) bool { return o.p.Exchange == p.Exchange })
		st.topics[k] = append(gs, g)
		return Change{}, nil
	})
}

// ClearTopicPermission removes a user's topic permissions in a vhost: for
// one exchange, or all of them when exchange is "". found says whether
// any was removed.
func (r *Registry) ClearTopicPermission(user, vhost, exchange string) (found bool, err error) {
	err = r.change(func(st *state) (Change, error) {
		k := userVHost{user, vhost}
		gs := slices.DeleteFunc(slices.Clone(st.topics[k]), func(o *topicGrant) bool {
			return exchange == "" || o.p.Exchange == exchange
		})
		found = len(gs) != len(st.topics[k])
		if len(gs) == 0 {
			delete(st.topics, k)
		} else {
			st.topics[k] = gs
		}
		return Change{}, nil
	})
	return found, err
}

// SetUserLimit sets (or, with clear, removes) one of a user's limits.
func (r *Registry) SetUserLimit(user, name string, value int64, clear bool) error {
	return r.change(func(st *state) (Change, error) {
		u, ok := st.users[user]
		if !ok {
			return Change{}, ErrNoUser
		}
		c := cloneUser(u)
		if c.Limits == nil {
			c.Limits = map[string]int64{}
		}
		if clear {
			delete(c.Limits, name)
		} else {
			c.Limits[name] = value
		}
		if len(c.Limits) == 0 {
			c.Limits = nil
		}
		st.users[user] = &c
		return Change{}, nil
	})
}

// SetVHostLimit sets (or, with clear, removes) one of a vhost's limits.
func (r *Registry) SetVHostLimit(vhost, name string, value int64, clear bool) error {
	return r.change(func(st *state) (Change, error) {
		l := cloneLimits(st.vhostLimits[vhost])
		if clear {
			delete(l, name)
		} else {
			l[name] = value
		}
		if len(l) == 0 {
			delete(st.vhostLimits, vhost)
		} else {
			st.vhostLimits[vhost] = l
		}
		return Change{}, nil
	})
}

// ForgetVHost removes everything the registry holds about a deleted
// vhost: its permissions, topic permissions and limits.
func (r *Registry) ForgetVHost(vhost string) error {
	return r.change(func(st *state) (Change, error) {
		for k := range st.perms {
			if k.vhost == vhost {
				delete(st.perms, k)
			}
		}
		for k := range st.topics {
			if k.vhost == vhost {
				delete(st.topics, k)
			}
		}
		delete(st.vhostLimits, vhost)
		return Change{}, nil
	})
}

// --- access keys (SQS) ---

// GuestAccessKey is the key pair the guest user has without creating one,
// as SQS emulators use: id and secret "guest", loopback only like guest.
const GuestAccessKey = "guest"

// MaxAccessKeys bounds a user's key pairs, so that a user managing its
// own keys cannot grow the user database without end.
const MaxAccessKeys = 10

// ErrTooManyAccessKeys refuses a key past MaxAccessKeys.
var ErrTooManyAccessKeys = errors.New("access key limit exceeded")

// CreateAccessKey gives user a new random key pair (20-character id
// starting with "SLU", 40-character secret, as AWS's shapes).
func (r *Registry) CreateAccessKey(user string, now int64) (AccessKey, error) {
	k := AccessKey{ID: "SLU" + randomString(17, keyIDAlphabet), Secret: randomString(40, secretAlphabet), Created: now}
	err := r.change(func(st *state) (Change, error) {
		u, ok := st.users[user]
		if !ok {
			return Change{}, ErrNoUser
		}
		if len(u.AccessKeys) >= MaxAccessKeys {
			return Change{}, ErrTooManyAccessKeys
		}
		c := cloneUser(u)
		c.AccessKeys = append(c.AccessKeys, k)
		st.users[user] = &c
		return Change{}, nil
	})
	return k, err
}

// DeleteAccessKey removes one of user's key pairs; found says whether it
// was there.
func (r *Registry) DeleteAccessKey(user, id string) (found bool, err error) {
	err = r.change(func(st *state) (Change, error) {
		u, ok := st.users[user]
		if !ok {
			return Change{}, ErrNoUser
		}
		c := cloneUser(u)
		c.AccessKeys = slices.DeleteFunc(c.AccessKeys, func(k AccessKey) bool { return k.ID == id })
		found = len(c.AccessKeys) != len(u.AccessKeys)
		st.users[user] = &c
		return Change{}, nil
	})
	return found, err
}

// AccessKeySecret finds the user and secret of an access key id, for a
// SigV4 check; the user's loopback rule is applied as for a login. The
// guest user has GuestAccessKey with secret "guest".
func (r *Registry) AccessKeySecret(id string, remote net.Addr) (user *User, secret string, err error) {
	st := r.state.Load()
	if id == GuestAccessKey {
		if u, ok := st.users["guest"]; ok {
			user, err := r.admit(u, remote)
			return user, "guest", err
		}
	}
	if u, ok := st.keys[id]; ok {
		for _, k := range u.AccessKeys {
			if k.ID == id {
				user, err := r.admit(u, remote)
				return user, k.Secret, err
			}
		}
	}
	return nil, "", ErrRefused
}

// --- bootstrap ---

// Bootstrap gives an empty registry its first user: name/password as an
// administrator with every permission on vhost "/", or, when name is "",
// RabbitMQ's guest/guest (loopback only unless configured otherwise).
// A registry that has users is left alone.
func (r *Registry) Bootstrap(name, password string) error {
	if len(r.state.Load().users) > 0 {
		return nil
	}
	if name == "" {
		name, password = "guest", "guest"
	}
	hash, err := HashPassword(HashSHA256, password)
	if err != nil {
		return err
	}
	if _, err := r.PutUser(UserRecord{Name: name, PasswordHash: hash, HashingAlgorithm: HashSHA256,
		Tags: []string{TagAdministrator}}); err != nil {
		return err
	}
	return r.SetPermission(Permission{User: name, VHost: "/", Configure: ".*", Write: ".*", Read: ".*"})
}

// --- persistence ---

// registryVersion is the layout of the registry's persistent form.
const registryVersion = 1

type registryFile struct {
	Version          int                         `json:"version"`
	Users            []UserRecord                `json:"users"`
	Permissions      []Permission                `json:"permissions"`
	TopicPermissions []TopicPermission           `json:"topic_permissions"`
	VHostLimits      map[string]map[string]int64 `json:"vhost_limits"`
}

func (st *state) marshal() ([]byte, error) {
	f := registryFile{Version: registryVersion, Users: []UserRecord{}, Permissions: []Permission{},
		TopicPermissions: []TopicPermission{}, VHostLimits: st.vhostLimits}
	for _, u := range st.users {
		f.Users = append(f.Users, *u)
	}
	for _, g := range st.perms {
		f.Permissions = append(f.Permissions, g.p)
	}
	for _, gs := range st.topics {
		for _, g := range gs {
			f.TopicPermissions = append(f.TopicPermissions, g.p)
		}
	}
	sort.Slice(f.Users, func(i, j int) bool { return f.Users[i].Name < f.Users[j].Name })
	return json.Marshal(f)
}

// Resave saves the registry as it is (after Load, so that it is written
// in the current form and sealing).
func (r *Registry) Resave() error {
	return r.change(func(*state) (Change, error) { return Change{}, nil })
}

// Load replaces the registry's contents with a persistent form written
// by its Saver. It does not call the Saver.
func (r *Registry) Load(data []byte) error {
	var f registryFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if f.Version != registryVersion {
		return fmt.Errorf("users: unknown version %d", f.Version)
	}
	r.mu.Lock()
	save := r.save
	r.save = nil
	r.mu.Unlock()
	defer r.SetSaver(save)
	r.state.Store(&state{users: map[string]*UserRecord{}, perms: map[userVHost]*grant{},
		topics: map[userVHost][]*topicGrant{}, vhostLimits: map[string]map[string]int64{}})
	for _, u := range f.Users {
		if _, err := r.PutUser(u); err != nil {
			return fmt.Errorf("users: user %q: %w", u.Name, err)
		}
	}
	for _, p := range f.Permissions {
		if err := r.SetPermission(p); err != nil {
			return fmt.Errorf("users: permission of %q in %q: %w", p.User, p.VHost, err)
		}
	}
	for _, p := range f.TopicPermissions {
		if err := r.SetTopicPermission(p); err != nil {
			return fmt.Errorf("users: topic permission of %q in %q: %w", p.User, p.VHost, err)
		}
	}
	for v, l := range f.VHostLimits {
		for name, n := range l {
			if err := r.SetVHostLimit(v, name, n, false); err != nil {
				return err
			}
		}
	}
	return nil
}
