package wire

import (
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// maxEncodeDepth stops encoding a table that contains itself. It is above
// MaxTableDepth so that anything a Decoder with a raised MaxDepth accepted
// can still be encoded.
const maxEncodeDepth = 256

var (
	errEncodeDepth   = NewError(InternalError, "field table nests too deeply or contains itself")
	errEncodeUint64  = NewError(InternalError, "field table uint64 value above the int64 range")
	errEncodeTooLong = NewError(InternalError, "field table or array longer than 4 GiB")
)

// EncodeTable appends the encoding of t (32-bit length and entries) to dst.
func EncodeTable(dst []byte, t message.Table) ([]byte, error) {
	e := Encoder{buf: dst}
	e.WriteTable(t)
	return e.buf, e.err
}

// WriteTable appends a field table. Keys are written in sorted order so the
// same table always encodes to the same bytes (Go map order is random).
// Values must be of the types message.Table documents; int, uint64 (up to
// the int64 range) and map[string]any are accepted as well and written as
// 'l', 'l' and 'F'.
func (e *Encoder) WriteTable(t message.Table) { e.writeTable(t, 1) }

func (e *Encoder) writeTable(t map[string]any, depth int) {
	start := len(e.buf)
	e.buf = append(e.buf, 0, 0, 0, 0)
	if depth > maxEncodeDepth {
		e.fail(errEncodeDepth)
		return
	}
	if len(t) == 0 {
		return
	}
	base := len(e.keys)
	for k := range t {
		e.keys = append(e.keys, k)
	}
	keys := e.keys[base:]
	slices.Sort(keys)
	// Nested tables push onto e.keys too; keys stays valid because they
	// only append past it, and a reallocation leaves the old array intact.
	for _, k := range keys {
		e.WriteShortstr(k)
		e.writeValue(t[k], depth)
	}
	clear(e.keys[base:])
	e.keys = e.keys[:base]
	e.patchLength(start)
}

// patchLength fills in the 32-bit length at start with the bytes after it.
func (e *Encoder) patchLength(start int) {
	n := len(e.buf) - start - 4
	if uint64(n) > math.MaxUint32 {
		e.fail(errEncodeTooLong)
	}
	binary.BigEndian.PutUint32(e.buf[start:], uint32(n))
}

func (e *Encoder) writeArray(a []any, depth int) {
	start := len(e.buf)
	e.buf = append(e.buf, 0, 0, 0, 0)
	if depth > maxEncodeDepth {
		e.fail(errEncodeDepth)
		return
	}
	for _, v := range a {
		e.writeValue(v, depth)
	}
	e.patchLength(start)
}

// writeValue appends a type octet and a value; depth is that of the
// enclosing table or array.
func (e *Encoder) writeValue(v any, depth int) {
	b := e.buf
	switch v := v.(type) {
	case nil:
		b = append(b, 'V')
	case bool:
		var x byte
		if v {
			x = 1
		}
		b = append(b, 't', x)
	case int8:
		b = append(b, 'b', byte(v))
	case uint8:
		b = append(b, 'B', v)
	case int16:
		b = binary.BigEndian.AppendUint16(append(b, 's'), uint16(v))
	case uint16:
		b = binary.BigEndian.AppendUint16(append(b, 'u'), v)
	case int32:
		b = binary.BigEndian.AppendUint32(append(b, 'I'), uint32(v))
	case uint32:
		b = binary.BigEndian.AppendUint32(append(b, 'i'), v)
	case int64:
		b = binary.BigEndian.AppendUint64(append(b, 'l'), uint64(v))
	case int:
		b = binary.BigEndian.AppendUint64(append(b, 'l'), uint64(v))
	case uint64:
		if v > math.MaxInt64 {
			e.fail(errEncodeUint64)
		}
		b = binary.BigEndian.AppendUint64(append(b, 'l'), v)
	case float32:
		b = binary.BigEndian.AppendUint32(append(b, 'f'), math.Float32bits(v))
	case float64:
		b = binary.BigEndian.AppendUint64(append(b, 'd'), math.Float64bits(v))
	case message.Decimal:
		b = binary.BigEndian.AppendUint32(append(b, 'D', v.Scale), uint32(v.Value))
	case string:
		e.buf = append(b, 'S')
		e.WriteLongstr(v)
		return
	case []byte:
		if uint64(len(v)) > math.MaxUint32 {
			e.fail(errEncodeTooLong)
			v = nil
		}
		b = binary.BigEndian.AppendUint32(append(b, 'x'), uint32(len(v)))
		b = append(b, v...)
	case time.Time:
		b = binary.BigEndian.AppendUint64(append(b, 'T'), uint64(v.Unix()))
	case []any:
		e.buf = append(b, 'A')
		e.writeArray(v, depth+1)
		return
	case message.Table:
		e.buf = append(b, 'F')
		e.writeTable(v, depth+1)
		return
	case map[string]any:
		e.buf = append(b, 'F')
		e.writeTable(v, depth+1)
		return
	default:
		// Write a void so the table keeps its shape; Err reports the
		// failure.
		e.fail(NewError(InternalError, "field table value of unsupported type "+message.TypeName(v)))
		b = append(b, 'V')
	}
	e.buf = b
}
