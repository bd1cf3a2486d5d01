package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// The storage codec: how message properties and field tables are written
// in records and in the definitions file. Storage owns it, so that the
// on-disk format changes only when storage says so, never because a
// protocol's wire codec did. Every length is a uvarint and checked against
// the bytes that remain, so a decoder never reads past its input and never
// allocates more than the input could hold; every value the message model
// allows can be written and read back, so the encoder refuses nothing the
// broker accepted (what a protocol cannot carry, such as an AMQP short
// string over 255 bytes, is refused at that protocol's edge).
//
// Part of the on-disk format: do not change the tags or the layouts below;
// add a new record version instead.
//
//	string      uvarint length, bytes
//	properties  flags(2, message.Flag* bits), then the present ones in
//	            flag order, highest bit first: strings as above,
//	            delivery-mode and priority 1 byte, timestamp 8 (int64
//	            seconds), headers a table
//	table       uvarint count, then count times: key (string), value
//	value       tag(1) then: 'V' nothing; 't' 1 (0/1); 'b' 'B' 1; 's' 'u' 2;
//	            'I' 'i' 4; 'l' 8 (int64); 'U' 8 (uint64); 'n' 8 (Go int,
//	            kept as int64 bits); 'f' 4 and 'd' 8 (IEEE 754 bits);
//	            'D' scale(1) value(4); 'S' string; 'x' string (byte array);
//	            'A' uvarint count then values; 'T' 8 (int64 unix seconds);
//	            'F' table
//
// Integers are little-endian. Tables and arrays nest at most
// maxCodecDepth deep.

// maxCodecDepth bounds nesting of tables and arrays, in both directions:
// the decoder's recursion must not be steerable by its input.
const maxCodecDepth = 64

var (
	errCodecShort = errors.New("storage: record truncated")
	errCodecDepth = fmt.Errorf("storage: tables nested deeper than %d", maxCodecDepth)
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// codecReader reads the storage codec from b; the first error sticks and
// every later read returns zero values.
type codecReader struct {
	b   []byte
	err error
}

func (r *codecReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *codecReader) take(n uint64) []byte {
	if r.err != nil || uint64(len(r.b)) < n {
		r.fail(errCodecShort)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *codecReader) u8() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *codecReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *codecReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *codecReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *codecReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errCodecShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a uvarint element count, each element taking at least
// minSize bytes, and refuses counts the remaining input cannot hold, so
// that a count never sizes an allocation beyond the input.
func (r *codecReader) count(minSize uint64) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b))/minSize {
		r.fail(errCodecShort)
		return 0
	}
	return int(n)
}

func (r *codecReader) str() string { return string(r.take(r.uvarint())) }

// appendProperties appends p in the storage codec.
func appendProperties(b []byte, p *message.Properties) ([]byte, error) {
	b = binary.LittleEndian.AppendUint16(b, p.Flags)
	var err error
	for bit := uint16(0x8000); bit >= message.FlagClusterID; bit >>= 1 {
		if p.Flags&bit == 0 {
			continue
		}
		switch bit {
		case message.FlagHeaders:
			if b, err = appendTable(b, p.Headers, 0); err != nil {
				return nil, fmt.Errorf("headers: %w", err)
			}
		case message.FlagDeliveryMode:
			b = append(b, p.DeliveryMode)
		case message.FlagPriority:
			b = append(b, p.Priority)
		case message.FlagTimestamp:
			b = binary.LittleEndian.AppendUint64(b, uint64(p.Timestamp))
		default:
			b = appendString(b, *propString(p, bit))
		}
	}
	return b, nil
}

// propString is the string property with presence bit bit.
func propString(p *message.Properties, bit uint16) *string {
	switch bit {
	case message.FlagContentType:
		return &p.ContentType
	case message.FlagContentEncoding:
		return &p.ContentEncoding
	case message.FlagCorrelationID:
		return &p.CorrelationID
	case message.FlagReplyTo:
		return &p.ReplyTo
	case message.FlagExpiration:
		return &p.Expiration
	case message.FlagMessageID:
		return &p.MessageID
	case message.FlagType:
		return &p.Type
	case message.FlagUserID:
		return &p.UserID
	case message.FlagAppID:
		return &p.AppID
	case message.FlagClusterID:
		return &p.ClusterID
	}
	panic(fmt.Sprintf("storage: no string property for flag %#x", bit))
}

// readProperties reads properties written by appendProperties.
func (r *codecReader) properties(p *message.Properties) {
	p.Flags = r.u16()
	if p.Flags&(message.FlagClusterID-1) != 0 {
		r.fail(fmt.Errorf("storage: unknown property flags %#x", p.Flags))
		return
	}
	for bit := uint16(0x8000); bit >= message.FlagClusterID && r.err == nil; bit >>= 1 {
		if p.Flags&bit == 0 {
			continue
		}
		switch bit {
		case message.FlagHeaders:
			p.Headers = r.table(0)
		case message.FlagDeliveryMode:
			p.DeliveryMode = r.u8()
		case message.FlagPriority:
			p.Priority = r.u8()
		case message.FlagTimestamp:
			p.Timestamp = int64(r.u64())
		default:
			*propString(p, bit) = r.str()
		}
	}
}

// appendTable appends t; a nil table and an empty one both read back as nil.
func appendTable(b []byte, t message.Table, depth int) ([]byte, error) {
	if depth > maxCodecDepth {
		return nil, errCodecDepth
	}
	b = binary.AppendUvarint(b, uint64(len(t)))
	var err error
	for k, v := range t {
		b = appendString(b, k)
		if b, err = appendValue(b, v, depth); err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
	}
	return b, nil
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	le := binary.LittleEndian
	switch x := v.(type) {
	case nil:
		return append(b, 'V'), nil
	case bool:
		if x {
			return append(b, 't', 1), nil
		}
		return append(b, 't', 0), nil
	case int8:
		return append(b, 'b', byte(x)), nil
	case uint8:
		return append(b, 'B', x), nil
	case int16:
		return le.AppendUint16(append(b, 's'), uint16(x)), nil
	case uint16:
		return le.AppendUint16(append(b, 'u'), x), nil
	case int32:
		return le.AppendUint32(append(b, 'I'), uint32(x)), nil
	case uint32:
		return le.AppendUint32(append(b, 'i'), x), nil
	case int64:
		return le.AppendUint64(append(b, 'l'), uint64(x)), nil
	case uint64:
		return le.AppendUint64(append(b, 'U'), x), nil
	case int:
		return le.AppendUint64(append(b, 'n'), uint64(x)), nil
	case float32:
		return le.AppendUint32(append(b, 'f'), math.Float32bits(x)), nil
	case float64:
		return le.AppendUint64(append(b, 'd'), math.Float64bits(x)), nil
	case message.Decimal:
		return le.AppendUint32(append(b, 'D', x.Scale), uint32(x.Value)), nil
	case string:
		return appendString(append(b, 'S'), x), nil
	case []byte:
		b = binary.AppendUvarint(append(b, 'x'), uint64(len(x)))
		return append(b, x...), nil
	case time.Time:
		return le.AppendUint64(append(b, 'T'), uint64(x.Unix())), nil
	case message.Table:
		return appendTable(append(b, 'F'), x, depth+1)
	case []any:
		if depth+1 > maxCodecDepth {
			return nil, errCodecDepth
		}
		b = binary.AppendUvarint(append(b, 'A'), uint64(len(x)))
		var err error
		for _, e := range x {
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("storage: cannot store a %T in a table", v)
}

// table reads a table written by appendTable (nil when empty).
func (r *codecReader) table(depth int) message.Table {
	if depth > maxCodecDepth {
		r.fail(errCodecDepth)
		return nil
	}
	n := r.count(2) // a key's length byte and a value's tag at least
	if n == 0 {
		return nil
	}
	t := make(message.Table, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.str()
		t[k] = r.value(depth)
	}
	return t
}

func (r *codecReader) value(depth int) any {
	switch tag := r.u8(); tag {
	case 'V':
		return nil
	case 't':
		return r.u8() != 0
	case 'b':
		return int8(r.u8())
	case 'B':
		return r.u8()
	case 's':
		return int16(r.u16())
	case 'u':
		return r.u16()
	case 'I':
		return int32(r.u32())
	case 'i':
		return r.u32()
	case 'l':
		return int64(r.u64())
	case 'U':
		return r.u64()
	case 'n':
		return int(int64(r.u64()))
	case 'f':
		return math.Float32frombits(r.u32())
	case 'd':
		return math.Float64frombits(r.u64())
	case 'D':
		scale := r.u8()
		return message.Decimal{Scale: scale, Value: int32(r.u32())}
	case 'S':
		return r.str()
	case 'x':
		return append([]byte{}, r.take(r.uvarint())...)
	case 'T':
		return time.Unix(int64(r.u64()), 0).UTC()
	case 'F':
		return r.table(depth + 1) // an empty one is a nil Table, as AMQP's decoder gives
	case 'A':
		if depth+1 > maxCodecDepth {
			r.fail(errCodecDepth)
			return nil
		}
		n := r.count(1)
		a := make([]any, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			a = append(a, r.value(depth+1))
		}
		return a
	default:
		if r.err == nil {
			r.fail(fmt.Errorf("storage: unknown table value tag %#x", tag))
		}
		return nil
	}
}
