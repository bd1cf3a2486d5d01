package server

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzConfigFile feeds arbitrary YAML to the configuration file decoder:
// an error or a configuration, never a panic, and decoding a small file
// never allocates without bound (YAML aliases can expand a small document
// into a large one). A file that decodes is written back out and must
// decode to the same settings.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("data_dir: /var/lib/sluice\namqp_addr: :5672\nheartbeat: 30s\nsync: 10ms\n"))
	f.Add([]byte("memory_limit: 256MiB\ndisk_free_limit: 1GB\nsegment_size: 64m\nframe_max: 131072\n"))
	f.Add([]byte("memory_limit: 0.4\nqueue_resident_bytes: -1\nstomp_max_frame_size: 1.5MiB\n"))
	f.Add([]byte("pprof: true\nrequire_encryption: false\nencryption_keyring: /etc/sluice/keys\n"))
	f.Add([]byte("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nmemory_limit: *b\n"))
	f.Add([]byte("http_addr: \"\"\nstomp_addr: ~\nmax_message_size: [1]\n"))
	f.Add([]byte("---\ndata_dir: a\n---\ndata_dir: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // a configuration file is small; the bound below is per byte
		}
		cfg := Defaults()
		var err error
		checkAllocs(t, len(data), func() { err = decodeConfigFile(data, &cfg) })
		if err != nil {
			return
		}
		_ = cfg.validate() // any result, no panic
		out, err := yaml.Marshal(&cfg)
		if err != nil {
			t.Fatalf("decoded configuration does not encode: %v", err)
		}
		again := Defaults()
		if err := decodeConfigFile(out, &again); err != nil {
			t.Fatalf("re-encoded configuration does not decode: %v\n%s", err, out)
		}
		if again != cfg {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v\n%s", cfg, again, out)
		}
	})
}

// FuzzParseByteSize feeds arbitrary text to the size parsers of flags,
// SLUICE_* variables and YAML. A size that parses prints (String, as
// --help shows defaults) as text that parses back to it, and a bare whole
// number means what strconv says it means.
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"256MiB", "1GB", "64k", "1.5GiB", "0.4", "40%", "-1", "0", "9223372036854775807",
		"8 EiB", "1e3", "0x10", " 12 kb ", "999999999999PiB", "0.0000000001KiB", "-0.5", "١"} {
		f.Add(s)
	}
	orig := physicalMemory
	f.Cleanup(func() { physicalMemory = orig })
	physicalMemory = func() (uint64, error) { return 16 << 30, nil } // the same on every machine
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if n, perr := strconv.ParseInt(s, 10, 64); perr == nil && (err != nil || int64(b) != n) {
			t.Fatalf("%q is the whole number %d, parsed as %d, %v", s, n, b, err)
		}
		if err == nil {
			back, err := ParseByteSize(b.String())
			if err != nil || back != b {
				t.Fatalf("%q parsed as %d, printed as %q, which parses as %d, %v", s, int64(b), b.String(), back, err)
			}
		}
		m, err := ParseMemorySize(s)
		if err != nil {
			return
		}
		if m < 0 && !strings.HasPrefix(strings.TrimSpace(s), "-") {
			t.Fatalf("%q: negative memory size %d", s, m)
		}
		if back, err := ParseMemorySize(m.String()); err != nil || back != m {
			t.Fatalf("%q parsed as %d, printed as %q, which parses as %d, %v", s, int64(m), m.String(), back, err)
		}
	})
}

// allocBound is how many bytes decoding n bytes of configuration may
// allocate: YAML's node tree costs a few hundred bytes per token, and
// the slack covers the fuzzing machinery running alongside.
func allocBound(n int) uint64 { return uint64(n)*2048 + 1<<20 }

// checkAllocs runs fn and fails if it allocated more than allocBound(n).
func checkAllocs(t *testing.T, n int, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > allocBound(n) {
		t.Fatalf("decoding %d bytes allocated %d bytes", n, got)
	}
}
