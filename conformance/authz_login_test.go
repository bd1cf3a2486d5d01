package conformance

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// TestAuthzWrongPasswordEachMechanism: a wrong password is refused on
// PLAIN and AMQPLAIN (403 to a client that asked to be told), the right
// one accepted on both.
func TestAuthzWrongPasswordEachMechanism(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", ".*", ".*")
	url := fmt.Sprintf("amqp://%s/", b.AMQPAddr())
	for _, mech := range []string{"PLAIN", "AMQPLAIN"} {
		sasl := func(pass string) []amqp.Authentication {
			if mech == "PLAIN" {
				return []amqp.Authentication{&amqp.PlainAuth{Username: "alice", Password: pass}}
			}
			return []amqp.Authentication{&amqp.AMQPlainAuth{Username: "alice", Password: pass}}
		}
		_, err := amqp.DialConfig(url, amqp.Config{SASL: sasl("wrong")})
		// amqp091-go reports the 403 as its ErrCredentials, with its own text.
		wantAMQPError(t, err, 403, "")
		c, err := amqp.DialConfig(url, amqp.Config{SASL: sasl("pw-alice")})
		if err != nil {
			t.Fatalf("%s with the right password: %v", mech, err)
		}
		c.Close()
	}
}

// TestAuthzImportedRabbitMQHash: a user exported from RabbitMQ (its
// rabbit_password_hashing_sha256: base64 of a 4-byte salt and
// SHA-256(salt+password)) logs in over AMQP with its password.
func TestAuthzImportedRabbitMQHash(t *testing.T) {
	b := brokertest.New(t)
	salt := []byte{0xde, 0xad, 0xbe, 0xef}
	sum := sha256.Sum256(append(append([]byte{}, salt...), "imported-pw"...))
	hash := base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
	if _, err := b.Users.PutUser(auth.UserRecord{Name: "imported", PasswordHash: hash,
		HashingAlgorithm: "rabbit_password_hashing_sha256"}); err != nil {
		t.Fatal(err)
	}
	setPerms(t, b, "imported", ".*", ".*", ".*")
	c, err := amqp.Dial(fmt.Sprintf("amqp://imported:imported-pw@%s/", b.AMQPAddr()))
	if err != nil {
		t.Fatalf("imported user: %v", err)
	}
	stillUsable(t, c)
	c.Close()
	if _, err := amqp.Dial(fmt.Sprintf("amqp://imported:other@%s/", b.AMQPAddr())); err == nil {
		t.Fatal("imported user logged in with a wrong password")
	}
}

// TestAuthzGuestLoopbackOnly: guest is refused from a non-loopback
// address of this machine, over AMQP and STOMP, while another user is
// accepted from it.
func TestAuthzGuestLoopbackOnly(t *testing.T) {
	ip := nonLoopbackIP(t)
	b := brokertest.New(t, func(c *server.Config) {
		c.AMQPAddr = net.JoinHostPort(ip, "0")
		c.STOMPAddr = net.JoinHostPort(ip, "0")
	})
	permUser(t, b, "alice", ".*", ".*", ".*")
	_, err := amqp.DialConfig(fmt.Sprintf("amqp://guest:guest@%s/", b.AMQPAddr()), amqp.Config{})
	if err == nil {
		t.Fatal("guest logged in from a non-loopback address")
	}
	c, err := amqp.Dial(userURL(b, "alice"))
	if err != nil {
		t.Fatalf("alice from %s: %v", ip, err)
	}
	c.Close()
	r := rawDial(t, b.STOMPAddr())
	r.write("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
	if f := r.read(); f.command != "ERROR" || string(f.body) != "Access refused for user 'guest'\n" {
		t.Fatalf("STOMP guest from %s: %s %q", ip, f.command, f.body)
	}
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return ""
}
