package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// TestDedupOrderStaysBounded: one id with a long per-message window at the
// front of the eviction order held back every shorter one behind it, so
// the order list grew by a slot (and a key) per publish: 100,000 publishes
// with 2 live ids kept 100,001 slots (issue #12, item 11).
func TestDedupOrderStaysBounded(t *testing.T) {
	d := newDedupCache(time.Millisecond, 1_000_000, false)
	now := time.Now().UnixNano()
	long := msgWith("x", message.Table{"x-deduplication-header": "long", "x-cache-ttl": int32(3_600_000)})
	if d.seen(long, now) {
		t.Fatal("first id seen as a duplicate")
	}
	for i := 0; i < 100_000; i++ {
		now += int64(time.Millisecond)
		m := msgWith("x", message.Table{"x-deduplication-header": fmt.Sprint("id-", i)})
		if d.seen(m, now) {
			t.Fatalf("id %d seen as a duplicate", i)
		}
	}
	if slots, live := len(d.order)-d.head, len(d.byKey); slots > 4096 || live > 4096 {
		t.Fatalf("after 100,000 short-lived ids: %d order slots, %d remembered ids", slots, live)
	}
	if !d.seen(long, now) {
		t.Fatal("the long-lived id was forgotten")
	}
}

// TestDedupLongIDsAreHashed: an id is whatever the publisher puts in its
// header; a long one is remembered by its SHA-256, so memory per id stays
// bounded, and it still de-duplicates.
func TestDedupLongIDsAreHashed(t *testing.T) {
	d := newDedupCache(time.Hour, 10, false)
	now := time.Now().UnixNano()
	big := strings.Repeat("k", 1<<20)
	m := msgWith("x", message.Table{"x-deduplication-header": big})
	if d.seen(m, now) || !d.seen(m, now) {
		t.Fatal("a long id does not de-duplicate")
	}
	for k := range d.byKey {
		if len(k) > 128 {
			t.Fatalf("a %d-byte id is remembered whole", len(k))
		}
	}
}

// TestDedupCacheSizeIsBounded: x-cache-size had no upper bound, so one
// declare could ask the broker to remember any number of ids.
func TestDedupCacheSizeIsBounded(t *testing.T) {
	b := New(Config{MaxDedupCacheSize: 1000})
	v, _ := b.VHost("/")
	_, err := v.DeclareQueue(QueueDecl{Name: "q", Args: message.Table{"x-message-deduplication": true, "x-cache-size": int64(1001)}})
	if codeOf(err) != CodePreconditionFailed {
		t.Fatalf("queue x-cache-size over the limit: %v", err)
	}
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Args: message.Table{"x-message-deduplication": true, "x-cache-size": int64(1000)}}); err != nil {
		t.Fatal(err)
	}
	_, err = v.DeclareExchange(ExchangeDecl{Name: "x", Type: ExchangeDedup, Args: message.Table{"x-cache-size": "1001"}})
	if codeOf(err) != CodePreconditionFailed {
		t.Fatalf("exchange x-cache-size over the limit: %v", err)
	}
}

// TestRestoreDropsALoggedDuplicate: a persistent message is logged before
// its queue's de-duplication check; a duplicate is then settled lazily, so
// a crash in between left its record live, and the restart enqueued it next
// to the original (found by the torture test, seed 427055689: id d-87654
// delivered with two messages). Restore now applies the window in publish
// order and settles the duplicate.
func TestRestoreDropsALoggedDuplicate(t *testing.T) {
	b := New(Config{})
	j := &journal{}
	b.SetPersister(j)
	now := time.Now().UnixNano()
	msgs := func(yield func(RecoveredMessage) bool) {
		for i, body := range []string{"original", "duplicate"} {
			m := msgWith(body, message.Table{"x-deduplication-header": "d-1"})
			m.Properties.Flags |= message.FlagDeliveryMode
			m.Properties.DeliveryMode = message.Persistent
			if !yield(RecoveredMessage{ID: uint64(i + 1), PublishedAt: now + int64(i)*int64(time.Second), Msg: m,
				Queues: []RecoveredTarget{{QueueRef: QueueRef{VHost: "/", Queue: "q"}}}}) {
				return
			}
		}
	}
	defs := Definitions{VHosts: []string{"/"}, Queues: []QueueDef{{VHost: "/", Name: "q", Args: message.Table{"x-message-deduplication": true}}}}
	if err := b.Restore(defs, msgs); err != nil {
		t.Fatal(err)
	}
	v, _ := b.VHost("/")
	if n := readyCount(t, v, "q"); n != 1 {
		t.Fatalf("%d messages restored with one de-duplication id, want 1", n)
	}
	settled := false
	for _, e := range j.log() {
		settled = settled || e == "settled 2 in q"
	}
	if !settled {
		t.Fatalf("the dropped duplicate was not settled in storage: %q", j.log())
	}
}

// recordingDedup is a journal that also notes de-duplication records.
type recordingDedup struct{ journal }

func (r *recordingDedup) LogDedup(scope QueueRef, key string, _ int64, _ string) {
	r.note("dedup %s %s", scope.Queue, key)
}

// TestRestoreLogsTheIdsItLearns: a de-duplication id's record is lazy, so a
// kill can lose it while its message survives; the restart learned the id
// from the message but did not log it, so once the message was consumed
// the id was forgotten inside its window (found by the torture test, seed
// 420876285: id d-6408 accepted again 37 lifetimes later).
func TestRestoreLogsTheIdsItLearns(t *testing.T) {
	b := New(Config{})
	j := &recordingDedup{}
	b.SetPersister(j)
	m := msgWith("m", message.Table{"x-deduplication-header": "d-1"})
	m.Properties.Flags |= message.FlagDeliveryMode
	m.Properties.DeliveryMode = message.Persistent
	msgs := func(yield func(RecoveredMessage) bool) {
		yield(RecoveredMessage{ID: 1, PublishedAt: time.Now().UnixNano(), Msg: m,
			Queues: []RecoveredTarget{{QueueRef: QueueRef{VHost: "/", Queue: "q"}}}})
	}
	defs := Definitions{VHosts: []string{"/"}, Queues: []QueueDef{{VHost: "/", Name: "q", Args: message.Table{"x-message-deduplication": true}}}}
	if err := b.Restore(defs, msgs); err != nil {
		t.Fatal(err)
	}
	for _, e := range j.log() {
		if e == "dedup q h:d-1" {
			return
		}
	}
	t.Fatalf("the id learned from a restored message was not logged: %q", j.log())
}
