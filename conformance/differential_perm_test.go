//go:build differential

// Differential permission tests: every scenario creates, on a real RabbitMQ
// (RABBITMQ_URL, RABBITMQ_MGMT_URL, RABBITMQ_STOMP_ADDR; see
// scripts/rabbitmq.sh) and on a sluice from brokertest, a vhost and a user
// named with a per-run token, gives the user permissions, topic permissions
// and limits through the management API (the same requests on both), then
// connects as that user (amqp091-go, or raw STOMP frames) and records what
// the client observes: reply codes and texts, which of channel and
// connection survived, STOMP ERROR frames. The transcripts are compared as
// TestDifferential's are; afterwards the vhost and the user are deleted.
//
//	RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start
//	go test -tags differential -run TestDifferentialPerm ./conformance/ -v
//
// Scenarios with known set are differences kept on purpose (see
// docs/SECURITY.md, "Differences from RabbitMQ that remain"): logged, not
// failed.
package conformance

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

func rabbitSTOMPAddr() string {
	if a := os.Getenv("RABBITMQ_STOMP_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:61623"
}

// permEnv is one broker's side of a permission scenario.
type permEnv struct {
	api       *apiClient // guest, an administrator
	amqpAddr  string     // host:port
	stompAddr string
	vhost     string
	user      string
	pass      string
}

func (e *permEnv) urlFor(user, pass, vhost string) string {
	return (&url.URL{Scheme: "amqp", User: url.UserPassword(user, pass), Host: e.amqpAddr, Path: "/" + vhost}).String()
}

func (e *permEnv) userURL() string { return e.urlFor(e.user, e.pass, e.vhost) }

// dialURL connects to url, recording the outcome under label; the
// connection is closed when the scenario ends.
func dialURL(s *scen, label, u string) *amqp.Connection {
	c, err := amqp.DialConfig(u, amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 5*time.Second)
			if err == nil {
				s.mu.Lock()
				s.conns = append(s.conns, c)
				s.mu.Unlock()
			}
			return c, err
		},
	})
	if label != "" || err != nil {
		if label == "" {
			label = "dial"
		}
		s.step(label, err)
	}
	if err != nil {
		return nil
	}
	s.watch(c, c.NotifyClose(make(chan *amqp.Error, 1)))
	return c
}

// user connects as the scenario's user and opens a channel; failing to,
// it ends the scenario (the failure is in the transcript).
func (e *permEnv) userChan(s *scen) (*amqp.Connection, *amqp.Channel) {
	c := dialURL(s, "", e.userURL())
	if c == nil {
		panic(abort{})
	}
	return c, s.channel(c)
}

// admin connects as guest to the scenario's vhost, for setup and for
// looking at the outcome; it is not part of what is compared unless a
// step records it.
func (e *permEnv) admin(s *scen) *amqp.Channel {
	c := dialURL(s, "", e.urlFor("guest", "guest", e.vhost))
	if c == nil {
		s.add("admin dial failed")
		panic(abort{})
	}
	ch, err := c.Channel()
	if err != nil {
		s.add("admin channel: %s", describe(err))
		panic(abort{})
	}
	return ch
}

// adminMust records a failed setup step and ends the scenario.
func adminMust(s *scen, what string, err error) {
	if err != nil {
		s.add("setup %s: %s", what, describe(err))
		panic(abort{})
	}
}

// messages is the number of messages in q, seen by the admin.
func (e *permEnv) messages(s *scen, label, q string) {
	ch := e.admin(s)
	defer ch.Close()
	qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	if err != nil {
		s.add("%s: %s", label, describe(err))
		return
	}
	s.add("%s: messages=%d consumers=%d", label, qi.Messages, qi.Consumers)
}

// apiPut is a management API call made during the scenario (a change on a
// live connection); its status is recorded.
func (e *permEnv) apiPut(s *scen, path, body string) {
	st, raw := e.api.do("PUT", path, body)
	if st/100 != 2 {
		s.add("PUT %s: %d %s", path, st, raw)
	}
}

// ---------------------------------------------------------------- STOMP

type stompSession struct {
	s *scen
	r *rawConn
}

func stompDialScen(s *scen, addr string) *stompSession {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		s.add("stomp dial: %v", err)
		panic(abort{})
	}
	s.mu.Lock()
	s.conns = append(s.conns, nc)
	s.mu.Unlock()
	return &stompSession{s: s, r: &rawConn{t: s.t, nc: nc, br: bufio.NewReader(nc)}}
}

func (ss *stompSession) send(frame string) {
	if err := ss.r.writeErr([]byte(frame)); err != nil {
		ss.s.add("stomp write: error")
	}
}

// frames records what the server sends until it closes the connection or
// is quiet for wait: each frame's command, for an ERROR or RECEIPT its
// headers and body; then whether the connection was closed.
func (ss *stompSession) frames(label string, wait time.Duration) {
	for {
		f, err := ss.r.readErr(wait)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				ss.s.add("%s: connection open", label)
			} else {
				ss.s.add("%s: connection closed", label)
			}
			return
		}
		switch f.command {
		case "CONNECTED":
			ss.s.add("%s: CONNECTED", label)
		case "MESSAGE":
			ss.s.add("%s: MESSAGE body=%q", label, f.body)
		default:
			keys := make([]string, 0, len(f.headers))
			for k := range f.headers {
				if k != "content-length" { // the body is recorded whole
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = k + ":" + f.headers[k]
			}
			ss.s.add("%s: %s {%s} body=%q", label, f.command, strings.Join(parts, " "), f.body)
		}
	}
}

func (e *permEnv) stompConnect(s *scen, user, pass, vhost string) *stompSession {
	ss := stompDialScen(s, e.stompAddr)
	ss.send("CONNECT\naccept-version:1.2\nhost:" + vhost + "\nlogin:" + user + "\npasscode:" + pass + "\n\n\x00")
	return ss
}

// ---------------------------------------------------------------- cases

type permCase struct {
	name string
	// perm is configure, write, read on the scenario's vhost; nil gives
	// the user no permission there.
	perm        []string
	topic       [][3]string // exchange, write, read
	userLimits  map[string]int
	vhostLimits map[string]int
	fn          func(s *scen, e *permEnv)
	// knownPairs are differing lines (RabbitMQ's, sluice's) kept on
	// purpose in this scenario, for the reason known gives: logged, not
	// failed.
	knownPairs [][2]string
	known      string
}

// knownRewrites are differences kept on purpose wherever they occur
// (docs/SECURITY.md): a differing line is known when sluice's, rewritten,
// equals RabbitMQ's.
var knownRewrites = []struct {
	re     *regexp.Regexp
	repl   string
	reason string
}{}

// knownLine reports whether a differing line pair is a known difference,
// and why.
func knownLine(pc permCase, w, g string) (string, bool) {
	for _, p := range pc.knownPairs {
		if strings.Contains(w, p[0]) && strings.Contains(g, p[1]) {
			return pc.known, true
		}
	}
	var why []string
	for _, k := range knownRewrites {
		if r := k.re.ReplaceAllString(g, k.repl); r != g {
			g = r
			why = append(why, k.reason)
		}
	}
	return strings.Join(why, "; "), len(why) > 0 && g == w
}

func perms(conf, write, read string) []string { return []string{conf, write, read} }

// userOp runs op as the user on a fresh channel and records its outcome
// and what survived.
func userOp(label string, op func(s *scen, e *permEnv, ch *amqp.Channel) error) func(*scen, *permEnv) {
	return func(s *scen, e *permEnv) {
		c, ch := e.userChan(s)
		defer c.Close()
		s.step(label, op(s, e, ch))
		s.state("after", c, ch)
	}
}

// withAdminQueue declares queue "q" as the admin first.
func withAdminQueue(op func(s *scen, e *permEnv, ch *amqp.Channel, q string) error) func(s *scen, e *permEnv, ch *amqp.Channel) error {
	return func(s *scen, e *permEnv, ch *amqp.Channel) error {
		a := e.admin(s)
		q := s.q("q")
		_, err := a.QueueDeclare(q, false, false, false, false, nil)
		adminMust(s, "queue.declare", err)
		adminMust(s, "confirm.select", a.Confirm(false))
		acks := a.NotifyPublish(make(chan amqp.Confirmation, 1))
		adminMust(s, "publish", a.Publish("", q, false, false, body("m1")))
		select {
		case <-acks:
		case <-time.After(5 * time.Second):
			s.add("setup publish: no confirm")
		}
		return op(s, e, ch, q)
	}
}

// withAdminExchange declares direct exchange "x" as the admin first.
func withAdminExchange(op func(s *scen, e *permEnv, ch *amqp.Channel, x string) error) func(s *scen, e *permEnv, ch *amqp.Channel) error {
	return func(s *scen, e *permEnv, ch *amqp.Channel) error {
		a := e.admin(s)
		x := s.x("x")
		adminMust(s, "exchange.declare", a.ExchangeDeclare(x, "direct", false, false, false, false, nil))
		return op(s, e, ch, x)
	}
}

// publishOp publishes as the user to exchange ex (declared by the admin
// unless it is "" or amq.*) and routes to an admin queue; the admin then
// counts the queue.
func publishOp(ex, kind, key string) func(*scen, *permEnv) {
	return func(s *scen, e *permEnv) {
		a := e.admin(s)
		q := s.q("q")
		_, err := a.QueueDeclare(q, false, false, false, false, nil)
		adminMust(s, "queue.declare", err)
		x := ex
		if x == "x" {
			x = s.x("x")
			adminMust(s, "exchange.declare", a.ExchangeDeclare(x, kind, false, false, false, false, nil))
		}
		rk := strings.ReplaceAll(key, "{q}", q)
		rk = strings.ReplaceAll(rk, "{username}", e.user)
		rk = strings.ReplaceAll(rk, "{vhost}", e.vhost)
		if x != "" {
			adminMust(s, "queue.bind", a.QueueBind(q, "#", x, false, nil))
			if kind != "topic" {
				adminMust(s, "queue.bind", a.QueueBind(q, rk, x, false, nil))
			}
		}
		c, ch := e.userChan(s)
		defer c.Close()
		s.step("publish", ch.PublishWithContext(context.Background(), x, rk, false, false, body("m")))
		s.state("after publish", c, ch)
		e.messages(s, "queue", q)
	}
}

// Known STOMP differences (docs/SECURITY.md).
var (
	subscribeReceipt = [][2]string{{"stomp: RECEIPT {receipt-id:r1}", "stomp: connection closed"}, {"stomp: connection closed", "<nothing>"}}
	subscribeWhy     = "RabbitMQ 3.10 sends a refused SUBSCRIBE's RECEIPT after the ERROR, then closes; sluice sends the ERROR and closes"
	connectOpen      = [][2]string{{"stomp: connection open", "stomp: connection closed"}}
	connectWhy       = "RabbitMQ 3.10 leaves the socket open after the ERROR for a refused CONNECT; sluice closes it, as STOMP says a server does after an ERROR"
)

func permCases() []permCase {
	all := perms(".*", ".*", ".*")
	none := perms("^$", "^$", "^$")
	var out []permCase
	add := func(c permCase) { out = append(out, c) }

	// ---- queue.declare
	qdecl := userOp("queue.declare", func(s *scen, e *permEnv, ch *amqp.Channel) error {
		qi, err := ch.QueueDeclare(s.q("q"), false, false, false, false, nil)
		s.declared("declared", qi, err)
		return err
	})
	add(permCase{name: "queue_declare_granted", perm: perms("-q$", "", ""), fn: qdecl})
	add(permCase{name: "queue_declare_refused", perm: perms("^other$", ".*", ".*"), fn: qdecl})
	add(permCase{name: "queue_declare_no_permission_patterns", perm: none, fn: qdecl})
	snq := userOp("queue.declare server-named", func(s *scen, e *permEnv, ch *amqp.Channel) error {
		qi, err := ch.QueueDeclare("", false, true, true, false, nil)
		s.declared("declared", qi, err)
		return err
	})
	add(permCase{name: "queue_declare_server_named_granted", perm: perms(`^amq\.gen-`, "", ""), fn: snq})
	add(permCase{name: "queue_declare_server_named_refused", perm: perms(`^diff`, ".*", ".*"), fn: snq})
	add(permCase{name: "queue_redeclare_existing_refused", perm: perms("^other$", ".*", ".*"),
		fn: userOp("queue.declare", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
			_, err := ch.QueueDeclare(q, false, false, false, false, nil)
			return err
		}))})

	// ---- queue.delete
	qdel := userOp("queue.delete", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
		_, err := ch.QueueDelete(q, false, false, false)
		return err
	}))
	add(permCase{name: "queue_delete_granted", perm: perms("-q$", "", ""), fn: qdel})
	add(permCase{name: "queue_delete_refused", perm: perms("^other$", ".*", ".*"), fn: qdel})
	add(permCase{name: "queue_delete_missing_refused", perm: perms("^other$", ".*", ".*"),
		fn: userOp("queue.delete", func(s *scen, e *permEnv, ch *amqp.Channel) error {
			_, err := ch.QueueDelete(s.q("missing"), false, false, false)
			return err
		})})

	// ---- exchange.declare, with alternate-exchange
	xdecl := userOp("exchange.declare", func(s *scen, e *permEnv, ch *amqp.Channel) error {
		return ch.ExchangeDeclare(s.x("x"), "direct", false, false, false, false, nil)
	})
	add(permCase{name: "exchange_declare_granted", perm: perms("-x$", "", ""), fn: xdecl})
	add(permCase{name: "exchange_declare_refused", perm: perms("^other$", ".*", ".*"), fn: xdecl})
	xae := userOp("exchange.declare with alternate-exchange", func(s *scen, e *permEnv, ch *amqp.Channel) error {
		return ch.ExchangeDeclare(s.x("x"), "direct", false, false, false, false, amqp.Table{"alternate-exchange": s.x("ae")})
	})
	add(permCase{name: "exchange_declare_ae_granted", perm: perms("-x$", "-ae$", "-x$"), fn: xae})
	add(permCase{name: "exchange_declare_ae_no_read_on_exchange", perm: perms("-x$", "-ae$", "^other$"), fn: xae})
	add(permCase{name: "exchange_declare_ae_no_write_on_ae", perm: perms("-x$", "^other$", "-x$"), fn: xae})
	add(permCase{name: "exchange_declare_ae_no_configure", perm: perms("^other$", ".*", ".*"), fn: xae})
	add(permCase{name: "exchange_declare_amq_default_refused", perm: perms("^other$", ".*", ".*"),
		fn: userOp("exchange.declare amq.direct", func(s *scen, e *permEnv, ch *amqp.Channel) error {
			return ch.ExchangeDeclare("amq.direct", "direct", true, false, false, false, nil)
		})})

	// ---- exchange.delete
	xdel := userOp("exchange.delete", withAdminExchange(func(s *scen, e *permEnv, ch *amqp.Channel, x string) error {
		return ch.ExchangeDelete(x, false, false)
	}))
	add(permCase{name: "exchange_delete_granted", perm: perms("-x$", "", ""), fn: xdel})
	add(permCase{name: "exchange_delete_refused", perm: perms("^other$", ".*", ".*"), fn: xdel})

	// ---- basic.publish
	add(permCase{name: "publish_default_granted", perm: perms("", `^amq\.default$`, ""), fn: publishOp("", "", "{q}")})
	add(permCase{name: "publish_default_refused", perm: perms(".*", "^other$", ".*"), fn: publishOp("", "", "{q}")})
	add(permCase{name: "publish_named_granted", perm: perms("", "-x$", ""), fn: publishOp("x", "direct", "k")})
	add(permCase{name: "publish_named_refused", perm: perms(".*", `^amq\.default$`, ".*"), fn: publishOp("x", "direct", "k")})
	add(permCase{name: "publish_missing_exchange_refused", perm: perms(".*", "^other$", ".*"),
		fn: userOp("publish", func(s *scen, e *permEnv, ch *amqp.Channel) error {
			return ch.Publish(s.x("missing"), "k", false, false, body("m"))
		})})

	// ---- basic.consume, basic.get, queue.purge
	consume := userOp("basic.consume", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
		msgs, err := ch.Consume(q, "", true, false, false, false, nil)
		if err == nil {
			s.recv("deliveries", msgs, 1)
		}
		return err
	}))
	add(permCase{name: "consume_granted", perm: perms("", "", "-q$"), fn: consume})
	add(permCase{name: "consume_refused", perm: perms(".*", ".*", "^other$"), fn: consume})
	get := userOp("basic.get", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
		d, ok, err := ch.Get(q, true)
		if err == nil {
			s.add("got: ok=%v body=%q", ok, d.Body)
		}
		return err
	}))
	add(permCase{name: "get_granted", perm: perms("", "", "-q$"), fn: get})
	add(permCase{name: "get_refused", perm: perms(".*", ".*", "^other$"), fn: get})
	purge := userOp("queue.purge", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
		n, err := ch.QueuePurge(q, false)
		if err == nil {
			s.add("purged %d", n)
		}
		return err
	}))
	add(permCase{name: "purge_granted", perm: perms("", "", "-q$"), fn: purge})
	add(permCase{name: "purge_refused", perm: perms(".*", ".*", "^other$"), fn: purge})
	add(permCase{name: "purge_with_configure_only_refused", perm: perms("-q$", "", ""), fn: purge})

	// ---- queue.bind / queue.unbind: write on the queue, read on the exchange
	qbind := userOp("queue.bind", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
		return ch.QueueBind(q, "k", "amq.direct", false, nil)
	}))
	add(permCase{name: "queue_bind_granted", perm: perms("", "-q$", `^amq\.direct$`), fn: qbind})
	add(permCase{name: "queue_bind_no_write_on_queue", perm: perms(".*", "^other$", ".*"), fn: qbind})
	add(permCase{name: "queue_bind_no_read_on_exchange", perm: perms(".*", ".*", "-q$"), fn: qbind})
	qunbind := userOp("queue.unbind", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
		adminMust(s, "queue.bind", e.admin(s).QueueBind(q, "k", "amq.direct", false, nil))
		return ch.QueueUnbind(q, "k", "amq.direct", nil)
	}))
	add(permCase{name: "queue_unbind_granted", perm: perms("", "-q$", `^amq\.direct$`), fn: qunbind})
	add(permCase{name: "queue_unbind_no_write_on_queue", perm: perms(".*", "^other$", ".*"), fn: qunbind})
	add(permCase{name: "queue_unbind_no_read_on_exchange", perm: perms(".*", ".*", "-q$"), fn: qunbind})

	// ---- exchange.bind / exchange.unbind: write on the destination, read on the source
	xbind := userOp("exchange.bind", withAdminExchange(func(s *scen, e *permEnv, ch *amqp.Channel, x string) error {
		return ch.ExchangeBind(x, "k", "amq.direct", false, nil)
	}))
	add(permCase{name: "exchange_bind_granted", perm: perms("", "-x$", `^amq\.direct$`), fn: xbind})
	add(permCase{name: "exchange_bind_no_write_on_destination", perm: perms(".*", `^amq\.direct$`, ".*"), fn: xbind})
	add(permCase{name: "exchange_bind_no_read_on_source", perm: perms(".*", ".*", "-x$"), fn: xbind})
	xunbind := userOp("exchange.unbind", withAdminExchange(func(s *scen, e *permEnv, ch *amqp.Channel, x string) error {
		adminMust(s, "exchange.bind", e.admin(s).ExchangeBind(x, "k", "amq.direct", false, nil))
		return ch.ExchangeUnbind(x, "k", "amq.direct", false, nil)
	}))
	add(permCase{name: "exchange_unbind_granted", perm: perms("", "-x$", `^amq\.direct$`), fn: xunbind})
	add(permCase{name: "exchange_unbind_no_write_on_destination", perm: perms(".*", `^amq\.direct$`, ".*"), fn: xunbind})
	add(permCase{name: "exchange_unbind_no_read_on_source", perm: perms(".*", ".*", "-x$"), fn: xunbind})

	// ---- x-dead-letter-exchange: configure and read on the queue, write on the DLX
	dlx := userOp("queue.declare with x-dead-letter-exchange", func(s *scen, e *permEnv, ch *amqp.Channel) error {
		qi, err := ch.QueueDeclare(s.q("q"), false, false, false, false, amqp.Table{"x-dead-letter-exchange": "amq.fanout"})
		s.declared("declared", qi, err)
		return err
	})
	add(permCase{name: "dlx_granted", perm: perms("-q$", `^amq\.fanout$`, "-q$"), fn: dlx})
	add(permCase{name: "dlx_no_read_on_queue", perm: perms("-q$", `^amq\.fanout$`, "^other$"), fn: dlx})
	add(permCase{name: "dlx_no_write_on_dlx", perm: perms("-q$", "^other$", "-q$"), fn: dlx})
	add(permCase{name: "dlx_default_exchange_no_write", perm: perms("-q$", "^other$", "-q$"),
		fn: userOp("queue.declare with x-dead-letter-exchange ''", func(s *scen, e *permEnv, ch *amqp.Channel) error {
			qi, err := ch.QueueDeclare(s.q("q"), false, false, false, false, amqp.Table{"x-dead-letter-exchange": ""})
			s.declared("declared", qi, err)
			return err
		})})

	// ---- passive declares need no permission (RabbitMQ 3.x)
	add(permCase{name: "passive_declares_no_permission", perm: none, fn: func(s *scen, e *permEnv) {
		a := e.admin(s)
		q, x := s.q("q"), s.x("x")
		_, err := a.QueueDeclare(q, false, false, false, false, nil)
		adminMust(s, "queue.declare", err)
		adminMust(s, "exchange.declare", a.ExchangeDeclare(x, "direct", false, false, false, false, nil))
		c, ch := e.userChan(s)
		defer c.Close()
		qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		s.declared("queue passive", qi, err)
		s.step("exchange passive", ch.ExchangeDeclarePassive(x, "direct", false, false, false, false, nil))
		s.state("after", c, ch)
		qi, err = ch.QueueDeclarePassive(s.q("missing"), false, false, false, false, nil)
		s.declared("missing queue passive", qi, err)
		s.state("after", c, ch)
	}})

	// ---- a permission changed on a live connection
	add(permCase{name: "revoked_on_live_connection", perm: all, fn: func(s *scen, e *permEnv) {
		c, ch := e.userChan(s)
		defer c.Close()
		_, err := ch.QueueDeclare(s.q("q1"), false, false, false, false, nil)
		s.step("declare before", err)
		e.apiPut(s, "/api/permissions/"+esc(e.vhost)+"/"+esc(e.user), `{"configure":"^other$","write":".*","read":".*"}`)
		time.Sleep(200 * time.Millisecond)
		_, err = ch.QueueDeclare(s.q("q2"), false, false, false, false, nil)
		s.step("declare after revoke", err)
		s.state("after", c, ch)
	}})

	// ---- topic permissions
	add(permCase{name: "topic_publish_username_granted", perm: all, topic: [][3]string{{"amq.topic", `^{username}\.`, ".*"}},
		fn: publishOp("amq.topic", "topic", "{username}.a")})
	add(permCase{name: "topic_publish_username_refused", perm: all, topic: [][3]string{{"amq.topic", `^{username}\.`, ".*"}},
		fn: publishOp("amq.topic", "topic", "other.a")})
	add(permCase{name: "topic_publish_vhost_granted", perm: all, topic: [][3]string{{"amq.topic", `^{vhost}\.`, ".*"}},
		fn: publishOp("amq.topic", "topic", "{vhost}.a")})
	add(permCase{name: "topic_publish_other_exchange_unrestricted", perm: all, topic: [][3]string{{"amq.topic", "^$", "^$"}},
		fn: publishOp("x", "topic", "any.key")})
	add(permCase{name: "topic_publish_non_topic_exchange_unrestricted", perm: all, topic: [][3]string{{"amq.direct", "^$", "^$"}},
		fn: publishOp("amq.direct", "direct", "{q}")})
	tbind := func(key string) func(*scen, *permEnv) {
		return userOp("queue.bind to amq.topic", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
			return ch.QueueBind(q, strings.ReplaceAll(key, "{username}", e.user), "amq.topic", false, nil)
		}))
	}
	add(permCase{name: "topic_bind_username_granted", perm: all, topic: [][3]string{{"amq.topic", ".*", `^{username}\.`}},
		fn: tbind("{username}.a")})
	add(permCase{name: "topic_bind_username_refused", perm: all, topic: [][3]string{{"amq.topic", ".*", `^{username}\.`}},
		fn: tbind("other.a")})
	add(permCase{name: "topic_unbind_refused", perm: all, topic: [][3]string{{"amq.topic", ".*", `^{username}\.`}},
		fn: userOp("queue.unbind from amq.topic", withAdminQueue(func(s *scen, e *permEnv, ch *amqp.Channel, q string) error {
			adminMust(s, "queue.bind", e.admin(s).QueueBind(q, "other.a", "amq.topic", false, nil))
			return ch.QueueUnbind(q, "other.a", "amq.topic", nil)
		}))})
	add(permCase{name: "topic_exchange_bind_refused", perm: all, topic: [][3]string{{"amq.topic", ".*", `^{username}\.`}},
		fn: userOp("exchange.bind to amq.topic", withAdminExchange(func(s *scen, e *permEnv, ch *amqp.Channel, x string) error {
			return ch.ExchangeBind(x, "other.a", "amq.topic", false, nil)
		}))})

	// ---- connection.open and login
	add(permCase{name: "open_vhost_without_permission", perm: nil, fn: func(s *scen, e *permEnv) {
		dialURL(s, "dial", e.userURL())
	}})
	add(permCase{name: "open_missing_vhost", perm: all, fn: func(s *scen, e *permEnv) {
		dialURL(s, "dial", e.urlFor(e.user, e.pass, e.vhost+"-missing"))
	}})
	add(permCase{name: "wrong_password", perm: all, fn: func(s *scen, e *permEnv) {
		dialURL(s, "dial", e.urlFor(e.user, "wrong", e.vhost))
	}})
	add(permCase{name: "wrong_password_raw_with_auth_failure_close", perm: all, fn: rawLogin(true, "wrong")})
	add(permCase{name: "wrong_password_raw_without_auth_failure_close", perm: all, fn: rawLogin(false, "wrong")})
	add(permCase{name: "right_password_raw", perm: all, fn: func(s *scen, e *permEnv) { rawLogin(true, e.pass)(s, e) }})
	add(permCase{name: "unknown_user", perm: all, fn: func(s *scen, e *permEnv) {
		dialURL(s, "dial", e.urlFor(e.user+"-nobody", "pw", e.vhost))
	}})

	// ---- limits
	twoConns := func(s *scen, e *permEnv) {
		c1 := dialURL(s, "first dial", e.userURL())
		dialURL(s, "second dial", e.userURL())
		if c1 != nil {
			s.state("first after", c1, nil)
		}
	}
	add(permCase{name: "user_max_connections_1", perm: all, userLimits: map[string]int{"max-connections": 1}, fn: twoConns})
	add(permCase{name: "user_max_connections_0", perm: all, userLimits: map[string]int{"max-connections": 0}, fn: twoConns})
	add(permCase{name: "vhost_max_connections_1", perm: all, vhostLimits: map[string]int{"max-connections": 1}, fn: twoConns})
	add(permCase{name: "vhost_max_connections_0", perm: all, vhostLimits: map[string]int{"max-connections": 0}, fn: twoConns})
	add(permCase{name: "user_max_channels_1", perm: all, userLimits: map[string]int{"max-channels": 1}, fn: func(s *scen, e *permEnv) {
		c := dialURL(s, "dial", e.userURL())
		if c == nil {
			return
		}
		ch1, err := c.Channel()
		s.step("first channel", err)
		_, err = c.Channel()
		s.step("second channel", err)
		if ch1 != nil {
			s.watch(ch1, ch1.NotifyClose(make(chan *amqp.Error, 1)))
		}
		s.state("after", c, ch1)
	}})
	add(permCase{name: "vhost_max_queues_1", perm: all, vhostLimits: map[string]int{"max-queues": 1}, fn: func(s *scen, e *permEnv) {
		c, ch := e.userChan(s)
		defer c.Close()
		q1 := s.q("q1")
		qi, err := ch.QueueDeclare(q1, false, false, false, false, nil)
		s.declared("first queue", qi, err)
		qi, err = ch.QueueDeclare(s.q("q2"), false, false, false, false, nil)
		s.declared("second queue", qi, err)
		s.state("after", c, ch)
		ch2 := s.channel(c)
		qi, err = ch2.QueueDeclare(q1, false, false, false, false, nil)
		s.declared("redeclare first", qi, err)
		qi, err = ch2.QueueDeclare("", false, true, true, false, nil)
		s.declared("server-named", qi, err)
		s.state("after", c, ch2)
	}})

	// ---- STOMP
	stompOp := func(setup bool, frame string) func(*scen, *permEnv) {
		return func(s *scen, e *permEnv) {
			q := s.q("q")
			if setup {
				_, err := e.admin(s).QueueDeclare(q, true, false, false, false, nil)
				adminMust(s, "queue.declare", err)
			}
			ss := e.stompConnect(s, e.user, e.pass, e.vhost)
			ss.send(strings.ReplaceAll(frame, "{q}", q))
			ss.frames("stomp", 1500*time.Millisecond)
		}
	}
	add(permCase{name: "stomp_send_amq_queue_granted", perm: perms("", `^amq\.default$`, ""),
		fn: stompOp(true, "SEND\ndestination:/amq/queue/{q}\nreceipt:r1\n\nm\x00")})
	add(permCase{name: "stomp_send_amq_queue_refused", perm: perms(".*", "^other$", ".*"),
		fn: stompOp(true, "SEND\ndestination:/amq/queue/{q}\nreceipt:r1\n\nm\x00")})
	add(permCase{name: "stomp_send_queue_declare_refused", perm: perms("^other$", ".*", ".*"),
		fn: stompOp(false, "SEND\ndestination:/queue/{q}\nreceipt:r1\n\nm\x00")})
	add(permCase{name: "stomp_send_exchange_refused", perm: perms(".*", "^other$", ".*"),
		fn: stompOp(false, "SEND\ndestination:/exchange/amq.direct/k\nreceipt:r1\n\nm\x00")})
	add(permCase{name: "stomp_send_topic_refused", perm: all, topic: [][3]string{{"amq.topic", `^{username}\.`, ".*"}},
		fn: stompOp(false, "SEND\ndestination:/topic/other.a\nreceipt:r1\n\nm\x00")})
	add(permCase{name: "stomp_subscribe_amq_queue_granted", perm: perms("", "", "-q$"),
		fn: stompOp(true, "SUBSCRIBE\nid:1\ndestination:/amq/queue/{q}\nreceipt:r1\n\n\x00")})
	add(permCase{name: "stomp_subscribe_amq_queue_refused", perm: perms(".*", ".*", "^other$"), knownPairs: subscribeReceipt, known: subscribeWhy,
		fn: stompOp(true, "SUBSCRIBE\nid:1\ndestination:/amq/queue/{q}\nreceipt:r1\n\n\x00")})
	add(permCase{name: "stomp_subscribe_topic_bind_refused", perm: perms(".*", ".*", "^other$"), knownPairs: subscribeReceipt, known: subscribeWhy,
		fn: stompOp(false, "SUBSCRIBE\nid:1\ndestination:/topic/a.b\nx-queue-name:{q}\nreceipt:r1\n\n\x00")})
	add(permCase{name: "stomp_subscribe_topic_key_refused", perm: all, topic: [][3]string{{"amq.topic", ".*", `^{username}\.`}},
		knownPairs: subscribeReceipt, known: subscribeWhy,
		fn: stompOp(false, "SUBSCRIBE\nid:1\ndestination:/topic/other.a\nx-queue-name:{q}\nreceipt:r1\n\n\x00")})
	add(permCase{name: "stomp_connect_vhost_without_permission", perm: nil, knownPairs: connectOpen, known: connectWhy, fn: func(s *scen, e *permEnv) {
		e.stompConnect(s, e.user, e.pass, e.vhost).frames("stomp", 1500*time.Millisecond)
	}})
	add(permCase{name: "stomp_connect_wrong_password", perm: all, knownPairs: connectOpen, known: connectWhy, fn: func(s *scen, e *permEnv) {
		e.stompConnect(s, e.user, "wrong", e.vhost).frames("stomp", 1500*time.Millisecond)
	}})
	add(permCase{name: "stomp_connect_vhost_max_connections_0", perm: all, vhostLimits: map[string]int{"max-connections": 0},
		knownPairs: append([][2]string{{"body=\"Virtual host 'v-", "body=\"Connection refused: vhost connection limit reached\""}}, connectOpen...),
		known:      "the vhost's max-connections refuses a CONNECT with the newest plugin's text; 3.10 said the vhost's access was denied. " + connectWhy,
		fn: func(s *scen, e *permEnv) {
			e.stompConnect(s, e.user, e.pass, e.vhost).frames("stomp", 1500*time.Millisecond)
		}})
	return out
}

// rawLogin logs in with PLAIN over a bare AMQP client, with or without
// the authentication_failure_close capability (amqp091-go never sends
// it), and records what answers start-ok.
func rawLogin(caps bool, pass string) func(*scen, *permEnv) {
	return func(s *scen, e *permEnv) {
		nc, err := net.DialTimeout("tcp", e.amqpAddr, 5*time.Second)
		if err != nil {
			s.add("dial: %v", err)
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, nc)
		s.mu.Unlock()
		fr, fw := wire.NewFrameReader(nc), wire.NewFrameWriter(nc)
		next := func() (wire.Method, error) {
			for {
				_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				f, err := fr.ReadFrame()
				if err != nil {
					return nil, err
				}
				if f.Type == wire.FrameMethod {
					return wire.DecodeMethod(f.Payload)
				}
			}
		}
		if _, err := nc.Write([]byte(wire.ProtocolHeader)); err != nil {
			s.add("write: %v", err)
			return
		}
		if m, err := next(); err != nil {
			s.add("connection.start: %v", err)
			return
		} else if _, ok := m.(*wire.ConnectionStart); !ok {
			s.add("got %T, want connection.start", m)
			return
		}
		props := message.Table{"product": "raw"}
		if caps {
			props["capabilities"] = message.Table{"authentication_failure_close": true}
		}
		if err := fw.WriteMethod(0, &wire.ConnectionStartOk{ClientProperties: props, Mechanism: "PLAIN",
			Response: "\x00" + e.user + "\x00" + pass, Locale: "en_US"}); err == nil {
			_ = fw.Flush()
		}
		m, err := next()
		switch m := m.(type) {
		case nil:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				s.add("after start-ok: no answer")
			} else {
				s.add("after start-ok: socket closed")
			}
		case *wire.ConnectionClose:
			s.add("after start-ok: connection.close %d %q", m.ReplyCode, m.ReplyText)
		default:
			s.add("after start-ok: %T", m)
		}
	}
}

// setupPerm creates the scenario's vhost and user on one broker, through
// its management API, with the case's permissions and limits.
func setupPerm(t *testing.T, e *permEnv, pc permCase) {
	t.Helper()
	api := e.api
	api.want(201, "PUT", "/api/vhosts/"+esc(e.vhost), "")
	api.want(201, "PUT", "/api/users/"+esc(e.user), `{"password":"`+e.pass+`","tags":""}`)
	if pc.perm != nil {
		api.want(201, "PUT", "/api/permissions/"+esc(e.vhost)+"/"+esc(e.user),
			fmt.Sprintf(`{"configure":%q,"write":%q,"read":%q}`, pc.perm[0], pc.perm[1], pc.perm[2]))
	}
	for _, tp := range pc.topic {
		api.want(201, "PUT", "/api/topic-permissions/"+esc(e.vhost)+"/"+esc(e.user),
			fmt.Sprintf(`{"exchange":%q,"write":%q,"read":%q}`, tp[0], tp[1], tp[2]))
	}
	for name, v := range pc.userLimits {
		if st, raw := api.do("PUT", "/api/user-limits/"+esc(e.user)+"/"+name, fmt.Sprintf(`{"value":%d}`, v)); st/100 != 2 {
			t.Fatalf("user limit %s: %d %s", name, st, raw)
		}
	}
	for name, v := range pc.vhostLimits {
		if st, raw := api.do("PUT", "/api/vhost-limits/"+esc(e.vhost)+"/"+name, fmt.Sprintf(`{"value":%d}`, v)); st/100 != 2 {
			t.Fatalf("vhost limit %s: %d %s", name, st, raw)
		}
	}
}

func teardownPerm(e *permEnv) {
	e.api.do("DELETE", "/api/vhosts/"+esc(e.vhost), "")
	e.api.do("DELETE", "/api/users/"+esc(e.user), "")
}

func TestDifferentialPerm(t *testing.T) {
	rurl, err := url.Parse(rabbitURL())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := amqp.Dial(rabbitURL()); err != nil {
		t.Fatalf("RabbitMQ not reachable at %s (run scripts/rabbitmq.sh start): %v", rabbitURL(), err)
	} else {
		t.Logf("RabbitMQ version %v", c.Properties["version"])
		c.Close()
	}
	rapi := &apiClient{t: t, base: rabbitMgmtURL(), user: "guest", pass: "guest"}
	if st, _ := rapi.do("GET", "/api/whoami", ""); st != 200 {
		t.Fatalf("RabbitMQ management API at %s: %d (RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start)", rapi.base, st)
	}
	b := brokertest.New(t)
	sapi := &apiClient{t: t, base: "http://" + b.HTTPAddr(), user: "guest", pass: "guest"}
	tok := make([]byte, 3)
	rand.Read(tok)
	token := "p" + hex.EncodeToString(tok)
	ndiff, nknown := 0, 0
	for _, pc := range permCases() {
		t.Run(pc.name, func(t *testing.T) {
			tk := token + "-" + pc.name
			env := func(api *apiClient, amqpAddr, stompAddr string) *permEnv {
				return &permEnv{api: api, amqpAddr: amqpAddr, stompAddr: stompAddr,
					vhost: "v-" + tk, user: "u-" + tk, pass: "pw-" + tk}
			}
			re := env(rapi, rurl.Host, rabbitSTOMPAddr())
			se := env(sapi, b.AMQPAddr(), b.STOMPAddr())
			side := func(e *permEnv) []string {
				setupPerm(t, e, pc)
				defer teardownPerm(e)
				return run(t, e.userURL(), tk, func(s *scen) { pc.fn(s, e) })
			}
			want := side(re)
			got := side(se)
			n := max(len(want), len(got))
			var diffs, known []string
			for i := 0; i < n; i++ {
				w, g := "<nothing>", "<nothing>"
				if i < len(want) {
					w = want[i]
				}
				if i < len(got) {
					g = got[i]
				}
				if w == g {
					continue
				}
				d := fmt.Sprintf("  line %d\n    rabbitmq: %s\n    sluice:   %s", i+1, w, g)
				if why, ok := knownLine(pc, w, g); ok {
					known = append(known, d+"\n    known: "+why)
					continue
				}
				diffs = append(diffs, d)
			}
			text := func(lines []string) string {
				return strings.ReplaceAll(strings.Join(lines, "\n  "), tk, "<T>")
			}
			if len(known) > 0 {
				nknown++
				t.Logf("known differences:\n%s", strings.ReplaceAll(strings.Join(known, "\n"), tk, "<T>"))
			}
			switch {
			case len(diffs) > 0:
				ndiff++
				t.Errorf("%s: %d differing lines (token %s replaced by <T>)\n%s", pc.name, len(diffs), tk,
					strings.ReplaceAll(strings.Join(diffs, "\n"), tk, "<T>"))
				t.Logf("rabbitmq transcript:\n  %s", text(want))
			case testing.Verbose():
				t.Logf("same:\n  %s", text(want))
			}
		})
	}
	t.Logf("%d scenarios, %d differ, %d known", len(permCases()), ndiff, nknown)
}
