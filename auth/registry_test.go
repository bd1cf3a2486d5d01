package auth

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

func addUser(t *testing.T, r *Registry, name, password string, tags ...string) {
	t.Helper()
	hash, err := HashPassword("", password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.PutUser(UserRecord{Name: name, PasswordHash: hash, Tags: tags}); err != nil {
		t.Fatal(err)
	}
}

func setPerm(t *testing.T, r *Registry, user, vhost, conf, write, read string) {
	t.Helper()
	if err := r.SetPermission(Permission{User: user, VHost: vhost, Configure: conf, Write: write, Read: read}); err != nil {
		t.Fatal(err)
	}
}

var remote = &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5000}

// TestRabbitMQHashesVerify: hashes as RabbitMQ stores them (base64 of a
// 4-byte salt and H(salt+password)), made here independently of
// hashWithSalt, log in; a wrong password does not.
func TestRabbitMQHashesVerify(t *testing.T) {
	salt := []byte{0x90, 0x8d, 0xc6, 0x0a}
	s256 := sha256.Sum256(append(append([]byte{}, salt...), "s3cret"...))
	s512 := sha512.Sum512(append(append([]byte{}, salt...), "s3cret"...))
	for alg, digest := range map[string][]byte{HashSHA256: s256[:], HashSHA512: s512[:]} {
		r := NewRegistry()
		stored := base64.StdEncoding.EncodeToString(append(append([]byte{}, salt...), digest...))
		if _, err := r.PutUser(UserRecord{Name: "imported", PasswordHash: stored, HashingAlgorithm: alg}); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if _, err := r.Authenticate("imported", "s3cret", remote); err != nil {
			t.Errorf("%s: right password refused: %v", alg, err)
		}
		if _, err := r.Authenticate("imported", "s3creT", remote); err == nil {
			t.Errorf("%s: wrong password accepted", alg)
		}
	}
	// A known RabbitMQ value: the documented example of
	// rabbit_password_hashing_sha256 for password "test12".
	r := NewRegistry()
	if _, err := r.PutUser(UserRecord{Name: "doc", PasswordHash: "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR", HashingAlgorithm: HashSHA256}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate("doc", "test12", remote); err != nil {
		t.Errorf("RabbitMQ's documented hash for test12 refused: %v", err)
	}
	if err := CheckHash(HashSHA256, "bm90IGEgaGFzaA=="); err == nil {
		t.Error("a hash of the wrong length was accepted")
	}
	if err := CheckHash("rabbit_password_hashing_bcrypt", ""); err == nil {
		t.Error("an unknown algorithm was accepted")
	}
}

// TestPermissionPatterns: RabbitMQ's meaning of the patterns: unanchored,
// "" is "^$", ".*" everything, the default exchange is amq.default.
func TestPermissionPatterns(t *testing.T) {
	r := NewRegistry()
	addUser(t, r, "u", "p")
	setPerm(t, r, "u", "/", "^app\\.", "", "q")
	cases := []struct {
		kind Kind
		name string
		op   Op
		ok   bool
	}{
		{Queue, "app.orders", Configure, true},
		{Queue, "my.app.orders", Configure, false},
		{Exchange, "app.x", Configure, true},
		{Exchange, "", Write, false}, // amq.default does not match ""
		{Queue, "", Write, true},     // "" matches only ""
		{Queue, "anything", Write, false},
		{Queue, "myq", Read, true}, // unanchored
		{Queue, "other", Read, false},
		{Queue, "amq.gen-q1", Read, true}, // server-named queues follow the same rules
	}
	for _, c := range cases {
		err := r.Authorize("u", "/", c.kind, c.name, c.op)
		if (err == nil) != c.ok {
			t.Errorf("%v %q %v: %v", c.kind, c.name, c.op, err)
		}
	}
	err := r.Authorize("u", "/", Exchange, "", Write)
	if want := "access to exchange 'amq.default' in vhost '/' refused for user 'u'"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if err := r.Authorize("u", "other", Queue, "app.q", Configure); err == nil {
		t.Error("a vhost without permissions granted access")
	}
	if err := r.VHostAccess("u", "other"); err == nil || err.Error() != "access to vhost 'other' refused for user 'u'" {
		t.Errorf("vhost access: %v", err)
	}
	setPerm(t, r, "u", "empty", "", "", "")
	if err := r.VHostAccess("u", "empty"); err != nil {
		t.Errorf("an entry that matches nothing still grants the vhost: %v", err)
	}
	if err := r.SetPermission(Permission{User: "u", VHost: "/", Configure: "(?=x)"}); !errors.Is(err, ErrBadPattern) {
		t.Errorf("lookahead pattern: %v", err)
	}
	if err := r.SetPermission(Permission{User: "ghost", VHost: "/", Configure: ".*"}); !errors.Is(err, ErrNoUser) {
		t.Errorf("permission of a missing user: %v", err)
	}
}

func TestTopicPermissions(t *testing.T) {
	r := NewRegistry()
	addUser(t, r, "alice", "p")
	setPerm(t, r, "alice", "/", ".*", ".*", ".*")
	if err := r.AuthorizeTopic("alice", "/", "amq.topic", "any.key", Write); err != nil {
		t.Fatalf("no topic permission must allow: %v", err)
	}
	if err := r.SetTopicPermission(TopicPermission{User: "alice", VHost: "/", Exchange: "amq.topic",
		Write: "^{username}\\.", Read: "^public\\."}); err != nil {
		t.Fatal(err)
	}
	if err := r.AuthorizeTopic("alice", "/", "amq.topic", "alice.orders", Write); err != nil {
		t.Errorf("own key refused: %v", err)
	}
	err := r.AuthorizeTopic("alice", "/", "amq.topic", "bob.orders", Write)
	if want := "access to topic 'bob.orders' in exchange 'amq.topic' in vhost '/' refused for user 'alice'"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if err := r.AuthorizeTopic("alice", "/", "amq.topic", "public.news", Read); err != nil {
		t.Errorf("read: %v", err)
	}
	if err := r.AuthorizeTopic("alice", "/", "other.topic", "bob.orders", Write); err != nil {
		t.Errorf("another exchange is not restricted: %v", err)
	}
	if found, err := r.ClearTopicPermission("alice", "/", ""); !found || err != nil {
		t.Fatalf("clear: %v %v", found, err)
	}
	if err := r.AuthorizeTopic("alice", "/", "amq.topic", "bob.orders", Write); err != nil {
		t.Errorf("after clear: %v", err)
	}
}

// TestRegistryPersists: a saved registry loads back whole, and a change
// whose save fails is not made.
func TestRegistryPersists(t *testing.T) {
	var saved []byte
	r := NewRegistry("guest")
	r.SetSaver(func(b []byte) error { saved = b; return nil })
	addUser(t, r, "u", "pw", TagManagement)
	setPerm(t, r, "u", "v", "c", "w", "r")
	if err := r.SetTopicPermission(TopicPermission{User: "u", VHost: "v", Exchange: "t", Write: "a", Read: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetUserLimit("u", LimitMaxChannels, 5, false); err != nil {
		t.Fatal(err)
	}
	if err := r.SetVHostLimit("v", LimitMaxQueues, 10, false); err != nil {
		t.Fatal(err)
	}
	l := NewRegistry("guest")
	if err := l.Load(saved); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Authenticate("u", "pw", remote); err != nil {
		t.Errorf("password: %v", err)
	}
	if !l.HasTag("u", TagManagement) {
		t.Error("tag lost")
	}
	if p, ok := l.Permission("u", "v"); !ok || p.Configure != "c" || p.Write != "w" || p.Read != "r" {
		t.Errorf("permission: %+v %v", p, ok)
	}
	if len(l.TopicPermissions()) != 1 {
		t.Errorf("topic permissions: %+v", l.TopicPermissions())
	}
	if n, ok := l.UserLimit("u", LimitMaxChannels); !ok || n != 5 {
		t.Errorf("user limit: %d %v", n, ok)
	}
	if n, ok := l.VHostLimit("v", LimitMaxQueues); !ok || n != 10 {
		t.Errorf("vhost limit: %d %v", n, ok)
	}
	r.SetSaver(func([]byte) error { return errors.New("disk full") })
	if err := r.DeleteUser("u"); err == nil {
		t.Fatal("a delete whose save failed succeeded")
	}
	if _, ok := r.User("u"); !ok {
		t.Error("a change whose save failed was made")
	}
}

func TestDeleteUserNotifiesAndDropsPermissions(t *testing.T) {
	r := NewRegistry()
	addUser(t, r, "u", "p")
	setPerm(t, r, "u", "/", ".*", ".*", ".*")
	var got []Change
	r.Subscribe(func(c Change) { got = append(got, c) })
	if err := r.DeleteUser("u"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].UserDeleted != "u" {
		t.Errorf("changes: %+v", got)
	}
	if _, ok := r.Permission("u", "/"); ok {
		t.Error("permission outlived its user")
	}
	if err := r.DeleteUser("u"); !errors.Is(err, ErrNoUser) {
		t.Errorf("second delete: %v", err)
	}
}

func TestBootstrap(t *testing.T) {
	r := NewRegistry("guest")
	if err := r.Bootstrap("admin", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate("admin", "s3cret", remote); err != nil {
		t.Errorf("default user from a remote address: %v", err)
	}
	if _, err := r.Authenticate("guest", "guest", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err == nil {
		t.Error("guest exists next to --default-user")
	}
	if !r.HasTag("admin", TagAdministrator) || r.Authorize("admin", "/", Queue, "q", Configure) != nil {
		t.Error("default user is not an administrator with permissions on /")
	}
	if err := r.Bootstrap("", ""); err != nil || len(r.Users()) != 1 {
		t.Errorf("bootstrap of a registry with users changed it: %v %d", err, len(r.Users()))
	}
}

// BenchmarkAuthorizePublish: the check on every publish allocates nothing.
func BenchmarkAuthorizePublish(b *testing.B) {
	r := NewRegistry()
	hash, _ := HashPassword("", "p")
	if _, err := r.PutUser(UserRecord{Name: "u", PasswordHash: hash}); err != nil {
		b.Fatal(err)
	}
	if err := r.SetPermission(Permission{User: "u", VHost: "/", Configure: ".*", Write: "^(amq\\.default|orders\\..*)$", Read: ".*"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := r.Authorize("u", "/", Exchange, "orders.eu", Write); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAuthorizeAllocatesNothing(t *testing.T) {
	r := NewRegistry()
	addUser(t, r, "u", "p")
	setPerm(t, r, "u", "/", ".*", "^(amq\\.default|orders\\..*)$", ".*")
	if n := testing.AllocsPerRun(100, func() {
		_ = r.Authorize("u", "/", Exchange, "orders.eu", Write)
		_ = r.Authorize("u", "/", Exchange, "", Write)
	}); n != 0 {
		t.Errorf("Authorize allocates %v times per granted check", n)
	}
}

func TestAccessKeys(t *testing.T) {
	var saved []byte
	r := NewRegistry("guest")
	r.SetSaver(func(b []byte) error { saved = b; return nil })
	if err := r.Bootstrap("", ""); err != nil {
		t.Fatal(err)
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if u, secret, err := r.AccessKeySecret(GuestAccessKey, local); err != nil || u.Name != "guest" || secret != "guest" {
		t.Fatalf("guest key from loopback: %v %q %v", u, secret, err)
	}
	if _, _, err := r.AccessKeySecret(GuestAccessKey, remote); err == nil {
		t.Fatal("guest key accepted from a remote address")
	}
	addUser(t, r, "app", "pw")
	k, err := r.CreateAccessKey("app", 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.ID) != 20 || len(k.Secret) != 40 {
		t.Errorf("key shapes: %q %q", k.ID, k.Secret)
	}
	// A PUT of the user (a password change) keeps its keys; they survive
	// a reload.
	hash, _ := HashPassword("", "new")
	if _, err := r.PutUser(UserRecord{Name: "app", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	l := NewRegistry("guest")
	if err := l.Load(saved); err != nil {
		t.Fatal(err)
	}
	if u, secret, err := l.AccessKeySecret(k.ID, remote); err != nil || u.Name != "app" || secret != k.Secret {
		t.Fatalf("after reload: %v %q %v", u, secret, err)
	}
	if found, err := l.DeleteAccessKey("app", k.ID); !found || err != nil {
		t.Fatalf("delete: %v %v", found, err)
	}
	if _, _, err := l.AccessKeySecret(k.ID, remote); err == nil {
		t.Fatal("a deleted key still signs")
	}
}

// TestAccessKeyLimitHoldsUnderConcurrency: the per-user bound on access
// keys is kept by the registry under its writer lock. It was checked by
// the HTTP handler before creating, so simultaneous requests could pass
// the check together and go past it.
func TestAccessKeyLimitHoldsUnderConcurrency(t *testing.T) {
	r := NewRegistry()
	addUser(t, r, "app", "pw")
	var wg sync.WaitGroup
	var refused atomic.Int32
	for i := 0; i < 3*MaxAccessKeys; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.CreateAccessKey("app", 1); errors.Is(err, ErrTooManyAccessKeys) {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	u, _ := r.User("app")
	if len(u.AccessKeys) != MaxAccessKeys || int(refused.Load()) != 2*MaxAccessKeys {
		t.Fatalf("%d keys, %d refused; want %d keys", len(u.AccessKeys), refused.Load(), MaxAccessKeys)
	}
}
