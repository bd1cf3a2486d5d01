package wire

import (
	"math"

	"github.com/sluice-mq/sluice/broker/message"
)

// MaxTableDepth is the default limit on how deeply field tables and arrays
// may nest (the top-level table counts as 1). Real clients use two or three
// levels; the limit keeps a hostile peer from driving deep recursion.
const MaxTableDepth = 32

// DecodeTable decodes p, which must hold exactly one field table (its 32-bit
// length and entries), with the default depth limit.
func DecodeTable(p []byte) (message.Table, error) {
	d := Decoder{buf: p}
	t, err := d.ReadTable()
	if err != nil {
		return nil, err
	}
	if d.Len() != 0 {
		return nil, errTrailing
	}
	return t, nil
}

// ReadTable reads a field table. Values have the Go types message.Table
// documents: 'L' (unsigned 64-bit) is stored as int64 with the same bits, as
// RabbitMQ clients read it, and re-encoded as 'l'. An empty table decodes as
// a nil Table, which saves an allocation and encodes the same.
func (d *Decoder) ReadTable() (message.Table, error) { return d.readTable(1) }

func (d *Decoder) readTable(depth int) (message.Table, error) {
	if depth > d.maxDepth() {
		return nil, errTableDepth
	}
	n, err := d.ReadLong()
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(d.Len()) {
		return nil, errTableLength
	}
	if n == 0 {
		return nil, nil
	}
	// Bound the reads to the table's own bytes, so an entry cannot run
	// into whatever follows the table.
	full, end := d.buf, d.off+int(n)
	d.buf = d.buf[:end]
	t := make(message.Table)
	for d.off < end {
		var k string
		var v any
		if k, err = d.ReadShortstr(); err == nil {
			v, err = d.readValue(depth)
		}
		if err != nil {
			d.buf = full
			return nil, err
		}
		t[k] = v
	}
	d.buf = full
	return t, nil
}

func (d *Decoder) readArray(depth int) ([]any, error) {
	if depth > d.maxDepth() {
		return nil, errTableDepth
	}
	n, err := d.ReadLong()
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(d.Len()) {
		return nil, errArrayLength
	}
	if n == 0 {
		return nil, nil
	}
	full, end := d.buf, d.off+int(n)
	d.buf = d.buf[:end]
	var a []any
	for d.off < end {
		v, err := d.readValue(depth)
		if err != nil {
			d.buf = full
			return nil, err
		}
		a = append(a, v)
	}
	d.buf = full
	return a, nil
}

// readValue reads a type octet and the value it announces. depth is that of
// the table or array holding the value.
func (d *Decoder) readValue(depth int) (any, error) {
	typ, err := d.ReadOctet()
	if err != nil {
		return nil, err
	}
	switch typ {
	case 't':
		v, err := d.ReadOctet()
		return v != 0, err
	case 'b':
		v, err := d.ReadOctet()
		return int8(v), err
	case 'B':
		v, err := d.ReadOctet()
		return v, err
	case 's':
		v, err := d.ReadShort()
		return int16(v), err
	case 'u':
		v, err := d.ReadShort()
		return v, err
	case 'I':
		v, err := d.ReadLong()
		return int32(v), err
	case 'i':
		v, err := d.ReadLong()
		return v, err
	case 'l', 'L':
		v, err := d.ReadLonglong()
		return int64(v), err
	case 'f':
		v, err := d.ReadLong()
		return math.Float32frombits(v), err
	case 'd':
		v, err := d.ReadLonglong()
		return math.Float64frombits(v), err
	case 'D':
		scale, err := d.ReadOctet()
		if err != nil {
			return nil, err
		}
		v, err := d.ReadLong()
		return message.Decimal{Scale: scale, Value: int32(v)}, err
	case 'S':
		return d.ReadLongstr()
	case 'x':
		b, err := d.longBytes()
		if err != nil || len(b) == 0 {
			return []byte(nil), err
		}
		// Copy: b aliases the frame buffer, which is reused.
		return append([]byte(nil), b...), nil
	case 'A':
		return d.readArray(depth + 1)
	case 'T':
		return d.ReadTimestamp()
	case 'F':
		return d.readTable(depth + 1)
	case 'V':
		return nil, nil
	}
	return nil, errFieldType(typ)
}
