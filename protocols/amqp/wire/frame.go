package wire

import (
	"encoding/binary"
	"io"
	"strconv"
	"sync"
)

// ProtocolHeader is what an AMQP 0-9-1 client sends first, and what a
// server answers with before closing when a client sends anything else.
const ProtocolHeader = "AMQP\x00\x00\x09\x01"

// DefaultFrameMax is the frame-max a FrameReader enforces until told
// otherwise: RabbitMQ's default, large enough for the connection.start-ok
// of any real client.
const DefaultFrameMax = 131072

// FrameOverhead is the octets a frame adds around its payload: type,
// channel, size and the frame-end octet. frame-max counts them.
const FrameOverhead = 8

const (
	frameHeaderSize = 7
	minReadBuffer   = 4096
)

// Frame is one AMQP frame. Payload aliases the FrameReader's buffer and is
// valid only until the next ReadFrame.
type Frame struct {
	Type    uint8
	Channel uint16
	Payload []byte
}

// ReadProtocolHeader reads the 8-byte protocol header from r and checks it
// is AMQP 0-9-1's. Anything else yields a *ProtocolHeaderError (matching
// ErrProtocolHeader), after which the server should write ProtocolHeader
// and close. It reads exactly 8 bytes, so r can be handed to a FrameReader
// afterwards without losing data. Read errors are returned as they are.
func ReadProtocolHeader(r io.Reader) error {
	var h [8]byte
	n, err := io.ReadFull(r, h[:])
	if n > 0 && string(h[:n]) != ProtocolHeader[:n] {
		// Garbage is a bad header even when the peer then hung up.
		return &ProtocolHeaderError{Header: append([]byte(nil), h[:n]...)}
	}
	return err
}

// FrameReader reads frames from an io.Reader through one buffer it owns. It
// reads as much as the reader offers, so a burst of small frames costs one
// read call, and parses frames in place. The buffer grows only while a frame
// needs more room than it has and only as fast as data arrives (it at most
// doubles per read), up to the frame-max, so a peer announcing a huge frame
// cannot make it allocate memory it has not sent.
type FrameReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	frameMax   uint32
	err        error // read error not yet returned, seen while data was still buffered
	// idle is where a released reader waits for its next bytes, so that an
	// idle connection holds 128 bytes instead of a frame buffer.
	idle [128]byte
}

// bufPool recycles the read buffers of connections that went idle; only
// buffers of the starting size come back, larger ones go to the GC.
var bufPool = sync.Pool{New: func() any { b := make([]byte, minReadBuffer); return &b }}

// Release gives the read buffer back to a shared pool when nothing is
// buffered; the next ReadFrame waits in a small array and takes a buffer
// once bytes arrive. A connection calls it when it has handled everything
// it read, so thousands of idle connections hold almost no buffer memory.
func (fr *FrameReader) Release() {
	if fr.buf == nil || fr.start != fr.end || fr.err != nil {
		return
	}
	if len(fr.buf) == minReadBuffer {
		b := fr.buf
		bufPool.Put(&b)
	}
	fr.buf, fr.start, fr.end = nil, 0, 0
}

// NewFrameReader returns a FrameReader enforcing DefaultFrameMax.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r, frameMax: DefaultFrameMax}
}

// SetMaxFrameSize sets the largest acceptable frame in octets, including
// the 8 octets of FrameOverhead, as frame-max is negotiated in
// connection.tune. 0 means no limit, as in connection.tune; the reader then
// still only grows its buffer as data arrives.
func (fr *FrameReader) SetMaxFrameSize(n uint32) { fr.frameMax = n }

// MaxFrameSize returns the limit set by SetMaxFrameSize.
func (fr *FrameReader) MaxFrameSize() uint32 { return fr.frameMax }

// Buffered returns the number of bytes read from the reader but not yet
// returned as frames.
func (fr *FrameReader) Buffered() int { return fr.end - fr.start }

// ReadFrame reads the next frame. Malformed frames (unknown type, size over
// the limit, missing frame-end octet) yield an *Error with code
// FRAME_ERROR, after which the stream cannot be trusted: close the
// connection. Errors from the underlying reader are returned unchanged,
// with io.ErrUnexpectedEOF for a stream that ends inside a frame; a read
// that times out can be retried, since the bytes of a partly received
// frame stay buffered.
func (fr *FrameReader) ReadFrame() (Frame, error) {
	if err := fr.fill(frameHeaderSize); err != nil {
		return Frame{}, err
	}
	h := fr.buf[fr.start : fr.start+frameHeaderSize]
	typ := h[0]
	channel := binary.BigEndian.Uint16(h[1:3])
	size := binary.BigEndian.Uint32(h[3:7])
	switch typ {
	case FrameMethod, FrameHeader, FrameBody, FrameHeartbeat:
	default:
		return Frame{}, NewError(FrameError, "unknown frame type "+strconv.Itoa(int(typ)))
	}
	total := uint64(size) + FrameOverhead
	if fr.frameMax != 0 && total > uint64(fr.frameMax) {
		return Frame{}, NewError(FrameError, "frame size "+strconv.FormatUint(total, 10)+
			" exceeds the frame_max of "+strconv.FormatUint(uint64(fr.frameMax), 10))
	}
	if total > uint64(maxInt) {
		return Frame{}, NewError(FrameError, "frame size "+strconv.FormatUint(total, 10)+" too large for this platform")
	}
	if err := fr.fill(int(total)); err != nil {
		return Frame{}, err
	}
	f := fr.buf[fr.start : fr.start+int(total)]
	if end := f[len(f)-1]; end != FrameEnd {
		return Frame{}, NewError(FrameError, "frame end octet is 0x"+strconv.FormatUint(uint64(end), 16)+", not 0xce")
	}
	fr.start += int(total)
	p := f[frameHeaderSize : len(f)-1 : len(f)-1]
	return Frame{Type: typ, Channel: channel, Payload: p}, nil
}

const maxInt = int(^uint(0) >> 1)

// fill makes at least n unread bytes available in buf[start:end].
func (fr *FrameReader) fill(n int) error {
	if fr.buf == nil {
		// Released: wait for the next bytes in the small array, then
		// take a buffer.
		m, err := fr.r.Read(fr.idle[:])
		if m < 0 || m > len(fr.idle) {
			return io.ErrShortBuffer
		}
		fr.buf = *bufPool.Get().(*[]byte)
		fr.start, fr.end = 0, copy(fr.buf, fr.idle[:m])
		if err != nil {
			fr.err = err
		}
	}
	zeroReads := 0
	for fr.end-fr.start < n {
		if fr.err != nil {
			// Report a read error once, when the data runs out. It is
			// not sticky: after a deadline expires the caller may
			// read again and the partial frame is still buffered.
			err := fr.err
			fr.err = nil
			if err == io.EOF && fr.end > fr.start {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(fr.buf)-fr.start < n && fr.start > 0 {
			// The frame would not fit behind start: move the unread
			// bytes (and with them the previous frame's payload, no
			// longer valid) to the front.
			fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
			fr.start = 0
		}
		if fr.end == len(fr.buf) {
			fr.grow(n)
		}
		m, err := fr.r.Read(fr.buf[fr.end:])
		if m < 0 || m > len(fr.buf)-fr.end {
			return io.ErrShortBuffer // a broken io.Reader
		}
		fr.end += m
		if err != nil {
			fr.err = err
		} else if m == 0 {
			if zeroReads++; zeroReads >= 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// grow enlarges a full buffer (start is 0) that holds fewer than n bytes.
// It doubles at most, so memory follows the data actually received, and
// stops at the larger of n and the frame-max, so the buffer settles once
// the largest allowed frame has been seen.
func (fr *FrameReader) grow(n int) {
	limit := max(n, minReadBuffer)
	if fr.frameMax != 0 && uint64(fr.frameMax) <= uint64(maxInt) {
		limit = max(limit, int(fr.frameMax))
	}
	size := min(max(2*len(fr.buf), minReadBuffer), limit)
	nb := make([]byte, size)
	fr.end = copy(nb, fr.buf[fr.start:fr.end])
	fr.start = 0
	fr.buf = nb
}
