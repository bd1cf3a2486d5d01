package main

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// sqsConfig is what an SQS run (--protocol sqs) adds to a config.
type sqsConfig struct {
	SQSEndpoint string `json:"-"`
	SQSKey      string `json:"-"`
	SQSSecret   string `json:"-"`
	SQSRegion   string `json:"-"`
	// FIFO runs on FIFO queues: every message has a MessageGroupId (a
	// producer's batches take its Groups groups in turn) and a
	// MessageDeduplicationId; consumers check the order within groups.
	FIFO   bool `json:"fifo,omitempty"`
	Groups int  `json:"groups,omitempty"`
	// Batch is the entries of each SendMessageBatch (1-10).
	Batch int `json:"batch,omitempty"`
	// SQSWait is ReceiveMessage's WaitTimeSeconds (the long poll).
	SQSWait int `json:"wait_seconds,omitempty"`
	// EmptyBatchAnswer takes a SendMessageBatch answer with neither
	// Successful nor Failed entries as every entry sent: goaws v0.5.4
	// names the JSON list SendMessageBatchResultEntry (the Query
	// protocol's element), which the SDK does not read. The accounting
	// still finds any message that was not stored.
	EmptyBatchAnswer bool `json:"empty_batch_answer,omitempty"`
}

func defaultSQSConfig() sqsConfig {
	return sqsConfig{SQSEndpoint: "http://127.0.0.1:9324", SQSKey: "guest", SQSSecret: "guest", SQSRegion: "us-east-1",
		Groups: 10, Batch: 10, SQSWait: 5}
}

// sqsScenarios are the SQS API's built-in loads (issue 15). They are not
// in 'sluice-perf list' (make bench runs every scenario there against
// RabbitMQ) but in 'sluice-perf list sqs'.
var sqsScenarios = []scenario{
	{"sqs-standard", "SQS: 4 producers of SendMessageBatch (10 x 1 KiB) -> 1 standard queue -> 4 consumers of ReceiveMessage(10, long poll) + DeleteMessageBatch", func(c *config) {
		c.Protocol, c.Producers, c.Consumers = "sqs", 4, 4
	}},
	{"sqs-standard-16", "SQS: as sqs-standard with 16 producers and 16 consumers (enough requests in flight for group commit to fill its fsyncs)", func(c *config) {
		c.Protocol, c.Producers, c.Consumers = "sqs", 16, 16
	}},
	{"sqs-fifo", "SQS: as sqs-standard on a FIFO queue, 10 message groups per producer (a batch is one group), order checked per group", func(c *config) {
		c.Protocol, c.Producers, c.Consumers, c.FIFO = "sqs", 4, 4, true
	}},
}

func listSQSScenarios() string {
	var b strings.Builder
	for _, s := range sqsScenarios {
		fmt.Fprintf(&b, "  %-22s %s\n", s.name, s.about)
	}
	return b.String()
}

// sqsFlags adds the SQS run's flags to fs.
func sqsFlags(fs *flag.FlagSet, c *config) {
	d := defaultSQSConfig()
	fs.StringVar(&c.SQSEndpoint, "sqs-endpoint", d.SQSEndpoint, "SQS runs: the endpoint URL (https:// uses the --tls-* settings)")
	fs.StringVar(&c.SQSKey, "sqs-access-key", d.SQSKey, "SQS runs: access key id")
	fs.StringVar(&c.SQSSecret, "sqs-secret-key", d.SQSSecret, "SQS runs: secret access key")
	fs.StringVar(&c.SQSRegion, "sqs-region", d.SQSRegion, "SQS runs: the region requests are signed for")
	fs.BoolVar(&c.FIFO, "sqs-fifo", false, "SQS runs: FIFO queues (MessageGroupId, MessageDeduplicationId; order checked per group)")
	fs.IntVar(&c.Groups, "sqs-groups", d.Groups, "SQS FIFO runs: message groups per producer")
	fs.IntVar(&c.Batch, "sqs-batch", d.Batch, "SQS runs: entries per SendMessageBatch (1-10)")
	fs.IntVar(&c.SQSWait, "sqs-wait", d.SQSWait, "SQS runs: ReceiveMessage's WaitTimeSeconds (0-20)")
	fs.BoolVar(&c.EmptyBatchAnswer, "sqs-empty-batch-answer", false, "SQS runs: take a SendMessageBatch answer that lists no entry as all sent (goaws v0.5.4's JSON answer names its list wrongly; loss is still counted)")
}

// mergeSQS copies the SQS settings from c into sc: the connection ones
// always, the load ones when set explicitly.
func mergeSQS(sc, c *config, set map[string]bool) {
	sc.SQSEndpoint, sc.SQSKey, sc.SQSSecret, sc.SQSRegion = c.SQSEndpoint, c.SQSKey, c.SQSSecret, c.SQSRegion
	sc.EmptyBatchAnswer = c.EmptyBatchAnswer
	if set["sqs-fifo"] {
		sc.FIFO = c.FIFO
	}
	if set["sqs-groups"] {
		sc.Groups = c.Groups
	}
	if set["sqs-batch"] {
		sc.Batch = c.Batch
	}
	if set["sqs-wait"] {
		sc.SQSWait = c.SQSWait
	}
}

// validateSQS checks an SQS run.
func (c *config) validateSQS() error {
	var errs []string
	switch c.Client {
	case "", "amqp091", "aws-sdk-go-v2":
		// amqp091 is the flag's default: an SQS run's client is the SDK
		// unless it asks for the fast one.
		c.Client = "aws-sdk-go-v2"
	case "fast":
	default:
		errs = append(errs, "an SQS run's client is aws-sdk-go-v2 or fast")
	}
	if c.IdleConns != 0 || c.Handshake {
		errs = append(errs, "the SQS mode has no idle-connection or handshake run")
	}
	if c.Producers < 1 || c.Producers > 65535 {
		errs = append(errs, "--producers must be 1..65535")
	}
	if c.Consumers < 1 {
		errs = append(errs, "--consumers must be >= 1")
	}
	if c.Queues < 1 || c.Queues > c.Producers {
		errs = append(errs, "--queues must be 1..producers (each producer's batches go to one queue)")
	}
	if c.Size < sqsBodyHeaderLen || c.Size > sqsMaxBody {
		errs = append(errs, fmt.Sprintf("--size must be %d..%d for an SQS run (the header as hex; 256 KiB)", sqsBodyHeaderLen, sqsMaxBody))
	}
	if c.Batch < 1 || c.Batch > 10 {
		errs = append(errs, "--sqs-batch must be 1..10")
	}
	if c.Groups < 1 {
		errs = append(errs, "--sqs-groups must be >= 1")
	}
	if c.SQSWait < 0 || c.SQSWait > 20 {
		errs = append(errs, "--sqs-wait must be 0..20")
	}
	if c.Count <= 0 && c.Duration <= 0 {
		errs = append(errs, "give --duration or --count")
	}
	if c.Backlog && c.Count <= 0 {
		errs = append(errs, "a backlog run needs --count")
	}
	if c.Routing != "direct" {
		errs = append(errs, "SQS runs use direct routing (a queue per producer)")
	}
	if c.AutoAck || c.Rate < 0 {
		errs = append(errs, "SQS runs delete what they receive (no --autoack); --rate must be >= 0")
	}
	if !strings.HasPrefix(c.SQSEndpoint, "http://") && !strings.HasPrefix(c.SQSEndpoint, "https://") {
		errs = append(errs, "--sqs-endpoint must be an http:// or https:// URL")
	}
	if strings.HasPrefix(c.SQSEndpoint, "https://") {
		c.TLS = true
		tc, err := c.TLSOpts.clientConfig()
		if err != nil {
			errs = append(errs, err.Error())
		}
		c.tlsConf = tc
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	// Every SQS message is sent once and deleted after its receive;
	// sluice stores it before answering (durable), an in-memory
	// emulator does not: the report names the broker.
	c.Persistent, c.MultiAck = true, 1
	if c.DrainTimeout < time.Duration(c.SQSWait+5)*time.Second {
		c.DrainTimeout = time.Duration(c.SQSWait+5) * time.Second
	}
	return nil
}

// sqsLoad describes an SQS run's load for the report.
func sqsLoad(c config) string {
	kind := "standard"
	if c.FIFO {
		kind = fmt.Sprintf("FIFO (%d groups per producer)", c.Groups)
	}
	return fmt.Sprintf("%s queue(s); SendMessageBatch of %d; ReceiveMessage(10, WaitTimeSeconds %d) + DeleteMessageBatch; %s",
		kind, c.Batch, c.SQSWait, c.SQSEndpoint)
}
