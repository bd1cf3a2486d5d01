package server

import (
	"bytes"
	"encoding/json"
)

// A minimal scanner over JSON text that json.Marshal produced (valid,
// compact or not): it finds one key of an object without decoding the
// rest, which is what sorting and filtering a long list need.

// objectField returns the value of key in the JSON object raw (its first,
// where a key is given twice); nil when raw is not an object or has no
// such key.
func objectField(raw []byte, key string) json.RawMessage {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] != '"' {
			return nil // '}' or malformed
		}
		kEnd := skipString(raw, i)
		if kEnd < 0 {
			return nil
		}
		match := keyEquals(raw[i:kEnd], key)
		i = skipSpace(raw, kEnd)
		if i >= len(raw) || raw[i] != ':' {
			return nil
		}
		i = skipSpace(raw, i+1)
		vEnd := skipValue(raw, i)
		if vEnd < 0 {
			return nil
		}
		if match {
			return raw[i:vEnd]
		}
		i = skipSpace(raw, vEnd)
		if i >= len(raw) || raw[i] != ',' {
			return nil
		}
		i++
	}
}

// keyEquals compares a quoted JSON string with key, unescaping only when
// the string has escapes.
func keyEquals(quoted []byte, key string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == key
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == key
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at raw[i]
// (a '"'), -1 when it does not end.
func skipString(raw []byte, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the value starting at raw[i], -1
// when it does not end.
func skipValue(raw []byte, i int) int {
	if i >= len(raw) {
		return -1
	}
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				end := skipString(raw, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(raw) && raw[j] != ',' && raw[j] != '}' && raw[j] != ']' &&
		raw[j] != ' ' && raw[j] != '\t' && raw[j] != '\n' && raw[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
