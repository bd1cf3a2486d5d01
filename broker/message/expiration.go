package message

import (
	"strconv"
	"strings"
)

// MaxExpiration is the largest per-message TTL RabbitMQ accepts, in
// milliseconds: ten years.
const MaxExpiration = 315_360_000_000

// ExpirationError says why an expiration property is not a TTL, in
// RabbitMQ's words (the reason in "invalid expiration 'S': REASON"), or ""
// when it is one. RabbitMQ reads it with Erlang's string:to_integer: an
// optional sign and digits, nothing before them and nothing after; then
// it must lie in 0..MaxExpiration.
func ExpirationError(s string) string {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return "no_integer"
	}
	if j < len(s) {
		return "{leftover_string," + erlangString(s[j:]) + "}"
	}
	digits := strings.TrimPrefix(s, "+")
	n, err := strconv.ParseInt(digits, 10, 64)
	switch {
	case err != nil && s[0] == '-': // below int64: negative all the same
		return "{value_negative," + digits + "}"
	case err != nil:
		return "{value_too_large," + digits + "}"
	case n < 0:
		return "{value_negative," + strconv.FormatInt(n, 10) + "}"
	case n > MaxExpiration:
		return "{value_too_large," + strconv.FormatInt(n, 10) + "}"
	}
	return ""
}

// erlangString writes s as Erlang's ~p prints a string: in double quotes,
// with quotes and backslashes escaped.
func erlangString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
