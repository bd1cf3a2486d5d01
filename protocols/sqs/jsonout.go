package sqs

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// The answers of the hot actions (SendMessage, SendMessageBatch,
// ReceiveMessage, DeleteMessageBatch) are written by hand, byte for byte
// as encoding/json writes them (TestJSONOutMatchesEncodingJSON and
// FuzzJSONString compare the two), without its reflection and into a
// buffer the caller reuses. Every other answer is encoding/json's.

// jsonAppender is an answer that writes its own JSON.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

const hexLower = "0123456789abcdef"

// appendJSONString writes s as encoding/json does with its HTML escaping
// (json.Marshal's): quotes, backslashes and control characters escaped,
// <, > and & as \u003c, \u003e, \u0026, U+2028 and U+2029 escaped, and
// every byte of invalid UTF-8 as \ufffd.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, n := decodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexLower[r&0xF])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// field writes "name": after a comma unless first.
func appendField(b []byte, first bool, name string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

func (o sendOut) appendFields(b []byte) []byte {
	b = appendField(b, true, "MD5OfMessageBody")
	b = appendJSONString(b, o.MD5OfMessageBody)
	if o.MD5OfMessageAttributes != "" {
		b = appendField(b, false, "MD5OfMessageAttributes")
		b = appendJSONString(b, o.MD5OfMessageAttributes)
	}
	if o.MD5OfMessageSystemAttributes != "" {
		b = appendField(b, false, "MD5OfMessageSystemAttributes")
		b = appendJSONString(b, o.MD5OfMessageSystemAttributes)
	}
	b = appendField(b, false, "MessageId")
	b = appendJSONString(b, o.MessageId)
	if o.SequenceNumber != "" {
		b = appendField(b, false, "SequenceNumber")
		b = appendJSONString(b, o.SequenceNumber)
	}
	return b
}

func (o sendOut) appendJSON(b []byte) []byte {
	b = append(b, '{')
	return append(o.appendFields(b), '}')
}

func appendBatchErrors(b []byte, errs []batchError) []byte {
	if errs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(append(b, '{'), true, "Id")
		b = appendJSONString(b, e.Id)
		b = appendField(b, false, "SenderFault")
		b = strconv.AppendBool(b, e.SenderFault)
		b = appendField(b, false, "Code")
		b = appendJSONString(b, e.Code)
		if e.Message != "" {
			b = appendField(b, false, "Message")
			b = appendJSONString(b, e.Message)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func (o sendBatchOut) appendJSON(b []byte) []byte {
	b = appendField(append(b, '{'), true, "Successful")
	if o.Successful == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, e := range o.Successful {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendField(append(b, '{'), true, "Id")
			b = appendJSONString(b, e.Id)
			b = append(b, ',')
			b = append(e.sendOut.appendFields(b), '}')
		}
		b = append(b, ']')
	}
	b = appendField(b, false, "Failed")
	return append(appendBatchErrors(b, o.Failed), '}')
}

func (o deleteBatchOut) appendJSON(b []byte) []byte {
	b = appendField(append(b, '{'), true, "Successful")
	if o.Successful == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, e := range o.Successful {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendField(append(b, '{'), true, "Id")
			b = append(appendJSONString(b, e.Id), '}')
		}
		b = append(b, ']')
	}
	b = appendField(b, false, "Failed")
	return append(appendBatchErrors(b, o.Failed), '}')
}

func (o receiveOut) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if len(o.Messages) > 0 {
		b = appendField(b, true, "Messages")
		b = append(b, '[')
		for i := range o.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			b = o.Messages[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func (m *messageOut) appendJSON(b []byte) []byte {
	b = appendField(append(b, '{'), true, "MessageId")
	b = appendJSONString(b, m.MessageId)
	b = appendField(b, false, "ReceiptHandle")
	b = appendJSONString(b, m.ReceiptHandle)
	b = appendField(b, false, "MD5OfBody")
	b = appendJSONString(b, m.MD5OfBody)
	b = appendField(b, false, "Body")
	if m.body != nil {
		b = appendJSONString(b, m.body)
	} else {
		b = appendJSONString(b, m.Body)
	}
	if len(m.Attributes) > 0 {
		b = appendField(b, false, "Attributes")
		b = append(b, '{')
		for i, k := range sortedKeys(m.Attributes) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONString(b, k), ':')
			b = appendJSONString(b, m.Attributes[k])
		}
		b = append(b, '}')
	}
	if m.MD5OfMessageAttributes != "" {
		b = appendField(b, false, "MD5OfMessageAttributes")
		b = appendJSONString(b, m.MD5OfMessageAttributes)
	}
	if len(m.MessageAttributes) > 0 {
		b = appendField(b, false, "MessageAttributes")
		b = append(b, '{')
		for i, k := range sortedKeys(m.MessageAttributes) {
			if i > 0 {
				b = append(b, ',')
			}
			a := m.MessageAttributes[k]
			b = append(appendJSONString(b, k), ':', '{')
			first := true
			if a.StringValue != nil {
				b = appendField(b, true, "StringValue")
				b = appendJSONString(b, *a.StringValue)
				first = false
			}
			if len(a.BinaryValue) > 0 {
				b = appendField(b, first, "BinaryValue")
				b = append(b, '"')
				b = base64.StdEncoding.AppendEncode(b, a.BinaryValue)
				b = append(b, '"')
				first = false
			}
			b = appendField(b, first, "DataType")
			b = append(appendJSONString(b, a.DataType), '}')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
