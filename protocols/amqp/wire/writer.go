package wire

import (
	"encoding/binary"
	"io"
	"math"
	"strconv"

	"github.com/sluice-mq/sluice/broker/message"
)

const (
	// autoFlushSize: past this many buffered bytes a write flushes by
	// itself, so a caller that batches many frames before Flush does not
	// grow the buffer without bound.
	autoFlushSize = 64 << 10
	// directBodySize: body chunks at least this large go straight to the
	// io.Writer instead of being copied into the buffer.
	directBodySize = 16 << 10
)

// FrameWriter encodes frames into one buffer it owns and writes them to an
// io.Writer on Flush (or when the buffer passes 64 KiB). Methods are encoded
// straight into the buffer, so steady-state writing does not allocate. A
// FrameWriter is not safe for concurrent use: a connection should have one
// writer goroutine, or guard it with a mutex.
//
// Write errors from the io.Writer are sticky: once one occurs every later
// call returns it.
type FrameWriter struct {
	w   io.Writer
	enc Encoder // enc.buf is the output buffer
	err error
}

// NewFrameWriter returns a FrameWriter writing to w. w is written to only on
// Flush and auto-flushes, so it need not be buffered.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Release drops the output buffer when nothing waits in it, so an idle
// connection holds none; the next write allocates a new one.
func (fw *FrameWriter) Release() {
	if len(fw.enc.buf) == 0 {
		fw.enc.buf = nil
	}
}

// Buffered returns the number of bytes waiting for Flush.
func (fw *FrameWriter) Buffered() int { return len(fw.enc.buf) }

// Flush writes the buffered frames to the io.Writer.
func (fw *FrameWriter) Flush() error {
	if fw.err != nil {
		return fw.err
	}
	if len(fw.enc.buf) == 0 {
		return nil
	}
	_, err := fw.w.Write(fw.enc.buf)
	fw.enc.buf = fw.enc.buf[:0]
	if err != nil {
		fw.err = err
	}
	return err
}

func (fw *FrameWriter) maybeFlush() error {
	if len(fw.enc.buf) >= autoFlushSize {
		return fw.Flush()
	}
	return nil
}

// beginFrame appends a frame header with a size to be patched by endFrame.
func (fw *FrameWriter) beginFrame(typ uint8, channel uint16) int {
	start := len(fw.enc.buf)
	fw.enc.buf = append(fw.enc.buf, typ, byte(channel>>8), byte(channel), 0, 0, 0, 0)
	return start
}

// endFrame patches the size of the frame begun at start and appends the
// frame-end octet. On an encoding error it drops the frame and returns the
// error, leaving the encoder ready for the next frame.
func (fw *FrameWriter) endFrame(start int) error {
	if err := fw.enc.err; err != nil {
		fw.enc.buf, fw.enc.err = fw.enc.buf[:start], nil
		return err
	}
	size := len(fw.enc.buf) - start - frameHeaderSize
	if uint64(size) > math.MaxUint32 {
		fw.enc.buf = fw.enc.buf[:start]
		return NewError(InternalError, "frame payload larger than 4 GiB")
	}
	binary.BigEndian.PutUint32(fw.enc.buf[start+3:], uint32(size))
	fw.enc.buf = append(fw.enc.buf, FrameEnd)
	return nil
}

// WriteMethod buffers a method frame. An encoding error (an over-long short
// string, an unsupported table value) is returned and nothing is buffered.
func (fw *FrameWriter) WriteMethod(channel uint16, m Method) error {
	if fw.err != nil {
		return fw.err
	}
	start := fw.beginFrame(FrameMethod, channel)
	fw.enc.writeMethod(m)
	if err := fw.endFrame(start); err != nil {
		return err
	}
	return fw.maybeFlush()
}

// WriteFrame buffers a frame with the given payload as is.
func (fw *FrameWriter) WriteFrame(typ uint8, channel uint16, payload []byte) error {
	if fw.err != nil {
		return fw.err
	}
	start := fw.beginFrame(typ, channel)
	fw.enc.buf = append(fw.enc.buf, payload...)
	if err := fw.endFrame(start); err != nil {
		return err
	}
	return fw.maybeFlush()
}

// heartbeatFrame is the whole heartbeat frame: type 8, channel 0, size 0.
var heartbeatFrame = []byte{FrameHeartbeat, 0, 0, 0, 0, 0, 0, FrameEnd}

// WriteHeartbeat buffers a heartbeat frame.
func (fw *FrameWriter) WriteHeartbeat() error {
	if fw.err != nil {
		return fw.err
	}
	fw.enc.buf = append(fw.enc.buf, heartbeatFrame...)
	return fw.maybeFlush()
}

// WriteContent buffers the content header frame for props and body and then
// the body frames, splitting the body so that no frame exceeds frameMax
// octets (FrameOverhead included); frameMax 0 means no limit. An empty body
// sends no body frame, as the spec requires. If the header alone does not fit
// in frameMax nothing is written and an *Error is returned.
//
// Call it right after WriteMethod for the content-bearing method, from the
// same goroutine, so no other frame can come between them on the channel.
func (fw *FrameWriter) WriteContent(channel, classID uint16, props *message.Properties, body []byte, frameMax uint32) error {
	if fw.err != nil {
		return fw.err
	}
	if frameMax != 0 && frameMax <= FrameOverhead {
		return NewError(InternalError, "frame_max "+strconv.FormatUint(uint64(frameMax), 10)+" leaves no room for a payload")
	}
	start := fw.beginFrame(FrameHeader, channel)
	fw.enc.WriteContentHeader(classID, uint64(len(body)), props)
	if err := fw.endFrame(start); err != nil {
		return err
	}
	if n := len(fw.enc.buf) - start; frameMax != 0 && uint64(n) > uint64(frameMax) {
		fw.enc.buf = fw.enc.buf[:start]
		return NewError(InternalError, "content header frame of "+strconv.Itoa(n)+
			" octets exceeds the frame_max of "+strconv.FormatUint(uint64(frameMax), 10))
	}
	chunkMax := uint64(math.MaxUint32)
	if frameMax != 0 {
		chunkMax = uint64(frameMax) - FrameOverhead
	}
	for len(body) > 0 {
		chunk := body
		if uint64(len(chunk)) > chunkMax {
			chunk = chunk[:chunkMax]
		}
		body = body[len(chunk):]
		if err := fw.writeBody(channel, chunk); err != nil {
			return err
		}
	}
	return fw.maybeFlush()
}

// writeBody writes one body frame. A large chunk is not copied: the frame
// header is flushed with whatever precedes it, the chunk is written directly,
// and the frame-end octet starts the buffer again.
func (fw *FrameWriter) writeBody(channel uint16, chunk []byte) error {
	fw.enc.buf = append(fw.enc.buf, FrameBody, byte(channel>>8), byte(channel))
	fw.enc.buf = binary.BigEndian.AppendUint32(fw.enc.buf, uint32(len(chunk)))
	if len(chunk) < directBodySize {
		fw.enc.buf = append(fw.enc.buf, chunk...)
		fw.enc.buf = append(fw.enc.buf, FrameEnd)
		return fw.maybeFlush()
	}
	if err := fw.Flush(); err != nil {
		return err
	}
	if _, err := fw.w.Write(chunk); err != nil {
		fw.err = err
		return err
	}
	fw.enc.buf = append(fw.enc.buf, FrameEnd)
	return nil
}
