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
