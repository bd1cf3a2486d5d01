package sqs

import (
	"bytes"
	"encoding/base64"
	"unicode/utf8"
)

// decodeJSONFast decodes a request body of the shapes the SDKs send into
// in, exactly as encoding/json would, without its reflection and its
// second pass over the body (encoding/json checks the whole body before
// decoding it; together they were a third of a SendMessageBatch's CPU).
// It gives up (false) at anything it does not handle — a key that is not
// plain ASCII or has an escape, a key it does not know, a key twice in
// one object, null, a number that is not a plain integer, a string with
// a control character, invalid UTF-8 or a surrogate escape, list-valued
// message attributes, bad JSON of any kind — and then encoding/json
// decodes the body: its answer, and its error, are the reference.
// FuzzJSONFast checks that whatever this decodes, encoding/json decodes
// the same way.
func decodeJSONFast(body []byte, in *input) bool {
	d := jdec{b: body}
	d.ws()
	if !d.object(func(key []byte) bool { return d.inputField(key, in) }) {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

type jdec struct {
	b    []byte
	i    int
	seen uint64 // fields set in the object being decoded
}

func (d *jdec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jdec) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// object reads {"key": value, ...}, calling field for each key with d at
// the value; field reads the value.
func (d *jdec) object(field func(key []byte) bool) bool {
	return d.members(func() bool {
		key, ok := d.rawKey()
		return ok && d.colon() && field(key)
	})
}

// members reads an object's braces and commas; member reads one
// "key": value pair.
func (d *jdec) members(member func() bool) bool {
	if d.peek() != '{' {
		return false
	}
	d.i++
	d.ws()
	if d.peek() == '}' {
		d.i++
		return true
	}
	for {
		d.ws()
		if !member() {
			return false
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// colon reads the ':' between a key and its value, with the blanks
// around it.
func (d *jdec) colon() bool {
	d.ws()
	if d.peek() != ':' {
		return false
	}
	d.i++
	d.ws()
	return true
}

// rawKey reads an object key of printable ASCII without escapes.
func (d *jdec) rawKey() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			return d.b[start:j], true
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return nil, false
		}
	}
	return nil, false
}

// str reads a string value as encoding/json does (escapes decoded).
func (d *jdec) str() (string, bool) {
	if d.peek() != '"' {
		return "", false
	}
	start := d.i + 1
	j := start
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			return string(d.b[start:j]), true
		case c == '\\':
			return d.escaped(start, j)
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			j++
		default:
			r, n := utf8.DecodeRune(d.b[j:])
			if r == utf8.RuneError && n <= 1 {
				return "", false
			}
			j += n
		}
	}
	return "", false
}

// strBytes is str as bytes of their own: no string made and copied again.
func (d *jdec) strBytes() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	start := d.i + 1
	for j := start; j < len(d.b); {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			return bytes.Clone(d.b[start:j]), true
		case c == '\\':
			s, ok := d.escaped(start, j) // rare in bodies: one more copy
			return []byte(s), ok
		case c < 0x20:
			return nil, false
		case c < utf8.RuneSelf:
			j++
		default:
			r, n := utf8.DecodeRune(d.b[j:])
			if r == utf8.RuneError && n <= 1 {
				return nil, false
			}
			j += n
		}
	}
	return nil, false
}

// escaped finishes a string that has an escape at j.
func (d *jdec) escaped(start, j int) (string, bool) {
	out := make([]byte, 0, len(d.b)-start)
	out = append(out, d.b[start:j]...)
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			return string(out), true
		case c == '\\':
			if j+1 >= len(d.b) {
				return "", false
			}
			e := d.b[j+1]
			j += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
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
				if j+4 > len(d.b) {
					return "", false
				}
				r, ok := hex4(d.b[j : j+4])
				if !ok || r >= 0xD800 && r <= 0xDFFF {
					return "", false // surrogates: left to encoding/json
				}
				out = utf8.AppendRune(out, r)
				j += 4
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, n := utf8.DecodeRune(d.b[j:])
			if r == utf8.RuneError && n <= 1 {
				return "", false
			}
			out = append(out, d.b[j:j+n]...)
			j += n
		}
	}
	return "", false
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (d *jdec) strPtr() (*string, bool) {
	s, ok := d.str()
	return &s, ok
}

// intPtr reads a plain integer: -?(0|[1-9][0-9]*) of at most 18 digits.
func (d *jdec) intPtr() (*int, bool) {
	neg := false
	if d.peek() == '-' {
		neg = true
		d.i++
	}
	start := d.i
	n := 0
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		n = n*10 + int(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || digits > 18 || (digits > 1 && d.b[start] == '0') {
		return nil, false
	}
	switch d.peek() {
	case '.', 'e', 'E':
		return nil, false
	}
	if neg {
		n = -n
	}
	return &n, true
}

func (d *jdec) strList() ([]string, bool) {
	out := make([]string, 0)
	ok := d.array(func() bool {
		s, ok := d.str()
		out = append(out, s)
		return ok
	})
	return out, ok
}

// array reads [value, ...], calling elem at each value.
func (d *jdec) array(elem func() bool) bool {
	if d.peek() != '[' {
		return false
	}
	d.i++
	d.ws()
	if d.peek() == ']' {
		d.i++
		return true
	}
	for {
		d.ws()
		if !elem() {
			return false
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return true
		default:
			return false
		}
	}
}

// mapObject reads an object whose keys are any strings (map keys are
// matched exactly), calling elem for each with d at the value.
func (d *jdec) mapObject(elem func(key string) bool) bool {
	return d.members(func() bool {
		key, ok := d.str()
		return ok && d.colon() && elem(key)
	})
}

func (d *jdec) strMap() (map[string]string, bool) {
	m := map[string]string{}
	ok := d.mapObject(func(k string) bool {
		v, ok := d.str()
		m[k] = v
		return ok
	})
	return m, ok
}

func (d *jdec) attrMap() (map[string]wireAttr, bool) {
	m := map[string]wireAttr{}
	ok := d.mapObject(func(k string) bool {
		var a wireAttr
		saved := d.seen
		d.seen = 0
		ok := d.object(func(key []byte) bool { return d.attrField(key, &a) })
		d.seen = saved
		m[k] = a
		return ok
	})
	return m, ok
}

// first marks field f as set in the current object; false when it was.
func (d *jdec) first(f int) bool {
	bit := uint64(1) << f
	if d.seen&bit != 0 {
		return false
	}
	d.seen |= bit
	return true
}

// lowerKey is key in lower case (ASCII), in buf when it fits.
func lowerKey(key []byte, buf *[48]byte) []byte {
	if len(key) > len(buf) {
		return nil
	}
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(key)]
}

const (
	fQueueUrl = iota
	fQueueName
	fQueueNamePrefix
	fQueueOwnerAWSAccountId
	fSourceArn
	fDestinationArn
	fMaxNumberOfMessagesPerSecond
	fTaskHandle
	fNextToken
	fMaxResults
	fAttributes
	fTags
	fTagKeys
	fAttributeNames
	fMessageSystemAttributeNames
	fMessageAttributeNames
	fMaxNumberOfMessages
	fVisibilityTimeout
	fWaitTimeSeconds
	fReceiveRequestAttemptId
	fEntries
	// entry's
	fId
	fMessageBody
	fDelaySeconds
	fMessageAttributes
	fMessageSystemAttributes
	fMessageDeduplicationId
	fMessageGroupId
	fReceiptHandle
	// wireAttr's
	fDataType
	fStringValue
	fBinaryValue
)

// inputFields and entryFields map lower-case member names to fields: the
// members of input, with entry's promoted (input's VisibilityTimeout
// shadows entry's, as in encoding/json).
var inputFields, entryFields, attrFields = map[string]int{}, map[string]int{}, map[string]int{}

func init() {
	for i, n := range []string{"queueurl", "queuename", "queuenameprefix", "queueownerawsaccountid", "sourcearn",
		"destinationarn", "maxnumberofmessagespersecond", "taskhandle", "nexttoken", "maxresults", "attributes",
		"tags", "tagkeys", "attributenames", "messagesystemattributenames", "messageattributenames",
		"maxnumberofmessages", "visibilitytimeout", "waittimeseconds", "receiverequestattemptid", "entries"} {
		inputFields[n] = fQueueUrl + i
	}
	for i, n := range []string{"id", "messagebody", "delayseconds", "messageattributes", "messagesystemattributes",
		"messagededuplicationid", "messagegroupid", "receipthandle"} {
		inputFields[n] = fId + i
		entryFields[n] = fId + i
	}
	entryFields["visibilitytimeout"] = fVisibilityTimeout
	attrFields["datatype"], attrFields["stringvalue"], attrFields["binaryvalue"] = fDataType, fStringValue, fBinaryValue
}

func (d *jdec) inputField(key []byte, in *input) bool {
	var buf [48]byte
	f, known := inputFields[string(lowerKey(key, &buf))]
	if !known || !d.first(f) {
		return false
	}
	ok := true
	switch f {
	case fQueueUrl:
		in.QueueUrl, ok = d.str()
	case fQueueName:
		in.QueueName, ok = d.str()
	case fQueueNamePrefix:
		in.QueueNamePrefix, ok = d.str()
	case fQueueOwnerAWSAccountId:
		in.QueueOwnerAWSAccountId, ok = d.str()
	case fSourceArn:
		in.SourceArn, ok = d.str()
	case fDestinationArn:
		in.DestinationArn, ok = d.str()
	case fMaxNumberOfMessagesPerSecond:
		in.MaxNumberOfMessagesPerSecond, ok = d.intPtr()
	case fTaskHandle:
		in.TaskHandle, ok = d.str()
	case fNextToken:
		in.NextToken, ok = d.str()
	case fMaxResults:
		in.MaxResults, ok = d.intPtr()
	case fAttributes:
		in.Attributes, ok = d.strMap()
	case fTags:
		in.Tags, ok = d.strMap()
	case fTagKeys:
		in.TagKeys, ok = d.strList()
	case fAttributeNames:
		in.AttributeNames, ok = d.strList()
	case fMessageSystemAttributeNames:
		in.MessageSystemAttributeNames, ok = d.strList()
	case fMessageAttributeNames:
		in.MessageAttributeNames, ok = d.strList()
	case fMaxNumberOfMessages:
		in.MaxNumberOfMessages, ok = d.intPtr()
	case fVisibilityTimeout:
		in.VisibilityTimeout, ok = d.intPtr()
	case fWaitTimeSeconds:
		in.WaitTimeSeconds, ok = d.intPtr()
	case fReceiveRequestAttemptId:
		in.ReceiveRequestAttemptId, ok = d.str()
	case fEntries:
		in.Entries = make([]entry, 0)
		ok = d.array(func() bool {
			var e entry
			saved := d.seen
			d.seen = 0
			ok := d.object(func(key []byte) bool { return d.entryField(key, &e) })
			d.seen = saved
			in.Entries = append(in.Entries, e)
			return ok
		})
	default:
		return d.entryValue(f, &in.entry)
	}
	return ok
}

func (d *jdec) entryField(key []byte, e *entry) bool {
	var buf [48]byte
	f, known := entryFields[string(lowerKey(key, &buf))]
	if !known || !d.first(f) {
		return false
	}
	if f == fVisibilityTimeout {
		var ok bool
		e.VisibilityTimeout, ok = d.intPtr()
		return ok
	}
	return d.entryValue(f, e)
}

func (d *jdec) entryValue(f int, e *entry) bool {
	ok := true
	switch f {
	case fId:
		e.Id, ok = d.str()
	case fMessageBody:
		var b []byte
		b, ok = d.strBytes()
		e.MessageBody = (*textBody)(&b)
	case fDelaySeconds:
		e.DelaySeconds, ok = d.intPtr()
	case fMessageAttributes:
		e.MessageAttributes, ok = d.attrMap()
	case fMessageSystemAttributes:
		e.MessageSystemAttributes, ok = d.attrMap()
	case fMessageDeduplicationId:
		e.MessageDeduplicationId, ok = d.strPtr()
	case fMessageGroupId:
		e.MessageGroupId, ok = d.strPtr()
	case fReceiptHandle:
		e.ReceiptHandle, ok = d.strPtr()
	default:
		return false
	}
	return ok
}

func (d *jdec) attrField(key []byte, a *wireAttr) bool {
	var buf [48]byte
	f, known := attrFields[string(lowerKey(key, &buf))]
	if !known || !d.first(f) {
		return false
	}
	ok := true
	switch f {
	case fDataType:
		a.DataType, ok = d.str()
	case fStringValue:
		a.StringValue, ok = d.strPtr()
	case fBinaryValue:
		var s string
		if s, ok = d.str(); ok {
			// As encoding/json decodes a []byte: standard base64 into a
			// buffer of the decoded length.
			b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			n, err := base64.StdEncoding.Decode(b, []byte(s))
			if err != nil {
				return false
			}
			a.BinaryValue = b[:n]
		}
	}
	return ok
}
