package storage

import (
	"bytes"
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// checkAllocs runs fn and fails if it allocated more than perByte bytes
// for each of the n input bytes plus 256 KiB of slack (for the fuzzing
// machinery running alongside): a length or count field in a small
// record must never make a decoder allocate what it claims.
func checkAllocs(t *testing.T, what string, n int, perByte uint64, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > uint64(n)*perByte+256<<10 {
		t.Fatalf("%s: %d input bytes allocated %d bytes", what, n, got)
	}
}

// FuzzDecodeBounded feeds the same bytes to every decoder of what the
// store reads back from disk — a record, an argument table of the
// definitions file, the definitions file, a keyring — and bounds what
// each allocates. FuzzRecordDecode, FuzzDefinitions and FuzzParseKeyring
// check what they decode; this checks what decoding costs.
func FuzzDecodeBounded(f *testing.F) {
	m := &message.Message{Exchange: "ex", RoutingKey: "rk", Body: []byte("body"),
		Properties: message.Properties{Flags: message.FlagHeaders | message.FlagDeliveryMode,
			Headers: message.Table{"n": int32(7), "a": []any{"x", 1.5, message.Table{"t": true}}}, DeliveryMode: 2}}
	rec, err := encodeMessage(nil, kindMessage, 42, 1000, []target{{ref: qa, delivered: true, returns: 3}, {ref: qb}}, m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(encodeRefs(nil, kindSettledMany, qa, []uint64{1, 2, 3}))
	args, err := encodeArgs(message.Table{"x-max-length": int32(3), "x-dead-letter-exchange": "dlx"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(args)
	f.Add([]byte(`{"Version":2,"VHosts":["/"],"Queues":[{"VHost":"/","Name":"q","Args":"` + base64.StdEncoding.EncodeToString(args) + `"}]}`))
	f.Add([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n# comment\n"))
	// Counts that claim far more than the input holds.
	f.Add([]byte{recordVersion, kindMessage, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{'A', 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAllocs(t, "record", len(data), 128, func() {
			if _, body, err := splitRecord(data); err == nil {
				_, _, _ = decodeMessageHead(body)
				_, _, _ = decodeRef(body)
				_, _ = decodeDedup(body)
				_, _, _ = decodeRefs(body)
				_, _ = decodeMessageBody(body, false)
				_, _ = decodeMessageBody(body, true)
			}
		})
		checkAllocs(t, "argument table", len(data), 128, func() { _, _ = decodeArgs(data) })
		checkAllocs(t, "definitions", len(data), 256, func() { _, _ = unmarshalDefinitions(data) })
		// A key costs an AES key schedule and GCM tables for its ~46-byte line.
		checkAllocs(t, "keyring", len(data), 256, func() { _, _ = ParseKeyring(bytes.NewReader(data)) })
	})
}

// fuzzKeyring has fixed keys, so that a failing input reproduces.
func fuzzKeyring(f *testing.F) *Keyring {
	var sb strings.Builder
	for i, id := range []string{"k1", "old"} {
		sb.WriteString(id + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(i + 1)}, 32)) + "\n")
	}
	k, err := ParseKeyring(strings.NewReader(sb.String()))
	if err != nil {
		f.Fatal(err)
	}
	return k
}

// FuzzOpenSealed feeds arbitrary at-rest payloads to the unsealing code
// (format byte, key id, salt, nonce, GCM), with and without a keyring: open
// and openInPlace agree and never panic. Then it seals plain, checks that
// it opens to plain where it was sealed and nowhere else, and that
// flipping any bit after the format byte makes it fail to open:
// tampering is found.
func FuzzOpenSealed(f *testing.F) {
	k := fuzzKeyring(f)
	at0 := binding{place: placeLog, pos: 4096}
	sealed := k.seal(nil, at0, []byte("payload"))
	f.Add(sealed, []byte("payload"), uint16(0), uint8(1))
	f.Add([]byte{formatPlain, 'x'}, []byte{}, uint16(5), uint8(0x80))
	f.Add([]byte{formatSealed, 0xff}, []byte("x"), uint16(1), uint8(1))
	f.Add([]byte{formatSealed, 3, 'o', 'l', 'd'}, bytes.Repeat([]byte("y"), 5000), uint16(300), uint8(4))
	f.Fuzz(func(t *testing.T, rec, plain []byte, at uint16, bit uint8) {
		for _, keys := range []*Keyring{k, nil} {
			a, errA := keys.open(nil, rec, at0, true)
			b, errB := keys.openInPlace(bytes.Clone(rec), at0, true)
			if (errA == nil) != (errB == nil) || !bytes.Equal(a, b) {
				t.Fatalf("open: %q %v; openInPlace: %q %v", a, errA, b, errB)
			}
		}

		s := k.seal(nil, at0, plain)
		if got, err := k.open(nil, s, at0, false); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("sealed %q opens as %q, %v", plain, got, err)
		}
		elsewhere := at0
		elsewhere.pos += uint64(at) + 1
		if _, err := k.open(nil, s, elsewhere, false); !errors.Is(err, ErrTampered) {
			t.Fatalf("a record sealed for %d opened at %d: %v", at0.pos, elsewhere.pos, err)
		}
		if bit == 0 {
			bit = 1
		}
		i := 1 + int(at)%(len(s)-1)
		s[i] ^= bit
		if got, err := k.open(nil, s, at0, false); err == nil {
			t.Fatalf("flipping bits %#x of byte %d of a sealed record went unnoticed: opened as %q", bit, i, got)
		} else if i >= 2+len(k.Current()) && !errors.Is(err, ErrTampered) {
			t.Fatalf("flipped byte %d (past the key id): %v, want ErrTampered", i, err)
		}
	})
}
