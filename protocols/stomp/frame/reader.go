package frame

import (
	"bytes"
	"io"
	"math"
)

const (
	// initialBufSize is the read buffer a Reader starts with and shrinks
	// back to; most frames (CONNECT, SUBSCRIBE, ACK, small SENDs) fit.
	initialBufSize = 4096
	// shrinkAfter is how many consecutive frames must fit in a quarter of
	// a grown buffer before it is given back.
	shrinkAfter = 16
	// maxEmptyReads guards against an io.Reader that keeps returning 0, nil.
	maxEmptyReads = 100
)

type stage uint8

const (
	stIdle    stage = iota // between frames: the last frame may still be in use
	stSkip                 // skipping heart-beat EOLs
	stCommand              // reading the command line
	stHeaders              // reading header lines
	stBody                 // reading the body and NUL
)

// span locates one header inside the frame being parsed. Offsets are
// relative to the frame's first octet so they stay valid when the buffer is
// slid or grown under a partial frame.
type span struct{ ns, ne, vs, ve int }

// Reader reads STOMP frames from an io.Reader within Limits.
//
// A Reader is not safe for concurrent use. Protocol errors (*SyntaxError,
// *LimitError) are sticky: the stream is out of sync afterwards, so the
// caller should send an ERROR frame and close. Errors from the underlying
// io.Reader, such as a read deadline, are returned as they are and the
// partially read frame is kept, so ReadFrame may be called again.
type Reader struct {
	src     io.Reader
	lim     Limits
	version Version
	onBeat  func()
	beats   uint64

	buf    []byte
	r, w   int   // buf[r:w] is unconsumed input; r is the current frame's start
	err    error // sticky protocol error
	srcErr error // error from src, held back until buffered input is parsed
	small  int   // consecutive frames that used at most a quarter of buf

	// Parse state of the frame that starts at buf[r]; offsets are relative
	// to r. Keeping it across fills makes parsing linear in the input even
	// when the peer trickles one octet per read.
	stage     stage
	scan      int // where the next search for LF or NUL starts
	lineStart int
	cmdEnd    int
	cmd       Command
	escape    bool // unescape headers of this frame
	v12       bool // with the 1.2 escape set
	spans     []span
	clen      int // first content-length, -1 when absent
	bodyStart int

	frame Frame
}

// NewReader returns a Reader that reads from src, which it buffers itself;
// wrapping src in a bufio.Reader only adds a copy. A zero Limits means
// DefaultLimits.
func NewReader(src io.Reader, lim Limits) *Reader {
	return &Reader{src: src, lim: lim.normalize()}
}

// Reset discards all state, including any buffered input, the version and
// the heart-beat count, and makes r read from src. The buffer is kept if it
// has its initial size, so a server can pool Readers across connections.
func (r *Reader) Reset(src io.Reader) {
	buf := r.buf
	if len(buf) != initialBufSize {
		buf = nil
	}
	r.dropViews()
	*r = Reader{src: src, lim: r.lim, buf: buf, spans: r.spans[:0], frame: Frame{Headers: r.frame.Headers[:0]}}
}

// SetVersion sets the version used to unescape headers of the frames read
// after the call. Until it is called the Reader behaves as 1.0, which is
// right for the CONNECT/STOMP frame whatever the client speaks: those are
// never unescaped. Call it after sending CONNECTED.
func (r *Reader) SetVersion(v Version) { r.version = v }

// Version returns the version set by SetVersion.
func (r *Reader) Version() Version { return r.version }

// Limits returns the limits in force, defaults filled in.
func (r *Reader) Limits() Limits { return r.lim }

// SetLimits changes the limits for the frames read after the call; call
// it between frames. A server uses it to hold a connection to small
// frames until it has authenticated, and to lift the bound after. The
// buffer never grows past what the limits in force allow.
func (r *Reader) SetLimits(lim Limits) { r.lim = lim.normalize() }

// SetHeartbeatFunc sets a function called from ReadFrame whenever it has
// consumed one or more heart-beat EOLs, before it reads on. A session uses it
// to note liveness (for example to push a read deadline forward) while
// ReadFrame is still waiting for a frame. It may be nil.
func (r *Reader) SetHeartbeatFunc(fn func()) { r.onBeat = fn }

// Heartbeats returns how many heart-beat EOLs have been consumed so far. EOLs
// that follow a frame's NUL, which the spec allows, are counted too.
func (r *Reader) Heartbeats() uint64 { return r.beats }

// Buffered returns the number of octets read from src but not yet returned
// as frames. A session can use it to delay flushing replies while more
// frames are already waiting.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadFrame reads the next frame, skipping heart-beat EOLs before it.
//
// The returned Frame, its RawCommand, header names and values, and Body
// alias the Reader's buffer and are valid only until the next call to
// ReadFrame; copy anything that must live longer. This is what makes the
// hot path allocation-free.
//
// At a clean end of input between frames it returns io.EOF; if input ends
// inside a frame, io.ErrUnexpectedEOF.
func (r *Reader) ReadFrame() (*Frame, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.stage == stIdle {
		r.startFrame()
	}
	for {
		want, err := r.parse()
		if err != nil {
			r.err = err
			return nil, err
		}
		if want == 0 {
			return &r.frame, nil
		}
		// The frame is incomplete. Its NUL, at least, is still to come,
		// so once MaxFrameSize octets are buffered it is already too big.
		if r.stage >= stCommand && r.w-r.r >= r.lim.MaxFrameSize {
			r.err = &LimitError{Limit: "MaxFrameSize", Value: r.w - r.r + 1, Max: r.lim.MaxFrameSize}
			return nil, r.err
		}
		if err := r.fill(want); err != nil {
			return nil, err
		}
	}
}

// startFrame is called once the previous frame is no longer in use, which is
// the moment its buffer space may be reused or the buffer replaced.
func (r *Reader) startFrame() {
	if len(r.buf) > initialBufSize && r.w-r.r <= initialBufSize/2 &&
		(r.small >= shrinkAfter || (r.small > 0 && r.r == r.w)) {
		r.dropViews()
		nb := make([]byte, initialBufSize)
		r.w = copy(nb, r.buf[r.r:r.w])
		r.r = 0
		r.buf = nb
		r.small = 0
	}
	r.stage = stSkip
}

// dropViews forgets every slice of the buffer held in r.frame, including
// header entries beyond the current length, so a replaced buffer can be
// garbage collected.
func (r *Reader) dropViews() {
	clear(r.frame.Headers[:cap(r.frame.Headers)])
	r.frame.RawCommand, r.frame.Body = nil, nil
}

// parse advances the state machine over the buffered input. It returns
// want == 0 when a frame is complete; otherwise more input is needed and want
// is how many octets from the frame's start must be buffered (at least one
// more than now).
func (r *Reader) parse() (want int, err error) {
	for {
		switch r.stage {
		case stSkip:
			n := 0
			i := r.r
		skip:
			for i < r.w {
				switch r.buf[i] {
				case '\n':
					i++
				case '\r':
					if i+1 == r.w {
						break skip // wait for the octet after CR
					}
					if r.buf[i+1] != '\n' {
						return 0, errBareCR
					}
					i += 2
				default:
					break skip
				}
				n++
			}
			r.r = i
			if n > 0 {
				r.beats += uint64(n)
				if r.onBeat != nil {
					r.onBeat()
				}
			}
			if r.r == r.w {
				r.r, r.w = 0, 0
				return 1, nil
			}
			if r.buf[r.r] == '\r' {
				return 2, nil
			}
			r.stage = stCommand
			r.scan, r.lineStart = 0, 0
			r.spans = r.spans[:0]
			r.clen = -1

		case stCommand:
			// Not line(): a command line is judged by what it says before
			// any length limit, and refused as soon as it can no longer
			// become a command, not when its LF or the frame's NUL
			// arrives: a peer speaking another protocol (TLS, HTTP) or
			// sending noise may never send either, and would hold the
			// connection until a timeout.
			base := r.r
			i := bytes.IndexByte(r.buf[base+r.scan:r.w], '\n')
			if i < 0 {
				r.scan = r.w - base
				if line := r.buf[base:r.w]; !commandPrefix(line) {
					return 0, newCommandError(line)
				}
				return r.w - r.r + 1, nil
			}
			lf := r.scan + i
			end := lf
			if end > 0 && r.buf[base+end-1] == '\r' {
				end--
			}
			line := r.buf[base : base+end]
			if r.cmd = ParseCommand(line); r.cmd == Unknown {
				return 0, newCommandError(line)
			}
			if end > r.lim.MaxHeaderLine {
				return 0, &LimitError{Limit: "MaxHeaderLine", Value: end, Max: r.lim.MaxHeaderLine}
			}
			r.lineStart, r.scan = lf+1, lf+1
			if r.lineStart+1 > r.lim.MaxFrameSize { // the NUL is still to come
				return 0, &LimitError{Limit: "MaxFrameSize", Value: r.lineStart + 1, Max: r.lim.MaxFrameSize}
			}
			r.cmdEnd = end
			// Fixed per frame, so a SetVersion between a read error and the
			// retry cannot mix two escape sets in one frame.
			r.escape = r.cmd.escapes(r.version)
			r.v12 = r.version >= V12
			r.stage = stHeaders

		case stHeaders:
			start, end, ok, err := r.line()
			if !ok || err != nil {
				return r.w - r.r + 1, err
			}
			if start == end {
				if err := r.endHeaders(); err != nil {
					return 0, err
				}
				continue
			}
			if err := r.header(start, end); err != nil {
				return 0, err
			}

		case stBody:
			base := r.r
			var bodyEnd int
			if r.clen >= 0 {
				total := r.bodyStart + r.clen + 1
				if r.w-base < total {
					return total, nil
				}
				if r.buf[base+total-1] != 0 {
					return 0, errNoNUL
				}
				bodyEnd = total - 1
			} else {
				i := bytes.IndexByte(r.buf[base+r.scan:r.w], 0)
				if i < 0 {
					r.scan = r.w - base
					if n := r.scan - r.bodyStart; n > r.lim.MaxBody {
						return 0, &LimitError{Limit: "MaxBody", Value: n, Max: r.lim.MaxBody}
					}
					return r.scan + 1, nil
				}
				bodyEnd = r.scan + i
				if n := bodyEnd - r.bodyStart; n > r.lim.MaxBody {
					return 0, &LimitError{Limit: "MaxBody", Value: n, Max: r.lim.MaxBody}
				}
				if bodyEnd+1 > r.lim.MaxFrameSize {
					return 0, &LimitError{Limit: "MaxFrameSize", Value: bodyEnd + 1, Max: r.lim.MaxFrameSize}
				}
			}
			r.finish(bodyEnd)
			return 0, nil

		default:
			panic("frame: ReadFrame in invalid state")
		}
	}
}

// line finds the next complete line of the frame and returns its bounds
// without EOL; ok is false when the LF has not arrived yet.
func (r *Reader) line() (start, end int, ok bool, err error) {
	base := r.r
	i := bytes.IndexByte(r.buf[base+r.scan:r.w], '\n')
	if i < 0 {
		r.scan = r.w - base
		// +1: the last octet may be the CR of a CRLF.
		if n := r.scan - r.lineStart; n > r.lim.MaxHeaderLine+1 {
			return 0, 0, false, &LimitError{Limit: "MaxHeaderLine", Value: n, Max: r.lim.MaxHeaderLine}
		}
		return 0, 0, false, nil
	}
	lf := r.scan + i
	start, end = r.lineStart, lf
	if end > start && r.buf[base+end-1] == '\r' {
		end--
	}
	if end-start > r.lim.MaxHeaderLine {
		return 0, 0, false, &LimitError{Limit: "MaxHeaderLine", Value: end - start, Max: r.lim.MaxHeaderLine}
	}
	r.lineStart, r.scan = lf+1, lf+1
	// The NUL is still to come.
	if r.lineStart+1 > r.lim.MaxFrameSize {
		return 0, 0, false, &LimitError{Limit: "MaxFrameSize", Value: r.lineStart + 1, Max: r.lim.MaxFrameSize}
	}
	return start, end, true, nil
}

// header records the header line at [start, end), unescaping it in place:
// unescaping only ever shortens, so no copy is needed.
func (r *Reader) header(start, end int) error {
	if len(r.spans) >= r.lim.MaxHeaders {
		return &LimitError{Limit: "MaxHeaders", Value: len(r.spans) + 1, Max: r.lim.MaxHeaders}
	}
	base := r.r
	colon := bytes.IndexByte(r.buf[base+start:base+end], ':')
	if colon < 0 {
		return errNoColon
	}
	if colon == 0 {
		return errEmptyName
	}
	s := span{ns: start, ne: start + colon, vs: start + colon + 1, ve: end}
	if r.escape {
		n, err := unescape(r.buf[base+s.ns:base+s.ne], r.v12)
		if err != nil {
			return err
		}
		s.ne = s.ns + n
		if n, err = unescape(r.buf[base+s.vs:base+s.ve], r.v12); err != nil {
			return err
		}
		s.ve = s.vs + n
	}
	r.spans = append(r.spans, s)
	// The first content-length wins, like any repeated header; later ones
	// are kept but not interpreted.
	if r.clen < 0 && string(r.buf[base+s.ns:base+s.ne]) == "content-length" {
		n, err := parseLength(r.buf[base+s.vs : base+s.ve])
		if err != nil {
			return err
		}
		r.clen = n
	}
	return nil
}

// endHeaders is called at the blank line. A declared body is checked against
// the limits here, before any buffer space is reserved for it.
func (r *Reader) endHeaders() error {
	r.bodyStart = r.lineStart
	r.scan = r.bodyStart
	if r.clen >= 0 {
		if r.clen > r.lim.MaxBody {
			return &LimitError{Limit: "MaxBody", Value: r.clen, Max: r.lim.MaxBody}
		}
		if total := r.bodyStart + r.clen + 1; total > r.lim.MaxFrameSize {
			return &LimitError{Limit: "MaxFrameSize", Value: total, Max: r.lim.MaxFrameSize}
		}
	}
	r.stage = stBody
	return nil
}

// finish publishes the parsed frame in r.frame and moves past it.
func (r *Reader) finish(bodyEnd int) {
	b := r.buf[r.r:]
	f := &r.frame
	f.Command = r.cmd
	// Full slice expressions cap every view, so a caller's append cannot
	// overwrite the input that follows.
	f.RawCommand = b[:r.cmdEnd:r.cmdEnd]
	f.Headers = f.Headers[:0]
	for _, s := range r.spans {
		f.Headers = append(f.Headers, Header{Name: b[s.ns:s.ne:s.ne], Value: b[s.vs:s.ve:s.ve]})
	}
	f.Body = b[r.bodyStart:bodyEnd:bodyEnd]
	f.lengthPlus1 = r.clen + 1

	total := bodyEnd + 1
	if total <= len(r.buf)/4 {
		r.small++
	} else {
		r.small = 0
	}
	r.r += total
	r.stage = stIdle
}

// fill reads more input so that at least want octets of the current frame
// are buffered, or at least one more octet when want is smaller.
func (r *Reader) fill(want int) error {
	if err := r.srcErr; err != nil {
		r.srcErr = nil
		return r.ioErr(err)
	}
	// Slide the partial frame to the front: parse offsets are relative to
	// r, and the space before it belongs to frames already released.
	if r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	need := max(want, r.w+1)
	if need > len(r.buf) {
		if err := r.grow(need); err != nil {
			return err
		}
	}
	for range maxEmptyReads {
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			return errInvalidRead
		}
		r.w += n
		if err != nil {
			if n > 0 {
				r.srcErr = err
				return nil
			}
			return r.ioErr(err)
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// grow enlarges the buffer to hold need octets, doubling to keep the number
// of copies logarithmic, but never beyond what the largest frame needs.
func (r *Reader) grow(need int) error {
	limit := max(r.lim.MaxFrameSize, initialBufSize)
	if need > limit {
		// Unreachable while the limit checks in parse hold.
		return &LimitError{Limit: "MaxFrameSize", Value: need, Max: r.lim.MaxFrameSize}
	}
	n := max(2*len(r.buf), need, initialBufSize)
	n = min(n, limit)
	nb := make([]byte, n)
	copy(nb, r.buf[:r.w])
	r.buf = nb
	return nil
}

func (r *Reader) ioErr(err error) error {
	if err == io.EOF && (r.stage != stSkip || r.w > r.r) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLength parses a content-length value: one or more ASCII digits,
// nothing else. Huge values saturate instead of overflowing; the limit check
// rejects them anyway.
func parseLength(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errBadLength
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errBadLength
		}
		if n > (math.MaxInt-9)/10 {
			n = math.MaxInt
		} else {
			n = n*10 + int(c-'0')
		}
	}
	return n, nil
}

// unescape decodes b in place and returns the decoded length. 1.1 and 1.2
// define \\ \n \c; 1.2 adds \r. Anything else after a backslash, or a
// backslash at the end, is a fatal error per the spec.
func unescape(b []byte, v12 bool) (int, error) {
	i := bytes.IndexByte(b, '\\')
	if i < 0 {
		return len(b), nil
	}
	j := i
	for i < len(b) {
		c := b[i]
		if c != '\\' {
			b[j] = c
			i++
			j++
			continue
		}
		if i+1 == len(b) {
			return 0, errBadEscape
		}
		switch b[i+1] {
		case '\\':
			c = '\\'
		case 'n':
			c = '\n'
		case 'c':
			c = ':'
		case 'r':
			if !v12 {
				return 0, errBadEscape
			}
			c = '\r'
		default:
			return 0, errBadEscape
		}
		b[j] = c
		i += 2
		j++
	}
	return j, nil
}
