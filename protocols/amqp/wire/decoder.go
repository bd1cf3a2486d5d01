package wire

import (
	"encoding/binary"
	"time"
)

// Decoder reads AMQP data types from a byte slice, usually a frame payload.
// It never copies the input except into the strings and byte slices it
// returns, so those stay valid after the frame buffer is reused.
//
// Every read checks the remaining length first: a truncated or lying payload
// yields an *Error with code FRAME_ERROR, never a panic or a large
// allocation.
type Decoder struct {
	// MaxDepth limits how deeply field tables and arrays may nest; zero
	// means MaxTableDepth.
	MaxDepth int

	buf  []byte
	off  int
	strs *shortstrCache // nil: every short string is a new one
}

// NewDecoder returns a Decoder reading p.
func NewDecoder(p []byte) *Decoder { return &Decoder{buf: p} }

// Reset makes d read p from the start, keeping MaxDepth.
func (d *Decoder) Reset(p []byte) { d.buf, d.off = p, 0 }

// Len returns the number of unread bytes.
func (d *Decoder) Len() int { return len(d.buf) - d.off }

func (d *Decoder) maxDepth() int {
	if d.MaxDepth > 0 {
		return d.MaxDepth
	}
	return MaxTableDepth
}

// ReadOctet reads an octet.
func (d *Decoder) ReadOctet() (uint8, error) {
	if d.off >= len(d.buf) {
		return 0, errTruncated
	}
	v := d.buf[d.off]
	d.off++
	return v, nil
}

// ReadShort reads a big-endian 16-bit integer.
func (d *Decoder) ReadShort() (uint16, error) {
	if len(d.buf)-d.off < 2 {
		return 0, errTruncated
	}
	v := binary.BigEndian.Uint16(d.buf[d.off:])
	d.off += 2
	return v, nil
}

// ReadLong reads a big-endian 32-bit integer.
func (d *Decoder) ReadLong() (uint32, error) {
	if len(d.buf)-d.off < 4 {
		return 0, errTruncated
	}
	v := binary.BigEndian.Uint32(d.buf[d.off:])
	d.off += 4
	return v, nil
}

// ReadLonglong reads a big-endian 64-bit integer.
func (d *Decoder) ReadLonglong() (uint64, error) {
	if len(d.buf)-d.off < 8 {
		return 0, errTruncated
	}
	v := binary.BigEndian.Uint64(d.buf[d.off:])
	d.off += 8
	return v, nil
}

// ReadShortstr reads a short string: a length octet and that many bytes.
func (d *Decoder) ReadShortstr() (string, error) {
	if d.off >= len(d.buf) {
		return "", errTruncated
	}
	n := int(d.buf[d.off])
	if len(d.buf)-d.off-1 < n {
		return "", errStringLength
	}
	b := d.buf[d.off+1 : d.off+1+n]
	d.off += 1 + n
	if d.strs != nil {
		return d.strs.get(b), nil
	}
	return string(b), nil
}

// longBytes returns the bytes of a long string without copying them.
func (d *Decoder) longBytes() ([]byte, error) {
	n, err := d.ReadLong()
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(d.buf)-d.off) {
		return nil, errStringLength
	}
	b := d.buf[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// ReadLongstr reads a long string: a 32-bit length and that many bytes.
func (d *Decoder) ReadLongstr() (string, error) {
	b, err := d.longBytes()
	return string(b), err
}

// ReadTimestamp reads a 64-bit count of seconds since the Unix epoch, as a
// UTC time.
func (d *Decoder) ReadTimestamp() (time.Time, error) {
	v, err := d.ReadLonglong()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(v), 0).UTC(), nil
}
