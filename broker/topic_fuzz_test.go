package broker

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// topicMatches is the reference for topic matching, straight from the
// definition (RabbitMQ's): '*' is exactly one word, '#' zero or more,
// by dynamic programming over (pattern word, key word) — no trie, no
// backtracking.
func topicMatches(pattern, key string) bool {
	p, k := topicWords(pattern, nil), topicWords(key, nil)
	// m[j]: the pattern so far matches the first j key words.
	m := make([]bool, len(k)+1)
	m[0] = true
	for _, w := range p {
		next := make([]bool, len(k)+1)
		for j := range next {
			switch w {
			case "#":
				next[j] = m[j] || (j > 0 && next[j-1])
			case "*":
				next[j] = j > 0 && m[j-1]
			default:
				next[j] = j > 0 && m[j-1] && k[j-1] == w
			}
		}
		m = next
	}
	return m[len(k)]
}

// FuzzTopicRoute binds up to eight patterns (newline separated) to a
// topic router, each to its own queue, routes key, and compares the
// queues reached with the reference; removing every binding must leave
// an empty trie. Names and keys are AMQP short strings (at most 255
// bytes) on the wire.
func FuzzTopicRoute(f *testing.F) {
	f.Add("#.a.#.a.#.a.#.a.#.a.#.a.#.b", strings.Repeat("a.", 59)+"c")
	f.Add("a.*.c\n#\n*\na.#\n#.c\n\na..c", "a.b.c")
	f.Add("#.#\n*.#.*\n#.*.#", "a")
	f.Add("a.b\n\n#", "")
	f.Add("*.*\n*..*", "x..y")
	f.Add("stock.#.nyse\n*.usd.*", "stock.usd.nyse")
	f.Fuzz(func(t *testing.T, patterns, key string) {
		if len(key) > 255 {
			return
		}
		var bindings []*binding
		r := newTopicRouter()
		for _, p := range strings.SplitN(patterns, "\n", 8) {
			if len(p) > 255 {
				return
			}
			b := &binding{key: p, queue: &Queue{name: p}}
			bindings = append(bindings, b)
			r.add(b)
		}
		var rs routeState
		r.route(key, nil, &rs)
		for _, b := range bindings {
			if got, want := slices.Contains(rs.queues, b.queue), topicMatches(b.key, key); got != want {
				t.Fatalf("pattern %q, key %q: routed %v, want %v", b.key, key, got, want)
			}
		}
		for _, b := range bindings {
			r.remove(b)
		}
		if len(r.root.children) != 0 || len(r.root.bindings) != 0 {
			t.Fatalf("removing every binding left %d children, %d bindings", len(r.root.children), len(r.root.bindings))
		}
	})
}

// TestTopicManyHashesStaysLinear: a pattern with many '#' words made the
// trie try every way of splitting the key among them — 13 s for one
// publish of a 119-byte key under "#.a.#.a.#.a.#.a.#.a.#.a.#.b", with the
// exchange's lock held. The route now remembers the '#' nodes it entered
// at each position. 200 words would take longer than the universe's age
// without it; the deadline only detects a hang.
func TestTopicManyHashesStaysLinear(t *testing.T) {
	r := newTopicRouter()
	hit := &binding{key: "#.a.#.a.#.a.#.a.#.a.#.a.#.b", queue: &Queue{name: "hit"}}
	miss := &binding{key: "#.a.#.a.#.a.#.a.#.a.#.a.#.c", queue: &Queue{name: "miss"}}
	r.add(hit)
	r.add(miss)
	key := strings.Repeat("a.", 200) + "b"
	done := make(chan []*Queue, 1)
	go func() {
		var rs routeState
		r.route(key, nil, &rs)
		done <- append([]*Queue(nil), rs.queues...)
	}()
	select {
	case qs := <-done:
		if len(qs) != 1 || qs[0] != hit.queue {
			t.Fatalf("routed to %d queues", len(qs))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("routing one key did not finish in 10 s: matching is exponential again")
	}
}
