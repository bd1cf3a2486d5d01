//go:build differential

// Differential AMQP 0-9-1 tests: every scenario runs once against a real
// RabbitMQ (RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5682/, see
// scripts/rabbitmq.sh) and once against a sluice started by brokertest, and
// the two transcripts are compared line by line. A transcript records what a
// client observes: error codes and reply texts, which of channel and
// connection survived, returned counts, delivery fields and headers.
//
//	scripts/rabbitmq.sh start
//	go test -tags differential -run TestDifferential ./conformance/ -v
//
// Names carry a per-run token so durable leftovers never collide; each
// scenario deletes what it named afterwards. Timestamps in x-death and
// server-generated names (amq.gen-*, reply-to, ctag) are normalised.
//
// This is a diagnostic, not part of `make test`: differences are reported
// with t.Errorf, showing both sides.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

const rabbitMaxMessageSize = 128 << 20 // RabbitMQ 3.10's default max_message_size

func rabbitURL() string {
	if u := os.Getenv("RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5682/"
}

// ---------------------------------------------------------------- recording

type scen struct {
	t      *testing.T
	url    string
	token  string
	mu     sync.Mutex
	lines  []string
	done   bool
	conns  []net.Conn
	queues []string
	exchs  []string
	closes map[any]chan *amqp.Error
	reason map[any]string
}

var (
	reGenQ    = regexp.MustCompile(`amq\.gen-[A-Za-z0-9_\-]+`)
	reReplyTo = regexp.MustCompile(`amq\.rabbitmq\.reply-to\.[A-Za-z0-9+/=._\-]+`)
	reCtag    = regexp.MustCompile(`(amq\.)?ctag-[A-Za-z0-9_.\-/]+`)
)

func norm(s string) string {
	s = reGenQ.ReplaceAllString(s, "amq.gen-*")
	s = reReplyTo.ReplaceAllString(s, "amq.rabbitmq.reply-to.*")
	s = reCtag.ReplaceAllString(s, "${1}ctag-*")
	return s
}

func (s *scen) add(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.lines = append(s.lines, norm(fmt.Sprintf(format, a...)))
}

func describe(err error) string {
	if err == nil {
		return "ok"
	}
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("error %d %q", ae.Code, ae.Reason)
	}
	return "error " + err.Error()
}

// step records the outcome of one client call.
func (s *scen) step(label string, err error) error {
	s.add("%s: %s", label, describe(err))
	return err
}

// name gives a per-run resource name; the same on both brokers.
func (s *scen) q(n string) string {
	name := "diff-" + s.token + "-" + n
	s.mu.Lock()
	s.queues = append(s.queues, name)
	s.mu.Unlock()
	return name
}

func (s *scen) x(n string) string {
	name := "diffx-" + s.token + "-" + n
	s.mu.Lock()
	s.exchs = append(s.exchs, name)
	s.mu.Unlock()
	return name
}

func (s *scen) rawDial() (*amqp.Connection, error) {
	return amqp.DialConfig(s.url, amqp.Config{
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
}

// dial opens a connection; failure to connect ends the scenario.
func (s *scen) dial() *amqp.Connection {
	c, err := s.rawDial()
	if err != nil {
		s.add("dial: %s", describe(err))
		panic(abort{})
	}
	s.watch(c, c.NotifyClose(make(chan *amqp.Error, 1)))
	return c
}

func (s *scen) watch(k any, ch chan *amqp.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closes == nil {
		s.closes = map[any]chan *amqp.Error{}
		s.reason = map[any]string{}
	}
	s.closes[k] = ch
}

// closeReason is the error that closed k (a channel or connection), as
// delivered to its NotifyClose listener.
func (s *scen) closeReason(k any) string {
	s.mu.Lock()
	r, ok := s.reason[k]
	ch := s.closes[k]
	s.mu.Unlock()
	if ok {
		return r
	}
	if ch == nil {
		return "(not watched)"
	}
	select {
	case e, open := <-ch:
		if e != nil {
			r = describe(e)
		} else if !open {
			r = "closed without error"
		}
	case <-time.After(time.Second):
		r = "(no close notification)"
	}
	s.mu.Lock()
	s.reason[k] = r
	s.mu.Unlock()
	return r
}

type abort struct{}

func (s *scen) channel(c *amqp.Connection) *amqp.Channel {
	ch, err := c.Channel()
	if err != nil {
		s.add("channel.open: %s", describe(err))
		panic(abort{})
	}
	s.watch(ch, ch.NotifyClose(make(chan *amqp.Error, 1)))
	return ch
}

// state records whether ch and c are still usable, probing each with a
// synchronous round trip so that asynchronous closes are observed.
func (s *scen) state(label string, c *amqp.Connection, ch *amqp.Channel) {
	chs := "-"
	if ch != nil {
		if !ch.IsClosed() {
			// A synchronous round trip observes a close the server has
			// already sent (asynchronous errors: publish, ack).
			ch.ExchangeDeclarePassive("amq.direct", "direct", true, false, false, false, nil)
		}
		if ch.IsClosed() {
			chs = "closed: " + s.seen(s.closeReason(ch))
		} else {
			chs = "open"
		}
	}
	cs := "open"
	if !c.IsClosed() {
		if p, err := c.Channel(); err == nil {
			p.Close()
		}
	}
	if c.IsClosed() {
		cs = "closed: " + s.seen(s.closeReason(c))
	}
	s.add("%s: channel %s; connection %s", label, chs, cs)
}

// seen shortens a close reason the transcript already shows.
func (s *scen) seen(reason string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := norm(reason)
	for _, l := range s.lines {
		if strings.Contains(l, n) {
			return "by the error above"
		}
	}
	return reason
}

func fmtVal(v any) string {
	switch x := v.(type) {
	case amqp.Table:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			if k == "time" {
				parts[i] = fmt.Sprintf("time:%T(<time>)", x[k])
				continue
			}
			parts[i] = k + ":" + fmtVal(x[k])
		}
		return "{" + strings.Join(parts, " ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmtVal(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case string:
		return fmt.Sprintf("%q", x)
	case []byte:
		return fmt.Sprintf("bytes(%q)", x)
	case time.Time:
		return "timestamp(<time>)"
	case nil:
		return "void"
	default:
		return fmt.Sprintf("%T(%v)", v, v)
	}
}

func (s *scen) delivery(label string, d amqp.Delivery) {
	extra := ""
	if d.Expiration != "" {
		extra += " expiration=" + d.Expiration
	}
	if d.ReplyTo != "" {
		extra += " reply_to=" + d.ReplyTo
	}
	if d.UserId != "" {
		extra += " user_id=" + d.UserId
	}
	s.add("%s: body=%q tag=%d redelivered=%v exchange=%q rk=%q msgcount=%d headers=%s%s",
		label, d.Body, d.DeliveryTag, d.Redelivered, d.Exchange, d.RoutingKey, d.MessageCount, fmtVal(d.Headers), extra)
}

func (s *scen) get(label string, ch *amqp.Channel, q string, autoAck bool) (amqp.Delivery, bool) {
	d, ok, err := ch.Get(q, autoAck)
	if err != nil {
		s.add("%s: get %s", label, describe(err))
		return d, false
	}
	if !ok {
		s.add("%s: get-empty", label)
		return d, false
	}
	s.delivery(label, d)
	return d, true
}

// recv records up to n deliveries, then "no more" after a short quiet time.
func (s *scen) recv(label string, msgs <-chan amqp.Delivery, n int) []amqp.Delivery {
	var out []amqp.Delivery
	timeout := time.After(3 * time.Second)
	for len(out) < n {
		select {
		case d, ok := <-msgs:
			if !ok {
				s.add("%s: delivery channel closed after %d", label, len(out))
				return out
			}
			out = append(out, d)
			s.delivery(fmt.Sprintf("%s[%d]", label, len(out)), d)
		case <-timeout:
			s.add("%s: timed out after %d of %d deliveries", label, len(out), n)
			return out
		}
	}
	select {
	case d, ok := <-msgs:
		if ok {
			s.delivery(label+" unexpected extra", d)
		}
	case <-time.After(200 * time.Millisecond):
	}

	return out
}

func (s *scen) noDelivery(label string, msgs <-chan amqp.Delivery, wait time.Duration) {
	select {
	case d, ok := <-msgs:
		if ok {
			s.delivery(label+" unexpected", d)
		} else {
			s.add("%s: delivery channel closed", label)
		}
	case <-time.After(wait):
		s.add("%s: none", label)
	}
}

func (s *scen) pub(ch *amqp.Channel, ex, rk string, p amqp.Publishing) error {
	return ch.PublishWithContext(context.Background(), ex, rk, false, false, p)
}

func body(b string) amqp.Publishing { return amqp.Publishing{Body: []byte(b)} }

// count records the message and consumer counts of q via a passive declare
// on a fresh channel.
func (s *scen) count(label string, c *amqp.Connection, q string) {
	ch, err := c.Channel()
	if err != nil {
		s.add("%s: %s", label, describe(err))
		return
	}
	defer ch.Close()
	qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	if err != nil {
		s.add("%s: %s", label, describe(err))
		return
	}
	s.add("%s: messages=%d consumers=%d", label, qi.Messages, qi.Consumers)
}

func (s *scen) declared(label string, qi amqp.Queue, err error) {
	if err != nil {
		s.add("%s: %s", label, describe(err))
		return
	}
	s.add("%s: ok name=%s messages=%d consumers=%d", label, qi.Name, qi.Messages, qi.Consumers)
}

// cleanup deletes what the scenario named, so durable leftovers do not
// accumulate on the RabbitMQ node.
func (s *scen) cleanup() {
	c, err := amqp.DialConfig(s.url, amqp.Config{Dial: func(network, addr string) (net.Conn, error) {
		return net.DialTimeout(network, addr, 5*time.Second)
	}})
	if err != nil {
		return
	}
	defer c.Close()
	for _, q := range s.queues {
		if ch, err := c.Channel(); err == nil {
			ch.QueueDelete(q, false, false, false)
			ch.Close()
		}
	}
	for _, x := range s.exchs {
		if ch, err := c.Channel(); err == nil {
			ch.ExchangeDelete(x, false, false)
			ch.Close()
		}
	}
}

// run executes fn against url and returns the transcript. A scenario that
// hangs (a reply that never comes) is cut off and recorded as a timeout.
func run(t *testing.T, url, token string, fn func(*scen)) []string {
	s := &scen{t: t, url: url, token: token}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(abort); !ok {
					s.add("panic: %v", r)
				}
			}
		}()
		fn(s)
	}()
	select {
	case <-finished:
	case <-time.After(25 * time.Second):
		s.add("TIMEOUT: scenario did not finish in 25s")
	}
	s.mu.Lock()
	s.done = true
	conns := s.conns
	lines := append([]string(nil), s.lines...)
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.cleanup()
	return lines
}

type scenario struct {
	name string
	// sluice, when set, picks a differently configured sluice broker.
	sluice string
	fn     func(*scen)
	// known, when set, says why this scenario differs on purpose: its
	// difference is logged, not failed.
	known string
}

func TestDifferential(t *testing.T) {
	rurl := rabbitURL()
	if c, err := amqp.Dial(rurl); err != nil {
		t.Fatalf("RabbitMQ not reachable at %s (run scripts/rabbitmq.sh start): %v", rurl, err)
	} else {
		if v, ok := c.Properties["version"]; ok {
			t.Logf("RabbitMQ version %v at %s", v, rurl)
		}
		c.Close()
	}
	brokers := map[string]*brokertest.Broker{
		"":       brokertest.New(t),
		"bigmax": brokertest.New(t, func(c *server.Config) { c.MaxMessageSize = rabbitMaxMessageSize }),
	}
	tok := make([]byte, 4)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	ndiff := 0
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			tk := token + "-" + sc.name
			want := run(t, rurl, tk, sc.fn)
			got := run(t, brokers[sc.sluice].AMQPURL(), tk, sc.fn)
			if diffs := lineDiffs(want, got); len(diffs) > 0 && sc.known != "" {
				t.Logf("%s: known difference (%s):\n%s", sc.name, sc.known, strings.ReplaceAll(strings.Join(diffs, "\n"), tk, "<T>"))
			} else if len(diffs) > 0 {
				ndiff++
				t.Errorf("%s: %d differing lines (token %s replaced by <T>)\n%s", sc.name, len(diffs), tk,
					strings.ReplaceAll(strings.Join(diffs, "\n"), tk, "<T>"))
				t.Logf("rabbitmq transcript:\n  %s", strings.ReplaceAll(strings.Join(want, "\n  "), tk, "<T>"))
			} else if testing.Verbose() {
				t.Logf("same:\n  %s", strings.ReplaceAll(strings.Join(want, "\n  "), tk, "<T>"))
			}
		})
	}
	t.Logf("%d scenarios differ", ndiff)
}

// ---------------------------------------------------------------- scenarios

// declareTwice declares q with a1 then, on the same channel, with a2.
func declareTwice(first, second func(ch *amqp.Channel, q string) (amqp.Queue, error)) func(*scen) {
	return func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := s.q("q")
		qi, err := first(ch, q)
		s.declared("first declare", qi, err)
		qi, err = second(ch, q)
		s.declared("second declare", qi, err)
		s.state("after", c, ch)
	}
}

func decl(durable, autoDelete, exclusive bool, args amqp.Table) func(ch *amqp.Channel, q string) (amqp.Queue, error) {
	return func(ch *amqp.Channel, q string) (amqp.Queue, error) {
		return ch.QueueDeclare(q, durable, autoDelete, exclusive, false, args)
	}
}

// declareOnce records a single declare with the given args.
func declareOnce(durable, autoDelete, exclusive bool, args amqp.Table) func(*scen) {
	return func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		qi, err := ch.QueueDeclare(s.q("q"), durable, autoDelete, exclusive, false, args)
		s.declared("declare", qi, err)
		s.state("after", c, ch)
	}
}

// onePublish publishes once on a fresh channel and records the outcome,
// observed through a synchronous probe.
func onePublish(setup func(s *scen, ch *amqp.Channel) (ex, rk string), mandatory, immediate bool, p amqp.Publishing) func(*scen) {
	return func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		ret := ch.NotifyReturn(make(chan amqp.Return, 4))
		ex, rk := setup(s, ch)
		err := ch.PublishWithContext(context.Background(), ex, rk, mandatory, immediate, p)
		s.step("publish", err)
		s.state("after publish", c, ch)
		select {
		case r := <-ret:
			s.add("basic.return: %d %q exchange=%q rk=%q body=%q", r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, r.Body)
		case <-time.After(300 * time.Millisecond):
			s.add("basic.return: none")
		}
	}
}

// withQueue declares a plain queue, returns its name and fills it with n messages.
func withQueue(s *scen, ch *amqp.Channel, n int, args amqp.Table) string {
	q := s.q("q")
	_, err := ch.QueueDeclare(q, false, false, false, false, args)
	if err != nil {
		s.step("setup declare", err)
		panic(abort{})
	}
	for i := 1; i <= n; i++ {
		s.pub(ch, "", q, body(fmt.Sprintf("m%d", i)))
	}
	return q
}

// exclusiveFromOther declares an exclusive queue on connection A and runs op
// on a fresh channel of connection B.
func exclusiveFromOther(op func(s *scen, ch *amqp.Channel, q string) error) func(*scen) {
	return func(s *scen) {
		a := s.dial()
		defer a.Close()
		cha := s.channel(a)
		q := s.q("excl")
		_, err := cha.QueueDeclare(q, false, false, true, false, nil)
		s.step("declare exclusive on A", err)
		cha.Publish("", q, false, false, body("x"))
		b := s.dial()
		defer b.Close()
		chb := s.channel(b)
		s.step("op on B", op(s, chb, q))
		s.state("B after", b, chb)
		s.state("A after", a, cha)
	}
}

func scenarios() []scenario {
	var out []scenario
	add := func(name string, fn func(*scen)) { out = append(out, scenario{name: name, fn: fn}) }

	// ---- queue declare / redeclare
	add("queue_redeclare_durable_mismatch", declareTwice(decl(false, false, false, nil), decl(true, false, false, nil)))
	add("queue_redeclare_autodelete_mismatch", declareTwice(decl(false, false, false, nil), decl(false, true, false, nil)))
	add("queue_redeclare_exclusive_to_nonexclusive", declareTwice(decl(false, false, true, nil), decl(false, false, false, nil)))
	add("queue_redeclare_nonexclusive_to_exclusive", declareTwice(decl(false, false, false, nil), decl(false, false, true, nil)))
	add("queue_redeclare_maxlen_int32_vs_int64", declareTwice(
		decl(false, false, false, amqp.Table{"x-max-length": int32(10)}),
		decl(false, false, false, amqp.Table{"x-max-length": int64(10)})))
	add("queue_redeclare_maxlen_int_vs_int16", declareTwice(
		decl(false, false, false, amqp.Table{"x-max-length": int64(10)}),
		decl(false, false, false, amqp.Table{"x-max-length": int16(10)})))
	add("queue_redeclare_maxlen_absent_then_present", declareTwice(
		decl(false, false, false, nil),
		decl(false, false, false, amqp.Table{"x-max-length": int32(10)})))
	add("queue_redeclare_maxlen_present_then_absent", declareTwice(
		decl(false, false, false, amqp.Table{"x-max-length": int32(10)}),
		decl(false, false, false, nil)))
	add("queue_redeclare_maxlen_differs", declareTwice(
		decl(false, false, false, amqp.Table{"x-max-length": int32(10)}),
		decl(false, false, false, amqp.Table{"x-max-length": int32(11)})))
	add("queue_redeclare_ttl_differs", declareTwice(
		decl(false, false, false, amqp.Table{"x-message-ttl": int32(1000)}),
		decl(false, false, false, amqp.Table{"x-message-ttl": int32(2000)})))
	add("queue_redeclare_ttl_string_vs_int", declareTwice(
		decl(false, false, false, amqp.Table{"x-message-ttl": int32(1000)}),
		decl(false, false, false, amqp.Table{"x-message-ttl": "1000"})))
	add("queue_redeclare_dlx_differs", declareTwice(
		decl(false, false, false, amqp.Table{"x-dead-letter-exchange": "a"}),
		decl(false, false, false, amqp.Table{"x-dead-letter-exchange": "b"})))
	add("queue_redeclare_unknown_arg_differs", declareTwice(
		decl(false, false, false, amqp.Table{"x-custom": "a"}),
		decl(false, false, false, amqp.Table{"x-custom": "b"})))
	add("queue_redeclare_type_classic_explicit", declareTwice(
		decl(false, false, false, nil),
		decl(false, false, false, amqp.Table{"x-queue-type": "classic"})))
	add("queue_redeclare_classic_as_quorum", declareTwice(
		decl(true, false, false, nil),
		decl(true, false, false, amqp.Table{"x-queue-type": "quorum"})))
	add("queue_redeclare_overflow_differs", declareTwice(
		decl(false, false, false, amqp.Table{"x-overflow": "drop-head"}),
		decl(false, false, false, amqp.Table{"x-overflow": "reject-publish"})))
	add("queue_redeclare_counts", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, nil)
		ch2 := s.channel(c)
		_, err := ch2.Consume(q, "c1", false, false, false, false, nil)
		s.step("consume", err)
		time.Sleep(200 * time.Millisecond)
		qi, err := ch.QueueDeclare(q, false, false, false, false, nil)
		s.declared("redeclare", qi, err)
		qi, err = ch.QueueDeclarePassive(q, false, false, false, false, nil)
		s.declared("passive", qi, err)
		ch2.Close()
		time.Sleep(200 * time.Millisecond)
		qi, err = ch.QueueDeclarePassive(q, true, true, true, false, amqp.Table{"x-max-length": int32(1)})
		s.declared("passive with mismatching flags and args", qi, err)
	})
	add("queue_declare_type_classic", declareOnce(false, false, false, amqp.Table{"x-queue-type": "classic"}))
	add("queue_declare_type_quorum_durable", declareOnce(true, false, false, amqp.Table{"x-queue-type": "quorum"}))
	add("queue_declare_type_quorum_nondurable", declareOnce(false, false, false, amqp.Table{"x-queue-type": "quorum"}))
	add("queue_declare_type_quorum_exclusive", declareOnce(true, false, true, amqp.Table{"x-queue-type": "quorum"}))
	add("queue_declare_type_quorum_autodelete", declareOnce(true, true, false, amqp.Table{"x-queue-type": "quorum"}))
	// More than one property a quorum queue refuses: RabbitMQ checks
	// auto-delete, then exclusive, then durable.
	add("queue_declare_type_quorum_nondurable_autodelete", declareOnce(false, true, false, amqp.Table{"x-queue-type": "quorum"}))
	add("queue_declare_type_quorum_nondurable_exclusive", declareOnce(false, false, true, amqp.Table{"x-queue-type": "quorum"}))
	add("queue_declare_type_quorum_all_three", declareOnce(false, true, true, amqp.Table{"x-queue-type": "quorum"}))
	out = append(out, scenario{name: "queue_declare_type_stream_durable", fn: declareOnce(true, false, false, amqp.Table{"x-queue-type": "stream"}),
		known: "sluice has classic and quorum queues, no streams: declaring one is refused with 406 naming x-queue-type"})
	add("queue_declare_type_bogus", declareOnce(false, false, false, amqp.Table{"x-queue-type": "bogus"}))
	add("queue_declare_type_int", declareOnce(false, false, false, amqp.Table{"x-queue-type": int32(1)}))
	add("queue_declare_overflow_bogus", declareOnce(false, false, false, amqp.Table{"x-overflow": "bogus"}))
	add("queue_declare_max_priority_300", declareOnce(false, false, false, amqp.Table{"x-max-priority": int32(300)}))
	add("queue_declare_max_priority_negative", declareOnce(false, false, false, amqp.Table{"x-max-priority": int32(-1)}))
	add("queue_declare_expires_0", declareOnce(false, false, false, amqp.Table{"x-expires": int32(0)}))
	add("queue_declare_expires_negative", declareOnce(false, false, false, amqp.Table{"x-expires": int32(-5)}))
	add("queue_declare_ttl_negative", declareOnce(false, false, false, amqp.Table{"x-message-ttl": int32(-1)}))
	add("queue_declare_ttl_string", declareOnce(false, false, false, amqp.Table{"x-message-ttl": "abc"}))
	add("queue_declare_ttl_zero", declareOnce(false, false, false, amqp.Table{"x-message-ttl": int32(0)}))
	add("queue_declare_max_length_negative", declareOnce(false, false, false, amqp.Table{"x-max-length": int32(-1)}))
	add("queue_declare_max_length_string", declareOnce(false, false, false, amqp.Table{"x-max-length": "10"}))
	add("queue_declare_max_length_bytes_negative", declareOnce(false, false, false, amqp.Table{"x-max-length-bytes": int64(-1)}))
	add("queue_declare_dlrk_without_dlx", declareOnce(false, false, false, amqp.Table{"x-dead-letter-routing-key": "rk"}))
	add("queue_declare_dlx_int", declareOnce(false, false, false, amqp.Table{"x-dead-letter-exchange": int32(5)}))
	add("queue_declare_reserved_amq_name", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		qi, err := ch.QueueDeclare("amq.diff-"+s.token, false, true, false, false, nil)
		s.declared("declare amq.*", qi, err)
		s.state("after", c, ch)
		ch = s.channel(c)
		qi, err = ch.QueueDeclarePassive("amq.diff-"+s.token, false, true, false, false, nil)
		s.declared("passive declare amq.* (missing)", qi, err)
		s.state("after", c, ch)
	})
	add("queue_declare_server_named", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		qi, err := ch.QueueDeclare("", false, true, true, false, nil)
		s.declared("declare empty name", qi, err)
		s.add("name prefix amq.gen-: %v len=%d", strings.HasPrefix(qi.Name, "amq.gen-"), len(qi.Name))
		// "" means "the last queue declared on this channel".
		s.step("bind with empty queue name", ch.QueueBind("", "k", "amq.direct", false, nil))
		s.step("publish to amq.direct k", ch.Publish("amq.direct", "k", false, false, body("via-bind")))
		s.get("get with empty queue name", ch, "", true)
		n, err := ch.QueuePurge("", false)
		s.add("purge with empty name: n=%d %s", n, describe(err))
		ch2 := s.channel(c)
		_, _, err = ch2.Get("", true)
		s.step("get with empty name on fresh channel", err)
		s.state("after", c, ch2)
		qi, err = ch.QueueDeclare("", true, false, false, false, nil)
		s.declared("declare empty name durable non-exclusive", qi, err)
		if err == nil {
			ch.QueueDelete(qi.Name, false, false, false)
		}
	})
	add("queue_declare_passive_missing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		qi, err := ch.QueueDeclarePassive(s.q("missing"), false, false, false, false, nil)
		s.declared("passive", qi, err)
		s.state("after", c, ch)
	})
	add("exchange_declare_passive_missing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("passive", ch.ExchangeDeclarePassive(s.x("missing"), "direct", false, false, false, false, nil))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("passive with other type on existing amq.fanout", ch.ExchangeDeclarePassive("amq.fanout", "direct", false, true, false, false, nil))
		s.state("after", c, ch)
	})

	// ---- exclusive queues from another connection
	add("exclusive_other_conn_declare", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		_, err := ch.QueueDeclare(q, false, false, false, false, nil)
		return err
	}))
	add("exclusive_other_conn_declare_exclusive", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		return err
	}))
	add("exclusive_other_conn_passive", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		_, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		return err
	}))
	add("exclusive_other_conn_consume", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		_, err := ch.Consume(q, "", false, false, false, false, nil)
		return err
	}))
	add("exclusive_other_conn_bind", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		return ch.QueueBind(q, "k", "amq.direct", false, nil)
	}))
	add("exclusive_other_conn_unbind", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		return ch.QueueUnbind(q, "k", "amq.direct", nil)
	}))
	add("exclusive_other_conn_delete", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		_, err := ch.QueueDelete(q, false, false, false)
		return err
	}))
	add("exclusive_other_conn_purge", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		_, err := ch.QueuePurge(q, false)
		return err
	}))
	add("exclusive_other_conn_get", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		_, _, err := ch.Get(q, true)
		return err
	}))
	add("exclusive_other_conn_publish", exclusiveFromOther(func(s *scen, ch *amqp.Channel, q string) error {
		if err := ch.Publish("", q, false, false, body("from B")); err != nil {
			return err
		}
		return ch.ExchangeDeclarePassive("amq.direct", "direct", true, false, false, false, nil)
	}))
	add("exclusive_queue_gone_after_owner_closes", func(s *scen) {
		a := s.dial()
		cha := s.channel(a)
		q := s.q("excl")
		_, err := cha.QueueDeclare(q, false, false, true, false, nil)
		s.step("declare exclusive on A", err)
		a.Close()
		time.Sleep(200 * time.Millisecond)
		b := s.dial()
		defer b.Close()
		chb := s.channel(b)
		qi, err := chb.QueueDeclarePassive(q, false, false, false, false, nil)
		s.declared("passive on B", qi, err)
	})

	// ---- exchanges
	add("exchange_declare_unknown_type", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		// RabbitMQ says 'invalid exchange type' for a name that is already
		// an Erlang atom and 'unknown exchange type' for one that is not
		// (yet): a type named afresh each run answers the same every time.
		s.step("declare bogus type", ch.ExchangeDeclare(s.x("e"), "bogus-"+s.token, false, true, false, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_declare_passive_unknown_type_existing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("passive amq.direct as bogus", ch.ExchangeDeclarePassive("amq.direct", "bogus", true, false, false, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_redeclare_type_mismatch", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e := s.x("e")
		s.step("declare direct", ch.ExchangeDeclare(e, "direct", false, true, false, false, nil))
		s.step("declare fanout", ch.ExchangeDeclare(e, "fanout", false, true, false, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_redeclare_durable_mismatch", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e := s.x("e")
		s.step("declare transient", ch.ExchangeDeclare(e, "direct", false, false, false, false, nil))
		s.step("declare durable", ch.ExchangeDeclare(e, "direct", true, false, false, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_redeclare_autodelete_mismatch", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e := s.x("e")
		s.step("declare", ch.ExchangeDeclare(e, "direct", false, false, false, false, nil))
		s.step("declare auto-delete", ch.ExchangeDeclare(e, "direct", false, true, false, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_redeclare_internal_mismatch", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e := s.x("e")
		s.step("declare", ch.ExchangeDeclare(e, "direct", false, false, false, false, nil))
		s.step("declare internal", ch.ExchangeDeclare(e, "direct", false, false, true, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_redeclare_args_mismatch", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e := s.x("e")
		s.step("declare", ch.ExchangeDeclare(e, "direct", false, false, false, false, nil))
		s.step("declare with alternate-exchange", ch.ExchangeDeclare(e, "direct", false, false, false, false, amqp.Table{"alternate-exchange": "ae"}))
		s.state("after", c, ch)
	})
	add("exchange_declare_reserved_amq_foo", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("declare amq.foo", ch.ExchangeDeclare("amq.foo", "direct", false, true, false, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_redeclare_amq_direct_equivalent", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("declare amq.direct durable", ch.ExchangeDeclare("amq.direct", "direct", true, false, false, false, nil))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("declare amq.direct transient", ch.ExchangeDeclare("amq.direct", "direct", false, false, false, false, nil))
		s.state("after", c, ch)
	})
	add("exchange_delete_amq_direct", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("delete amq.direct", ch.ExchangeDelete("amq.direct", false, false))
		s.state("after", c, ch)
	})
	add("exchange_delete_default", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("delete \"\"", ch.ExchangeDelete("", false, false))
		s.state("after", c, ch)
	})
	add("exchange_declare_default_nonpassive", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("declare \"\"", ch.ExchangeDeclare("", "direct", true, false, false, false, nil))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("passive declare \"\"", ch.ExchangeDeclarePassive("", "direct", true, false, false, false, nil))
		s.state("after", c, ch)
	})
	add("bind_to_default_exchange", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("bind to \"\"", ch.QueueBind(q, "k", "", false, nil))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("unbind from \"\"", ch.QueueUnbind(q, q, "", nil))
		s.state("after", c, ch)
	})
	add("exchange_bind_default_exchange", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("exchange.bind amq.direct <- \"\"", ch.ExchangeBind("amq.direct", "k", "", false, nil))
		s.state("after", c, ch)
	})
	add("exchange_delete_if_unused", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e := s.x("e")
		q := withQueue(s, ch, 0, nil)
		s.step("declare", ch.ExchangeDeclare(e, "direct", false, false, false, false, nil))
		s.step("bind", ch.QueueBind(q, "k", e, false, nil))
		s.step("delete if-unused (bound)", ch.ExchangeDelete(e, true, false))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("unbind", ch.QueueUnbind(q, "k", e, nil))
		s.step("delete if-unused (unbound)", ch.ExchangeDelete(e, true, false))
		s.state("after", c, ch)
	})
	add("exchange_delete_if_unused_as_source_of_e2e", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e1, e2 := s.x("e1"), s.x("e2")
		s.step("declare e1", ch.ExchangeDeclare(e1, "fanout", false, false, false, false, nil))
		s.step("declare e2", ch.ExchangeDeclare(e2, "fanout", false, false, false, false, nil))
		s.step("bind e2 <- e1", ch.ExchangeBind(e2, "", e1, false, nil))
		s.step("delete e2 if-unused (destination only)", ch.ExchangeDelete(e2, true, false))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("delete e1 if-unused (source)", ch.ExchangeDelete(e1, true, false))
		s.state("after", c, ch)
	})
	add("exchange_delete_missing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("delete missing exchange", ch.ExchangeDelete(s.x("missing"), false, false))
		s.state("after", c, ch)
	})
	add("exchange_autodelete_after_last_unbind", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		e := s.x("e")
		q := withQueue(s, ch, 0, nil)
		s.step("declare auto-delete", ch.ExchangeDeclare(e, "direct", false, true, false, false, nil))
		s.step("bind", ch.QueueBind(q, "k", e, false, nil))
		s.step("unbind", ch.QueueUnbind(q, "k", e, nil))
		time.Sleep(100 * time.Millisecond)
		s.step("passive", ch.ExchangeDeclarePassive(e, "direct", false, true, false, false, nil))
		s.state("after", c, ch)
	})

	// ---- queue delete / purge
	add("queue_delete_if_unused", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		ch2 := s.channel(c)
		_, err := ch2.Consume(q, "c", false, false, false, false, nil)
		s.step("consume", err)
		n, err := ch.QueueDelete(q, true, false, false)
		s.add("delete if-unused with consumer: n=%d %s", n, describe(err))
		s.state("after", c, ch)
	})
	add("queue_delete_if_empty", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 2, nil)
		time.Sleep(50 * time.Millisecond)
		n, err := ch.QueueDelete(q, false, true, false)
		s.add("delete if-empty with 2 messages: n=%d %s", n, describe(err))
		s.state("after", c, ch)
		ch = s.channel(c)
		n, err = ch.QueueDelete(q, false, false, false)
		s.add("delete: n=%d %s", n, describe(err))
	})
	add("queue_delete_missing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		n, err := ch.QueueDelete(s.q("missing"), false, false, false)
		s.add("delete missing queue: n=%d %s", n, describe(err))
		s.state("after", c, ch)
		n, err = ch.QueueDelete(s.q("missing2"), true, true, false)
		s.add("delete missing queue if-unused if-empty: n=%d %s", n, describe(err))
		s.state("after", c, ch)
	})
	add("queue_purge_missing_and_count", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, nil)
		time.Sleep(50 * time.Millisecond)
		n, err := ch.QueuePurge(q, false)
		s.add("purge: n=%d %s", n, describe(err))
		n, err = ch.QueuePurge(s.q("missing"), false)
		s.add("purge missing: n=%d %s", n, describe(err))
		s.state("after", c, ch)
	})

	// ---- bindings
	add("unbind_missing_binding", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("unbind never-bound key", ch.QueueUnbind(q, "nope", "amq.direct", nil))
		s.state("after", c, ch)
	})
	add("unbind_missing_queue", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("unbind missing queue", ch.QueueUnbind(s.q("missing"), "k", "amq.direct", nil))
		s.state("after", c, ch)
	})
	add("unbind_missing_exchange", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("unbind from missing exchange", ch.QueueUnbind(q, "k", s.x("missing"), nil))
		s.state("after", c, ch)
	})
	add("bind_missing_queue", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("bind missing queue", ch.QueueBind(s.q("missing"), "k", "amq.direct", false, nil))
		s.state("after", c, ch)
	})
	add("bind_missing_exchange", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("bind to missing exchange", ch.QueueBind(q, "k", s.x("missing"), false, nil))
		s.state("after", c, ch)
	})
	add("bind_both_missing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("bind missing queue to missing exchange", ch.QueueBind(s.q("missing"), "k", s.x("missing"), false, nil))
		s.state("after", c, ch)
	})
	add("exchange_bind_missing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("exchange.bind missing source", ch.ExchangeBind("amq.fanout", "k", s.x("missing"), false, nil))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("exchange.bind missing destination", ch.ExchangeBind(s.x("missing2"), "k", "amq.fanout", false, nil))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("exchange.unbind never bound", ch.ExchangeUnbind("amq.topic", "k", "amq.fanout", false, nil))
		s.state("after", c, ch)
	})
	add("bind_twice_idempotent", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("bind", ch.QueueBind(q, "k", "amq.direct", false, nil))
		s.step("bind again", ch.QueueBind(q, "k", "amq.direct", false, nil))
		s.step("publish", ch.Publish("amq.direct", "k", false, false, body("once")))
		time.Sleep(100 * time.Millisecond)
		s.count("count", c, q)
	})

	// ---- consumers
	add("consume_missing_queue", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		_, err := ch.Consume(s.q("missing"), "", false, false, false, false, nil)
		s.step("consume", err)
		s.state("after", c, ch)
	})
	add("consume_duplicate_tag", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		_, err := ch.Consume(q, "dup", false, false, false, false, nil)
		s.step("consume tag dup", err)
		_, err = ch.Consume(q, "dup", false, false, false, false, nil)
		s.step("consume tag dup again", err)
		s.state("after", c, ch)
	})
	add("consume_same_tag_other_channel", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		_, err := ch.Consume(q, "dup", false, false, false, false, nil)
		s.step("consume tag dup on ch1", err)
		ch2 := s.channel(c)
		_, err = ch2.Consume(q, "dup", false, false, false, false, nil)
		s.step("consume tag dup on ch2", err)
		s.state("after", c, ch2)
	})
	add("consume_exclusive_conflict_existing_consumer", func(s *scen) {
		a := s.dial()
		defer a.Close()
		cha := s.channel(a)
		q := withQueue(s, cha, 0, nil)
		_, err := cha.Consume(q, "a", false, false, false, false, nil)
		s.step("A consume", err)
		b := s.dial()
		defer b.Close()
		chb := s.channel(b)
		_, err = chb.Consume(q, "b", false, true, false, false, nil)
		s.step("B consume exclusive", err)
		s.state("B after", b, chb)
	})
	add("consume_conflict_with_exclusive_consumer", func(s *scen) {
		a := s.dial()
		defer a.Close()
		cha := s.channel(a)
		q := withQueue(s, cha, 0, nil)
		_, err := cha.Consume(q, "a", false, true, false, false, nil)
		s.step("A consume exclusive", err)
		b := s.dial()
		defer b.Close()
		chb := s.channel(b)
		_, err = chb.Consume(q, "b", false, false, false, false, nil)
		s.step("B consume", err)
		s.state("B after", b, chb)
		chb = s.channel(b)
		_, err = chb.Consume(q, "b2", false, true, false, false, nil)
		s.step("B consume exclusive", err)
		s.state("B after", b, chb)
		cha2 := s.channel(a)
		_, err = cha2.Consume(q, "a2", false, false, false, false, nil)
		s.step("A second channel consume", err)
		s.state("A after", a, cha2)
		_, _, err = cha.Get(q, true)
		s.step("A get while exclusive consumer", err)
	})
	add("cancel_then_publish", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		msgs, err := ch.Consume(q, "c1", false, false, false, false, nil)
		s.step("consume", err)
		ds := s.recv("before cancel", msgs, 1)
		s.step("cancel", ch.Cancel("c1", false))
		s.pub(ch, "", q, body("after-cancel"))
		s.noDelivery("after cancel", msgs, 300*time.Millisecond)
		if len(ds) == 1 {
			s.step("ack delivery of cancelled consumer", ch.Ack(ds[0].DeliveryTag, false))
		}
		s.state("after", c, ch)
		s.count("count", c, q)
		s.step("cancel unknown tag", ch.Cancel("nope", false))
		s.state("after", c, ch)
	})
	add("cancel_unacked_requeued_on_channel_close", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 2, nil)
		ch2 := s.channel(c)
		msgs, err := ch2.Consume(q, "c1", false, false, false, false, nil)
		s.step("consume", err)
		s.recv("d", msgs, 2)
		s.step("cancel", ch2.Cancel("c1", false))
		s.count("count after cancel", c, q)
		ch2.Close()
		time.Sleep(100 * time.Millisecond)
		s.count("count after channel close", c, q)
		s.get("get1", ch, q, true)
		s.get("get2", ch, q, true)
	})

	// ---- acks
	add("ack_unknown_tag", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("ack 99", ch.Ack(99, false))
		s.state("after", c, ch)
	})
	add("ack_twice", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		d, _ := s.get("get", ch, q, false)
		s.step("ack", ch.Ack(d.DeliveryTag, false))
		s.step("ack again", ch.Ack(d.DeliveryTag, false))
		s.state("after", c, ch)
	})
	add("ack_multiple_zero_with_outstanding", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, nil)
		s.get("get1", ch, q, false)
		s.get("get2", ch, q, false)
		s.step("ack multiple tag 0", ch.Ack(0, true))
		s.state("after", c, ch)
		s.count("count", c, q)
		s.step("ack multiple tag 0 again (nothing outstanding)", ch.Ack(0, true))
		s.state("after", c, ch)
	})
	add("ack_single_zero", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		s.get("get", ch, q, false)
		s.step("ack tag 0 not multiple", ch.Ack(0, false))
		s.state("after", c, ch)
	})
	add("ack_multiple_unknown_high_tag", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		s.get("get", ch, q, false)
		s.step("ack multiple tag 5", ch.Ack(5, true))
		s.state("after", c, ch)
	})
	add("nack_unknown_tag", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("nack 7", ch.Nack(7, false, true))
		s.state("after", c, ch)
	})
	add("nack_multiple_unknown_tag", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("nack multiple 7", ch.Nack(7, true, true))
		s.state("after", c, ch)
	})
	add("reject_unknown_tag", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("reject 3", ch.Reject(3, false))
		s.state("after", c, ch)
	})
	add("ack_autoack_delivery", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		msgs, err := ch.Consume(q, "", true, false, false, false, nil)
		s.step("consume no-ack", err)
		ds := s.recv("d", msgs, 1)
		if len(ds) == 1 {
			s.step("ack the no-ack delivery", ch.Ack(ds[0].DeliveryTag, false))
		}
		s.state("after", c, ch)
	})
	add("ack_on_other_channel", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		d, _ := s.get("get", ch, q, false)
		ch2 := s.channel(c)
		s.step("ack on other channel", ch2.Ack(d.DeliveryTag, false))
		s.state("other channel after", c, ch2)
		s.state("first channel after", c, ch)
	})
	add("nack_multiple_requeue_ordering", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 5, nil)
		var last uint64
		for i := 1; i <= 4; i++ {
			d, _ := s.get(fmt.Sprintf("get%d", i), ch, q, false)
			last = d.DeliveryTag
		}
		s.step("nack multiple requeue up to 3rd", ch.Nack(last-1, true, true))
		for i := 1; i <= 4; i++ {
			s.get(fmt.Sprintf("after nack get%d", i), ch, q, true)
		}
		s.step("reject 4th requeue", ch.Reject(last, true))
		s.get("after reject", ch, q, true)
		s.get("drain", ch, q, true)
		s.get("empty", ch, q, true)
	})
	add("nack_multiple_requeue_consumer_ordering", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 4, nil)
		s.step("qos 4", ch.Qos(4, 0, false))
		msgs, err := ch.Consume(q, "c", false, false, false, false, nil)
		s.step("consume", err)
		ds := s.recv("first", msgs, 4)
		if len(ds) == 4 {
			s.step("nack multiple requeue all", ch.Nack(ds[3].DeliveryTag, true, true))
		}
		ds = s.recv("redelivered", msgs, 4)
		if len(ds) > 0 {
			s.step("ack all", ch.Ack(ds[len(ds)-1].DeliveryTag, true))
		}
	})
	add("reject_requeue_false_no_dlx_drops", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		d, _ := s.get("get", ch, q, false)
		s.step("reject no requeue", ch.Reject(d.DeliveryTag, false))
		s.count("count", c, q)
	})
	add("recover_requeue_true", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 2, nil)
		msgs, err := ch.Consume(q, "c", false, false, false, false, nil)
		s.step("consume", err)
		s.recv("first", msgs, 2)
		s.step("basic.recover requeue=true", ch.Recover(true))
		ds := s.recv("after recover", msgs, 2)
		if len(ds) > 0 {
			s.step("ack", ch.Ack(ds[len(ds)-1].DeliveryTag, true))
		}
		s.state("after", c, ch)
	})
	add("recover_requeue_false", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		msgs, err := ch.Consume(q, "c", false, false, false, false, nil)
		s.step("consume", err)
		s.recv("first", msgs, 1)
		s.step("basic.recover requeue=false", ch.Recover(false))
		s.recv("after recover", msgs, 1)
		s.state("after", c, ch)
	})
	add("recover_with_get_unacked", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		s.get("get", ch, q, false)
		s.step("basic.recover requeue=true", ch.Recover(true))
		time.Sleep(100 * time.Millisecond)
		s.get("get again", ch, q, true)
	})
	add("channel_flow_false", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("channel.flow active=false", ch.Flow(false))
		s.state("after", c, ch)
	})
	add("channel_flow_true", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("channel.flow active=true", ch.Flow(true))
		s.state("after", c, ch)
	})
	add("qos_prefetch_size_nonzero", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("basic.qos prefetch_size=1000", ch.Qos(0, 1000, false))
		s.state("after", c, ch)
	})
	add("qos_global", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, nil)
		s.step("basic.qos 1 global", ch.Qos(1, 0, true))
		msgs, err := ch.Consume(q, "c", false, false, false, false, nil)
		s.step("consume", err)
		s.recv("d", msgs, 1)
	})

	// ---- redelivered flag
	add("redelivered_after_consumer_conn_close", func(s *scen) {
		a := s.dial()
		cha := s.channel(a)
		q := withQueue(s, cha, 3, nil)
		msgs, err := cha.Consume(q, "c", false, false, false, false, nil)
		s.step("consume on A", err)
		ds := s.recv("A", msgs, 3)
		if len(ds) == 3 {
			s.step("A ack first", cha.Ack(ds[0].DeliveryTag, false))
		}
		a.Close()
		time.Sleep(200 * time.Millisecond)
		b := s.dial()
		defer b.Close()
		chb := s.channel(b)
		s.count("count on B", b, q)
		s.get("B get1", chb, q, false)
		s.get("B get2", chb, q, false)
		s.get("B get3", chb, q, false)
	})
	add("redelivered_after_requeue_to_other_consumer", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		d, _ := s.get("get", ch, q, false)
		s.step("nack requeue", ch.Nack(d.DeliveryTag, false, true))
		ch2 := s.channel(c)
		msgs, err := ch2.Consume(q, "c", false, false, false, false, nil)
		s.step("consume", err)
		s.recv("consumer", msgs, 1)
	})

	// ---- publish errors
	add("publish_missing_exchange", onePublish(func(s *scen, ch *amqp.Channel) (string, string) {
		return s.x("missing"), "k"
	}, false, false, body("x")))
	add("publish_internal_exchange", onePublish(func(s *scen, ch *amqp.Channel) (string, string) {
		e := s.x("internal")
		s.step("declare internal", ch.ExchangeDeclare(e, "direct", false, true, true, false, nil))
		return e, "k"
	}, false, false, body("x")))
	add("publish_mandatory_unroutable_exchange", onePublish(func(s *scen, ch *amqp.Channel) (string, string) {
		return "amq.direct", "nobody-" + s.token
	}, true, false, body("x")))
	add("publish_mandatory_unroutable_default", onePublish(func(s *scen, ch *amqp.Channel) (string, string) {
		return "", s.q("missing")
	}, true, false, body("x")))
	add("publish_immediate", onePublish(func(s *scen, ch *amqp.Channel) (string, string) {
		return "", withQueue(s, ch, 0, nil)
	}, false, true, body("x")))
	add("publish_user_id_mismatch", onePublish(func(s *scen, ch *amqp.Channel) (string, string) {
		return "", withQueue(s, ch, 0, nil)
	}, false, false, amqp.Publishing{Body: []byte("x"), UserId: "bob"}))
	add("publish_user_id_match", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("publish user_id=guest", s.pub(ch, "", q, amqp.Publishing{Body: []byte("x"), UserId: "guest"}))
		time.Sleep(100 * time.Millisecond)
		s.get("get", ch, q, true)
	})
	add("publish_to_amq_rabbitmq_prefixed_missing_exchange", onePublish(func(s *scen, ch *amqp.Channel) (string, string) {
		return "amq.nope", "k"
	}, false, false, body("x")))
	out = append(out, scenario{name: "publish_over_rabbit_default_max", known: "sluice's default --max-message-size is 16 MiB, RabbitMQ's 128 MiB (publish_over_max_same_limit checks the same limit)", fn: func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("publish 128MiB+1", s.pub(ch, "", q, amqp.Publishing{Body: make([]byte, rabbitMaxMessageSize+1)}))
		s.state("after", c, ch)
	}})
	out = append(out, scenario{name: "publish_over_max_same_limit", sluice: "bigmax", fn: func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("publish 128MiB+1", s.pub(ch, "", q, amqp.Publishing{Body: make([]byte, rabbitMaxMessageSize+1)}))
		s.state("after", c, ch)
	}})
	out = append(out, scenario{name: "publish_16MiB_plus_1", known: "sluice's default --max-message-size is 16 MiB, RabbitMQ's 128 MiB", fn: func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("publish 16MiB+1", s.pub(ch, "", q, amqp.Publishing{Body: make([]byte, 16<<20+1)}))
		s.state("after", c, ch)
		s.count("count", c, q)
	}})

	// ---- confirms
	add("confirm_reject_publish_overflow", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
		s.step("confirm.select", ch.Confirm(false))
		confs := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
		for i := 1; i <= 3; i++ {
			s.pub(ch, "", q, body(fmt.Sprintf("m%d", i)))
		}
		for i := 0; i < 3; i++ {
			select {
			case cf := <-confs:
				s.add("confirm tag=%d ack=%v", cf.DeliveryTag, cf.Ack)
			case <-time.After(3 * time.Second):
				s.add("confirm: timeout")
			}
		}
		s.count("count", c, q)
		s.state("after", c, ch)
	})
	add("confirm_reject_publish_dlx_overflow", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		dlq := withQueue(s, ch, 0, nil)
		dlx := s.x("dlx")
		s.step("declare dlx", ch.ExchangeDeclare(dlx, "fanout", false, false, false, false, nil))
		s.step("bind dlq", ch.QueueBind(dlq, "", dlx, false, nil))
		q := s.q("limited")
		_, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": dlx})
		s.step("declare limited", err)
		s.step("confirm.select", ch.Confirm(false))
		confs := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
		s.pub(ch, "", q, body("m1"))
		s.pub(ch, "", q, body("m2"))
		for i := 0; i < 2; i++ {
			select {
			case cf := <-confs:
				s.add("confirm tag=%d ack=%v", cf.DeliveryTag, cf.Ack)
			case <-time.After(3 * time.Second):
				s.add("confirm: timeout")
			}
		}
		time.Sleep(100 * time.Millisecond)
		s.get("dlq get", ch, dlq, true)
	})
	add("confirm_mandatory_unroutable", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		ret := ch.NotifyReturn(make(chan amqp.Return, 1))
		s.step("confirm.select", ch.Confirm(false))
		confs := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
		s.step("publish mandatory", ch.Publish("amq.direct", "nobody", true, false, body("x")))
		select {
		case r := <-ret:
			s.add("basic.return: %d %q", r.ReplyCode, r.ReplyText)
		case <-time.After(2 * time.Second):
			s.add("basic.return: none")
		}
		select {
		case cf := <-confs:
			s.add("confirm tag=%d ack=%v", cf.DeliveryTag, cf.Ack)
		case <-time.After(2 * time.Second):
			s.add("confirm: timeout")
		}
	})
	add("confirm_unroutable_not_mandatory", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("confirm.select", ch.Confirm(false))
		confs := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
		s.step("publish", ch.Publish("amq.direct", "nobody", false, false, body("x")))
		select {
		case cf := <-confs:
			s.add("confirm tag=%d ack=%v", cf.DeliveryTag, cf.Ack)
		case <-time.After(2 * time.Second):
			s.add("confirm: timeout")
		}
	})

	// ---- transactions
	add("tx_commit_rollback", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("tx.select", ch.Tx())
		s.pub(ch, "", q, body("rolled-back"))
		s.count("count before rollback", c, q)
		s.step("tx.rollback", ch.TxRollback())
		s.count("count after rollback", c, q)
		s.pub(ch, "", q, body("committed"))
		s.step("tx.commit", ch.TxCommit())
		s.count("count after commit", c, q)
		s.step("tx.select again", ch.Tx())
		s.state("after", c, ch)
	})
	add("tx_ack_rollback", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, nil)
		s.step("tx.select", ch.Tx())
		d, _ := s.get("get", ch, q, false)
		s.step("ack in tx", ch.Ack(d.DeliveryTag, false))
		s.step("tx.rollback", ch.TxRollback())
		s.count("count after rollback (unacked)", c, q)
		s.step("ack again in tx", ch.Ack(d.DeliveryTag, false))
		s.step("tx.commit", ch.TxCommit())
		s.count("count after commit", c, q)
		s.state("after", c, ch)
	})
	add("tx_ack_unknown_tag_commit", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("tx.select", ch.Tx())
		s.step("ack 42 in tx", ch.Ack(42, false))
		// Both brokers close the channel at the ack; let the close arrive
		// before the commit, or the client's race decides what the
		// commit returns (406 or "not open") from run to run.
		time.Sleep(200 * time.Millisecond)
		s.step("tx.commit", ch.TxCommit())
		s.state("after", c, ch)
	})
	add("tx_commit_without_select", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("tx.commit", ch.TxCommit())
		s.state("after", c, ch)
	})
	add("tx_rollback_without_select", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("tx.rollback", ch.TxRollback())
		s.state("after", c, ch)
	})
	add("tx_select_after_confirm_select", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("confirm.select", ch.Confirm(false))
		s.step("tx.select", ch.Tx())
		s.state("after", c, ch)
	})
	add("confirm_select_after_tx_select", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		s.step("tx.select", ch.Tx())
		s.step("confirm.select", ch.Confirm(false))
		s.state("after", c, ch)
	})
	add("tx_publish_mandatory_unroutable", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		ret := ch.NotifyReturn(make(chan amqp.Return, 1))
		s.step("tx.select", ch.Tx())
		s.step("publish mandatory", ch.Publish("amq.direct", "nobody", true, false, body("x")))
		s.step("tx.commit", ch.TxCommit())
		select {
		case r := <-ret:
			s.add("basic.return: %d %q", r.ReplyCode, r.ReplyText)
		case <-time.After(time.Second):
			s.add("basic.return: none")
		}
	})

	// ---- dead-lettering
	dlSetup := func(s *scen, ch *amqp.Channel, args amqp.Table) (q, dlq string) {
		dlq = withQueue(s, ch, 0, nil)
		dlx := s.x("dlx")
		if err := ch.ExchangeDeclare(dlx, "topic", false, false, false, false, nil); err != nil {
			s.step("declare dlx", err)
			panic(abort{})
		}
		s.step("bind dlq #", ch.QueueBind(dlq, "#", dlx, false, nil))
		q = s.q("src")
		a := amqp.Table{"x-dead-letter-exchange": dlx}
		for k, v := range args {
			a[k] = v
		}
		_, err := ch.QueueDeclare(q, false, false, false, false, a)
		s.step("declare source", err)
		s.step("bind source", ch.QueueBind(q, "src.key", "amq.topic", false, nil))
		return q, dlq
	}
	add("dlx_reject", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q, dlq := dlSetup(s, ch, nil)
		s.pub(ch, "amq.topic", "src.key", amqp.Publishing{Body: []byte("r"), Headers: amqp.Table{"h": "v"}})
		time.Sleep(100 * time.Millisecond)
		d, _ := s.get("get", ch, q, false)
		s.step("reject", ch.Reject(d.DeliveryTag, false))
		time.Sleep(200 * time.Millisecond)
		s.get("dead-lettered", ch, dlq, true)
	})
	add("dlx_nack_multiple", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q, dlq := dlSetup(s, ch, nil)
		s.pub(ch, "", q, body("a"))
		s.pub(ch, "", q, body("b"))
		time.Sleep(100 * time.Millisecond)
		s.get("get1", ch, q, false)
		d, _ := s.get("get2", ch, q, false)
		s.step("nack multiple no requeue", ch.Nack(d.DeliveryTag, true, false))
		time.Sleep(200 * time.Millisecond)
		s.get("dead-lettered 1", ch, dlq, true)
		s.get("dead-lettered 2", ch, dlq, true)
	})
	add("dlx_routing_key_override", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q, dlq := dlSetup(s, ch, amqp.Table{"x-dead-letter-routing-key": "dl.rk"})
		s.pub(ch, "amq.topic", "src.key", amqp.Publishing{Body: []byte("r"), Headers: amqp.Table{"CC": []any{"cc1"}}})
		time.Sleep(100 * time.Millisecond)
		d, _ := s.get("get", ch, q, false)
		s.step("reject", ch.Reject(d.DeliveryTag, false))
		time.Sleep(200 * time.Millisecond)
		s.get("dead-lettered", ch, dlq, true)
	})
	add("dlx_queue_ttl", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		_, dlq := dlSetup(s, ch, amqp.Table{"x-message-ttl": int32(100)})
		s.pub(ch, "amq.topic", "src.key", body("t"))
		time.Sleep(700 * time.Millisecond)
		s.get("dead-lettered", ch, dlq, true)
	})
	add("dlx_message_ttl", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		_, dlq := dlSetup(s, ch, nil)
		s.pub(ch, "amq.topic", "src.key", amqp.Publishing{Body: []byte("t"), Expiration: "100"})
		time.Sleep(700 * time.Millisecond)
		s.get("dead-lettered", ch, dlq, true)
	})
	add("dlx_maxlen", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q, dlq := dlSetup(s, ch, amqp.Table{"x-max-length": int32(1)})
		s.pub(ch, "amq.topic", "src.key", body("first"))
		s.pub(ch, "amq.topic", "src.key", body("second"))
		time.Sleep(200 * time.Millisecond)
		s.get("dead-lettered", ch, dlq, true)
		s.get("remaining", ch, q, true)
	})
	add("dlx_twice_count", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		// q1 dead-letters to q2 via the default exchange, q2 back to q1.
		q1, q2 := s.q("q1"), s.q("q2")
		_, err := ch.QueueDeclare(q1, false, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": q2})
		s.step("declare q1", err)
		_, err = ch.QueueDeclare(q2, false, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": q1})
		s.step("declare q2", err)
		s.pub(ch, "", q1, body("loop"))
		time.Sleep(100 * time.Millisecond)
		for i, q := range []string{q1, q2, q1} {
			d, ok := s.get(fmt.Sprintf("get %d", i+1), ch, q, false)
			if !ok {
				break
			}
			s.step("reject", ch.Reject(d.DeliveryTag, false))
			time.Sleep(150 * time.Millisecond)
		}
		s.get("final", ch, q2, true)
	})
	add("dlx_expired_cycle_dropped", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := s.q("self")
		_, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-message-ttl": int32(50)})
		s.step("declare self-dead-lettering queue", err)
		s.pub(ch, "", q, body("cycle"))
		time.Sleep(600 * time.Millisecond)
		s.get("after ttl cycle", ch, q, true)
	})
	add("dlx_missing_exchange", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, amqp.Table{"x-dead-letter-exchange": "diffx-missing-" + s.token})
		d, _ := s.get("get", ch, q, false)
		s.step("reject", ch.Reject(d.DeliveryTag, false))
		s.state("after", c, ch)
		s.count("count", c, q)
	})

	// ---- ttl
	add("get_from_ttl_queue", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 2, amqp.Table{"x-message-ttl": int32(300)})
		s.get("get before expiry", ch, q, true)
		time.Sleep(600 * time.Millisecond)
		s.get("get after expiry", ch, q, true)
		s.count("count", c, q)
	})
	add("get_message_ttl_expiration_header", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.pub(ch, "", q, amqp.Publishing{Body: []byte("e"), Expiration: "60000"})
		s.pub(ch, "", q, amqp.Publishing{Body: []byte("gone"), Expiration: "0"})
		time.Sleep(100 * time.Millisecond)
		s.get("get", ch, q, true)
		s.get("get expired", ch, q, true)
	})
	add("publish_invalid_expiration", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("publish expiration=abc", s.pub(ch, "", q, amqp.Publishing{Body: []byte("e"), Expiration: "abc"}))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("publish expiration=-1", s.pub(ch, "", q, amqp.Publishing{Body: []byte("e"), Expiration: "-1"}))
		s.state("after", c, ch)
	})
	add("ttl_zero_queue_consumer", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, amqp.Table{"x-message-ttl": int32(0)})
		msgs, err := ch.Consume(q, "c", true, false, false, false, nil)
		s.step("consume", err)
		time.Sleep(100 * time.Millisecond)
		s.pub(ch, "", q, body("now"))
		s.recv("d", msgs, 1)
	})

	// ---- max length
	add("maxlen_drop_head", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, amqp.Table{"x-max-length": int32(2)})
		time.Sleep(100 * time.Millisecond)
		s.count("count", c, q)
		s.get("get", ch, q, true)
	})
	add("maxlen_reject_publish_no_confirm", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
		s.state("after", c, ch)
		s.count("count", c, q)
		s.get("get", ch, q, true)
	})

	// ---- reply-to
	add("reply_to_publish_without_consumer", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("publish reply_to=amq.rabbitmq.reply-to", s.pub(ch, "", q, amqp.Publishing{Body: []byte("x"), ReplyTo: "amq.rabbitmq.reply-to"}))
		s.state("after", c, ch)
	})
	add("reply_to_consume_with_ack", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		_, err := ch.Consume("amq.rabbitmq.reply-to", "", false, false, false, false, nil)
		s.step("consume amq.rabbitmq.reply-to no_ack=false", err)
		s.state("after", c, ch)
	})
	add("reply_to_consume_twice", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		_, err := ch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
		s.step("consume", err)
		_, err = ch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
		s.step("consume again", err)
		s.state("after", c, ch)
	})
	add("reply_to_passive_declare", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		qi, err := ch.QueueDeclarePassive("amq.rabbitmq.reply-to", false, false, false, false, nil)
		s.declared("passive amq.rabbitmq.reply-to", qi, err)
		s.state("after", c, ch)
	})
	add("reply_to_roundtrip", func(s *scen) {
		c := s.dial()
		defer c.Close()
		client := s.channel(c)
		srv := s.channel(c)
		q := withQueue(s, srv, 0, nil)
		replies, err := client.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
		s.step("client consume reply-to", err)
		reqs, err := srv.Consume(q, "", true, false, false, false, nil)
		s.step("server consume", err)
		s.step("client publish request", s.pub(client, "", q, amqp.Publishing{Body: []byte("req"), ReplyTo: "amq.rabbitmq.reply-to"}))
		ds := s.recv("server got", reqs, 1)
		if len(ds) == 1 {
			s.add("reply_to prefix ok: %v", strings.HasPrefix(ds[0].ReplyTo, "amq.rabbitmq.reply-to."))
			s.step("server publish reply", s.pub(srv, "", ds[0].ReplyTo, body("resp")))
			s.recv("client got", replies, 1)
		}
	})

	// ---- misc
	add("get_empty_and_missing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.get("get empty", ch, q, true)
		s.get("get missing", ch, s.q("missing"), true)
		s.state("after", c, ch)
	})
	add("get_message_count", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, nil)
		time.Sleep(50 * time.Millisecond)
		s.get("get1", ch, q, false)
		s.get("get2", ch, q, true)
		s.get("get3", ch, q, false)
	})
	add("headers_exchange_routing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("bind x-match any", ch.QueueBind(q, "", "amq.headers", false, amqp.Table{"x-match": "any", "a": "1", "b": "2"}))
		s.pub(ch, "amq.headers", "", amqp.Publishing{Body: []byte("match"), Headers: amqp.Table{"b": "2"}})
		s.pub(ch, "amq.headers", "", amqp.Publishing{Body: []byte("nomatch"), Headers: amqp.Table{"b": "3"}})
		time.Sleep(100 * time.Millisecond)
		s.get("get", ch, q, true)
		s.get("get", ch, q, true)
		s.step("bind x-match bogus", ch.QueueBind(q, "", "amq.headers", false, amqp.Table{"x-match": "bogus"}))
		s.state("after", c, ch)
	})
	add("headers_exchange_any_all_with_x", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		qa, qb := s.q("all"), s.q("anyx")
		for _, q := range []string{qa, qb} {
			_, err := ch.QueueDeclare(q, false, false, false, false, nil)
			s.step("declare", err)
		}
		s.step("bind all", ch.QueueBind(qa, "", "amq.headers", false, amqp.Table{"x-match": "all", "a": "1", "x-k": "v"}))
		s.step("bind any-with-x", ch.QueueBind(qb, "", "amq.headers", false, amqp.Table{"x-match": "any-with-x", "x-k": "v"}))
		s.pub(ch, "amq.headers", "", amqp.Publishing{Body: []byte("a-and-xk"), Headers: amqp.Table{"a": "1", "x-k": "v"}})
		s.pub(ch, "amq.headers", "", amqp.Publishing{Body: []byte("a-only"), Headers: amqp.Table{"a": "1"}})
		s.pub(ch, "amq.headers", "", amqp.Publishing{Body: []byte("int-vs-string"), Headers: amqp.Table{"a": int32(1), "x-k": "v"}})
		time.Sleep(100 * time.Millisecond)
		for i := 0; i < 3; i++ {
			s.get("get all", ch, qa, true)
		}
		for i := 0; i < 3; i++ {
			s.get("get any-with-x", ch, qb, true)
		}
		s.state("after", c, ch)
	})
	add("exchange_to_exchange_routing", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		x := s.x("fan")
		s.step("declare fanout", ch.ExchangeDeclare(x, "fanout", false, true, false, false, nil))
		s.step("bind queue to fanout", ch.QueueBind(q, "", x, false, nil))
		s.step("bind fanout to amq.topic", ch.ExchangeBind(x, "a.*", "amq.topic", false, nil))
		s.pub(ch, "amq.topic", "a.b", amqp.Publishing{Body: []byte("via e2e")})
		s.pub(ch, "amq.topic", "b.b", amqp.Publishing{Body: []byte("not routed")})
		time.Sleep(100 * time.Millisecond)
		s.get("get", ch, q, true)
		s.get("get", ch, q, true)
		s.step("unbind e2e", ch.ExchangeUnbind(x, "a.*", "amq.topic", false, nil))
		s.step("unbind e2e again", ch.ExchangeUnbind(x, "a.*", "amq.topic", false, nil))
		s.state("after", c, ch)
	})
	add("channel_use_after_close", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		ch.Close()
		_, err := ch.QueueDeclare("", false, true, true, false, nil)
		s.step("declare on closed channel", err)
		s.state("after", c, nil)
	})
	add("priority_queue_order", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, amqp.Table{"x-max-priority": int32(5)})
		for i, p := range []uint8{1, 9, 3} {
			s.pub(ch, "", q, amqp.Publishing{Body: []byte(fmt.Sprintf("p%d-%d", p, i)), Priority: p})
		}
		time.Sleep(100 * time.Millisecond)
		s.get("get1", ch, q, true)
		s.get("get2", ch, q, true)
		s.get("get3", ch, q, true)
	})
	add("single_active_consumer", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, amqp.Table{"x-single-active-consumer": true})
		ch1, ch2 := s.channel(c), s.channel(c)
		m1, err := ch1.Consume(q, "c1", true, false, false, false, nil)
		s.step("consume c1", err)
		m2, err := ch2.Consume(q, "c2", true, false, false, false, nil)
		s.step("consume c2", err)
		s.pub(ch, "", q, body("a"))
		s.pub(ch, "", q, body("b"))
		s.recv("c1", m1, 2)
		s.noDelivery("c2", m2, 200*time.Millisecond)
		s.step("cancel c1", ch1.Cancel("c1", false))
		s.pub(ch, "", q, body("c"))
		s.recv("c2 after cancel", m2, 1)
		_, err = ch.Consume(q, "c3", true, true, false, false, nil)
		s.step("exclusive consume on SAC queue", err)
		s.state("after", c, ch)
	})

	// ---- more
	add("reply_to_publish_to_stale_reply_queue", func(s *scen) {
		a := s.dial()
		cha := s.channel(a)
		b := s.dial()
		defer b.Close()
		chb := s.channel(b)
		ret := chb.NotifyReturn(make(chan amqp.Return, 1))
		q := withQueue(s, chb, 0, nil)
		_, err := cha.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
		s.step("A consume reply-to", err)
		s.step("A publish request", s.pub(cha, "", q, amqp.Publishing{Body: []byte("req"), ReplyTo: "amq.rabbitmq.reply-to"}))
		time.Sleep(100 * time.Millisecond)
		d, ok := s.get("B get request", chb, q, true)
		a.Close()
		time.Sleep(200 * time.Millisecond)
		if ok {
			s.step("B publish mandatory to stale reply-to", chb.Publish("", d.ReplyTo, true, false, body("late")))
			s.state("B after", b, chb)
			select {
			case r := <-ret:
				s.add("basic.return: %d %q rk=%s", r.ReplyCode, r.ReplyText, r.RoutingKey)
			case <-time.After(300 * time.Millisecond):
				s.add("basic.return: none")
			}
		}
	})
	add("reply_to_publish_from_other_channel", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch1 := s.channel(c)
		ch2 := s.channel(c)
		q := withQueue(s, ch2, 0, nil)
		_, err := ch1.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
		s.step("ch1 consume reply-to", err)
		s.step("ch2 publish reply_to=amq.rabbitmq.reply-to", s.pub(ch2, "", q, amqp.Publishing{Body: []byte("x"), ReplyTo: "amq.rabbitmq.reply-to"}))
		s.state("ch2 after", c, ch2)
	})
	add("server_cancel_on_queue_delete", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		ch2 := s.channel(c)
		cancels := ch2.NotifyCancel(make(chan string, 1))
		msgs, err := ch2.Consume(q, "watcher", false, false, false, false, nil)
		s.step("consume", err)
		n, err := ch.QueueDelete(q, false, false, false)
		s.add("delete: n=%d %s", n, describe(err))
		select {
		case tag := <-cancels:
			s.add("basic.cancel from server: %s", tag)
		case <-time.After(2 * time.Second):
			s.add("basic.cancel from server: none")
		}
		s.noDelivery("deliveries", msgs, 200*time.Millisecond)
		s.state("after", c, ch2)
	})
	add("cc_bcc_headers", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q1 := s.q("q1")
		q2 := s.q("q2")
		q3 := s.q("q3")
		for _, q := range []string{q1, q2, q3} {
			_, err := ch.QueueDeclare(q, false, false, false, false, nil)
			s.step("declare", err)
		}
		s.step("publish CC q2 BCC q3", s.pub(ch, "", q1, amqp.Publishing{Body: []byte("cc"), Headers: amqp.Table{"CC": []any{q2}, "BCC": []any{q3}, "keep": "me"}}))
		time.Sleep(150 * time.Millisecond)
		s.get("q1", ch, q1, true)
		s.get("q2", ch, q2, true)
		s.get("q3", ch, q3, true)
		s.step("publish CC as string", s.pub(ch, "", q1, amqp.Publishing{Body: []byte("ccstr"), Headers: amqp.Table{"CC": q2}}))
		time.Sleep(150 * time.Millisecond)
		s.get("q1", ch, q1, true)
		s.get("q2", ch, q2, true)
		s.state("after", c, ch)
	})
	add("amq_default_alias", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, nil)
		s.step("publish to amq.default", s.pub(ch, "amq.default", q, body("via amq.default")))
		s.state("after", c, ch)
		time.Sleep(100 * time.Millisecond)
		s.get("get", ch, q, true)
		s.step("passive declare amq.default", ch.ExchangeDeclarePassive("amq.default", "direct", true, false, false, false, nil))
		s.state("after", c, ch)
		ch = s.channel(c)
		s.step("bind to amq.default", ch.QueueBind(q, "k", "amq.default", false, nil))
		s.state("after", c, ch)
	})
	add("queue_x_expires", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 1, amqp.Table{"x-expires": int32(200)})
		time.Sleep(800 * time.Millisecond)
		qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		s.declared("passive after expiry", qi, err)
	})
	add("queue_auto_delete_after_last_consumer", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := s.q("ad")
		_, err := ch.QueueDeclare(q, false, true, false, false, nil)
		s.step("declare auto-delete", err)
		qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		s.declared("passive before any consumer", qi, err)
		_, err = ch.Consume(q, "c", true, false, false, false, nil)
		s.step("consume", err)
		s.step("cancel", ch.Cancel("c", false))
		time.Sleep(100 * time.Millisecond)
		qi, err = ch.QueueDeclarePassive(q, false, false, false, false, nil)
		s.declared("passive after cancel", qi, err)
	})
	add("queue_declare_sac_string", declareOnce(false, false, false, amqp.Table{"x-single-active-consumer": "yes"}))
	add("queue_declare_queue_mode_bogus", declareOnce(false, false, false, amqp.Table{"x-queue-mode": "bogus"}))
	add("queue_declare_queue_mode_lazy", declareOnce(false, false, false, amqp.Table{"x-queue-mode": "lazy"}))
	add("queue_declare_max_priority_string", declareOnce(false, false, false, amqp.Table{"x-max-priority": "5"}))
	add("queue_declare_max_length_float", declareOnce(false, false, false, amqp.Table{"x-max-length": 1.5}))
	add("queue_declare_overflow_int", declareOnce(false, false, false, amqp.Table{"x-overflow": int32(1)}))
	add("queue_declare_expires_string", declareOnce(false, false, false, amqp.Table{"x-expires": "1000"}))
	add("queue_declare_dlx_reserved_name", declareOnce(false, false, false, amqp.Table{"x-dead-letter-exchange": "amq.nope"}))
	add("queue_declare_quorum_with_max_priority", declareOnce(true, false, false, amqp.Table{"x-queue-type": "quorum", "x-max-priority": int32(5)}))
	add("maxlen_bytes_drop_head", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, amqp.Table{"x-max-length-bytes": int32(10)})
		for _, b := range []string{"aaaa", "bbbb", "cccc"} {
			s.pub(ch, "", q, body(b))
		}
		time.Sleep(100 * time.Millisecond)
		s.count("count", c, q)
		s.get("get", ch, q, true)
		s.step("publish 11 bytes", s.pub(ch, "", q, body("xxxxxxxxxxx")))
		time.Sleep(100 * time.Millisecond)
		s.count("count", c, q)
	})
	add("alternate_exchange", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		ret := ch.NotifyReturn(make(chan amqp.Return, 1))
		ae, main := s.x("ae"), s.x("main")
		q := withQueue(s, ch, 0, nil)
		s.step("declare ae", ch.ExchangeDeclare(ae, "fanout", false, false, false, false, nil))
		s.step("bind q to ae", ch.QueueBind(q, "", ae, false, nil))
		s.step("declare main with AE", ch.ExchangeDeclare(main, "direct", false, false, false, false, amqp.Table{"alternate-exchange": ae}))
		s.step("publish mandatory unroutable", ch.Publish(main, "nothing", true, false, body("to-ae")))
		time.Sleep(150 * time.Millisecond)
		s.get("via ae", ch, q, true)
		select {
		case r := <-ret:
			s.add("basic.return: %d %q", r.ReplyCode, r.ReplyText)
		case <-time.After(200 * time.Millisecond):
			s.add("basic.return: none")
		}
		main2 := s.x("main2")
		s.step("declare with missing AE", ch.ExchangeDeclare(main2, "direct", false, false, false, false, amqp.Table{"alternate-exchange": s.x("missing-ae")}))
		s.step("publish mandatory to exchange with missing AE", ch.Publish(main2, "nothing", true, false, body("lost")))
		select {
		case r := <-ret:
			s.add("basic.return: %d %q", r.ReplyCode, r.ReplyText)
		case <-time.After(300 * time.Millisecond):
			s.add("basic.return: none")
		}
		s.state("after", c, ch)
	})
	add("purge_with_unacked", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 3, nil)
		time.Sleep(50 * time.Millisecond)
		s.get("get unacked", ch, q, false)
		n, err := ch.QueuePurge(q, false)
		s.add("purge: n=%d %s", n, describe(err))
		ch.Close()
		time.Sleep(100 * time.Millisecond)
		s.count("count after channel close", c, q)
	})
	add("publish_priority_over_max", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 0, amqp.Table{"x-max-priority": int32(2)})
		s.pub(ch, "", q, amqp.Publishing{Body: []byte("p0"), Priority: 0})
		s.pub(ch, "", q, amqp.Publishing{Body: []byte("p200"), Priority: 200})
		s.pub(ch, "", q, amqp.Publishing{Body: []byte("p2"), Priority: 2})
		time.Sleep(100 * time.Millisecond)
		s.get("get1", ch, q, true)
		s.get("get2", ch, q, true)
		s.get("get3", ch, q, true)
	})
	add("consume_exclusive_on_own_exclusive_queue_then_other_channel", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := s.q("ex")
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		s.step("declare exclusive", err)
		_, err = ch.Consume(q, "a", false, true, false, false, nil)
		s.step("consume exclusive", err)
		ch2 := s.channel(c)
		_, err = ch2.Consume(q, "b", false, false, false, false, nil)
		s.step("second consume same connection", err)
		s.state("after", c, ch2)
	})
	add("nack_requeue_false_then_get", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := withQueue(s, ch, 2, nil)
		d, _ := s.get("get", ch, q, false)
		s.step("nack no requeue", ch.Nack(d.DeliveryTag, false, false))
		s.get("get", ch, q, false)
		s.count("count", c, q)
	})
	add("queue_bind_exclusive_own", func(s *scen) {
		c := s.dial()
		defer c.Close()
		ch := s.channel(c)
		q := s.q("ex")
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		s.step("declare exclusive", err)
		qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		s.declared("passive from owner", qi, err)
		s.step("bind", ch.QueueBind(q, "k", "amq.direct", false, nil))
		n, err := ch.QueueDelete(q, false, false, false)
		s.add("delete: n=%d %s", n, describe(err))
	})
	// ---- connection
	add("connection_tune_and_capabilities", func(s *scen) {
		c := s.dial()
		defer c.Close()
		s.add("version %d-%d channel_max=%d frame_max=%d heartbeat=%v", c.Major, c.Minor, c.Config.ChannelMax, c.Config.FrameSize, c.Config.Heartbeat)
		s.add("capabilities %s", fmtVal(c.Properties["capabilities"]))
		s.add("locales %v", c.Locales)
	})
	add("connection_bad_password", func(s *scen) {
		u := strings.Replace(s.url, "guest:guest@", "guest:wrong@", 1)
		c, err := amqp.Dial(u)
		s.step("dial with wrong password", err)
		if err == nil {
			c.Close()
		}
	})
	add("connection_missing_vhost", func(s *scen) {
		u := strings.TrimSuffix(s.url, "/") + "/nope"
		c, err := amqp.Dial(u)
		s.step("dial vhost nope", err)
		if err == nil {
			c.Close()
		}
	})
	return out
}
