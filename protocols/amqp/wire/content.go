package wire

import (
	"github.com/sluice-mq/sluice/broker/message"
)

// knownFlags are the property bits of the basic class; bit 0 is the
// continuation bit and bit 1 names no property.
const knownFlags = message.FlagContentType | message.FlagContentEncoding |
	message.FlagHeaders | message.FlagDeliveryMode | message.FlagPriority |
	message.FlagCorrelationID | message.FlagReplyTo | message.FlagExpiration |
	message.FlagMessageID | message.FlagTimestamp | message.FlagType |
	message.FlagUserID | message.FlagAppID | message.FlagClusterID

const flagContinuation = 0x0001

var errUnknownProperty = NewError(SyntaxError, "content header sets a property flag the basic class does not define")

// DecodeContentHeader decodes the payload of a content header frame into
// props (overwriting all of it) and returns the header's class id and body
// size. The weight field is ignored, as the spec says it is unused.
func DecodeContentHeader(payload []byte, props *message.Properties) (classID uint16, bodySize uint64, err error) {
	d := Decoder{buf: payload}
	classID, bodySize, err = d.ReadContentHeader(props)
	if err == nil && d.Len() != 0 {
		err = errTrailing
	}
	return classID, bodySize, err
}

// ReadContentHeader reads a content header: class id, weight, body size,
// property flags and the properties they announce, into props. props.Flags
// gets the flag bits exactly as on the wire, minus the continuation bit.
//
// bodySize is whatever the peer claims: check it against the broker's
// message size limit before allocating a buffer for the body.
//
// A continuation flag word would announce properties after cluster-id; the
// basic class has none, so such words must be all zero apart from their own
// continuation bit.
func (d *Decoder) ReadContentHeader(props *message.Properties) (classID uint16, bodySize uint64, err error) {
	if classID, err = d.ReadShort(); err != nil {
		return
	}
	if _, err = d.ReadShort(); err != nil { // weight
		return
	}
	if bodySize, err = d.ReadLonglong(); err != nil {
		return
	}
	flags, err := d.ReadShort()
	if err != nil {
		return
	}
	if flags&^(knownFlags|flagContinuation) != 0 {
		return classID, bodySize, errUnknownProperty
	}
	for more := flags&flagContinuation != 0; more; {
		var f uint16
		if f, err = d.ReadShort(); err != nil {
			return
		}
		if f&^flagContinuation != 0 {
			return classID, bodySize, errUnknownProperty
		}
		more = f&flagContinuation != 0
	}
	flags &^= flagContinuation

	*props = message.Properties{Flags: flags}
	p := props
	if flags&message.FlagContentType != 0 {
		if p.ContentType, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagContentEncoding != 0 {
		if p.ContentEncoding, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagHeaders != 0 {
		if p.Headers, err = d.ReadTable(); err != nil {
			return
		}
	}
	if flags&message.FlagDeliveryMode != 0 {
		if p.DeliveryMode, err = d.ReadOctet(); err != nil {
			return
		}
	}
	if flags&message.FlagPriority != 0 {
		if p.Priority, err = d.ReadOctet(); err != nil {
			return
		}
	}
	if flags&message.FlagCorrelationID != 0 {
		if p.CorrelationID, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagReplyTo != 0 {
		if p.ReplyTo, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagExpiration != 0 {
		if p.Expiration, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagMessageID != 0 {
		if p.MessageID, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagTimestamp != 0 {
		var ts uint64
		if ts, err = d.ReadLonglong(); err != nil {
			return
		}
		p.Timestamp = int64(ts)
	}
	if flags&message.FlagType != 0 {
		if p.Type, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagUserID != 0 {
		if p.UserID, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagAppID != 0 {
		if p.AppID, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	if flags&message.FlagClusterID != 0 {
		if p.ClusterID, err = d.ReadShortstr(); err != nil {
			return
		}
	}
	return classID, bodySize, nil
}

// EncodeContentHeader appends a content header payload to dst.
func EncodeContentHeader(dst []byte, classID uint16, bodySize uint64, props *message.Properties) ([]byte, error) {
	e := Encoder{buf: dst}
	e.WriteContentHeader(classID, bodySize, props)
	return e.buf, e.err
}

// WriteContentHeader appends a content header with weight 0. Only the
// properties whose bit is set in props.Flags are written; bits that name no
// property are dropped. props may be nil for a header without properties.
func (e *Encoder) WriteContentHeader(classID uint16, bodySize uint64, props *message.Properties) {
	e.WriteShort(classID)
	e.WriteShort(0)
	e.WriteLonglong(bodySize)
	if props == nil {
		e.WriteShort(0)
		return
	}
	p := props
	flags := p.Flags & knownFlags
	e.WriteShort(flags)
	if flags&message.FlagContentType != 0 {
		e.WriteShortstr(p.ContentType)
	}
	if flags&message.FlagContentEncoding != 0 {
		e.WriteShortstr(p.ContentEncoding)
	}
	if flags&message.FlagHeaders != 0 {
		e.WriteTable(p.Headers)
	}
	if flags&message.FlagDeliveryMode != 0 {
		e.WriteOctet(p.DeliveryMode)
	}
	if flags&message.FlagPriority != 0 {
		e.WriteOctet(p.Priority)
	}
	if flags&message.FlagCorrelationID != 0 {
		e.WriteShortstr(p.CorrelationID)
	}
	if flags&message.FlagReplyTo != 0 {
		e.WriteShortstr(p.ReplyTo)
	}
	if flags&message.FlagExpiration != 0 {
		e.WriteShortstr(p.Expiration)
	}
	if flags&message.FlagMessageID != 0 {
		e.WriteShortstr(p.MessageID)
	}
	if flags&message.FlagTimestamp != 0 {
		e.WriteLonglong(uint64(p.Timestamp))
	}
	if flags&message.FlagType != 0 {
		e.WriteShortstr(p.Type)
	}
	if flags&message.FlagUserID != 0 {
		e.WriteShortstr(p.UserID)
	}
	if flags&message.FlagAppID != 0 {
		e.WriteShortstr(p.AppID)
	}
	if flags&message.FlagClusterID != 0 {
		e.WriteShortstr(p.ClusterID)
	}
}
