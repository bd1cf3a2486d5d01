package server

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(file, []byte("data_dir: /from/file\namqp_addr: :1111\nheartbeat: 5s\nstomp_addr: :2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg, _, err := Load([]string{"--config", file, "--amqp-addr", ":3333", "--http-addr", ""},
		[]string{"SLUICE_STOMP_ADDR=:4444", "SLUICE_AMQP_ADDR=:5555"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.DataDir = "/from/file" // file
	want.AMQPAddr = ":3333"     // flag beats env and file
	want.STOMPAddr = ":4444"    // env beats file
	want.HTTPAddr = ""          // an empty flag turns the listener off
	want.Heartbeat = 5 * time.Second
	if cfg != want {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestConfigDefaultsAndHelp(t *testing.T) {
	cfg, _, err := Load(nil, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AMQPAddr != ":5672" || cfg.STOMPAddr != ":61613" || cfg.HTTPAddr != ":15672" || cfg.DataDir != "./data" {
		t.Fatalf("defaults: %+v", cfg)
	}
	var out bytes.Buffer
	if _, _, err := Load([]string{"--help"}, nil, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, f := range []string{"-config", "-data-dir", "-amqp-addr", "-stomp-addr", "-http-addr", "-encryption-keyring", "-sync", "SLUICE_DATA_DIR"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	if _, v, err := Load([]string{"--version"}, nil, &out); err != nil || !v {
		t.Fatalf("--version: %v %v", v, err)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--frame-max", "100"},
		{"--sync", "sometimes"},
		{"--heartbeat", "soon"},
		{"--unknown-flag"},
		{"stray"},
	} {
		if _, _, err := Load(args, nil, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(file, []byte("no_such_setting: 1\n"), 0o600)
	if _, _, err := Load([]string{"--config", file}, nil, &bytes.Buffer{}); err == nil {
		t.Error("unknown YAML key accepted")
	}
}

// TestConfigRefusesLineBreaks: a YAML block scalar keeps its final line
// break (`data_dir: |`), and such a value used to be taken as it was, a
// directory or address ending in "\n". Found by CI's fuzzing, whose round
// trip through yaml.v3 lost the line break. A value with a line break or
// control character is refused wherever it comes from, naming the setting.
func TestConfigRefusesLineBreaks(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, name string }{
		{"data_dir: |\n  /var/lib/sluice\n", "data_dir"},
		{"http_addr: \"\\n\"\n", "http_addr"},
		{"default_user: \"a\\u2028b\"\ndefault_pass: x\n", "default_user"},
	} {
		file := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(file, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load([]string{"--config", file}, nil, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%q: %v, want an error naming %s", c.yaml, err, c.name)
		}
	}
	_, _, err := Load(nil, []string{"SLUICE_DATA_DIR=/var/lib/sluice\n"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "data-dir") {
		t.Errorf("SLUICE_DATA_DIR with a line break: %v", err)
	}
}

// TestConfigByteSizeUnits is the regression test for issue #12 item 17:
// the documentation says `--memory-limit 256MiB` and the binary refused it
// as "not a whole number". Every setting that counts bytes takes units, in
// flags, SLUICE_* variables and the YAML file alike.
func TestConfigByteSizeUnits(t *testing.T) {
	for _, c := range []struct {
		args []string
		get  func(Config) int64
		want int64
	}{
		{[]string{"--memory-limit", "256MiB"}, func(c Config) int64 { return int64(c.MemoryLimit) }, 256 << 20},
		{[]string{"--memory-limit", "268435456"}, func(c Config) int64 { return int64(c.MemoryLimit) }, 256 << 20},
		{[]string{"--disk-free-limit", "1GB"}, func(c Config) int64 { return int64(c.DiskFreeLimit) }, 1e9},
		{[]string{"--disk-free-limit", "2g"}, func(c Config) int64 { return int64(c.DiskFreeLimit) }, 2e9},
		{[]string{"--max-message-size", "16MB"}, func(c Config) int64 { return int64(c.MaxMessageSize) }, 16e6},
		{[]string{"--max-message-size", "512k"}, func(c Config) int64 { return int64(c.MaxMessageSize) }, 512e3},
		{[]string{"--frame-max", "128KiB"}, func(c Config) int64 { return int64(c.FrameMax) }, 128 << 10},
		{[]string{"--frame-max", "4.096KB"}, func(c Config) int64 { return int64(c.FrameMax) }, 4096},
		{[]string{"--segment-size", "64m"}, func(c Config) int64 { return int64(c.SegmentSize) }, 64e6},
		{[]string{"--segment-size", "1GiB"}, func(c Config) int64 { return int64(c.SegmentSize) }, 1 << 30},
		{[]string{"--queue-resident-bytes", "8MiB"}, func(c Config) int64 { return int64(c.QueueResidentBytes) }, 8 << 20},
		{[]string{"--queue-resident-bytes", "-1"}, func(c Config) int64 { return int64(c.QueueResidentBytes) }, -1},
		{[]string{"--output-high-water", "1.5MiB"}, func(c Config) int64 { return int64(c.OutputHighWater) }, 3 << 19},
		{[]string{"--stomp-max-frame-size", "4 MiB"}, func(c Config) int64 { return int64(c.STOMPMaxFrameSize) }, 4 << 20},
		{[]string{"--stomp-max-header-line", "64KiB"}, func(c Config) int64 { return int64(c.STOMPMaxHeaderLine) }, 64 << 10},
		{[]string{"--stomp-max-header-line", "2kB"}, func(c Config) int64 { return int64(c.STOMPMaxHeaderLine) }, 2000},
	} {
		cfg, _, err := Load(c.args, nil, &bytes.Buffer{})
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if got := c.get(cfg); got != c.want {
			t.Errorf("%v: %d bytes, want %d", c.args, got, c.want)
		}
	}

	cfg, _, err := Load(nil, []string{"SLUICE_MEMORY_LIMIT=1GiB", "SLUICE_SEGMENT_SIZE=32MiB"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("environment: %v", err)
	}
	if cfg.MemoryLimit != 1<<30 || cfg.SegmentSize != 32<<20 {
		t.Errorf("environment: memory-limit %d, segment-size %d", cfg.MemoryLimit, cfg.SegmentSize)
	}

	file := filepath.Join(t.TempDir(), "sluice.yaml")
	yml := "memory_limit: 256MiB\ndisk_free_limit: 50MB\nmax_message_size: 1048576\nstomp_max_frame_size: 2MiB\n"
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err = Load([]string{"--config", file}, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("YAML: %v", err)
	}
	if cfg.MemoryLimit != 256<<20 || cfg.DiskFreeLimit != 50e6 || cfg.MaxMessageSize != 1<<20 || cfg.STOMPMaxFrameSize != 2<<20 {
		t.Errorf("YAML: %+v", cfg)
	}
}

func TestConfigMemoryLimitFraction(t *testing.T) {
	defer func(f func() (uint64, error)) { physicalMemory = f }(physicalMemory)
	physicalMemory = func() (uint64, error) { return 10 << 30, nil }
	for arg, want := range map[string]MemorySize{
		"0.4": 4 << 30, "0.25": 10 << 28, "1.0": 10 << 30, "40%": 4 << 30, "1": 1, "-1": -1, "0": 0, "512MiB": 512 << 20,
	} {
		cfg, _, err := Load([]string{"--memory-limit", arg}, nil, &bytes.Buffer{})
		if err != nil {
			t.Errorf("--memory-limit %s: %v", arg, err)
		} else if cfg.MemoryLimit != want {
			t.Errorf("--memory-limit %s: %d bytes, want %d", arg, cfg.MemoryLimit, want)
		}
	}
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	_ = os.WriteFile(file, []byte("memory_limit: 0.5\n"), 0o600)
	if cfg, _, err := Load([]string{"--config", file}, nil, &bytes.Buffer{}); err != nil || cfg.MemoryLimit != 5<<30 {
		t.Errorf("YAML memory_limit: 0.5: %d, %v", cfg.MemoryLimit, err)
	}
	for _, arg := range []string{"1.5", "0.0", "0%", "150%", "-0.5", "0.4MiB%"} {
		if _, _, err := Load([]string{"--memory-limit", arg}, nil, &bytes.Buffer{}); err == nil {
			t.Errorf("--memory-limit %s accepted", arg)
		}
	}
}

func TestConfigRejectsBadSizes(t *testing.T) {
	for _, v := range []string{"", "MiB", "256MiBs", "12XB", "256 M iB", "1e6", "0x100", "1_000", "1.5", "1.5B",
		"- 1", "--1", "9999999PiB", "9223372036854775808", "256MiB/s", "١٢"} {
		if _, _, err := Load([]string{"--max-message-size", v}, nil, &bytes.Buffer{}); err == nil {
			t.Errorf("--max-message-size %q accepted", v)
		}
	}
	for _, args := range [][]string{
		{"--frame-max", "4GiB"},    // does not fit connection.tune's 32 bits
		{"--segment-size", "2KiB"}, // below the log's minimum
		{"--segment-size", "2GiB"}, // above its maximum
	} {
		if _, _, err := Load(args, nil, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	_ = os.WriteFile(file, []byte("segment_size: [1, 2]\n"), 0o600)
	if _, _, err := Load([]string{"--config", file}, nil, &bytes.Buffer{}); err == nil {
		t.Error("a YAML list accepted as a size")
	}
	_ = os.WriteFile(file, []byte("segment_size: 12XB\n"), 0o600)
	if _, _, err := Load([]string{"--config", file}, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad YAML size: %v (want an error naming the line)", err)
	}
}

func TestByteSizeString(t *testing.T) {
	for n, want := range map[ByteSize]string{0: "0", 1: "1", 1000: "1000", 1024: "1KiB", 16 << 20: "16MiB",
		50 << 20: "50MiB", 3 << 19: "1536KiB", -1: "-1", -2048: "-2KiB", 1 << 62: "4096PiB"} {
		if got := n.String(); got != want {
			t.Errorf("%d: %q, want %q", int64(n), got, want)
		}
		if back, err := ParseByteSize(want); err != nil || back != n {
			t.Errorf("%q parses to %d, %v", want, back, err)
		}
	}
}

// TestConfigSizesAreByteSizes keeps new byte settings taking units: a
// field whose name or help speaks of bytes or sizes must be a ByteSize.
func TestConfigSizesAreByteSizes(t *testing.T) {
	cfg := Defaults()
	bytesName := regexp.MustCompile(`size|bytes|frame|high-water|header-line|memory-limit|disk-free`)
	for _, f := range configFields(&cfg) {
		switch f.ptr.(type) {
		case *ByteSize, *MemorySize:
		default:
			if bytesName.MatchString(f.flag) || strings.Contains(f.help, "in bytes") {
				t.Errorf("--%s counts bytes but is a %T: make it a ByteSize so it takes units", f.flag, f.ptr)
			}
		}
	}
	var out bytes.Buffer
	Load([]string{"--help"}, nil, &out)
	for _, want := range []string{"KiB MiB GiB", "-memory-limit size", "-segment-size size", "fraction of RAM", "(default 16MiB)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not say %q", want)
		}
	}
}
