package main

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"
)

// A small JSON reader for the fast SQS client's answers: it walks an
// object's members and an array's elements as raw values, so that the
// client reads the few fields it needs without decoding into structs
// through reflection. It checks the syntax of what it walks (an answer cut
// short or garbled is an error), not of values it skips past unread
// beyond their extent.

var errJSON = errors.New("malformed JSON")

// scanObject calls fn with each member of the object in data (after
// leading white space), the value raw.
func scanObject(data []byte, fn func(key string, v []byte)) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errJSON
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		end, err := valueEnd(data, i)
		if err != nil || data[i] != '"' {
			return errJSON
		}
		key, err := jsonString(data[i:end])
		if err != nil {
			return err
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return errJSON
		}
		i = skipWS(data, i+1)
		end, err = valueEnd(data, i)
		if err != nil {
			return err
		}
		fn(key, data[i:end])
		i = skipWS(data, end)
		if i >= len(data) {
			return errJSON
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return nil
		default:
			return errJSON
		}
	}
}

// scanArray calls fn with each element of the array in data, raw. A value
// that is not an array (null, for one) has no elements.
func scanArray(data []byte, fn func(v []byte)) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return errJSON
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil
	}
	for {
		end, err := valueEnd(data, i)
		if err != nil {
			return err
		}
		fn(data[i:end])
		i = skipWS(data, end)
		if i >= len(data) {
			return errJSON
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case ']':
			return nil
		default:
			return errJSON
		}
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just after the value that starts at data[i].
func valueEnd(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errJSON
	}
	switch c := data[i]; {
	case c == '"':
		// Bodies are long strings: find the closing quote with
		// IndexByte, byte by byte only past an escape.
		j := i + 1
		for {
			q := bytes.IndexByte(data[j:], '"')
			if q < 0 {
				return 0, errJSON
			}
			b := bytes.IndexByte(data[j:j+q], '\\')
			if b < 0 {
				return j + q + 1, nil
			}
			j += b + 2 // past the escape and the character it escapes
			if j > len(data) {
				return 0, errJSON
			}
		}
	case c == '{' || c == '[':
		// Nesting is counted over brackets outside strings.
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			case '"':
				end, err := valueEnd(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			}
		}
		return 0, errJSON
	default:
		// A number, true, false or null.
		j := i
		for j < len(data) && (data[j] == '-' || data[j] == '+' || data[j] == '.' ||
			(data[j] >= '0' && data[j] <= '9') || (data[j] >= 'a' && data[j] <= 'z') || data[j] == 'E') {
			j++
		}
		if j == i {
			return 0, errJSON
		}
		return j, nil
	}
}

// jsonString decodes the JSON string v (quotes included).
func jsonString(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errJSON
	}
	v = v[1 : len(v)-1]
	plain := true
	for _, c := range v {
		if c == '\\' {
			plain = false
			break
		}
	}
	if plain && utf8.Valid(v) {
		return string(v), nil
	}
	// As encoding/json does, every byte of invalid UTF-8 becomes U+FFFD.
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(v[i:])
			out = utf8.AppendRune(out, r) // RuneError for an invalid byte
			i += n - 1
			continue
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(v) {
			return "", errJSON
		}
		switch v[i] {
		case '"', '\\', '/':
			out = append(out, v[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n, ok := hex4(v[i+1:])
			if !ok {
				return "", errJSON
			}
			i += n
			if utf16Surrogate(r) {
				// A pair: \uD8xx\uDCxx.
				if i+2 < len(v) && v[i+1] == '\\' && v[i+2] == 'u' {
					r2, n2, ok := hex4(v[i+3:])
					if ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
						i += 2 + n2
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errJSON
		}
	}
	return string(out), nil
}

func utf16Surrogate(r rune) bool { return r >= 0xD800 && r <= 0xDBFF }

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, int, bool) {
	if len(b) < 4 {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(n), 4, err == nil
}

// appendJSONStr appends s as a JSON string.
func appendJSONStr[T string | []byte](b []byte, s T) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
