package stomp

import (
	"bytes"
	"strconv"
	"unsafe"

	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// Header names.
const (
	hAcceptVersion   = "accept-version"
	hAck             = "ack"
	hAMQPMessageID   = "amqp-message-id"
	hAppID           = "app-id"
	hAutoDelete      = "auto-delete"
	hContentEncoding = "content-encoding"
	hContentLength   = "content-length"
	hContentType     = "content-type"
	hCorrelationID   = "correlation-id"
	hDestination     = "destination"
	hDurable         = "durable"
	hExclusive       = "exclusive"
	hExpiration      = "expiration"
	hHeartBeat       = "heart-beat"
	hHost            = "host"
	hID              = "id"
	hLogin           = "login"
	hMessage         = "message"
	hMessageID       = "message-id"
	hPasscode        = "passcode"
	hPersistent      = "persistent"
	hPrefetchCount   = "prefetch-count"
	hPriority        = "priority"
	hReceipt         = "receipt"
	hReceiptID       = "receipt-id"
	hRedelivered     = "redelivered"
	hReplyTo         = "reply-to"
	hRequeue         = "requeue"
	hServer          = "server"
	hSession         = "session"
	hSubscription    = "subscription"
	hTimestamp       = "timestamp"
	hTransaction     = "transaction"
	hType            = "type"
	hUserID          = "user-id"
	hVersion         = "version"
	hXQueueName      = "x-queue-name"
)

// propertyHeader reports whether a SEND header maps onto a message property
// rather than into the headers table.
func propertyHeader(name []byte) bool {
	switch string(name) {
	case hContentType, hContentEncoding, hPersistent, hPriority, hCorrelationID, hReplyTo,
		hExpiration, hAMQPMessageID, hTimestamp, hType, hUserID, hAppID:
		return true
	}
	return false
}

// controlHeader reports whether a SEND header is not copied into the
// message's headers table. RabbitMQ's plugin leaves out only destination
// (and refuses message-id on SEND): receipt, transaction, content-length
// and the rest of STOMP's own reach AMQP consumers as strings, and STOMP
// subscribers those their MESSAGE frame does not carry itself
// (reservedOnMessage).
func controlHeader(name []byte) bool {
	switch string(name) {
	case hDestination, hMessageID:
		return true
	}
	return false
}

// reservedOnMessage reports whether a header table key names a header a
// MESSAGE frame may carry itself; addMessageProperties leaves such a key
// out when the frame does carry it.
func reservedOnMessage(name string) bool {
	switch name {
	case hDestination, hMessageID, hSubscription, hAck, hRedelivered, hContentLength,
		hContentType, hContentEncoding, hPersistent, hPriority, hCorrelationID, hReplyTo,
		hExpiration, hAMQPMessageID, hTimestamp, hType, hUserID, hAppID, "x-delivery-count":
		return true
	}
	return false
}

// interner keeps one copy of short strings that repeat from frame to
// frame on a connection (header names, content types), so mapping a SEND
// does not allocate them again. It stops growing at a bound.
type interner struct {
	m map[string]string
}

const (
	internMaxEntries = 256
	internMaxLen     = 64
)

func (in *interner) str(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= internMaxLen && len(in.m) < internMaxEntries {
		if in.m == nil {
			in.m = make(map[string]string)
		}
		in.m[s] = s
	}
	return s
}

// arena hands out strings carved from one allocation that also holds the
// message body, so a SEND costs one allocation for all of its bytes. The
// message is immutable once published, so sharing the backing is safe.
type arena struct {
	buf []byte
}

func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}

// trimValue applies STOMP 1.0's leniency, as RabbitMQ does: leading
// spaces of header values are dropped.
func trimValue(v []byte, v10 bool) []byte {
	if v10 {
		return bytes.TrimLeft(v, " ")
	}
	return v
}

// parseInt parses a decimal integer header value; ok is false for
// anything else, which RabbitMQ treats as an absent header.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(unsafe.String(&b[0], len(b)), 10, 64)
	return n, err == nil
}

// parseBool parses "true"/"True"/"false"/"False"; ok is false otherwise.
func parseBool(b []byte) (val, ok bool) {
	switch string(b) {
	case "true", "True":
		return true, true
	case "false", "False":
		return false, true
	}
	return false, false
}

// buildMessage maps a SEND frame onto the broker's message model as
// RabbitMQ's STOMP plugin does: the property headers become AMQP basic
// properties, every other header except STOMP's own goes into the headers
// table as a string (the first of repeated headers wins), and the body is
// copied byte for byte. Names and common values come from in; everything
// else is carved from the allocation that holds the body.
func buildMessage(f *frame.Frame, v10 bool, in *interner) *message.Message {
	// Size the arena: the body plus every value that is copied.
	n := len(f.Body)
	users := 0
	for i := range f.Headers {
		h := &f.Headers[i]
		switch {
		case controlHeader(h.Name):
		case propertyHeader(h.Name):
			n += len(h.Value)
		default:
			n += len(h.Value)
			users++
		}
	}
	a := arena{}
	if n > 0 {
		a.buf = make([]byte, 0, n)
	}
	msg := &message.Message{}
	if len(f.Body) > 0 {
		a.buf = append(a.buf, f.Body...)
		msg.Body = a.buf[:len(f.Body):len(f.Body)]
	}
	p := &msg.Properties
	if users > 0 {
		p.Headers = make(message.Table, users)
	}
	for i := range f.Headers {
		h := &f.Headers[i]
		if controlHeader(h.Name) {
			continue
		}
		val := trimValue(h.Value, v10)
		if !propertyHeader(h.Name) {
			if _, dup := p.Headers[string(h.Name)]; dup {
				continue
			}
			p.Headers[in.str(h.Name)] = a.str(val)
			continue
		}
		var bit uint16
		switch string(h.Name) {
		case hContentType:
			bit = message.FlagContentType
		case hContentEncoding:
			bit = message.FlagContentEncoding
		case hPersistent:
			bit = message.FlagDeliveryMode
		case hPriority:
			bit = message.FlagPriority
		case hCorrelationID:
			bit = message.FlagCorrelationID
		case hReplyTo:
			bit = message.FlagReplyTo
		case hExpiration:
			bit = message.FlagExpiration
		case hAMQPMessageID:
			bit = message.FlagMessageID
		case hTimestamp:
			bit = message.FlagTimestamp
		case hType:
			bit = message.FlagType
		case hUserID:
			bit = message.FlagUserID
		case hAppID:
			bit = message.FlagAppID
		}
		if p.Flags&bit != 0 {
			continue // repeated header: the first one counts
		}
		switch bit {
		case message.FlagContentType:
			p.ContentType = in.str(val)
		case message.FlagContentEncoding:
			p.ContentEncoding = in.str(val)
		case message.FlagDeliveryMode:
			// Only persistent:true sets a delivery mode, as in RabbitMQ.
			if b, ok := parseBool(val); !ok || !b {
				continue
			}
			p.DeliveryMode = message.Persistent
		case message.FlagPriority:
			n, ok := parseInt(bytes.TrimSpace(val))
			if !ok || n < 0 || n > 255 {
				continue
			}
			p.Priority = uint8(n)
		case message.FlagCorrelationID:
			p.CorrelationID = a.str(val)
		case message.FlagReplyTo:
			p.ReplyTo = a.str(val)
		case message.FlagExpiration:
			p.Expiration = a.str(val)
		case message.FlagMessageID:
			p.MessageID = a.str(val)
		case message.FlagTimestamp:
			n, ok := parseInt(bytes.TrimSpace(val))
			if !ok {
				continue
			}
			p.Timestamp = n
		case message.FlagType:
			p.Type = in.str(val)
		case message.FlagUserID:
			p.UserID = in.str(val)
		case message.FlagAppID:
			p.AppID = in.str(val)
		}
		p.Flags |= bit
	}
	if p.Headers != nil {
		p.Flags |= message.FlagHeaders
	}
	return msg
}

// fieldBuilder collects the headers of one outgoing frame. Values that
// have to be formatted are appended to scratch and handed out as strings
// over it; they are valid until the frame has been written, after which
// reset reuses the space. A grown scratch leaves earlier values pointing
// at the old array, which stays alive through them, so growing is safe.
type fieldBuilder struct {
	fields  []frame.Field
	scratch []byte
}

func (b *fieldBuilder) reset() {
	clear(b.fields)
	b.fields = b.fields[:0]
	b.scratch = b.scratch[:0]
	if cap(b.scratch) > 64<<10 {
		b.scratch = nil
	}
}

// has reports whether a header of that name was added.
func (b *fieldBuilder) has(name string) bool {
	for i := range b.fields {
		if b.fields[i].Name == name {
			return true
		}
	}
	return false
}

func (b *fieldBuilder) add(name, value string) {
	b.fields = append(b.fields, frame.Field{Name: name, Value: value})
}

// mark and done bracket a value appended to scratch.
func (b *fieldBuilder) mark() int { return len(b.scratch) }

func (b *fieldBuilder) done(name string, start int) {
	v := b.scratch[start:]
	if len(v) == 0 {
		b.add(name, "")
		return
	}
	b.add(name, unsafe.String(&v[0], len(v)))
}

func (b *fieldBuilder) addInt(name string, n int64) {
	m := b.mark()
	b.scratch = strconv.AppendInt(b.scratch, n, 10)
	b.done(name, m)
}

// addMessageProperties appends the MESSAGE headers for a message's
// properties and headers table, as RabbitMQ's STOMP plugin renders them.
func (b *fieldBuilder) addMessageProperties(m *message.Message) {
	p := &m.Properties
	if p.Has(message.FlagContentType) {
		b.add(hContentType, p.ContentType)
	}
	if p.Has(message.FlagContentEncoding) {
		b.add(hContentEncoding, p.ContentEncoding)
	}
	if p.Has(message.FlagDeliveryMode) {
		// As RabbitMQ's plugin: "true" for persistent, any other mode
		// as its number.
		if p.DeliveryMode == message.Persistent {
			b.add(hPersistent, "true")
		} else {
			b.addInt(hPersistent, int64(p.DeliveryMode))
		}
	}
	if p.Has(message.FlagPriority) {
		b.addInt(hPriority, int64(p.Priority))
	}
	if p.Has(message.FlagCorrelationID) {
		b.add(hCorrelationID, p.CorrelationID)
	}
	if p.Has(message.FlagReplyTo) {
		if isDestPrefixed(p.ReplyTo) {
			b.add(hReplyTo, p.ReplyTo)
		} else {
			m := b.mark()
			b.scratch = append(b.scratch, prefixReplyQueue...)
			b.scratch = append(b.scratch, p.ReplyTo...)
			b.done(hReplyTo, m)
		}
	}
	if p.Has(message.FlagExpiration) {
		b.add(hExpiration, p.Expiration)
	}
	if p.Has(message.FlagMessageID) {
		b.add(hAMQPMessageID, p.MessageID)
	}
	if p.Has(message.FlagTimestamp) {
		b.addInt(hTimestamp, p.Timestamp)
	}
	if p.Has(message.FlagType) {
		b.add(hType, p.Type)
	}
	if p.Has(message.FlagUserID) {
		b.add(hUserID, p.UserID)
	}
	if p.Has(message.FlagAppID) {
		b.add(hAppID, p.AppID)
	}
	// As RabbitMQ's plugin: a header reaches STOMP when it is a long
	// string or a 32- or 64-bit integer; other AMQP types (booleans,
	// floats, byte arrays, which may hold any octet, timestamps,
	// decimals, arrays, tables, the smaller and unsigned integers) are
	// left out, so that a STOMP client sees the headers it would see
	// there.
	//
	// A key named like a header the frame already has is left out (RabbitMQ
	// 3.10 writes both, its own first, and a client takes the first); one
	// the frame lacks (content-type without the property, ack on an
	// auto-ack subscription) is written, as RabbitMQ writes it.
	// content-length is always the frame's own.
	for k, v := range p.Headers {
		if reservedOnMessage(k) && (k == hContentLength || b.has(k)) {
			continue
		}
		switch x := v.(type) {
		case string:
			b.add(k, x)
		case int32:
			b.addInt(k, int64(x))
		case int64:
			b.addInt(k, x)
		case int:
			b.addInt(k, int64(x))
		}
	}
}

// queueArgs builds queue.declare arguments from SUBSCRIBE (or SEND)
// headers, with the types RabbitMQ's STOMP plugin gives them: integers for
// the counts and durations, strings for names, a boolean for
// x-single-active-consumer. A malformed value is an error naming it.
func queueArgs(f *frame.Frame) (message.Table, error) {
	var args message.Table
	for i := range f.Headers {
		h := &f.Headers[i]
		name := h.Name
		if len(name) < 2 || name[0] != 'x' || name[1] != '-' {
			continue
		}
		var kind byte
		switch string(name) {
		case "x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-max-priority",
			"x-delivery-limit", "x-stream-max-segment-size-bytes",
			"x-delivery-delay", "x-visibility-timeout", "x-max-message-size", "x-cache-size", "x-cache-ttl":
			kind = 'l'
		case "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-overflow", "x-queue-type", "x-max-age":
			kind = 'S'
		case "x-single-active-consumer", "x-message-deduplication", "x-content-deduplication", "x-message-groups":
			kind = 't'
		default:
			continue
		}
		key := string(name)
		if _, dup := args[key]; dup {
			continue
		}
		val := bytes.TrimSpace(h.Value)
		var v any
		switch kind {
		case 'l':
			n, ok := parseInt(val)
			if !ok {
				return nil, &stompError{msg: processingError, detail: "header '" + key + "' must be an integer, got '" + string(val) + "'\n"}
			}
			v = n
		case 'S':
			// These become an exchange name or a routing key when a
			// message is dead-lettered, or a queue type or overflow mode:
			// all short strings.
			if len(val) > maxShortString {
				return nil, tooLong(key, len(val), "its value")
			}
			v = string(val)
		case 't':
			b, ok := parseBool(val)
			if !ok {
				return nil, &stompError{msg: "Invalid header", detail: "header '" + key + "' must be true or false, got '" + string(val) + "'\n"}
			}
			v = b
		}
		if args == nil {
			args = message.Table{}
		}
		args[key] = v
	}
	return args, nil
}
