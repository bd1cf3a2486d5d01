package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// TestSealedLogFromAnotherDataDirIsNotServed: a sealed segment copied from
// another data directory under the same keyring (a modified backup) used
// to replay as if it were this directory's own: injected messages were
// served (issue #12, item 13). Records are now bound to the directory's
// identity and their position.
func TestSealedLogFromAnotherDataDirIsNotServed(t *testing.T) {
	k := testKeyring(t, "k1")
	theirs, ours := t.TempDir(), t.TempDir()
	s, _ := openStore(t, theirs, k)
	logSync(t, s, 1, []broker.QueueRef{qa}, &message.Message{Body: []byte("injected")})
	s.Close()
	s, _ = openStore(t, ours, k)
	logSync(t, s, 1, []broker.QueueRef{qa}, &message.Message{Body: []byte("ours")})
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(theirs, "wal", "*.wal"))
	for _, seg := range segs {
		data, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ours, "wal", filepath.Base(seg)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, rec := openStore(t, ours, k)
	defer s.Close()
	for _, m := range collect(rec) {
		if string(m.Msg.Body) == "injected" {
			t.Fatal("a record sealed in another data directory was served")
		}
	}
}

// TestUnsealedRecordsAreRefusedWithAKeyring: records written without a
// keyring (format byte 0) were accepted once a keyring was set, so a
// modified data directory could inject plain messages. Now Open refuses,
// unless the migration option accepts them.
func TestUnsealedRecordsAreRefusedWithAKeyring(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir, nil)
	logSync(t, s, 1, []broker.QueueRef{qa}, &message.Message{Body: []byte("plain")})
	s.Close()
	k := testKeyring(t, "k1")
	if s, _, err := Open(Options{Dir: dir, Keyring: k, SegmentSize: 1 << 20, Logger: zerolog.Nop()}); !errors.Is(err, ErrUnsealed) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("unsealed records under a keyring: %v, want ErrUnsealed", err)
	}
	s, rec, err := Open(Options{Dir: dir, Keyring: k, AcceptUnsealed: true, SegmentSize: 1 << 20, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := collect(rec); len(got) != 1 || string(got[0].Msg.Body) != "plain" {
		t.Fatalf("with AcceptUnsealed: %d messages", len(got))
	}
}

// TestSealedRecordOpensOnlyWhereItWasSealed: position, place and data
// directory are all in the associated data.
func TestSealedRecordOpensOnlyWhereItWasSealed(t *testing.T) {
	k := testKeyring(t, "k1")
	at := binding{place: placeLog, dataID: [16]byte{1}, pos: 4096}
	rec := k.seal(nil, at, []byte("payload"))
	if got, err := k.open(nil, rec, at, false); err != nil || string(got) != "payload" {
		t.Fatalf("in place: %q %v", got, err)
	}
	for _, b := range []binding{
		{place: placeLog, dataID: [16]byte{1}, pos: 4104},
		{place: placeLog, dataID: [16]byte{2}, pos: 4096},
		{place: placeDefinitions, dataID: [16]byte{1}, pos: 4096},
	} {
		if _, err := k.open(nil, rec, b, false); !errors.Is(err, ErrTampered) {
			t.Errorf("opened at %+v: %v", b, err)
		}
	}
}

// TestSubkeysRollOver: no derived key seals more than recordsPerSubkey
// records, so GCM's random-nonce bound holds however long a key is used.
func TestSubkeysRollOver(t *testing.T) {
	defer func(n int) { recordsPerSubkey = n }(recordsPerSubkey)
	recordsPerSubkey = 3
	s, _ := openStore(t, t.TempDir(), testKeyring(t, "k1"))
	defer s.Close()
	for id := uint64(1); id <= 10; id++ {
		logSync(t, s, id, []broker.QueueRef{qa}, &message.Message{Body: []byte("m")})
	}
	salts := map[string]int{}
	for id := uint64(1); id <= 10; id++ {
		s.mu.Lock()
		pos := s.msgs[id].pos
		s.mu.Unlock()
		raw, err := s.log.Read(pos)
		if err != nil {
			t.Fatal(err)
		}
		salt := raw[2+int(raw[1]) : 2+int(raw[1])+saltSize]
		salts[string(salt)]++
	}
	for _, n := range salts {
		if n > 3 {
			t.Fatalf("a subkey sealed %d records: %v", n, salts)
		}
	}
	if len(salts) < 4 {
		t.Fatalf("10 records under %d subkeys", len(salts))
	}
}
