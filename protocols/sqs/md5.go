package sqs

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"
)

// attrValue is one message attribute: a data type (String, Number,
// Binary, optionally with a custom suffix such as Number.int) and its
// value. In the JSON protocol BinaryValue travels base64-encoded; here it
// is the bytes.
type attrValue struct {
	DataType    string
	StringValue string
	BinaryValue []byte
}

// isBinary reports whether the attribute's value is bytes.
func (a attrValue) isBinary() bool { return baseType(a.DataType) == "Binary" }

// baseType is "String", "Number" or "Binary" of a data type with an
// optional custom part ("Number.int" -> "Number").
func baseType(t string) string {
	b, _, _ := strings.Cut(t, ".")
	return b
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// attributesMD5 is MD5OfMessageAttributes (and MD5OfMessageSystemAttributes)
// as AWS computes it: the attributes sorted by name, each encoded as the
// name, the data type and the value, each preceded by its length as 4
// bytes big-endian, with a transport byte before the value (1 for String
// and Number, 2 for Binary). "" when there are none: SQS then sends no
// digest.
func attributesMD5(attrs map[string]attrValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	var l [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, n := range names {
		a := attrs[n]
		put([]byte(n))
		put([]byte(a.DataType))
		if a.isBinary() {
			h.Write([]byte{2})
			put(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
