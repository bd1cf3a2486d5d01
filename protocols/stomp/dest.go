package stomp

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// destKind is the kind of a STOMP destination, as RabbitMQ's STOMP plugin
// names them.
type destKind uint8

const (
	destQueue      destKind = iota + 1 // /queue/NAME (or a bare NAME)
	destTopic                          // /topic/KEY
	destExchange                       // /exchange/X[/KEY]
	destAmqQueue                       // /amq/queue/NAME
	destTempQueue                      // /temp-queue/ID (reply-to only)
	destReplyQueue                     // /reply-queue/NAME
)

func (k destKind) String() string {
	switch k {
	case destQueue:
		return "queue"
	case destTopic:
		return "topic"
	case destExchange:
		return "exchange"
	case destAmqQueue:
		return "amqqueue"
	case destTempQueue:
		return "temp_queue"
	case destReplyQueue:
		return "reply_queue"
	}
	return "unknown"
}

// destination is a parsed destination header.
type destination struct {
	kind destKind
	// name is the queue name, topic key, exchange name or temp-queue id.
	name string
	// pattern is the routing key of an /exchange/X/KEY destination;
	// hasPattern is false for /exchange/X.
	pattern    string
	hasPattern bool
}

// Destination prefixes.
const (
	prefixQueue      = "/queue"
	prefixTopic      = "/topic"
	prefixExchange   = "/exchange"
	prefixAmqQueue   = "/amq/queue"
	prefixTempQueue  = "/temp-queue"
	prefixReplyQueue = "/reply-queue/"
)

// destError is a destination that cannot be parsed. The texts are
// RabbitMQ's.
type destError struct {
	unknown bool
	kind    destKind
	content string
}

func (e *destError) Error() string {
	if e.unknown {
		return "'" + e.content + "' is not a valid destination.\n" +
			"Valid destination types are: /temp-queue, /exchange, /topic, /queue, /amq/queue, /reply-queue/.\n"
	}
	return "'" + e.content + "' is not a valid " + e.kind.String() + " destination\n"
}

// title is the ERROR frame's message header for e.
func (e *destError) title() string {
	if e.unknown {
		return "Unknown destination"
	}
	return "Invalid destination"
}

// parseDestination parses a destination header the way RabbitMQ does: the
// text is split at every '/', "%2F" in a segment stands for '/', a text
// without any '/' is a queue name, and /reply-queue/ takes the rest of the
// text whatever it holds.
func parseDestination(s string) (destination, error) {
	if !strings.Contains(s, "/") {
		return destination{kind: destQueue, name: unescapeSegment(s)}, nil
	}
	if !strings.HasPrefix(s, "/") {
		return destination{}, &destError{unknown: true, content: s}
	}
	parts := strings.Split(s[1:], "/")
	var kind destKind
	var rest []string
	switch parts[0] {
	case "queue":
		kind, rest = destQueue, parts[1:]
	case "topic":
		kind, rest = destTopic, parts[1:]
	case "exchange":
		kind, rest = destExchange, parts[1:]
	case "temp-queue":
		kind, rest = destTempQueue, parts[1:]
	case "amq":
		if len(parts) < 2 || parts[1] != "queue" {
			return destination{}, &destError{unknown: true, content: s}
		}
		kind, rest = destAmqQueue, parts[2:]
	case "reply-queue":
		if len(parts) < 2 {
			return destination{}, &destError{unknown: true, content: s}
		}
		name := s[len(prefixReplyQueue):]
		if name == "" {
			return destination{}, &destError{kind: destReplyQueue, content: "/"}
		}
		return destination{kind: destReplyQueue, name: name}, nil
	default:
		return destination{}, &destError{unknown: true, content: s}
	}
	invalid := func() error {
		content := ""
		if len(rest) > 0 {
			content = "/" + strings.Join(rest, "/")
		}
		return &destError{kind: kind, content: content}
	}
	if kind == destExchange {
		switch {
		case len(rest) == 0 || rest[0] == "" || len(rest) > 2:
			return destination{}, invalid()
		case len(rest) == 1:
			return destination{kind: kind, name: unescapeSegment(rest[0])}, nil
		default:
			return destination{kind: kind, name: unescapeSegment(rest[0]), pattern: unescapeSegment(rest[1]), hasPattern: true}, nil
		}
	}
	if len(rest) != 1 || rest[0] == "" {
		return destination{}, invalid()
	}
	return destination{kind: kind, name: unescapeSegment(rest[0])}, nil
}

// unescapeSegment turns "%2F" back into '/', the only escape RabbitMQ
// decodes in a destination.
func unescapeSegment(s string) string {
	if !strings.Contains(s, "%2F") {
		return s
	}
	return strings.ReplaceAll(s, "%2F", "/")
}

// routing is the exchange and routing key a SEND to d publishes with.
func (d destination) routing() (exchange, key string) {
	switch d.kind {
	case destTopic:
		return "amq.topic", d.name
	case destExchange:
		return d.name, d.pattern
	}
	return "", d.name
}

// appendDestination appends the destination header RabbitMQ shows for a
// message published to exchange with key: /queue/KEY for the default
// exchange, /topic/KEY for amq.topic, /exchange/X[/KEY] otherwise.
func appendDestination(dst []byte, exchange, key string) []byte {
	switch exchange {
	case "":
		dst = append(dst, "/queue/"...)
		return appendEscapedSegment(dst, key)
	case "amq.topic":
		dst = append(dst, "/topic/"...)
		return appendEscapedSegment(dst, key)
	}
	dst = append(dst, "/exchange/"...)
	dst = appendEscapedSegment(dst, exchange)
	if key != "" {
		dst = append(dst, '/')
		dst = appendEscapedSegment(dst, key)
	}
	return dst
}

// appendEscapedSegment escapes one destination segment as RabbitMQ does:
// '/' and '%' and octets outside 32..127 become %XX.
func appendEscapedSegment(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == '%' || c < 32 || c > 127 {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// isDestPrefixed reports whether a reply-to value already names a
// destination; RabbitMQ shows any other reply-to as /reply-queue/VALUE.
func isDestPrefixed(s string) bool {
	for _, p := range [...]string{prefixExchange, prefixTopic, prefixQueue, prefixAmqQueue, prefixReplyQueue} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// subscriptionQueueName is the queue RabbitMQ declares for a topic or
// exchange subscription: "stomp-subscription-" and the base64url MD5 of the
// Erlang term {Name, Id}, where Name is the routing key and Id the
// subscription id (durable subscriptions) or random bytes. Using the same
// formula means a durable subscription keeps its queue when clients move
// between RabbitMQ and sluice.
func subscriptionQueueName(name, id string) string {
	b := make([]byte, 0, 16+len(name)+len(id))
	b = append(b, 131, 104, 2) // version, SMALL_TUPLE_EXT, arity 2
	b = appendErlangString(b, name)
	b = appendErlangString(b, id)
	sum := md5.Sum(b)
	return "stomp-subscription-" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// appendErlangString appends an Erlang list of octets in external term
// format, as term_to_binary writes a STOMP header value.
func appendErlangString(b []byte, s string) []byte {
	switch {
	case s == "":
		return append(b, 106) // NIL_EXT
	case len(s) <= 0xFFFF:
		b = append(b, 107) // STRING_EXT
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		return append(b, s...)
	}
	b = append(b, 108) // LIST_EXT
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	for i := 0; i < len(s); i++ {
		b = append(b, 97, s[i]) // SMALL_INTEGER_EXT
	}
	return append(b, 106)
}

// randomID is a random base64url string for server-generated names.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
