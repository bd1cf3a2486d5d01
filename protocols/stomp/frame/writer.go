package frame

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
)

// Field is a header to write. Strings, because that is what a server holds
// for message properties; the Reader's Header views are []byte instead
// because they alias its buffer.
type Field struct {
	Name, Value string
}

// LengthMode says when the encoder writes a content-length header. The
// encoder always computes the header itself and drops any content-length in
// the caller's fields, because a wrong one would desynchronise the peer.
type LengthMode uint8

const (
	// LengthNonEmpty writes content-length whenever the body is not empty,
	// so bodies containing NUL survive. The default.
	LengthNonEmpty LengthMode = iota
	// LengthAlways also writes content-length:0 for empty bodies.
	LengthAlways
	// LengthIfNUL writes content-length only when the body contains a NUL
	// octet, the one case where the frame cannot be read without it. For
	// peers that treat content-length as a signal for binary content.
	LengthIfNUL
)

// Encoder appends frames to a byte slice. The zero value encodes STOMP 1.0
// with LengthNonEmpty.
type Encoder struct {
	Version Version
	Length  LengthMode
	// TrailingLF writes an LF after each frame's NUL, as RabbitMQ does by
	// default (its stomp.trailing_lf). STOMP allows EOLs between frames;
	// the peer reads it as a heart-beat.
	TrailingLF bool
}

// AppendFrame appends one frame for version v with LengthNonEmpty; see
// Encoder.Append.
func AppendFrame(dst []byte, cmd Command, headers []Field, body []byte, v Version) []byte {
	return Encoder{Version: v}.Append(dst, cmd, headers, body)
}

// AppendHeartbeat appends a heart-beat: a single LF.
func AppendHeartbeat(dst []byte) []byte { return append(dst, '\n') }

// Append appends the frame cmd with headers and body to dst and returns the
// extended slice. Header names and values are escaped for e.Version, except
// in CONNECT, STOMP and CONNECTED frames, which are never escaped. Octets the
// version cannot express are replaced by a space rather than written raw, so
// a header value can never inject a header line or end the header block:
// CR and LF where there is no escape for them (1.0, CONNECT, CONNECTED; CR
// also in 1.1), and ':' in header names where it cannot be escaped.
//
// With a dst of sufficient capacity Append does not allocate. It panics if
// cmd is not a known command; the server never has a reason to write one.
func (e Encoder) Append(dst []byte, cmd Command, headers []Field, body []byte) []byte {
	dst = e.appendHead(dst, cmd, headers, body)
	dst = append(dst, body...)
	if e.TrailingLF {
		return append(dst, 0, '\n')
	}
	return append(dst, 0)
}

// appendHead appends everything before the body: command, headers and the
// blank line.
func (e Encoder) appendHead(dst []byte, cmd Command, headers []Field, body []byte) []byte {
	name := cmd.String()
	if name == "" {
		panic("frame: cannot encode command " + strconv.Itoa(int(cmd)))
	}
	dst = append(dst, name...)
	dst = append(dst, '\n')
	esc := escRaw
	if cmd.escapes(e.Version) {
		esc = esc11
		if e.Version >= V12 {
			esc = esc12
		}
	}
	for i := range headers {
		h := &headers[i]
		if h.Name == "content-length" {
			continue
		}
		dst = appendEscaped(dst, h.Name, &nameTables[esc])
		dst = append(dst, ':')
		dst = appendEscaped(dst, h.Value, &valueTables[esc])
		dst = append(dst, '\n')
	}
	var withLength bool
	switch e.Length {
	case LengthAlways:
		withLength = true
	case LengthIfNUL:
		withLength = bytes.IndexByte(body, 0) >= 0
	default:
		withLength = len(body) > 0
	}
	if withLength {
		dst = append(dst, "content-length:"...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// Escape modes, indexes into the tables below.
const (
	escRaw = iota // 1.0, CONNECT, STOMP, CONNECTED
	esc11
	esc12
)

// A table maps each octet to what to write for it: 0 means the octet
// itself, a letter means backslash + letter, ' ' means replace with space.
type escTable [256]byte

var nameTables, valueTables [3]escTable

func init() {
	for _, t := range []*escTable{&nameTables[escRaw], &valueTables[escRaw]} {
		t['\n'], t['\r'] = ' ', ' '
	}
	nameTables[escRaw][':'] = ' '
	for _, t := range []*escTable{&nameTables[esc11], &valueTables[esc11], &nameTables[esc12], &valueTables[esc12]} {
		t['\\'], t['\n'], t[':'], t['\r'] = '\\', 'n', 'c', ' '
	}
	nameTables[esc12]['\r'], valueTables[esc12]['\r'] = 'r', 'r'
}

// appendEscaped appends s, escaped per t. The common case, nothing to
// escape, is one scan and one copy.
func appendEscaped(dst []byte, s string, t *escTable) []byte {
	i := 0
	for i < len(s) && t[s[i]] == 0 {
		i++
	}
	dst = append(dst, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch r := t[c]; r {
		case 0:
			dst = append(dst, c)
		case ' ':
			dst = append(dst, ' ')
		default:
			dst = append(dst, '\\', r)
		}
	}
	return dst
}

// Writer writes frames to a bufio.Writer. It does not flush on its own, so a
// session can batch frames and call Flush once it has nothing more to send.
// A Writer is not safe for concurrent use.
type Writer struct {
	bw   *bufio.Writer
	enc  Encoder
	head []byte // reused scratch space for the command and header lines
}

// NewWriter returns a Writer with a 4 KiB buffer, or using w itself if it
// is already a large enough *bufio.Writer.
func NewWriter(w io.Writer) *Writer { return NewWriterSize(w, 4096) }

// NewWriterSize is NewWriter with the given buffer size.
func NewWriterSize(w io.Writer, size int) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, size)}
}

// Reset discards unflushed output and makes w write to dst with the zero
// Encoder settings (1.0, LengthNonEmpty), keeping its buffers.
func (w *Writer) Reset(dst io.Writer) {
	w.bw.Reset(dst)
	w.enc = Encoder{}
}

// SetVersion sets the version whose escaping later frames use. Call it
// after writing CONNECTED (which is never escaped anyway).
func (w *Writer) SetVersion(v Version) { w.enc.Version = v }

// SetTrailingLF says whether an LF follows each frame; see Encoder.
func (w *Writer) SetTrailingLF(on bool) { w.enc.TrailingLF = on }

// SetLengthMode sets when content-length is written; see LengthMode.
func (w *Writer) SetLengthMode(m LengthMode) { w.enc.Length = m }

// WriteFrame writes one frame into the buffer; see Encoder.Append. It does
// not allocate once the scratch space has grown to the largest header block.
func (w *Writer) WriteFrame(cmd Command, headers []Field, body []byte) error {
	w.head = w.enc.appendHead(w.head[:0], cmd, headers, body)
	if _, err := w.bw.Write(w.head); err != nil {
		return err
	}
	// A large body goes straight through to the underlying writer.
	if _, err := w.bw.Write(body); err != nil {
		return err
	}
	if err := w.bw.WriteByte(0); err != nil || !w.enc.TrailingLF {
		return err
	}
	return w.bw.WriteByte('\n')
}

// WriteHeartbeat writes a heart-beat (a single LF) into the buffer. Call
// Flush to send it.
func (w *Writer) WriteHeartbeat() error { return w.bw.WriteByte('\n') }

// Flush writes buffered frames to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Buffered returns the number of octets written but not yet flushed.
func (w *Writer) Buffered() int { return w.bw.Buffered() }
