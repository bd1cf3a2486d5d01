package broker

import (
	"fmt"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// Growing the ring by one bucket moves only the keys that now hash to the
// new bucket; every other key keeps its bucket.
func TestJumpHashMovesOnlyToNewBucket(t *testing.T) {
	for n := 1; n < 40; n++ {
		moved := 0
		for k := 0; k < 2000; k++ {
			h := fnv64(fmt.Sprint("key-", k))
			before, after := jumpHash(h, n), jumpHash(h, n+1)
			if before < 0 || before >= n {
				t.Fatalf("jumpHash(_, %d) = %d", n, before)
			}
			if after != before {
				if after != n {
					t.Fatalf("n %d -> %d: key %d moved from %d to %d, not to the new bucket", n, n+1, k, before, after)
				}
				moved++
			}
		}
		// About 2000/(n+1) keys move; far more or none is a broken hash.
		if want := 2000 / (n + 1); moved < want/3 || moved > want*3 {
			t.Fatalf("n %d -> %d: %d keys moved, want about %d", n, n+1, moved, want)
		}
	}
}

func hashBinding(q *Queue, key string) *binding { return &binding{queue: q, key: key} }

func hashRoutedTo(r *hashRouter, key string) *Queue {
	var rs routeState
	r.route(key, nil, &rs)
	if len(rs.queues) != 1 {
		return nil
	}
	return rs.queues[0]
}

// A second binding to a destination on the ring adds no buckets; when the
// first is removed the second keeps the destination reachable, and
// removing a destination shifts the later ones down.
func TestHashRouterRebinding(t *testing.T) {
	qa, qb := &Queue{name: "a"}, &Queue{name: "b"}
	r := newHashRouter(nil)
	a1, a5, b1 := hashBinding(qa, "1"), hashBinding(qa, "5"), hashBinding(qb, "1")
	r.add(a1)
	r.add(a5)
	r.add(b1)
	if r.buckets != 2 || len(r.ring) != 2 || len(r.others) != 1 {
		t.Fatalf("buckets %d ring %d others %d, want 2, 2, 1", r.buckets, len(r.ring), len(r.others))
	}
	r.remove(a1)
	if r.buckets != 6 || r.ring[0].b != b1 || r.ring[0].end != 1 || r.ring[1].b != a5 || r.ring[1].end != 6 {
		t.Fatalf("after removing a1: %+v, want b1 then a5 (weight 5)", r.ring)
	}
	seen := map[*Queue]int{}
	for k := 0; k < 600; k++ {
		seen[hashRoutedTo(r, fmt.Sprint(k))]++
	}
	if seen[qa] < 350 || seen[qb] < 50 || seen[nil] != 0 {
		t.Fatalf("routed %v, want about 5:1 for a:b", seen)
	}
	r.remove(a5)
	r.remove(b1)
	if r.buckets != 0 || len(r.ring) != 0 || hashRoutedTo(r, "x") != nil {
		t.Fatalf("empty ring still routes: %+v", r.ring)
	}
}

// A publisher that looked an exchange up just before it was deleted still
// routes through it (to nothing): deleting a plugin exchange must leave it
// a router, not nil.
func TestDeletedPluginExchangeStillRoutes(t *testing.T) {
	v := newTestVHost(t)
	for _, d := range []ExchangeDecl{
		{Name: "dx", Type: ExchangeDelayed, Args: message.Table{"x-delayed-type": "direct"}},
		{Name: "ddx", Type: ExchangeDedup},
		{Name: "chx", Type: ExchangeConsistentHash},
		{Name: "lrx", Type: ExchangeLocalRandom},
	} {
		if _, err := v.DeclareExchange(d); err != nil {
			t.Fatal(err)
		}
		x, _ := v.Exchange(d.Name)
		if err := v.DeleteExchange(d.Name, false); err != nil {
			t.Fatal(err)
		}
		m := &message.Message{}
		if qs := v.route(x, "k", &m.Properties, &routeState{}); len(qs) != 0 {
			t.Fatalf("%s: deleted exchange routed to %d queues", d.Type, len(qs))
		}
	}
}

// A delayed-message exchange that routes as x-consistent-hash takes the
// hash arguments, and has them checked, as a consistent-hash exchange does.
func TestDelayedConsistentHashArgs(t *testing.T) {
	v := newTestVHost(t)
	_, err := v.DeclareExchange(ExchangeDecl{Name: "dx", Type: ExchangeDelayed,
		Args: message.Table{"x-delayed-type": ExchangeConsistentHash, "hash-property": "nope"}})
	if codeOf(err) != CodePreconditionFailed {
		t.Fatalf("bad hash-property on a delayed consistent-hash exchange: %v", err)
	}
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dx", Type: ExchangeDelayed,
		Args: message.Table{"x-delayed-type": ExchangeConsistentHash, "hash-header": "h"}}); err != nil {
		t.Fatal(err)
	}
	x, _ := v.Exchange("dx")
	if r, ok := x.router.(*hashRouter); !ok || r.header != "h" {
		t.Fatalf("router %#v, want a consistent-hash router on header h", x.router)
	}
}
