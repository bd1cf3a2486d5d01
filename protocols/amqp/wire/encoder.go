package wire

import (
	"encoding/binary"
	"time"
)

// Encoder appends AMQP data types to a byte slice it owns.
//
// Write methods do not return errors, so that generated Write methods stay
// straight-line code; the first failure (a short string over 255 bytes, a
// table value of an unsupported type) is kept and reported by Err, and
// later writes still append so the slice stays well-formed enough to drop.
type Encoder struct {
	buf []byte
	err error
	// keys is a stack of scratch space for sorting table keys, reused so
	// encoding a table does not allocate once it has grown.
	keys []string
}

// NewEncoder returns an Encoder appending to buf[:0].
func NewEncoder(buf []byte) *Encoder { return &Encoder{buf: buf[:0]} }

// Bytes returns the encoded bytes. They alias the Encoder's buffer.
func (e *Encoder) Bytes() []byte { return e.buf }

// Len returns the number of encoded bytes.
func (e *Encoder) Len() int { return len(e.buf) }

// Err returns the first encoding error since the last Reset.
func (e *Encoder) Err() error { return e.err }

// Reset empties the buffer, keeping its memory, and clears the error.
func (e *Encoder) Reset() { e.buf, e.err = e.buf[:0], nil }

func (e *Encoder) fail(err *Error) {
	if e.err == nil {
		e.err = err
	}
}

// WriteOctet appends an octet.
func (e *Encoder) WriteOctet(v uint8) { e.buf = append(e.buf, v) }

// WriteShort appends a big-endian 16-bit integer.
func (e *Encoder) WriteShort(v uint16) { e.buf = binary.BigEndian.AppendUint16(e.buf, v) }

// WriteLong appends a big-endian 32-bit integer.
func (e *Encoder) WriteLong(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }

// WriteLonglong appends a big-endian 64-bit integer.
func (e *Encoder) WriteLonglong(v uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, v) }

// WriteShortstr appends a short string. One longer than 255 bytes is an
// error; its first 255 bytes are written so the output keeps its shape.
func (e *Encoder) WriteShortstr(s string) {
	if len(s) > maxShortstr {
		e.fail(errShortstrTooLong)
		s = s[:maxShortstr]
	}
	e.buf = append(e.buf, byte(len(s)))
	e.buf = append(e.buf, s...)
}

// WriteLongstr appends a long string.
func (e *Encoder) WriteLongstr(s string) {
	if uint64(len(s)) > 1<<32-1 {
		e.fail(errLongstrTooLong)
		s = ""
	}
	e.WriteLong(uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// WriteTimestamp appends t as whole seconds since the Unix epoch.
func (e *Encoder) WriteTimestamp(t time.Time) { e.WriteLonglong(uint64(t.Unix())) }

var (
	errShortstrTooLong = NewError(InternalError, "short string longer than 255 octets")
	errLongstrTooLong  = NewError(InternalError, "long string longer than 4 GiB")
)
