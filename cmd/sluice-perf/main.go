// Command sluice-perf is a load generator for AMQP 0-9-1 and STOMP brokers in
// the spirit of RabbitMQ's PerfTest. It runs the same load against sluice or
// RabbitMQ and reports throughput, end-to-end latency and the broker's
// memory, and it refuses to report a number for a run that lost, duplicated
// or left undelivered any message. An amqps:// URI (or --stomp-tls) runs
// the load over TLS; --handshake measures new connections per second.
//
//	sluice-perf [run] --scenario NAME | custom flags   one run
//	sluice-perf list                                   the built-in scenarios
//	sluice-perf fsync [--dir DIR] [--duration 2s]      4 KiB write + fdatasync rate
//	sluice-perf loopback [--size 1024] [--duration 2s] loopback TCP throughput
//	sluice-perf summarize --out FILE.md RESULT.json... medians and ratios
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
)

func main() { os.Exit(mainErr(os.Args[1:])) }

func mainErr(args []string) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "run":
		return cmdRun(ctx, args)
	case "list":
		if len(args) > 0 && args[0] == "sqs" {
			fmt.Print("SQS scenarios (sluice-perf --scenario NAME --sqs-endpoint URL; flags override):\n" + listSQSScenarios())
			return 0
		}
		fmt.Print("Scenarios (sluice-perf --scenario NAME; flags override):\n" + listScenarios())
		return 0
	case "fsync":
		err = cmdFsync(args)
	case "loopback":
		err = cmdLoopback(args)
	case "summarize":
		err = cmdSummarize(args)
	case "help", "-h", "--help":
		usage()
		return 0
	default:
		fmt.Fprintf(os.Stderr, "sluice-perf: unknown command %q\n", cmd)
		usage()
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice-perf:", err)
		return 1
	}
	return 0
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  sluice-perf [run] [--scenario NAME] [flags]   one run; exit 1 when a message was lost
  sluice-perf list [sqs]                        the built-in scenarios (sqs: the SQS API's)
  sluice-perf fsync [--dir DIR] [--duration 2s] [--size 4096]
  sluice-perf loopback [--size 1024] [--duration 2s]
  sluice-perf summarize --out FILE.md RESULT.json...
'sluice-perf run --help' lists the run flags.
`)
}

func cmdRun(ctx context.Context, args []string) int {
	c, jsonPath, quiet, code := parseRun(args)
	if code >= 0 {
		return code
	}
	var progress *os.File
	if !quiet {
		progress = os.Stderr
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sluice-perf:", err)
			return 2
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	var rep *report
	if progress != nil {
		rep = execute(ctx, c, progressWriter(progress))
	} else {
		rep = execute(ctx, c, nil)
	}
	rep.finish()
	rep.print(os.Stdout)
	if jsonPath != "" {
		if err := writeJSON(jsonPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "sluice-perf:", err)
			return 1
		}
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// parseRun reads the run flags into a validated config. code is the exit
// code when the command should stop here (help, a bad flag), else -1.
func parseRun(args []string) (c config, jsonPath string, quiet bool, code int) {
	fs := flag.NewFlagSet("sluice-perf run", flag.ContinueOnError)
	d := defaultConfig()
	c = d
	var scen string
	fs.StringVar(&scen, "scenario", "", "built-in scenario (see 'sluice-perf list'); other flags override its settings")
	fs.StringVar(&c.Label, "label", "", "name of the broker under test, for reports (e.g. sluice, rabbitmq)")
	fs.StringVar(&c.Protocol, "protocol", d.Protocol, "amqp, stomp or sqs (the SQS API with aws-sdk-go-v2: the --sqs-* flags)")
	sqsFlags(fs, &c)
	fs.StringVar(&c.Client, "client", d.Client, "client of producers and consumers: amqp091 (amqp091-go; with --protocol stomp: go-stomp) or fast (sluice-perf's own on the broker's codecs, batching writes and reads; queue setup still uses amqp091-go); with --protocol sqs: aws-sdk-go-v2 or fast (its own SigV4-signed JSON client, one connection each)")
	fs.StringVar(&c.URI, "uri", d.URI, "AMQP URI, amqps:// for TLS (also used to declare and delete the queues of STOMP runs; empty for a STOMP run: --no-amqp-setup)")
	fs.BoolVar(&c.NoAMQPSetup, "no-amqp-setup", false, "STOMP runs: use no AMQP; the broker creates /queue destinations on first use, and the queues get run-unique names (for brokers without AMQP, e.g. ActiveMQ)")
	fs.StringVar(&c.StompAddr, "stomp-addr", d.StompAddr, "STOMP host:port")
	fs.BoolVar(&c.StompTLS, "stomp-tls", false, "STOMP over TLS (with the --tls-* settings); AMQP uses TLS when --uri is amqps://")
	fs.StringVar(&c.TLSOpts.CAFile, "tls-ca", "", "TLS: PEM file of the CAs that sign the broker's certificate (default: the system's roots)")
	fs.StringVar(&c.TLSOpts.CertFile, "tls-cert", "", "TLS: PEM client certificate, presented when the broker asks for one (with --tls-key)")
	fs.StringVar(&c.TLSOpts.KeyFile, "tls-key", "", "TLS: PEM private key of --tls-cert")
	fs.StringVar(&c.TLSOpts.ServerName, "tls-server-name", "", "TLS: the name the broker's certificate must carry (default: the host of --uri or --stomp-addr)")
	fs.BoolVar(&c.TLSOpts.InsecureSkipVerify, "tls-insecure-skip-verify", false, "TLS: accept ANY broker certificate, unverified. For benchmarks on a private machine only, never against a broker you do not run")
	fs.BoolVar(&c.TLSOpts.Resume, "tls-resume", false, "TLS: keep a client session cache, so that new connections may resume a session (default: every handshake is a full one)")
	fs.BoolVar(&c.Handshake, "handshake", false, "measure new connections per second: --dialers each connect (TLS too with amqps:// or --stomp-tls), open the vhost (STOMP: CONNECTED), close, again")
	fs.IntVar(&c.Dialers, "dialers", 0, fmt.Sprintf("concurrent dialers of a --handshake run (0: %d)", defaultDialers))
	fs.DurationVar(&c.Duration, "duration", d.Duration, "how long producers publish (unless --count)")
	fs.Int64Var(&c.Count, "count", 0, "publish this many messages in all, then stop (0: use --duration)")
	fs.IntVar(&c.Size, "size", d.Size, "message body size in bytes (at least 16)")
	fs.IntVar(&c.Producers, "producers", d.Producers, "producers, one connection each")
	fs.IntVar(&c.Consumers, "consumers", d.Consumers, "consumers, one connection each")
	fs.IntVar(&c.Queues, "queues", d.Queues, "queues")
	fs.StringVar(&c.Routing, "routing", d.Routing, "direct (default exchange), topic or fanout")
	fs.BoolVar(&c.Persistent, "persistent", false, "persistent messages (delivery-mode 2, STOMP persistent:true) to durable queues")
	fs.IntVar(&c.Confirm, "confirm", 0, "publisher confirms with this window per producer (STOMP: SENDs awaiting a RECEIPT); 0: none")
	fs.IntVar(&c.Prefetch, "prefetch", d.Prefetch, "consumer prefetch (basic.qos / STOMP prefetch-count)")
	fs.IntVar(&c.MultiAck, "multi-ack", d.MultiAck, "AMQP: ack every N deliveries with multiple=true (1: each); STOMP always acks each")
	fs.BoolVar(&c.AutoAck, "autoack", false, "consume without acknowledgements")
	fs.Float64Var(&c.Rate, "rate", 0, "total publish rate in msg/s over all producers (0: unbounded)")
	fs.BoolVar(&c.Backlog, "backlog", false, "publish --count messages with no consumer, then drain them")
	fs.IntVar(&c.IdleConns, "idle-conns", 0, "open this many idle connections and report the broker's RSS per connection (needs --pid)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", d.DrainTimeout, "after publishing stops, how long consumers may receive nothing before the rest counts as lost")
	fs.DurationVar(&c.Warmup, "warmup", d.Warmup, "messages sent in the first WARMUP are left out of latency percentiles")
	fs.IntVar(&c.PID, "pid", 0, "broker process id: report its RSS (VmRSS/VmHWM) and CPU")
	fs.StringVar(&c.Prefix, "queue-prefix", d.Prefix, "queue and exchange name prefix")
	fs.StringVar(&jsonPath, "json", "", "write the report as JSON to this file")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of sluice-perf itself to this file (to see what a client costs)")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, "", false, 0
		}
		return c, "", false, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sluice-perf: unexpected arguments %q\n", fs.Args())
		return c, "", false, 2
	}
	if scen != "" {
		s, ok := findScenario(scen)
		if !ok {
			fmt.Fprintf(os.Stderr, "sluice-perf: no scenario %q; there are: %s\n", scen, strings.Join(scenarioNames(), ", "))
			return c, "", false, 2
		}
		// Start from the scenario and apply the flags given explicitly.
		sc := defaultConfig()
		s.apply(&sc)
		sc.Scenario = s.name
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		merge(&sc, &c, set)
		c = sc
	} else {
		c.Scenario = "custom"
		if c.Handshake {
			c.Scenario = "custom-handshake"
		}
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-perf:", err)
		return c, "", false, 2
	}
	return c, jsonPath, quiet, -1
}

// merge copies the explicitly set flags from c into sc.
func merge(sc, c *config, set map[string]bool) {
	sc.Label, sc.URI, sc.StompAddr, sc.PID = c.Label, c.URI, c.StompAddr, c.PID
	sc.NoAMQPSetup = c.NoAMQPSetup
	sc.StompTLS, sc.TLSOpts = c.StompTLS, c.TLSOpts
	sc.CPUProfile = c.CPUProfile
	mergeSQS(sc, c, set)
	m := map[string]func(){
		"protocol":      func() { sc.Protocol = c.Protocol },
		"client":        func() { sc.Client = c.Client },
		"duration":      func() { sc.Duration = c.Duration },
		"count":         func() { sc.Count = c.Count },
		"size":          func() { sc.Size = c.Size },
		"producers":     func() { sc.Producers = c.Producers },
		"consumers":     func() { sc.Consumers = c.Consumers },
		"queues":        func() { sc.Queues = c.Queues },
		"routing":       func() { sc.Routing = c.Routing },
		"persistent":    func() { sc.Persistent = c.Persistent },
		"confirm":       func() { sc.Confirm = c.Confirm },
		"prefetch":      func() { sc.Prefetch = c.Prefetch },
		"multi-ack":     func() { sc.MultiAck = c.MultiAck },
		"autoack":       func() { sc.AutoAck = c.AutoAck },
		"rate":          func() { sc.Rate = c.Rate },
		"backlog":       func() { sc.Backlog = c.Backlog },
		"idle-conns":    func() { sc.IdleConns = c.IdleConns },
		"drain-timeout": func() { sc.DrainTimeout = c.DrainTimeout },
		"warmup":        func() { sc.Warmup = c.Warmup },
		"queue-prefix":  func() { sc.Prefix = c.Prefix },
		"handshake":     func() { sc.Handshake = c.Handshake },
		"dialers":       func() { sc.Dialers = c.Dialers },
	}
	for name, f := range m {
		if set[name] {
			f()
		}
	}
}

// progressWriter writes progress lines; on a terminal each overwrites the
// last.
func progressWriter(f *os.File) *lineWriter {
	return &lineWriter{f: f, tty: isatty.IsTerminal(f.Fd())}
}

type lineWriter struct {
	f   *os.File
	tty bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.tty {
		s := strings.TrimRight(string(p), "\n")
		_, err := fmt.Fprintf(w.f, "\r\033[K%s", s)
		return len(p), err
	}
	return w.f.Write(p)
}
