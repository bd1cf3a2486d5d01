package main

import (
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/brokertest"
)

func TestSQSBodyHeader(t *testing.T) {
	body := []byte(strings.Repeat("x", 64))
	sqsBody(body, 513, 1<<40+7, 123456789)
	h, ok := sqsHeader(string(body))
	if !ok {
		t.Fatalf("header of %q not read", body)
	}
	p, seq, ts, err := decodeHeader(h)
	if err != nil || p != 513 || seq != 1<<40+7 || ts != 123456789 {
		t.Fatalf("decoded %d %d %d %v", p, seq, ts, err)
	}
	if _, ok := sqsHeader("zz" + string(body[2:])); ok {
		t.Fatal("a body that is not ours was read")
	}
	if _, ok := sqsHeader("abc"); ok {
		t.Fatal("a short body was read")
	}
}

func TestSQSValidate(t *testing.T) {
	c := defaultConfig()
	s, _ := findScenario("sqs-standard")
	s.apply(&c)
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Client != "aws-sdk-go-v2" || !c.Persistent {
		t.Fatalf("validated: %+v", c)
	}
	for _, bad := range []func(*config){
		func(c *config) { c.Batch = 11 },
		func(c *config) { c.Size = 8 },
		func(c *config) { c.Queues = c.Producers + 1 },
		func(c *config) { c.SQSEndpoint = "127.0.0.1:9324" },
		func(c *config) { c.SQSWait = 21 },
		func(c *config) { c.Client = "go-stomp" },
	} {
		c := defaultConfig()
		s.apply(&c)
		bad(&c)
		if err := c.validate(); err == nil {
			t.Fatalf("accepted %+v", c.sqsConfig)
		}
	}
	if strings.Contains(listScenarios(), "sqs-") || !strings.Contains(listSQSScenarios(), "sqs-fifo") {
		t.Fatal("the SQS scenarios are listed with the others (make bench would run them against RabbitMQ)")
	}
}

// TestSQSScenariosAgainstSluice runs tiny SQS loads, standard and FIFO,
// against a real sluice: everything accounted for, FIFO order held.
func TestSQSScenariosAgainstSluice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.New(t)
	for _, run := range []struct{ name, client string }{
		{"sqs-standard", "aws-sdk-go-v2"}, {"sqs-fifo", "aws-sdk-go-v2"},
		{"sqs-standard", "fast"}, {"sqs-fifo", "fast"},
	} {
		name := run.name
		t.Run(name+"/"+run.client, func(t *testing.T) {
			cfg := tinyRun(t, b, name, "")
			cfg.Client = run.client
			cfg.SQSEndpoint, cfg.SQSWait = b.SQSURL(), 1
			cfg.Producers, cfg.Consumers, cfg.Queues, cfg.Groups = 3, 2, 2, 2
			rep := runAccounted(t, &cfg, 300)
			if rep.Confirmed != 300 || rep.ConfirmLatency == nil {
				t.Fatalf("confirmed %d, latency %v", rep.Confirmed, rep.ConfirmLatency)
			}
		})
	}
}
