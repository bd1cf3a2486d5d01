package server

import (
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting of the server. Each field has a yaml key (for
// --config), a flag and an environment variable SLUICE_<FLAG> with dashes
// as underscores. Precedence: defaults < config file < environment < flags.
type Config struct {
	DataDir   string `yaml:"data_dir" flag:"data-dir" help:"directory for all data the broker writes"`
	AMQPAddr  string `yaml:"amqp_addr" flag:"amqp-addr" help:"AMQP 0-9-1 listen address (empty: off)"`
	STOMPAddr string `yaml:"stomp_addr" flag:"stomp-addr" help:"STOMP listen address (empty: off)"`
	HTTPAddr  string `yaml:"http_addr" flag:"http-addr" help:"HTTP listen address for health and STOMP over WebSocket at /ws (empty: off)"`

	LogLevel  string `yaml:"log_level" flag:"log-level" help:"log level: debug, info, warn, error"`
	LogFormat string `yaml:"log_format" flag:"log-format" help:"log format: auto (console on a terminal, JSON otherwise), console or json"`

	MaxMessageSize        int           `yaml:"max_message_size" flag:"max-message-size" help:"largest message body in bytes"`
	MaxConnections        int           `yaml:"max_connections" flag:"max-connections" help:"connections in total (0: no limit)"`
	MaxConnectionsPerUser int           `yaml:"max_connections_per_user" flag:"max-connections-per-user" help:"connections per user (0: no limit)"`
	ChannelMax            int           `yaml:"channel_max" flag:"channel-max" help:"AMQP channels per connection"`
	FrameMax              int           `yaml:"frame_max" flag:"frame-max" help:"largest AMQP frame in bytes"`
	Heartbeat             time.Duration `yaml:"heartbeat" flag:"heartbeat" help:"heartbeat interval offered to clients (0s: off)"`
	ConsumersPerChannel   int           `yaml:"consumers_per_channel" flag:"consumers-per-channel" help:"consumers on one channel or STOMP session (0: no limit)"`
	HandshakeTimeout      time.Duration `yaml:"handshake_timeout" flag:"handshake-timeout" help:"time a new connection has to authenticate"`
	OutputHighWater       int           `yaml:"output_high_water" flag:"output-high-water" help:"bytes of deliveries queued for a slow client before it gets no more"`
	MaxQueues             int           `yaml:"max_queues" flag:"max-queues" help:"queues per vhost (0: no limit)"`

	STOMPMaxFrameSize     int `yaml:"stomp_max_frame_size" flag:"stomp-max-frame-size" help:"largest STOMP frame in bytes"`
	STOMPMaxHeaders       int `yaml:"stomp_max_headers" flag:"stomp-max-headers" help:"headers in one STOMP frame"`
	STOMPMaxHeaderLine    int `yaml:"stomp_max_header_line" flag:"stomp-max-header-line" help:"bytes in one STOMP header line"`
	STOMPMaxSubscriptions int `yaml:"stomp_max_subscriptions" flag:"stomp-max-subscriptions" help:"subscriptions per STOMP session"`
	STOMPMaxTransactions  int `yaml:"stomp_max_transactions" flag:"stomp-max-transactions" help:"open transactions per STOMP session"`

	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" flag:"shutdown-timeout" help:"time connections get to close on SIGTERM"`

	Sync              string `yaml:"sync" flag:"sync" help:"when a persistent message counts as safe: 'always' (fsync before its confirm/receipt) or an interval such as 10ms (confirm once written, fsync at that interval; a machine crash can lose that window)"`
	SegmentSize       int    `yaml:"segment_size" flag:"segment-size" help:"bytes per write-ahead log segment file"`
	EncryptionKeyring string `yaml:"encryption_keyring" flag:"encryption-keyring" help:"keyring file sealing data at rest with AES-256-GCM: lines ID:BASE64 of 32 random bytes, first key seals; the keyring text itself may instead be given in SLUICE_ENCRYPTION_KEYS"`
	RequireEncryption bool   `yaml:"require_encryption" flag:"require-encryption" help:"refuse to start without an encryption keyring"`

	MemoryLimit         int64 `yaml:"memory_limit" flag:"memory-limit" help:"memory high watermark in bytes: above it publishers are blocked (0: 40% of RAM, negative: off)"`
	MemoryPagingPercent int   `yaml:"memory_paging_percent" flag:"memory-paging-percent" help:"percent of the memory high watermark above which transient messages are paged out to disk too (persistent ones always are, past queue-resident-bytes)"`
	QueueResidentBytes  int64 `yaml:"queue_resident_bytes" flag:"queue-resident-bytes" help:"bytes of ready message bodies a queue keeps in memory; past it persistent messages are paged out to the log (transient ones too under memory pressure); negative: never page"`
	QueueFlowMessages   int   `yaml:"queue_flow_messages" flag:"queue-flow-messages" help:"ready messages in memory (or queue-resident-bytes of their bodies, at least 8 MiB) a queue that consumers are draining holds before publishers into it are slowed to the consumers' pace; negative: never"`
	DiskFreeLimit       int64 `yaml:"disk_free_limit" flag:"disk-free-limit" help:"free bytes required on the data directory's disk: below it publishers are blocked"`
	Pprof               bool  `yaml:"pprof" flag:"pprof" help:"serve Go profiles at /debug/pprof/ on the HTTP listener (broker users only)"`
}

// Defaults are the settings with no configuration at all.
func Defaults() Config {
	return Config{
		DataDir:               "./data",
		AMQPAddr:              ":5672",
		STOMPAddr:             ":61613",
		HTTPAddr:              ":15672",
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
		ShutdownTimeout:       10 * time.Second,
		Sync:                  "always",
		DiskFreeLimit:         50 << 20,
		SegmentSize:           64 << 20,
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
		fs.Var(f.value, f.flag, f.help+" (env "+f.env+", yaml "+f.yaml+")")
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: sluice [flags]\n\nA message broker speaking AMQP 0-9-1 and STOMP.\n"+
			"Settings come from defaults, then --config FILE, then SLUICE_* environment variables, then flags.\n\nFlags:\n")
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
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && err != io.EOF {
			return cfg, false, fmt.Errorf("config %s: %w", *configFile, err)
		}
	}
	target := configFields(&cfg)
	for i, f := range target {
		if v, ok := env[f.env]; ok {
			if err := f.value.Set(v); err != nil {
				return cfg, false, fmt.Errorf("%s=%q: %w", f.env, v, err)
			}
		}
		_ = i
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

func (c *Config) validate() error {
	if c.MaxMessageSize <= 0 {
		return fmt.Errorf("max-message-size must be positive")
	}
	if c.FrameMax < 4096 {
		return fmt.Errorf("frame-max must be at least 4096")
	}
	if c.ChannelMax < 1 || c.ChannelMax > 65535 {
		return fmt.Errorf("channel-max must be between 1 and 65535")
	}
	if c.DataDir == "" {
		return fmt.Errorf("data-dir must not be empty")
	}
	if _, err := c.syncMode(); err != nil {
		return err
	}
	return nil
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
