package main

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
	"time"
)

// config is one run's load.
type config struct {
	Scenario string `json:"scenario"`
	Label    string `json:"label,omitempty"`
	Protocol string `json:"protocol"` // amqp or stomp
	// Client is the producers' and consumers' client: amqp091 (amqpDriver)
	// or fast (fastDriver) for AMQP, go-stomp (stompDriver) or fast
	// (fastStompDriver) for STOMP. Reports of older STOMP runs have "".
	Client    string        `json:"client,omitempty"`
	URI       string        `json:"-"`
	StompAddr string        `json:"-"`
	Duration  time.Duration `json:"duration_ns"`
	Count     int64         `json:"count"` // total messages to publish; 0: run for Duration
	Size      int           `json:"size"`
	Producers int           `json:"producers"`
	Consumers int           `json:"consumers"`
	Queues    int           `json:"queues"`
	Routing   string        `json:"routing"` // direct, topic or fanout
	// Persistent publishes with delivery-mode 2 (STOMP persistent:true) to
	// durable queues.
	Persistent bool `json:"persistent"`
	// Confirm is the publisher-confirm window per producer (STOMP: SEND
	// frames awaiting their RECEIPT); 0 publishes without confirms.
	Confirm  int  `json:"confirm"`
	Prefetch int  `json:"prefetch"`
	MultiAck int  `json:"multi_ack"` // ack every N deliveries with multiple=true; 1: each
	AutoAck  bool `json:"auto_ack"`
	// Rate is the total publish rate over all producers in msg/s; 0 is
	// unbounded.
	Rate float64 `json:"rate"`
	// Backlog publishes everything first, with no consumer, then drains.
	Backlog bool `json:"backlog"`
	// IdleConns opens this many connections that do nothing and measures the
	// broker's RSS per connection; no messages flow.
	IdleConns int `json:"idle_conns"`
	// IdleSettle is how long the broker gets to settle before and after
	// the idle connections open, before its RSS is read.
	IdleSettle time.Duration `json:"idle_settle_ns"`
	// DrainTimeout is how long consumers may go without receiving anything,
	// after the publishers stop, before the missing messages count as lost.
	DrainTimeout time.Duration `json:"drain_timeout_ns"`
	// Warmup leaves messages sent in the first Warmup out of the latency
	// percentiles (they still count for loss and throughput).
	Warmup time.Duration `json:"warmup_ns"`
	PID    int           `json:"pid,omitempty"`
	Prefix string        `json:"queue_prefix"`
	// CPUProfile is a file for a CPU profile of the load generator itself.
	CPUProfile string `json:"-"`
	// NoAMQPSetup runs a STOMP load without AMQP: no queue is declared,
	// purged or deleted, the broker creates each /queue destination on the
	// first SUBSCRIBE or SEND (ActiveMQ, RabbitMQ's plugin and sluice all
	// do), and the run's queues get a name of their own (Prefix plus a
	// run-unique suffix) so that nothing left in a queue by an earlier run
	// can be counted. Set by --no-amqp-setup or an empty --uri.
	NoAMQPSetup bool `json:"no_amqp_setup,omitempty"`
	Quiet       bool `json:"-"`

	// StompTLS makes the STOMP connections TLS (AMQP's are when URI is
	// amqps://), with TLSOpts.
	StompTLS bool       `json:"stomp_tls,omitempty"`
	TLSOpts  tlsOptions `json:"tls_options"`
	// TLS is set by validate: the run's producers and consumers (or, in
	// a handshake run, its dialers) connect over TLS.
	TLS bool `json:"tls,omitempty"`
	// tlsConf is what every TLS connection of the run uses; nil when
	// none is TLS. Built by validate from TLSOpts.
	tlsConf *tls.Config

	// Handshake measures new connections per second instead of moving
	// messages: Dialers goroutines each connect (TCP, TLS when the run
	// is, the protocol's handshake up to connection.open-ok or
	// CONNECTED), close, and connect again, for Duration or until Count
	// connections in all.
	Handshake bool `json:"handshake,omitempty"`
	Dialers   int  `json:"dialers,omitempty"`

	sqsConfig
}

func defaultConfig() config {
	return config{
		Protocol:     "amqp",
		Client:       "amqp091",
		URI:          "amqp://guest:guest@127.0.0.1:5672/",
		StompAddr:    "127.0.0.1:61613",
		Duration:     10 * time.Second,
		Size:         1024,
		Producers:    1,
		Consumers:    1,
		Queues:       1,
		Routing:      "direct",
		Prefetch:     1000,
		MultiAck:     100,
		DrainTimeout: 15 * time.Second,
		Warmup:       time.Second,
		Prefix:       "sluice-perf",
		IdleSettle:   3 * time.Second,
		sqsConfig:    defaultSQSConfig(),
	}
}

// defaultDialers is a handshake run's concurrent dialers unless
// --dialers says otherwise.
const defaultDialers = 4

type scenario struct {
	name  string
	about string
	apply func(*config)
}

// scenarios are the built-in loads of issue 7. Flags given on the command
// line override a scenario's settings.
var scenarios = []scenario{
	// The idle-connection scenarios come first: right after a broker starts,
	// its RSS baseline is not still shrinking from an earlier load.
	{"idle-amqp-2000", "2,000 idle AMQP connections (one channel each): broker RSS per connection", func(c *config) {
		c.IdleConns = 2000
	}},
	{"idle-stomp-2000", "2,000 idle STOMP sessions: broker RSS per connection", func(c *config) {
		c.Protocol, c.IdleConns = "stomp", 2000
	}},
	{"transient-1-1", "1 producer -> 1 queue -> 1 consumer, 1 KiB transient, unbounded rate", func(c *config) {}},
	{"transient-16b", "as transient-1-1 with 16-byte bodies", func(c *config) { c.Size = 16 }},
	// Window 256: the setting of the reference figure for RabbitMQ
	// (~14k msg/s). With one publisher the window bounds the rate (window /
	// confirm latency), so it is part of the scenario's definition.
	{"persistent-confirm-1", "1 producer, persistent 1 KiB to a durable queue, confirms (window 256), 1 consumer", func(c *config) {
		c.Persistent, c.Confirm = true, 256
	}},
	{"persistent-confirm-16", "16 producers, persistent 1 KiB, confirms (window 100 each), 1 queue, 1 consumer", func(c *config) {
		c.Persistent, c.Confirm, c.Producers = true, 100, 16
	}},
	{"latency-5k", "1 -> 1 transient 1 KiB at 5,000 msg/s: latency", func(c *config) {
		c.Rate, c.MultiAck = 5000, 10
	}},
	{"fanout-1-10", "1 producer -> fanout exchange -> 10 queues -> 10 consumers, 1 KiB transient", func(c *config) {
		c.Routing, c.Queues, c.Consumers = "fanout", 10, 10
	}},
	{"queues-200", "200 queues, 200 producers and 200 consumers, 10 msg/s each (2,000 msg/s in all), 1 KiB transient", func(c *config) {
		c.Queues, c.Producers, c.Consumers, c.Rate, c.MultiAck = 200, 200, 200, 2000, 1
	}},
	{"backlog", "publish 1,000,000 persistent 1 KiB messages (2 producers, confirm window 500) with no consumer, then drain them", func(c *config) {
		c.Backlog, c.Persistent, c.Confirm, c.Producers, c.Count = true, true, 500, 2, 1_000_000
		c.DrainTimeout = 30 * time.Second
	}},
	// New connections per second; with an amqps:// URI each is a full TLS
	// handshake (no session resumption unless --tls-resume).
	{"handshake-amqp", "new AMQP connections per second: 4 dialers, each connecting, opening vhost / (connection.open-ok) and closing, in a loop", func(c *config) {
		c.Handshake = true
	}},
	{"stomp-throughput", "STOMP 1 -> 1: persistent SEND with a receipt each (64 in flight), client-individual acks, prefetch 1000", func(c *config) {
		c.Protocol, c.Persistent, c.Confirm = "stomp", true, 64
	}},
	{"stomp-latency", "STOMP 1 -> 1 at 5,000 msg/s: persistent SEND with a receipt each, client-individual acks", func(c *config) {
		c.Protocol, c.Persistent, c.Confirm, c.Rate = "stomp", true, 64, 5000
	}},
}

func findScenario(name string) (scenario, bool) {
	for _, s := range append(scenarios[:len(scenarios):len(scenarios)], sqsScenarios...) {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

func scenarioNames() []string {
	var ns []string
	for _, s := range scenarios {
		ns = append(ns, s.name)
	}
	return ns
}

func (c *config) validate() error {
	var errs []string
	if c.Protocol == "sqs" {
		return c.validateSQS()
	}
	if c.Protocol != "amqp" && c.Protocol != "stomp" {
		errs = append(errs, "protocol must be amqp, stomp or sqs")
	}
	// amqp091 is the flag's default, so a STOMP run that gives no --client
	// has it too: there it means go-stomp.
	switch c.Client {
	case "", "amqp091", "go-stomp":
		if c.Client == "go-stomp" && c.Protocol != "stomp" {
			errs = append(errs, "--client go-stomp is a STOMP client; an AMQP run uses amqp091 or fast")
		}
		c.Client = "amqp091"
		if c.Protocol == "stomp" {
			c.Client = "go-stomp"
		}
	case "fast":
	default:
		errs = append(errs, "--client must be amqp091 or fast (AMQP), go-stomp or fast (STOMP)")
	}
	if c.Protocol == "stomp" && c.URI == "" {
		c.NoAMQPSetup = true
	}
	if c.Protocol == "amqp" && (c.NoAMQPSetup || c.URI == "") {
		errs = append(errs, "an AMQP run needs --uri (--no-amqp-setup and an empty --uri are for STOMP runs)")
	}
	if c.IdleConns < 0 {
		errs = append(errs, "--idle-conns must be >= 0")
	}
	if c.Handshake {
		if c.Dialers == 0 {
			c.Dialers = defaultDialers
		}
		if c.Dialers < 1 {
			errs = append(errs, "--dialers must be >= 1")
		}
		if c.Count <= 0 && c.Duration <= 0 {
			errs = append(errs, "give --duration or --count")
		}
		if c.IdleConns > 0 {
			errs = append(errs, "--handshake and --idle-conns are different runs")
		}
	}
	c.TLS = c.usesTLS()
	if c.TLS || c.StompTLS || isAMQPS(c.URI) {
		tc, err := c.TLSOpts.clientConfig()
		if err != nil {
			errs = append(errs, err.Error())
		}
		c.tlsConf = tc
	}
	if c.IdleConns == 0 && !c.Handshake {
		if c.Producers < 1 || c.Producers > 65535 {
			errs = append(errs, "--producers must be 1..65535")
		}
		if c.Consumers < 1 {
			errs = append(errs, "--consumers must be >= 1")
		}
		if c.Queues < 1 {
			errs = append(errs, "--queues must be >= 1")
		}
		if c.Size < bodyHeaderLen {
			errs = append(errs, fmt.Sprintf("--size must be at least %d (the header with producer, sequence and timestamp)", bodyHeaderLen))
		}
		if c.Count <= 0 && c.Duration <= 0 {
			errs = append(errs, "give --duration or --count")
		}
		if c.Backlog && c.Count <= 0 {
			errs = append(errs, "a backlog run needs --count")
		}
		if c.Confirm < 0 || c.Prefetch < 0 || c.MultiAck < 0 || c.Rate < 0 {
			errs = append(errs, "--confirm, --prefetch, --multi-ack and --rate must be >= 0")
		}
		switch c.Routing {
		case "direct", "topic", "fanout":
		default:
			errs = append(errs, "--routing must be direct, topic or fanout")
		}
		if c.Protocol == "stomp" && c.Routing != "direct" {
			errs = append(errs, "STOMP runs use direct routing (/queue destinations)")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if c.MultiAck == 0 {
		c.MultiAck = 1
	}
	return nil
}

func listScenarios() string {
	var b strings.Builder
	ss := append([]scenario(nil), scenarios...)
	sort.SliceStable(ss, func(i, j int) bool { return false })
	for _, s := range ss {
		fmt.Fprintf(&b, "  %-22s %s\n", s.name, s.about)
	}
	return b.String()
}
