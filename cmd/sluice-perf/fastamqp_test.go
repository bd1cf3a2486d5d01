package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestFastClientAgainstSluice runs tiny loads with --client fast against a
// real sluice and checks every message is accounted for. No timing is
// asserted.
func TestFastClientAgainstSluice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.New(t)
	base := func(name string) config { return tinyRun(t, b, name, "fast") }
	cases := []struct {
		name   string
		cfg    func() config
		expect uint64
	}{
		{"transient", func() config { return base("transient-1-1") }, 300},
		{"persistent-confirms-3-producers", func() config {
			c := base("persistent-confirm-16")
			c.Producers, c.Confirm = 3, 10
			return c
		}, 300},
		{"fanout", func() config {
			c := base("fanout-1-10")
			c.Queues, c.Consumers = 3, 3
			return c
		}, 900},
		{"topic-more-queues-than-consumers", func() config {
			c := base("transient-1-1")
			c.Routing, c.Queues, c.Producers, c.Consumers, c.MultiAck = "topic", 4, 2, 2, 7
			return c
		}, 300},
		{"body-spans-frames", func() config {
			// 300,000 bytes: three body frames at frame-max 131072.
			c := base("persistent-confirm-1")
			c.Size, c.Count, c.Confirm = 300_000, 40, 4
			return c
		}, 40},
		{"autoack", func() config {
			c := base("transient-1-1")
			c.AutoAck = true
			return c
		}, 300},
		{"paced", func() config {
			c := base("latency-5k")
			c.Rate = 3000
			return c
		}, 300},
		{"prefetch-below-multi-ack", func() config {
			// Only the periodic ack frees the prefetch window.
			c := base("transient-1-1")
			c.Prefetch, c.MultiAck = 10, 100
			return c
		}, 300},
		{"backlog", func() config {
			c := base("backlog")
			c.Count = 500
			return c
		}, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			rep := runAccounted(t, &cfg, tc.expect)
			if rep.Config.Client != "fast" {
				t.Fatalf("report config client %q", rep.Config.Client)
			}
		})
	}

	t.Run("handshake", func(t *testing.T) {
		c, err := dialFast(b.AMQPURL(), nil, "handshake test", publisherReadBuffer)
		if err != nil {
			t.Fatal(err)
		}
		if c.frameMax != fastFrameMax || c.channelMax == 0 {
			t.Errorf("frame-max %d, channel-max %d", c.frameMax, c.channelMax)
		}
		c.nc.Close()
		bad := map[string]string{
			strings.Replace(b.AMQPURL(), "guest:guest", "guest:wrong", 1): "403",
			b.AMQPURL() + "nosuchvhost":                                   "530",
		}
		for uri, want := range bad {
			_, err := dialFast(uri, nil, "handshake test", publisherReadBuffer)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want an error with %s", redactURI(uri), err, want)
			}
			t.Log(err)
		}
	})

	// A broker that closes a channel or cancels a consumer fails the run
	// with its reason, and the run ends.
	failing := []struct {
		name string
		cfg  func() config
		wrap func(driver) driver
		want string
	}{
		{"publish-to-missing-exchange", func() config {
			c := base("fanout-1-10")
			c.Queues, c.Consumers, c.Count = 2, 2, 50
			return c
		}, func(d driver) driver { return breakingDriver{driver: d, deleteExchange: true} }, "404"},
		{"publish-to-missing-exchange-with-confirms", func() config {
			c := base("fanout-1-10")
			c.Queues, c.Consumers, c.Count, c.Confirm = 2, 2, 50, 5
			return c
		}, func(d driver) driver { return breakingDriver{driver: d, deleteExchange: true} }, "404"},
		{"consume-missing-queue", func() config {
			return base("transient-1-1")
		}, func(d driver) driver { return breakingDriver{driver: d, deleteQueueBeforeConsume: true} }, "404"},
		{"queue-deleted-while-consuming", func() config {
			c := base("transient-1-1")
			c.DrainTimeout = 500 * time.Millisecond
			return c
		}, func(d driver) driver { return breakingDriver{driver: d, deleteQueueBeforeProduce: true} }, "basic.cancel"},
	}
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			cfg.Prefix = "sluice-perf-" + tc.name
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			done := make(chan *report, 1)
			go func() { done <- executeWith(context.Background(), cfg, nil, tc.wrap) }()
			var rep *report
			select {
			case rep = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("the run did not end")
			}
			rep.finish()
			if rep.OK {
				t.Fatalf("the run passed: %+v", rep)
			}
			all := strings.Join(rep.Failures, "\n")
			t.Logf("failures:\n%s", all)
			if !strings.Contains(all, tc.want) {
				t.Fatalf("failures do not mention %q:\n%s", tc.want, all)
			}
		})
	}
}

// breakingDriver removes, over amqp091-go, what the fast client is about
// to use.
type breakingDriver struct {
	driver
	deleteExchange           bool // after setup
	deleteQueueBeforeConsume bool
	deleteQueueBeforeProduce bool
}

func (b breakingDriver) amqp() *amqpDriver { return b.driver.(*fastDriver).amqp }

func (b breakingDriver) setup(ctx context.Context) error {
	if err := b.driver.setup(ctx); err != nil {
		return err
	}
	if b.deleteExchange {
		return deleteWithAMQP(b.amqp(), "", b.amqp().exchange())
	}
	return nil
}

func (b breakingDriver) startConsumers(ctx context.Context) error {
	if b.deleteQueueBeforeConsume {
		if err := deleteWithAMQP(b.amqp(), b.amqp().r.queueName(0), ""); err != nil {
			return err
		}
	}
	return b.driver.startConsumers(ctx)
}

func (b breakingDriver) produce(ctx context.Context, p int) error {
	if b.deleteQueueBeforeProduce {
		if err := deleteWithAMQP(b.amqp(), b.amqp().r.queueName(0), ""); err != nil {
			return err
		}
	}
	return b.driver.produce(ctx, p)
}

// deleteWithAMQP deletes a queue or an exchange.
func deleteWithAMQP(d *amqpDriver, queue, exchange string) error {
	conn, err := dialAMQP(d.r.cfg.URI, d.r.cfg.tlsConf, "breaker")
	if err != nil {
		return err
	}
	defer closeAMQP(conn)
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if queue != "" {
		_, err = ch.QueueDelete(queue, false, false, false)
		return err
	}
	return ch.ExchangeDelete(exchange, false, false)
}

func TestParseAMQPURI(t *testing.T) {
	cases := []struct {
		uri  string
		want amqpAddr
		bad  bool
	}{
		{"amqp://guest:guest@127.0.0.1:5682/", amqpAddr{"127.0.0.1:5682", "guest", "guest", "/", false}, false},
		{"amqp://u:p%40ss@h/", amqpAddr{"h:5672", "u", "p@ss", "/", false}, false},
		{"amqp://h", amqpAddr{"h:5672", "guest", "guest", "/", false}, false},
		{"amqp://h:1/vh", amqpAddr{"h:1", "guest", "guest", "vh", false}, false},
		{"amqp://h/%2f", amqpAddr{"h:5672", "guest", "guest", "/", false}, false},
		{"amqp://u@[::1]:5672/x%2Fy", amqpAddr{"[::1]:5672", "u", "guest", "x/y", false}, false},
		{"amqp:///", amqpAddr{"localhost:5672", "guest", "guest", "/", false}, false},
		{"amqps://h/", amqpAddr{"h:5671", "guest", "guest", "/", true}, false},
		{"amqps://u:p@h:5681/v", amqpAddr{"h:5681", "u", "p", "v", true}, false},
		{"http://h/", amqpAddr{}, true},
	}
	for _, tc := range cases {
		got, err := parseAMQPURI(tc.uri)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%s: %+v, %v; want %+v (error %v)", tc.uri, got, err, tc.want, tc.bad)
		}
	}
}

// TestConfirmsSettle feeds acks and nacks in the orders a broker may send
// them and checks the counts and the window.
func TestConfirmsSettle(t *testing.T) {
	type step struct {
		tag      uint64
		multiple bool
		nack     bool
		bad      bool
	}
	cases := []struct {
		name      string
		sent      uint64
		steps     []step
		done      uint64
		confirmed int64
		nacked    int64
	}{
		{"in order", 4, []step{{tag: 1}, {tag: 2}, {tag: 3}, {tag: 4}}, 4, 4, 0},
		{"multiple", 4, []step{{tag: 3, multiple: true}, {tag: 4, multiple: true}}, 4, 4, 0},
		{"all outstanding", 3, []step{{tag: 0, multiple: true}}, 3, 3, 0},
		{"out of order", 4, []step{{tag: 2}, {tag: 4}, {tag: 1}}, 2, 3, 0},
		{"out of order then multiple", 4, []step{{tag: 3}, {tag: 4, multiple: true}}, 4, 4, 0},
		{"nacks count", 4, []step{{tag: 2, multiple: true, nack: true}, {tag: 3}, {tag: 4, nack: true}}, 4, 4, 3},
		{"twice", 2, []step{{tag: 1}, {tag: 1, bad: true}}, 1, 1, 0},
		{"early twice", 3, []step{{tag: 2}, {tag: 2, bad: true}}, 0, 1, 0},
		{"never published", 2, []step{{tag: 3, bad: true}}, 0, 0, 0},
		{"tag zero", 2, []step{{tag: 0, bad: true}}, 0, 0, 0},
	}
	for _, tc := range cases {
		r := &runner{}
		cf := newConfirms(r, 4)
		for s := uint64(0); s < tc.sent; s++ {
			cf.ring.sent(s, 0)
		}
		cf.sent.Store(tc.sent)
		for _, s := range tc.steps {
			if err := cf.settle(s.tag, s.multiple, s.nack); (err != nil) != s.bad {
				t.Errorf("%s: settle(%d, %v, %v): %v", tc.name, s.tag, s.multiple, s.nack, err)
			}
		}
		if got := cf.done.Load(); got != tc.done {
			t.Errorf("%s: done %d, want %d", tc.name, got, tc.done)
		}
		if got := r.confirmed.Load(); got != tc.confirmed {
			t.Errorf("%s: confirmed %d, want %d", tc.name, got, tc.confirmed)
		}
		if got := r.nacked.Load(); got != tc.nacked {
			t.Errorf("%s: nacked %d, want %d", tc.name, got, tc.nacked)
		}
		if got := cf.ring.rec.total.n; got != uint64(tc.confirmed) {
			t.Errorf("%s: %d confirm latencies, want %d", tc.name, got, tc.confirmed)
		}
	}
}

func TestParseRunClient(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		client string
	}{
		{[]string{"--scenario", "transient-1-1"}, -1, "amqp091"},
		{[]string{"--scenario", "transient-1-1", "--client", "fast"}, -1, "fast"},
		{[]string{"--scenario", "stomp-throughput"}, -1, "go-stomp"},
		{[]string{"--scenario", "stomp-throughput", "--client", "fast"}, -1, "fast"},
		{[]string{"--protocol", "stomp", "--client", "fast", "--count", "1"}, -1, "fast"},
		{[]string{"--protocol", "stomp", "--client", "go-stomp", "--count", "1"}, -1, "go-stomp"},
		{[]string{"--scenario", "transient-1-1", "--client", "go-stomp"}, 2, ""},
		{[]string{"--scenario", "transient-1-1", "--client", "nope"}, 2, ""},
	}
	for _, tc := range cases {
		c, _, _, code := parseRun(tc.args)
		if code != tc.code {
			t.Errorf("%q: exit code %d, want %d", tc.args, code, tc.code)
			continue
		}
		if code < 0 && c.Client != tc.client {
			t.Errorf("%q: client %q, want %q", tc.args, c.Client, tc.client)
		}
	}
}
