package sqs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// Message mapping, the same both ways so that one queue serves every
// protocol: the body is the bytes; message attributes are headers —
// String as a string, Number as its decimal string, Binary as bytes — and
// the data type of every attribute that is not plain String or Binary
// (Number, Number.int, String.custom, ...) is kept in the x-sqs-types
// table header, so that an SQS receive returns the types that were sent
// (and MD5OfMessageAttributes matches). Headers an AMQP or STOMP client
// set come back as attributes: strings as String, byte arrays as Binary,
// integers and floats as Number, booleans as String; tables, arrays and
// timestamps are left out, as are the broker's own x- headers below.
// MessageId is the message-id property (a new version 7 UUID for
// SendMessage, carrying the milliseconds of SentTimestamp), the timestamp
// property is SentTimestamp's second (as AMQP carries it), the
// user-id property is SenderId, MessageGroupId is x-group-id and
// MessageDeduplicationId is x-deduplication-header (the core's names).

const (
	hdrTypes   = "x-sqs-types"
	hdrTrace   = "x-sqs-aws-trace-header"
	hdrGroup   = "x-group-id"
	hdrDedupID = "x-deduplication-header"
	hdrDelay   = "x-delay"
	hdrSeq     = "x-sqs-sequence-number"
)

// internalHeader reports headers that are the broker's, not attributes.
func internalHeader(k string) bool {
	switch k {
	case "x-death", "x-delay", "x-deliver-at", "x-cache-ttl", "x-delivery-count", hdrGroup, hdrDedupID,
		"x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
		"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "CC", "BCC":
		return true
	}
	return strings.HasPrefix(k, "x-sqs-")
}

// maxAttributes is SQS's limit of message attributes per message.
const maxAttributes = 10

// checkAttributes validates message attributes as SQS does and converts
// them.
func checkAttributes(in map[string]wireAttr) (map[string]attrValue, *apiError) {
	if len(in) > maxAttributes {
		return nil, errInvalidParam("MessageAttributes", len(in), fmt.Sprintf("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(in), maxAttributes))
	}
	out := make(map[string]attrValue, len(in))
	for name, a := range in {
		if err := checkAttrName(name); err != nil {
			return nil, err
		}
		if len(a.StringListValues) > 0 || len(a.BinaryListValues) > 0 {
			return nil, errorf(errUnsupportedOperation, "Message attribute list values are not supported (attribute '%s').", name)
		}
		t := a.DataType
		if t == "" {
			return nil, errInvalidParam("MessageAttributes."+name+".DataType", "", "The message attribute '"+name+"' must contain non-empty message attribute type.")
		}
		if len(t) > 256 {
			return nil, errInvalidParam("MessageAttributes."+name+".DataType", truncate(t, 32), "Message attribute type must be at most 256 characters.")
		}
		v := attrValue{DataType: t}
		switch baseType(t) {
		case "String", "Number":
			if a.StringValue == nil || *a.StringValue == "" {
				return nil, errInvalidParam("MessageAttributes."+name, "", "The message attribute '"+name+"' with type '"+baseType(t)+"' must use field 'String'.")
			}
			v.StringValue = *a.StringValue
			if baseType(t) == "Number" && !validNumber(v.StringValue) {
				return nil, errInvalidParam("MessageAttributes."+name, truncate(v.StringValue, 64), "Can't cast the value of message (user) attribute '"+name+"' to a number.")
			}
			if !validSQSText(v.StringValue) {
				return nil, errorf(errInvalidMessageContents, "Invalid character in the value of message attribute '%s'.", name)
			}
		case "Binary":
			if a.BinaryValue == nil {
				return nil, errInvalidParam("MessageAttributes."+name, "", "The message attribute '"+name+"' with type 'Binary' must use field 'Binary'.")
			}
			v.BinaryValue = a.BinaryValue
		default:
			return nil, errInvalidParam("MessageAttributes."+name+".DataType", truncate(t, 64), "The type of message (user) attribute '"+name+"' is invalid. You must use only the following supported type prefixes: Binary, Number, String.")
		}
		out[name] = v
	}
	return out, nil
}

func checkAttrName(name string) *apiError {
	bad := func(why string) *apiError {
		return errInvalidParam("MessageAttribute.Name", truncate(name, 64), why)
	}
	if name == "" || len(name) > 256 {
		return bad("Message attribute name must be 1 to 256 characters.")
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return bad("Message attribute names starting with 'AWS.' or 'Amazon.' are reserved for use by Amazon.")
	}
	if name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return bad("Message attribute names may not start or end with a period or have successive periods.")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return bad("Message attribute names may contain only alphanumeric characters, hyphens, underscores and periods.")
		}
	}
	return nil
}

// validNumber accepts what SQS calls a Number: a decimal, optionally
// signed, with optional fraction and exponent.
func validNumber(s string) bool {
	_, ok := new(big.Float).SetString(s)
	return ok && !strings.ContainsAny(s, "xXpP_") && !strings.EqualFold(strings.TrimLeft(s, "+-"), "inf") && !strings.EqualFold(strings.TrimLeft(s, "+-"), "infinity")
}

// attributesSize is what attributes count toward the message size: each
// name, type and value.
func attributesSize(attrs map[string]attrValue) int {
	n := 0
	for k, a := range attrs {
		n += len(k) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	return n
}

// headersFor are the headers that carry attrs.
func headersFor(attrs map[string]attrValue) message.Table {
	h := message.Table{}
	var types message.Table
	for k, a := range attrs {
		if a.isBinary() {
			h[k] = a.BinaryValue
		} else {
			h[k] = a.StringValue
		}
		if a.DataType != "String" && a.DataType != "Binary" {
			if types == nil {
				types = message.Table{}
			}
			types[k] = a.DataType
		}
	}
	if types != nil {
		h[hdrTypes] = types
	}
	return h
}

// attributesOfMessage reads the attributes back from m's headers.
func attributesOfMessage(m *message.Message) map[string]attrValue {
	if len(m.Properties.Headers) == 0 {
		return nil
	}
	types, _ := m.Properties.Headers[hdrTypes].(message.Table)
	out := map[string]attrValue{}
	for k, v := range m.Properties.Headers {
		if internalHeader(k) || checkAttrName(k) != nil {
			continue
		}
		var a attrValue
		switch x := v.(type) {
		case string:
			a = attrValue{DataType: "String", StringValue: x}
		case []byte:
			a = attrValue{DataType: "Binary", BinaryValue: x}
		case bool:
			a = attrValue{DataType: "String", StringValue: strconv.FormatBool(x)}
		case float32:
			a = attrValue{DataType: "Number", StringValue: strconv.FormatFloat(float64(x), 'g', -1, 32)}
		case float64:
			a = attrValue{DataType: "Number", StringValue: strconv.FormatFloat(x, 'g', -1, 64)}
		case message.Decimal:
			a = attrValue{DataType: "Number", StringValue: decimalString(x)}
		default:
			n, ok := message.Int(v)
			if !ok {
				continue // tables, arrays, timestamps, void
			}
			a = attrValue{DataType: "Number", StringValue: strconv.FormatInt(n, 10)}
		}
		if t, ok := message.String(types[k]); ok && baseType(t) == baseType(a.DataType) || ok && a.DataType == "String" && baseType(t) == "Number" {
			a.DataType = t
		}
		if !a.isBinary() && a.StringValue == "" {
			continue // SQS has no empty String or Number
		}
		if !a.isBinary() {
			a.StringValue = sqsText([]byte(a.StringValue))
		}
		out[k] = a
	}
	return out
}

func decimalString(d message.Decimal) string {
	f := new(big.Float).SetInt64(int64(d.Value))
	for i := uint8(0); i < d.Scale; i++ {
		f.Quo(f, big.NewFloat(10))
	}
	return f.Text('g', 10)
}

// newMessageID is a random UUID (version 4), as SQS message ids are.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b)
}

// newMessageIDAt is a SendMessage's MessageId: a version 7 UUID (RFC
// 9562), whose first 48 bits are the send's time in milliseconds. The
// message's timestamp property has whole seconds, as AMQP carries it; the
// id keeps the milliseconds of SentTimestamp without another header.
func newMessageIDAt(t time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return hexUUID(b)
}

// sentTimestamp is a delivery's SentTimestamp in milliseconds: for a
// message SQS sent, the milliseconds of its version 7 MessageId (kept
// through dead-lettering and redrive, as SQS keeps a message's
// SentTimestamp); else when the message reached the queue, as the core
// recorded it; else the second of its timestamp property.
func sentTimestamp(d broker.Delivery) (int64, bool) {
	m := d.Msg
	if ms, ok := v7Millis(m); ok {
		return ms, true
	}
	if d.PublishedAt > 0 {
		return d.PublishedAt / int64(time.Millisecond), true
	}
	if m.Properties.Has(message.FlagTimestamp) {
		return m.Properties.Timestamp * 1000, true
	}
	return 0, false
}

// sentMillis is a message's SentTimestamp from its properties alone: the
// milliseconds of its version 7 MessageId when they fall in the second of
// its timestamp property (a message SQS sent), else that second.
func sentMillis(m *message.Message) int64 {
	if ms, ok := v7Millis(m); ok {
		return ms
	}
	return m.Properties.Timestamp * 1000
}

// v7Millis reads the milliseconds of m's version 7 MessageId, if it has
// one whose milliseconds fall in the second of its timestamp property.
func v7Millis(m *message.Message) (int64, bool) {
	if !m.Properties.Has(message.FlagTimestamp) {
		return 0, false
	}
	id := m.Properties.MessageID
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7' {
		return 0, false
	}
	var b [6]byte
	if _, err := hex.Decode(b[:4], []byte(id[0:8])); err != nil {
		return 0, false
	}
	if _, err := hex.Decode(b[4:], []byte(id[9:13])); err != nil {
		return 0, false
	}
	var ms int64
	for _, c := range b {
		ms = ms<<8 | int64(c)
	}
	if ms/1000 != m.Properties.Timestamp {
		return 0, false
	}
	return ms, true
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hexUUID(b)
}

// hexUUID writes b in the 8-4-4-4-12 form.
func hexUUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// messageID is the MessageId of a delivered message: its message-id
// property, else (a message an AMQP or STOMP client published without
// one) a UUID derived from the message itself, the same on every receive
// while the broker runs.
func messageID(m *message.Message) string {
	if m.Properties.MessageID != "" {
		return m.Properties.MessageID
	}
	h := sha256.New()
	fmt.Fprintf(h, "%p|%d|%s|%s|", m, m.Properties.Timestamp, m.Exchange, m.RoutingKey)
	h.Write(m.Body)
	var b [16]byte
	copy(b[:], h.Sum(nil))
	return formatUUID(b)
}

// systemAttrNames are the message system attributes a receive may ask for.
var systemAttrNames = []string{"All", "SenderId", "SentTimestamp", "ApproximateReceiveCount",
	"ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageDeduplicationId", "MessageGroupId",
	"AWSTraceHeader", "DeadLetterQueueSourceArn"}

// systemAttributes computes the system attributes of d that want names.
func systemAttributes(d broker.Delivery, want map[string]bool, arnOf func(queue string) string) map[string]string {
	if len(want) == 0 {
		return nil
	}
	all := want["All"]
	m := d.Msg
	out := map[string]string{}
	put := func(name, v string) {
		if (all || want[name]) && v != "" {
			out[name] = v
		}
	}
	put("SenderId", m.Properties.UserID)
	if ms, ok := sentTimestamp(d); ok {
		put("SentTimestamp", strconv.FormatInt(ms, 10))
	}
	put("ApproximateReceiveCount", strconv.FormatUint(uint64(max(d.DeliveryCount, 1)), 10))
	// The core keeps the first lease's time in memory; a first receive
	// whose lease the adapter sets after the get (a queue whose visibility
	// is 0) is received now. A message received before a restart and
	// again after has none (docs/SQS.md).
	switch {
	case d.FirstLeased != 0:
		put("ApproximateFirstReceiveTimestamp", strconv.FormatInt(d.FirstLeased/int64(time.Millisecond), 10))
	case d.DeliveryCount <= 1:
		put("ApproximateFirstReceiveTimestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	}
	if s, ok := message.String(m.Header(hdrGroup)); ok {
		put("MessageGroupId", s)
	}
	if s, ok := message.String(m.Header(hdrDedupID)); ok {
		put("MessageDeduplicationId", s)
	}
	if s, ok := message.String(m.Header(hdrTrace)); ok {
		put("AWSTraceHeader", s)
	}
	if s, ok := message.String(m.Header(hdrSeq)); ok {
		put("SequenceNumber", s)
	}
	if deaths, _ := m.Header("x-death").([]any); len(deaths) > 0 {
		if t, ok := deaths[len(deaths)-1].(message.Table); ok {
			if q, ok := message.String(t["queue"]); ok {
				put("DeadLetterQueueSourceArn", arnOf(q))
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// wantedAttributes filters attrs by MessageAttributeNames: "All" or ".*"
// for every one, "prefix.*" for those starting with prefix., else exact
// names.
func wantedAttributes(attrs map[string]attrValue, names []string) map[string]attrValue {
	if len(names) == 0 || len(attrs) == 0 {
		return nil
	}
	out := map[string]attrValue{}
	for k, a := range attrs {
		for _, n := range names {
			if n == "All" || n == ".*" || n == k || strings.HasSuffix(n, ".*") && strings.HasPrefix(k, strings.TrimSuffix(n, "*")) {
				out[k] = a
				break
			}
		}
	}
	return out
}

func nowMillis() int64 { return time.Now().UnixMilli() }
