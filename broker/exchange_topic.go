package broker

import (
	"strings"

	"github.com/sluice-mq/sluice/broker/message"
)

// topicRouter matches routing keys against binding patterns the way RabbitMQ
// does: words are separated by '.', '*' matches exactly one word, '#' matches
// zero or more words. The empty key has zero words (so only "" and "#" match
// it), and "a..b" has an empty middle word. Patterns live in a trie so a
// publish costs the depth of the key, not the number of bindings.
type topicRouter struct{ root *topicNode }

type topicNode struct {
	children map[string]*topicNode
	bindings []*binding
	// nestedHash marks a '#' node with another '#' below it in some
	// pattern. Matching such a node from every position, through every
	// way the words before it split among the '#'s, is exponential in the
	// number of '#'s (a 27-byte pattern with seven took 13 s for one
	// publish); route remembers which (node, position) pairs it has
	// matched there, which bounds a publish by nodes x words. It is not
	// cleared when bindings go: a stale mark only costs the memo.
	nestedHash bool
}

// hashVisit is a '#' node entered at a word position, for the memo.
type hashVisit struct {
	n *topicNode
	i int
}

func newTopicRouter() *topicRouter { return &topicRouter{root: &topicNode{}} }

// topicWords splits key into words without allocating when buf is big enough.
func topicWords(key string, buf []string) []string {
	if key == "" {
		return buf[:0]
	}
	words := buf[:0]
	for {
		i := strings.IndexByte(key, '.')
		if i < 0 {
			return append(words, key)
		}
		words = append(words, key[:i])
		key = key[i+1:]
	}
}

// patternWords splits a binding key and folds runs of '#' into one, which
// matches the same keys and keeps matching from going exponential.
func patternWords(key string) []string {
	var words []string
	for _, w := range topicWords(key, nil) {
		if w == "#" && len(words) > 0 && words[len(words)-1] == "#" {
			continue
		}
		words = append(words, w)
	}
	return words
}

func (r *topicRouter) add(b *binding) {
	n := r.root
	var hashes []*topicNode
	for _, w := range patternWords(b.key) {
		if w == "#" {
			for _, h := range hashes {
				h.nestedHash = true
			}
		}
		if n.children == nil {
			n.children = map[string]*topicNode{}
		}
		c := n.children[w]
		if c == nil {
			c = &topicNode{}
			n.children[w] = c
		}
		n = c
		if w == "#" {
			hashes = append(hashes, n)
		}
	}
	n.bindings = append(n.bindings, b)
}

func (r *topicRouter) remove(b *binding) {
	words := patternWords(b.key)
	path := make([]*topicNode, 0, len(words)+1)
	n := r.root
	path = append(path, n)
	for _, w := range words {
		n = n.children[w]
		if n == nil {
			return
		}
		path = append(path, n)
	}
	n.bindings = removeBinding(n.bindings, b)
	// Prune nodes left empty so a churn of bindings does not leak the trie.
	for i := len(words) - 1; i >= 0; i-- {
		c := path[i+1]
		if len(c.bindings) > 0 || len(c.children) > 0 {
			break
		}
		delete(path[i].children, words[i])
	}
}

func (r *topicRouter) route(key string, _ message.Table, rs *routeState) {
	rs.words = topicWords(key, rs.words[:0])
	if len(rs.hashSeen) > 0 {
		clear(rs.hashSeen)
	}
	r.root.match(rs.words, 0, rs)
}

func (n *topicNode) match(words []string, i int, rs *routeState) {
	if i == len(words) {
		for _, b := range n.bindings {
			rs.add(b)
		}
	} else if n.children != nil {
		if c := n.children[words[i]]; c != nil {
			c.match(words, i+1, rs)
		}
		if c := n.children["*"]; c != nil {
			c.match(words, i+1, rs)
		}
	}
	if h := n.children["#"]; h != nil {
		for j := i; j <= len(words); j++ {
			if h.nestedHash {
				v := hashVisit{h, j}
				if _, seen := rs.hashSeen[v]; seen {
					continue
				}
				if rs.hashSeen == nil {
					rs.hashSeen = map[hashVisit]struct{}{}
				}
				rs.hashSeen[v] = struct{}{}
			}
			h.match(words, j, rs)
		}
	}
}
