package server

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/sluice-mq/sluice/storage/wal"
	tlsconfig "github.com/sluice-mq/sluice/tls"
	"gopkg.in/yaml.v3"
)

// Config is every setting of the server. Each field has a yaml key (for
// --config), a flag and an environment variable SLUICE_<FLAG> with dashes
// as underscores. Precedence: defaults < config file < environment < flags.
// A setting that counts bytes is a ByteSize (MemorySize for memory-limit),
// so that all three sources take the same units.
type Config struct {
	DataDir   string `yaml:"data_dir" flag:"data-dir" help:"directory for all data the broker writes"`
	AMQPAddr  string `yaml:"amqp_addr" flag:"amqp-addr" help:"AMQP 0-9-1 listen address (empty: off)"`
	STOMPAddr string `yaml:"stomp_addr" flag:"stomp-addr" help:"STOMP listen address (empty: off)"`
	HTTPAddr  string `yaml:"http_addr" flag:"http-addr" help:"HTTP listen address for health and STOMP over WebSocket at /ws (empty: off)"`
	// WebSTOMPAddr is RabbitMQ's Web STOMP port; /ws is also on HTTPAddr.
	WebSTOMPAddr string `yaml:"web_stomp_addr" flag:"web-stomp-addr" help:"STOMP over WebSocket at /ws on a listener of its own, RabbitMQ's Web STOMP port (also served at /ws on the HTTP listener) (empty: off)"`
	// PrometheusAddr is RabbitMQ's Prometheus port; /metrics is also on HTTPAddr.
	PrometheusAddr string `yaml:"prometheus_addr" flag:"prometheus-addr" help:"Prometheus metrics (/metrics, /metrics/per-object, /metrics/detailed) on a listener of their own, rabbitmq_prometheus's port (also served on the HTTP listener) (empty: off)"`
	SQSAddr        string `yaml:"sqs_addr" flag:"sqs-addr" help:"SQS API listen address: AWS JSON 1.0 and Query protocols, SigV4 with users' access keys (empty: off; docs/SQS.md)"`
	SQSRegion      string `yaml:"sqs_region" flag:"sqs-region" help:"region named in SQS queue ARNs (requests signed for any region are accepted)"`

	// TLS listeners are on only when tls-cert is set (docs/SECURITY.md).
	AMQPSAddr           string `yaml:"amqps_addr" flag:"amqps-addr" help:"AMQP 0-9-1 over TLS listen address, on when tls-cert is set (empty: off)"`
	STOMPSAddr          string `yaml:"stomps_addr" flag:"stomps-addr" help:"STOMP over TLS listen address, on when tls-cert is set (empty: off)"`
	SQSSAddr            string `yaml:"sqss_addr" flag:"sqss-addr" help:"SQS API over HTTPS listen address, on when tls-cert is set (empty: off)"`
	WebSTOMPSAddr       string `yaml:"web_stomps_addr" flag:"web-stomps-addr" help:"STOMP over secure WebSocket at /ws on a listener of its own (RabbitMQ's Web STOMP TLS port), on when tls-cert is set (empty: off)"`
	PrometheusTLSAddr   string `yaml:"prometheus_tls_addr" flag:"prometheus-tls-addr" help:"Prometheus metrics over HTTPS on a listener of their own (rabbitmq_prometheus's TLS port), on when tls-cert is set (empty: off)"`
	HTTPSAddr           string `yaml:"https_addr" flag:"https-addr" help:"HTTPS listen address (the HTTP listener's API and STOMP over secure WebSocket at /ws), on when tls-cert is set (empty: off)"`
	TLSCert             string `yaml:"tls_cert" flag:"tls-cert" help:"PEM certificate (chain) the TLS listeners present; reloaded with tls-key on SIGHUP"`
	TLSKey              string `yaml:"tls_key" flag:"tls-key" help:"PEM private key of tls-cert"`
	TLSCA               string `yaml:"tls_ca" flag:"tls-ca" help:"PEM file of the CAs that sign client certificates (needed when tls-client-auth is request or require)"`
	TLSClientAuth       string `yaml:"tls_client_auth" flag:"tls-client-auth" help:"client certificates on TLS listeners: none, request (verified when given) or require; with request or require AMQP offers SASL EXTERNAL and STOMP logs in by certificate"`
	TLSCertLoginFrom    string `yaml:"tls_cert_login_from" flag:"tls-cert-login-from" help:"which part of a client certificate names its user (SASL EXTERNAL, STOMP): common_name, distinguished_name or subject_alternative_name, as RabbitMQ's ssl_cert_login_from"`
	TLSCertLoginSANType string `yaml:"tls_cert_login_san_type" flag:"tls-cert-login-san-type" help:"with tls-cert-login-from subject_alternative_name, the kind of name whose first entry is taken: dns, email, ip or uri"`

	LogLevel  string `yaml:"log_level" flag:"log-level" help:"log level: debug, info, warn, error"`
	LogFormat string `yaml:"log_format" flag:"log-format" help:"log format: auto (console on a terminal, JSON otherwise), console or json"`

	MaxMessageSize        ByteSize      `yaml:"max_message_size" flag:"max-message-size" help:"largest message body"`
	MaxConnections        int           `yaml:"max_connections" flag:"max-connections" help:"connections in total (0: no limit)"`
	MaxConnectionsPerUser int           `yaml:"max_connections_per_user" flag:"max-connections-per-user" help:"connections per user (0: no limit)"`
	ChannelMax            int           `yaml:"channel_max" flag:"channel-max" help:"AMQP channels per connection"`
	FrameMax              ByteSize      `yaml:"frame_max" flag:"frame-max" help:"largest AMQP frame"`
	Heartbeat             time.Duration `yaml:"heartbeat" flag:"heartbeat" help:"heartbeat interval offered to clients (0s: off)"`
	ConsumersPerChannel   int           `yaml:"consumers_per_channel" flag:"consumers-per-channel" help:"consumers on one channel or STOMP session (0: no limit)"`
	HandshakeTimeout      time.Duration `yaml:"handshake_timeout" flag:"handshake-timeout" help:"time a new connection has to authenticate"`
	OutputHighWater       ByteSize      `yaml:"output_high_water" flag:"output-high-water" help:"deliveries queued for a slow client before it gets no more"`
	MaxQueues             int           `yaml:"max_queues" flag:"max-queues" help:"queues per vhost (0: no limit)"`
	MaxDedupCacheSize     int64         `yaml:"max_dedup_ids" flag:"max-dedup-ids" help:"largest x-cache-size a queue or de-duplication exchange may ask for (de-duplication ids remembered)"`

	TxMaxOperations int      `yaml:"tx_max_operations" flag:"tx-max-operations" help:"publishes, acks and nacks one AMQP transaction holds until tx.commit; past it the channel closes with 406 (STOMP's transactions are bounded by tx-max-bytes and stomp-max-transactions)"`
	TxMaxBytes      ByteSize `yaml:"tx_max_bytes" flag:"tx-max-bytes" help:"message bytes, bodies and headers, one transaction holds until AMQP's tx.commit or STOMP's COMMIT (never less than max-message-size); past it AMQP closes the channel with 406, STOMP refuses the SEND with an ERROR"`

	STOMPMaxFrameSize     ByteSize `yaml:"stomp_max_frame_size" flag:"stomp-max-frame-size" help:"largest STOMP frame"`
	STOMPMaxHeaders       int      `yaml:"stomp_max_headers" flag:"stomp-max-headers" help:"headers in one STOMP frame"`
	STOMPMaxHeaderLine    ByteSize `yaml:"stomp_max_header_line" flag:"stomp-max-header-line" help:"longest STOMP header line"`
	STOMPMaxSubscriptions int      `yaml:"stomp_max_subscriptions" flag:"stomp-max-subscriptions" help:"subscriptions per STOMP session"`
	STOMPMaxTransactions  int      `yaml:"stomp_max_transactions" flag:"stomp-max-transactions" help:"open transactions per STOMP session"`
	STOMPTrailingLF       bool     `yaml:"stomp_trailing_lf" flag:"stomp-trailing-lf" help:"end each STOMP frame sent with an LF after its NUL, as RabbitMQ does (stomp.trailing_lf); =false leaves it out"`

	// Bounds on connections that have not authenticated yet.
	MaxHTTPConnections     int      `yaml:"max_http_connections" flag:"max-http-connections" help:"open connections per HTTP listener (management API and SQS API, plain and TLS); past it a new connection is closed at once (0: no limit)"`
	MaxHandshaking         int      `yaml:"max_handshaking_connections" flag:"max-handshaking-connections" help:"connections (AMQP, STOMP and STOMP over WebSocket together) still authenticating; past it a new connection is refused at once (0: no limit)"`
	AMQPMaxHandshakeFrame  ByteSize `yaml:"amqp_max_handshake_frame" flag:"amqp-max-handshake-frame" help:"largest AMQP frame before connection.tune-ok (connection.start-ok with the client's properties must fit; RabbitMQ's is 4096)"`
	STOMPMaxHandshakeFrame ByteSize `yaml:"stomp_max_handshake_frame" flag:"stomp-max-handshake-frame" help:"largest STOMP frame before CONNECTED (CONNECT and anything sent with it)"`

	DefaultUser   string `yaml:"default_user" flag:"default-user" help:"on a data directory with no users yet, create this administrator (with every permission on vhost /) instead of guest/guest; with default-pass"`
	DefaultPass   string `yaml:"default_pass" flag:"default-pass" help:"password of default-user (prefer the SLUICE_DEFAULT_PASS environment variable: flags show in the process list)"`
	LoopbackUsers string `yaml:"loopback_users" flag:"loopback-users" help:"comma-separated users who may log in only from a loopback address, as RabbitMQ's loopback_users (empty: none)"`

	WSAllowedOrigins string `yaml:"ws_allowed_origins" flag:"ws-allowed-origins" help:"comma-separated Origins allowed to open STOMP over WebSocket at /ws besides the same origin, such as https://app.example or https://*.example; * allows any (empty: same origin only)"`

	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" flag:"shutdown-timeout" help:"time connections get to close on SIGTERM"`

	Sync                     string   `yaml:"sync" flag:"sync" help:"when a persistent message counts as safe: 'always' (fsync before its confirm/receipt) or an interval such as 10ms (confirm once written, fsync at that interval; a machine crash can lose that window)"`
	SegmentSize              ByteSize `yaml:"segment_size" flag:"segment-size" help:"size of one write-ahead log segment file (4KiB to 1GiB)"`
	EncryptionKeyring        string   `yaml:"encryption_keyring" flag:"encryption-keyring" help:"keyring file sealing data at rest with AES-256-GCM: lines ID:BASE64 of 32 random bytes, first key seals; the keyring text itself may instead be given in SLUICE_ENCRYPTION_KEYS"`
	RequireEncryption        bool     `yaml:"require_encryption" flag:"require-encryption" help:"refuse to start without an encryption keyring"`
	EncryptionAcceptUnsealed bool     `yaml:"encryption_accept_unsealed" flag:"encryption-accept-unsealed" help:"with a keyring, read records that were written unencrypted (to encrypt an existing data directory); without it such records make startup fail, since whoever can write the data directory could inject them"`

	MemoryLimit         MemorySize `yaml:"memory_limit" flag:"memory-limit" help:"memory high watermark: above it publishers are blocked (0: 40% of RAM, negative: off)"`
	GCPercent           int        `yaml:"gc_percent" flag:"gc-percent" help:"Go garbage collector target (GOGC): heap growth, in percent of the live heap, before a collection; higher trades memory for CPU, bounded by the memory limit (0: Go's default, 100; the GOGC variable wins)"`
	MemoryPagingPercent int        `yaml:"memory_paging_percent" flag:"memory-paging-percent" help:"percent of the memory high watermark above which transient messages are paged out to disk too (persistent ones always are, past queue-resident-bytes)"`
	QueueResidentBytes  ByteSize   `yaml:"queue_resident_bytes" flag:"queue-resident-bytes" help:"ready message bodies a queue keeps in memory; past it persistent messages are paged out to the log (transient ones too under memory pressure); negative: never page"`
	QueueFlowMessages   int        `yaml:"queue_flow_messages" flag:"queue-flow-messages" help:"ready messages in memory (or queue-resident-bytes of their bodies, at least 8 MiB) a queue that consumers are draining holds before publishers into it are slowed to the consumers' pace; negative: never"`
	DiskFreeLimit       ByteSize   `yaml:"disk_free_limit" flag:"disk-free-limit" help:"free space required on the data directory's disk: below it publishers are blocked"`
	Pprof               bool       `yaml:"pprof" flag:"pprof" help:"serve Go profiles at /debug/pprof/ on the HTTP listener (broker users only)"`
	MetricsAuth         bool       `yaml:"metrics_auth" flag:"metrics-auth" help:"require a broker user with a management tag on /metrics (by default it is open, as RabbitMQ's rabbitmq_prometheus serves it; docs/METRICS.md)"`

	// RabbitMQ's definitions (docs/MIGRATING.md).
	Definitions             string   `yaml:"definitions" flag:"definitions" help:"RabbitMQ definitions file (JSON, as GET /api/definitions or rabbitmqctl export_definitions write), or a directory of them, imported at start-up into a new data directory, as RabbitMQ's load_definitions (docs/MIGRATING.md)"`
	DefinitionsOnEveryStart bool     `yaml:"definitions_on_every_start" flag:"definitions-on-every-start" help:"import the definitions file at every start, not only into a new data directory (what exists is kept; users, permissions, limits and policies in the file are set again)"`
	MaxDefinitionsSize      ByteSize `yaml:"max_definitions_size" flag:"max-definitions-size" help:"largest definitions document an import takes (POST /api/definitions, the definitions file), as RabbitMQ's management.http.max_body_size"`
}

// Defaults are the settings with no configuration at all.
func Defaults() Config {
	return Config{
		DataDir:               "./data",
		LoopbackUsers:         "guest",
		AMQPAddr:              ":5672",
		STOMPAddr:             ":61613",
		HTTPAddr:              ":15672",
		WebSTOMPAddr:          ":15674",
		PrometheusAddr:        ":15692",
		SQSAddr:               ":9324",
		SQSRegion:             "us-east-1",
		LogLevel:              "info",
		LogFormat:             "auto",
		MaxMessageSize:        16 << 20,
		ChannelMax:            2047,
		FrameMax:              131072,
		Heartbeat:             60 * time.Second,
		HandshakeTimeout:      10 * time.Second,
		OutputHighWater:       4 << 20,
		MemoryPagingPercent:   50,
		QueueResidentBytes:    8 << 20,
		QueueFlowMessages:     20000,
		STOMPMaxFrameSize:     4 << 20,
		STOMPMaxHeaders:       1000,
		STOMPMaxHeaderLine:    64 << 10,
		STOMPMaxSubscriptions: 1000,
		STOMPMaxTransactions:  100,
		STOMPTrailingLF:       true,
		ShutdownTimeout:       10 * time.Second,
		Sync:                  "always",
		DiskFreeLimit:         50 << 20,
		SegmentSize:           64 << 20,

		MaxHandshaking:         1000,
		MaxHTTPConnections:     4096,
		TxMaxOperations:        100000,
		TxMaxBytes:             64 << 20,
		STOMPMaxHandshakeFrame: 4 << 10,
		AMQPMaxHandshakeFrame:  4096,
		MaxDedupCacheSize:      1_000_000,
		MaxDefinitionsSize:     20_000_000,

		AMQPSAddr:           ":5671",
		STOMPSAddr:          ":61614",
		HTTPSAddr:           ":15671",
		WebSTOMPSAddr:       ":15673",
		PrometheusTLSAddr:   ":15691",
		SQSSAddr:            ":9325",
		TLSClientAuth:       "none",
		TLSCertLoginFrom:    "common_name",
		TLSCertLoginSANType: "dns",
	}
}

// Load builds the configuration from args (without the program name) and
// the environment. It returns flag.ErrHelp after printing help to out.
func Load(args []string, environ []string, out io.Writer) (Config, bool, error) {
	cfg := Defaults()
	fs := flag.NewFlagSet("sluice", flag.ContinueOnError)
	fs.SetOutput(out)
	configFile := fs.String("config", "", "YAML configuration file (settings below, keys as in the yaml column)")
	version := fs.Bool("version", false, "print the version and exit")
	// Register every field's flag on a scratch copy; what was set is applied
	// after the file and the environment, so flags win.
	flagged := Defaults()
	fields := configFields(&flagged)
	for _, f := range fields {
		usage := f.help + " (env " + f.env + ", yaml " + f.yaml + ")"
		// The backquotes name the value in PrintDefaults: "-frame-max size".
		switch f.value.(type) {
		case *ByteSize:
			usage += "; a `size`, units allowed"
		case *MemorySize:
			usage += "; a `size`, units allowed, or a fraction of RAM such as 0.4"
		}
		fs.Var(f.value, f.flag, usage)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: sluice [flags]\n\nA message broker speaking AMQP 0-9-1 and STOMP.\n"+
			"Settings come from defaults, then --config FILE, then SLUICE_* environment variables, then flags.\n"+
			"Sizes are bytes, or take a unit: %s.\n\nFlags:\n", byteUnitsHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *version {
		return cfg, true, nil
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if *configFile == "" {
		*configFile = env["SLUICE_CONFIG"]
	}
	if *configFile != "" {
		data, err := os.ReadFile(*configFile)
		if err != nil {
			return cfg, false, fmt.Errorf("config: %w", err)
		}
		if err := decodeConfigFile(data, &cfg); err != nil {
			return cfg, false, fmt.Errorf("config %s: %w", *configFile, err)
		}
	}
	target := configFields(&cfg)
	for _, f := range target {
		if v, ok := env[f.env]; ok {
			if err := f.value.Set(v); err != nil {
				return cfg, false, fmt.Errorf("%s=%q: %w", f.env, v, err)
			}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for i, f := range fields {
		if set[f.flag] {
			reflect.ValueOf(target[i].ptr).Elem().Set(reflect.ValueOf(f.ptr).Elem())
		}
	}
	return cfg, false, cfg.validate()
}

// decodeConfigFile applies a YAML configuration file to cfg. Unknown keys
// are errors, so a misspelt setting is not silently ignored.
func decodeConfigFile(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && err != io.EOF {
		return err
	}
	for _, f := range configFields(cfg) {
		if p, ok := f.ptr.(*string); ok && hasLineBreakOrControl(*p) {
			return fmt.Errorf("%s: %q holds a line break or control character", f.yaml, *p)
		}
	}
	return nil
}

// hasLineBreakOrControl reports a character no address, path, name,
// password or origin holds. YAML makes it easy to get one by mistake (a
// block scalar `data_dir: |` keeps its final line break, which would make
// a directory whose name ends in one), so such a value is refused, not
// used.
func hasLineBreakOrControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return true
		}
	}
	return false
}

func (c *Config) validate() error {
	for _, f := range configFields(c) {
		if p, ok := f.ptr.(*string); ok && hasLineBreakOrControl(*p) {
			return fmt.Errorf("%s: %q holds a line break or control character", f.flag, *p)
		}
	}
	if c.MaxMessageSize <= 0 {
		return fmt.Errorf("max-message-size must be positive")
	}
	// The AMQP frame-max is a 32-bit field on the wire (connection.tune).
	if c.FrameMax < 4096 || c.FrameMax > math.MaxUint32 {
		return fmt.Errorf("frame-max must be between 4096 and 4294967295 bytes, not %d", c.FrameMax)
	}
	// Small enough to bound what an unauthenticated client makes the
	// broker read, large enough for a real client's start-ok.
	if c.AMQPMaxHandshakeFrame < 1024 || c.AMQPMaxHandshakeFrame > c.FrameMax {
		return fmt.Errorf("amqp-max-handshake-frame must be between 1KiB and frame-max (%d), not %d", c.FrameMax, c.AMQPMaxHandshakeFrame)
	}
	if c.SegmentSize < wal.MinSegmentSize || c.SegmentSize > wal.MaxSegmentSize {
		return fmt.Errorf("segment-size must be between %v and %v, not %d", ByteSize(wal.MinSegmentSize), ByteSize(wal.MaxSegmentSize), c.SegmentSize)
	}
	if (c.DefaultUser == "") != (c.DefaultPass == "") {
		return fmt.Errorf("default-user and default-pass go together")
	}
	if c.ChannelMax < 1 || c.ChannelMax > 65535 {
		return fmt.Errorf("channel-max must be between 1 and 65535")
	}
	if c.DataDir == "" {
		return fmt.Errorf("data-dir must not be empty")
	}
	if c.MaxDefinitionsSize < 1 {
		return fmt.Errorf("max-definitions-size must be positive")
	}
	if _, err := c.syncMode(); err != nil {
		return err
	}
	return c.validateTLS()
}

// validateTLS checks the TLS settings' values; the files are read when
// the server starts.
func (c *Config) validateTLS() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls-cert and tls-key go together")
	}
	auth, err := tlsconfig.ParseClientAuth(c.TLSClientAuth)
	if err != nil {
		return err
	}
	if auth != tlsconfig.ClientAuthNone && c.TLSCA == "" {
		return fmt.Errorf("tls-client-auth %s needs tls-ca, the CAs that sign client certificates", auth)
	}
	_, err = tlsconfig.ParseLogin(c.TLSCertLoginFrom, c.TLSCertLoginSANType)
	return err
}

type configField struct {
	flag, env, yaml, help string
	ptr                   any
	value                 flag.Value
}

// configFields reflects over cfg's tagged fields so the flag, environment
// and help text can never disagree with the struct.
func configFields(cfg *Config) []configField {
	rv := reflect.ValueOf(cfg).Elem()
	rt := rv.Type()
	var out []configField
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		name := sf.Tag.Get("flag")
		if name == "" {
			continue
		}
		ptr := rv.Field(i).Addr().Interface()
		out = append(out, configField{flag: name, env: "SLUICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
			yaml: sf.Tag.Get("yaml"), help: sf.Tag.Get("help"), ptr: ptr, value: valueOf(ptr)})
	}
	return out
}

func valueOf(ptr any) flag.Value {
	switch p := ptr.(type) {
	case *string:
		return (*stringValue)(p)
	case *int:
		return (*intValue)(p)
	case *int64:
		return (*int64Value)(p)
	case *time.Duration:
		return (*durationValue)(p)
	case *bool:
		return (*boolValue)(p)
	case *ByteSize:
		return p
	case *MemorySize:
		return p
	}
	panic(fmt.Sprintf("config: unsupported field type %T", ptr))
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }

type intValue int

func (n *intValue) String() string { return strconv.Itoa(int(*n)) }
func (n *intValue) Set(v string) error {
	x, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("not a whole number: %q", v)
	}
	*n = intValue(x)
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("not a duration such as 30s: %q", v)
	}
	*d = durationValue(x)
	return nil
}

type boolValue bool

func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }
func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("not true or false: %q", v)
	}
	*b = boolValue(x)
	return nil
}

type int64Value int64

func (n *int64Value) String() string { return strconv.FormatInt(int64(*n), 10) }
func (n *int64Value) Set(v string) error {
	x, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("not a whole number: %q", v)
	}
	*n = int64Value(x)
	return nil
}

// ByteSize is a setting that counts bytes. It is written as a whole number
// of bytes or as a number with a unit, the units RabbitMQ takes for
// vm_memory_high_watermark.absolute and disk_free_limit.absolute:
// KB MB GB TB PB are powers of 1000, and so are the shorthands k m g t p
// (RabbitMQ 3.13 made them decimal, as Kubernetes has them); KiB MiB GiB
// TiB PiB (or Ki Mi Gi Ti Pi) are powers of 1024. Units are not case
// sensitive and may follow a space; with a unit the number may have a
// fraction (1.5GiB), rounded down to a whole byte. A negative size is
// allowed where the setting gives it a meaning (off, never).
type ByteSize int64

// byteUnitsHelp is the one-line summary of the units for --help.
const byteUnitsHelp = "KB MB GB TB (powers of 1000; also k m g t) or KiB MiB GiB TiB (powers of 1024), as in 64KiB, 256MiB, 1GB"

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
	"p": 1e15, "pb": 1e15, "pi": 1 << 50, "pib": 1 << 50,
}

// sizePattern splits a size into sign and number, and unit. Only plain
// decimal notation: no exponents, hex or digit separators, which a
// person reading the setting could misread.
var sizePattern = regexp.MustCompile(`^([-+]?[0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)$`)

// ParseByteSize parses a size as ByteSize describes it.
func ParseByteSize(s string) (ByteSize, error) {
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("not a size such as 268435456 or 256MiB: %q", s)
	}
	num, unit := m[1], m[2]
	mult, ok := byteUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q in %q: use %s", unit, s, byteUnitsHelp)
	}
	if mult == 1 && strings.Contains(num, ".") {
		return 0, fmt.Errorf("not a whole number of bytes: %q", s)
	}
	// Exact arithmetic: 1.1GB is 1,100,000,000 bytes, not a float's neighbour.
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("not a size such as 268435456 or 256MiB: %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // rounds toward zero
	if !n.IsInt64() {
		return 0, fmt.Errorf("size out of range: %q", s)
	}
	return ByteSize(n.Int64()), nil
}

// String gives the size in the largest binary unit that holds it exactly
// (16777216 is 16MiB), so --help shows defaults as people write them; it
// parses back to the same size.
func (b ByteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		name string
		size int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set implements flag.Value.
func (b *ByteSize) Set(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// UnmarshalYAML takes the same text as the flag: 268435456, 256MiB. A key
// with no value leaves the default, as for the other settings.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error { return setFromYAML(b, n) }

// MemorySize is a ByteSize that may also be a fraction of the machine's
// RAM: 0.4 (or 40%) is 40%, as RabbitMQ's vm_memory_high_watermark.relative.
// The fraction is resolved to bytes when parsed, so the setting always
// holds bytes. A fraction is told from a size by its decimal point and
// the missing unit: 1 is one byte, 1.0 all of RAM.
type MemorySize int64

// physicalMemory is the machine's RAM in bytes; a variable so tests can
// pretend a size.
var physicalMemory = func() (uint64, error) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0, err
	}
	return uint64(si.Totalram) * uint64(si.Unit), nil
}

// ParseMemorySize parses a size (see ByteSize) or a fraction of RAM.
func ParseMemorySize(s string) (MemorySize, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	if m := sizePattern.FindStringSubmatch(t); pct || m != nil && m[2] == "" && strings.Contains(m[1], ".") {
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
		if pct {
			f /= 100
		}
		if err != nil || !(f > 0 && f <= 1) {
			return 0, fmt.Errorf("a fraction of RAM must be above 0 and at most 1 (0.4, or 40%%): %q", s)
		}
		ram, err := physicalMemory()
		if err != nil || ram == 0 {
			return 0, fmt.Errorf("%q is a fraction of RAM, and the machine's RAM is unknown (%v): give a size", s, err)
		}
		return MemorySize(f * float64(ram)), nil
	}
	n, err := ParseByteSize(s)
	if err != nil {
		return 0, fmt.Errorf("%w, or a fraction of RAM such as 0.4", err)
	}
	return MemorySize(n), nil
}

func (m MemorySize) String() string { return ByteSize(m).String() }

// Set implements flag.Value.
func (m *MemorySize) Set(s string) error {
	n, err := ParseMemorySize(s)
	if err != nil {
		return err
	}
	*m = n
	return nil
}

// UnmarshalYAML takes the same text as the flag: 256MiB, 0.4.
func (m *MemorySize) UnmarshalYAML(n *yaml.Node) error { return setFromYAML(m, n) }

// setFromYAML routes a YAML scalar through the flag parser, so that a
// setting reads the same in the file as on the command line.
func setFromYAML(v flag.Value, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a size must be a single value such as 256MiB", n.Line)
	}
	if n.ShortTag() == "!!null" {
		return nil
	}
	if err := v.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}
