package storage

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

func testKeyring(t testing.TB, ids ...string) *Keyring {
	t.Helper()
	var sb strings.Builder
	for _, id := range ids {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		fmt.Fprintf(&sb, "# comment\n%s:%s\n", id, base64.StdEncoding.EncodeToString(key))
	}
	k, err := ParseKeyring(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t *testing.T, dir string, k *Keyring) (*Store, *Recovered) {
	t.Helper()
	s, rec, err := Open(Options{Dir: dir, Keyring: k, SegmentSize: 1 << 20, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

func logSync(t *testing.T, s *Store, id uint64, refs []broker.QueueRef, m *message.Message) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	var got error
	s.LogMessage(id, 1, refs, m, func(err error) { got = err; wg.Done() })
	wg.Wait()
	if got != nil {
		t.Fatal(got)
	}
}

var qa = broker.QueueRef{VHost: "/", Queue: "a"}
var qb = broker.QueueRef{VHost: "/", Queue: "b"}

func TestStoreRecoversWhatIsUnsettled(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypted=", encrypted), func(t *testing.T) {
			dir := t.TempDir()
			var k *Keyring
			if encrypted {
				k = testKeyring(t, "k1")
			}
			s, _ := openStore(t, dir, k)
			props := message.Properties{Flags: message.FlagHeaders | message.FlagDeliveryMode | message.FlagCorrelationID,
				Headers: message.Table{"n": int32(7), "s": "x"}, DeliveryMode: 2, CorrelationID: "c"}
			for i := uint64(1); i <= 5; i++ {
				m := &message.Message{Exchange: "ex", RoutingKey: "rk", Properties: props, Body: []byte(fmt.Sprint("body-", i))}
				logSync(t, s, i, []broker.QueueRef{qa, qb}, m)
			}
			s.LogSettled(qa, 1)
			s.LogSettled(qb, 1) // 1 is gone
			s.LogSettled(qa, 2) // 2 waits in b only
			s.LogDelivered(qa, 3)
			if err := s.SaveDefinitions(broker.Definitions{VHosts: []string{"/"},
				Queues: []broker.QueueDef{{VHost: "/", Name: "a", Args: message.Table{"x-max-length": int32(3)}}}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, rec := openStore(t, dir, k)
			defer s2.Close()
			var got []string
			for _, m := range collect(rec) {
				var qs []string
				for _, q := range m.Queues {
					qs = append(qs, fmt.Sprintf("%s:%v", q.Queue, q.Delivered))
				}
				got = append(got, fmt.Sprintf("%d %s %v", m.ID, m.Msg.Body, qs))
			}
			want := "[2 body-2 [b:false] 3 body-3 [a:true b:false] 4 body-4 [a:false b:false] 5 body-5 [a:false b:false]]"
			if fmt.Sprint(got) != want {
				t.Fatalf("recovered %v\nwant %s", got, want)
			}
			m := collect(rec)[0].Msg
			if m.Exchange != "ex" || m.RoutingKey != "rk" || m.Properties.Headers["n"] != int32(7) || m.Properties.CorrelationID != "c" || !m.Persistent() {
				t.Fatalf("message fields lost: %+v", m)
			}
			if q := rec.Definitions.Queues; len(q) != 1 || q[0].Args["x-max-length"] != int32(3) {
				t.Fatalf("definitions: %+v", rec.Definitions)
			}
		})
	}
}

// TestEncryptedAtRestHasNoPlaintext scans every file the store wrote.
func TestEncryptedAtRestHasNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	k := testKeyring(t, "k1")
	s, _ := openStore(t, dir, k)
	marker := "SECRET-MARKER-4f9a"
	m := &message.Message{Properties: message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"h": marker}}, Body: []byte(marker)}
	logSync(t, s, 1, []broker.QueueRef{{VHost: "/", Queue: marker}}, m)
	s.LogDelivered(broker.QueueRef{VHost: "/", Queue: marker}, 1)
	if err := s.SaveDefinitions(broker.Definitions{Queues: []broker.QueueDef{{VHost: "/", Name: marker}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	scanForMarker(t, dir, marker, false)

	// The same without a keyring does show it: the scan can find what it
	// looks for.
	plainDir := t.TempDir()
	s, _ = openStore(t, plainDir, nil)
	logSync(t, s, 1, []broker.QueueRef{{VHost: "/", Queue: "q"}}, m)
	s.Close()
	scanForMarker(t, plainDir, marker, true)
}

func scanForMarker(t *testing.T, dir, marker string, want bool) {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(marker)) {
			found = true
			if !want {
				t.Errorf("plaintext marker in %s", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want && !found {
		t.Fatal("marker not found in an unencrypted store")
	}
}

func TestTamperedRecordIsDetected(t *testing.T) {
	dir := t.TempDir()
	k := testKeyring(t, "k1")
	s, _ := openStore(t, dir, k)
	logSync(t, s, 1, []broker.QueueRef{qa}, &message.Message{Body: []byte("payload")})
	s.Close()
	// Flip a bit inside the sealed payload and fix up nothing: the WAL's
	// CRC catches it first. To reach GCM, re-seal a record with another key.
	other := testKeyring(t, "k1")
	s2, rec := openStore(t, dir, other)
	defer s2.Close()
	if len(collect(rec)) != 0 {
		t.Fatalf("a record sealed with another key was served: %d messages", len(collect(rec)))
	}
}

func TestKeyRotationKeepsOldRecordsReadable(t *testing.T) {
	dir := t.TempDir()
	old := testKeyring(t, "old")
	s, _ := openStore(t, dir, old)
	logSync(t, s, 1, []broker.QueueRef{qa}, &message.Message{Body: []byte("under old")})
	s.Close()
	// New key first, old key kept for reading.
	var sb strings.Builder
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	fmt.Fprintf(&sb, "new:%s\n", base64.StdEncoding.EncodeToString(key))
	both, err := ParseKeyring(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	both.ids = append(both.ids, "old")
	both.keys["old"] = old.keys["old"]
	s2, rec := openStore(t, dir, both)
	defer s2.Close()
	if len(collect(rec)) != 1 || string(collect(rec)[0].Msg.Body) != "under old" {
		t.Fatalf("old record unreadable after rotation: %+v", collect(rec))
	}
}

func TestCompactionReclaimsSpace(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir, nil)
	body := bytes.Repeat([]byte("x"), 1000)
	const n = 5000 // ~5 MB over 1 MiB segments
	var wg sync.WaitGroup
	for i := uint64(1); i <= n; i++ {
		wg.Add(1)
		s.LogMessage(i, 1, []broker.QueueRef{qa}, &message.Message{Body: body}, func(error) { wg.Done() })
	}
	wg.Wait()
	// Settle all but one old message: it must not pin the segments after it.
	for i := uint64(2); i <= n; i++ {
		s.LogSettled(qa, i)
	}
	if err := s.log.Sync(); err != nil {
		t.Fatal(err)
	}
	before := len(s.log.Segments())
	// The first look finds the sparse head; the second, seeing it no
	// longer shrinking, copies its live message forward.
	for range 2 {
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	after := len(s.log.Segments())
	if after > 2 || after >= before {
		t.Fatalf("segments before %d after %d", before, after)
	}
	if b := s.QueueBytes()[qa]; b <= 0 || b > 2000 {
		t.Fatalf("queue bytes %d", b)
	}
	s.Close()
	s2, rec := openStore(t, dir, nil)
	defer s2.Close()
	if len(collect(rec)) != 1 || collect(rec)[0].ID != 1 {
		t.Fatalf("after compaction and reopen: %d messages", len(collect(rec)))
	}
}

// TestTornTailAndFlippedByte cut the last segment mid-record, and flip a
// byte in a record, as a crash or a bad disk would: the store opens, keeps
// every intact message and never serves the damaged one.
func TestTornTailAndFlippedByte(t *testing.T) {
	for _, damage := range []string{"torn", "flipped"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openStore(t, dir, nil)
			for i := uint64(1); i <= 10; i++ {
				logSync(t, s, i, []broker.QueueRef{qa}, &message.Message{Body: bytes.Repeat([]byte{byte('a' + i)}, 100)})
			}
			s.Close()
			segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
			if len(segs) != 1 {
				t.Fatalf("segments: %v", segs)
			}
			data, err := os.ReadFile(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			last := bytes.LastIndex(data, bytes.Repeat([]byte{'a' + 10}, 100))
			if last < 0 {
				t.Fatal("last record not found")
			}
			switch damage {
			case "torn":
				data = data[:last+50]
			case "flipped":
				data[last+10] ^= 0x40
			}
			if err := os.WriteFile(segs[0], data, 0o600); err != nil {
				t.Fatal(err)
			}
			s2, rec := openStore(t, dir, nil)
			defer s2.Close()
			if len(collect(rec)) != 9 {
				t.Fatalf("recovered %d messages, want the 9 intact ones", len(collect(rec)))
			}
			for _, m := range collect(rec) {
				if m.ID == 10 {
					t.Fatal("damaged message served")
				}
			}
			if rec.Log.TornTail == nil {
				t.Fatal("damage not reported")
			}
			// The store goes on working after the cut.
			logSync(t, s2, 11, []broker.QueueRef{qa}, &message.Message{Body: []byte("after")})
		})
	}
}

func TestSetKeyringRotatesWhileRunning(t *testing.T) {
	dir := t.TempDir()
	k1 := testKeyring(t, "k1")
	s, _ := openStore(t, dir, k1)
	logSync(t, s, 1, []broker.QueueRef{qa}, &message.Message{Body: []byte("under k1")})
	k2 := testKeyring(t, "k2")
	both := &Keyring{ids: []string{"k2", "k1"}, keys: map[string][]byte{"k2": k2.keys["k2"], "k1": k1.keys["k1"]},
		derived: map[derivedID]cipher.AEAD{}}
	if err := s.SetKeyring(both); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyring(nil); err == nil {
		t.Fatal("encryption turned off while running")
	}
	logSync(t, s, 2, []broker.QueueRef{qa}, &message.Message{Body: []byte("under k2")})
	s.Close()
	s2, rec := openStore(t, dir, both)
	if len(collect(rec)) != 2 {
		t.Fatalf("with both keys: %d messages", len(collect(rec)))
	}
	s2.Close()
	s3, rec := openStore(t, dir, k2)
	defer s3.Close()
	if len(collect(rec)) != 1 || string(collect(rec)[0].Msg.Body) != "under k2" {
		t.Fatalf("new records are not sealed with the new first key: %+v", collect(rec))
	}
}

// collect reads every recovered message.
func collect(rec *Recovered) []broker.RecoveredMessage { return slices.Collect(rec.Messages) }

// TestIndexEntrySize pins the per-message index cost that docs/ARCHITECTURE.md
// states: a backlog of a million messages keeps a million of these.
func TestIndexEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(liveMsg{}); n > 32 {
		t.Fatalf("liveMsg is %d bytes, documented as 32", n)
	}
}

// TestCompactionKeepsReturnCounts: a message that came back unacked keeps
// its x-delivery-limit count when compaction copies it forward.
func TestCompactionKeepsReturnCounts(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir, nil)
	body := bytes.Repeat([]byte("x"), 1000)
	const n = 3000 // ~3 MB over 1 MiB segments
	var wg sync.WaitGroup
	for i := uint64(1); i <= n; i++ {
		wg.Add(1)
		s.LogMessage(i, 1, []broker.QueueRef{qa, qb}, &message.Message{Body: body}, func(error) { wg.Done() })
	}
	wg.Wait()
	s.LogDelivered(qa, 1)
	for range 3 {
		s.LogReturned(1, qa)
	}
	s.LogReturned(1, qb)
	for i := uint64(2); i <= n; i++ {
		s.LogSettled(qa, i)
		s.LogSettled(qb, i)
	}
	if err := s.log.Sync(); err != nil {
		t.Fatal(err)
	}
	first := s.log.Segments()[0].ID
	for range 2 {
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	if s.log.Segments()[0].ID == first {
		t.Fatal("the head segment was not reclaimed")
	}
	s.Close()
	s2, rec := openStore(t, dir, nil)
	defer s2.Close()
	msgs := collect(rec)
	if len(msgs) != 1 || len(msgs[0].Queues) != 2 {
		t.Fatalf("after compaction and reopen: %+v", msgs)
	}
	for _, q := range msgs[0].Queues {
		want := map[string]uint32{qa.Queue: 3, qb.Queue: 1}[q.Queue]
		if q.Returns != want || q.Delivered != (q.Queue == qa.Queue) {
			t.Fatalf("queue %s: returns %d delivered %v, want %d", q.Queue, q.Returns, q.Delivered, want)
		}
	}
}

// TestBatchSettleAndDeliverRecords: a multiple ack and a dispatch of many
// messages are logged as one record each, and replay applies every id.
func TestBatchSettleAndDeliverRecords(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir, nil)
	for i := uint64(1); i <= 10; i++ {
		logSync(t, s, i, []broker.QueueRef{qa}, &message.Message{Body: []byte{byte(i)}})
	}
	before := s.log.Stats()
	s.LogDelivered(qa, 1, 2, 3, 4, 5)
	s.LogSettled(qa, 2, 3, 4)
	if err := s.log.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := s.log.Stats().Appends - before.Appends; n != 2 {
		t.Fatalf("%d records for two batches, want 2", n)
	}
	s.Close()
	s2, rec := openStore(t, dir, nil)
	defer s2.Close()
	var got []string
	for _, m := range collect(rec) {
		got = append(got, fmt.Sprintf("%d:%v", m.ID, m.Queues[0].Delivered))
	}
	want := "[1:true 5:true 6:false 7:false 8:false 9:false 10:false]"
	if fmt.Sprint(got) != want {
		t.Fatalf("recovered %v, want %s", got, want)
	}
}
