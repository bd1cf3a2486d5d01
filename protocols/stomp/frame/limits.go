package frame

import (
	"bytes"
	"errors"
	"strconv"
)

// Default limits. They follow RabbitMQ's STOMP plugin in spirit: generous
// for real clients, small enough that one connection cannot exhaust memory.
const (
	DefaultMaxFrameSize  = 4 << 20 // 4 MiB
	DefaultMaxHeaders    = 1000
	DefaultMaxHeaderLine = 64 << 10 // 64 KiB
)

// Limits bounds what a Reader accepts. A zero field takes its default.
type Limits struct {
	// MaxFrameSize bounds the whole frame as it is on the wire: the command
	// line, header lines and blank line with their EOLs, the body and the
	// NUL terminator. Heart-beat EOLs between frames do not count.
	MaxFrameSize int
	// MaxHeaders bounds the number of header lines, repeated names included.
	MaxHeaders int
	// MaxHeaderLine bounds one command or header line as received (escaped),
	// without its EOL.
	MaxHeaderLine int
	// MaxBody bounds the body. It defaults to, and is capped at,
	// MaxFrameSize (as is MaxHeaderLine).
	MaxBody int
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits { return Limits{}.normalize() }

func (l Limits) normalize() Limits {
	if l.MaxFrameSize <= 0 {
		l.MaxFrameSize = DefaultMaxFrameSize
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxHeaderLine <= 0 {
		l.MaxHeaderLine = DefaultMaxHeaderLine
	}
	// Neither a line nor a body can be longer than the frame holding it.
	l.MaxHeaderLine = min(l.MaxHeaderLine, l.MaxFrameSize)
	if l.MaxBody <= 0 || l.MaxBody > l.MaxFrameSize {
		l.MaxBody = l.MaxFrameSize
	}
	return l
}

// LimitError reports a frame that crossed one of the Limits. Limit is the
// Limits field name ("MaxFrameSize", "MaxHeaders", "MaxHeaderLine",
// "MaxBody"). Value is what was seen when the reader gave up; for input that
// was still arriving it is a lower bound. The reader stops buffering at the
// limit, so Value can be far below the size the peer meant to send.
type LimitError struct {
	Limit string
	Value int
	Max   int
}

func (e *LimitError) Error() string {
	// No ':' or EOL so it reads well as an ERROR frame's message header even
	// in 1.0, where nothing is escaped.
	return "frame exceeds " + e.Limit + " (" + strconv.Itoa(e.Value) + " > " + strconv.Itoa(e.Max) + ")"
}

// SyntaxError reports a malformed frame. Msg is short, contains no input
// bytes and no ':' or EOL, so the server can copy it into an ERROR frame's
// message header as is.
type SyntaxError struct {
	Msg string
}

func (e *SyntaxError) Error() string { return e.Msg }

// CommandError reports a command line that is not a STOMP command, or
// the start of one that cannot become one. The reader gives up as soon as
// it knows, without reading the rest of the frame. Error() holds no input
// bytes, for the same reason as SyntaxError's Msg.
type CommandError struct {
	// Command is the command line as far as it was read, cut to
	// maxCommandEcho octets: enough to name it in an ERROR frame.
	Command []byte
}

// maxCommandEcho bounds CommandError.Command.
const maxCommandEcho = 64

func newCommandError(line []byte) *CommandError {
	return &CommandError{Command: bytes.Clone(line[:min(len(line), maxCommandEcho)])}
}

func (e *CommandError) Error() string { return "unknown command" }

// Syntax errors are preallocated: a peer sending garbage should not make us
// allocate either.
var (
	errBareCR    = &SyntaxError{"CR not followed by LF"}
	errNoColon   = &SyntaxError{"header line without colon"}
	errEmptyName = &SyntaxError{"empty header name"}
	errBadEscape = &SyntaxError{"undefined escape sequence in header"}
	errBadLength = &SyntaxError{"content-length is not a non-negative decimal"}
	errNoNUL     = &SyntaxError{"body not terminated by NUL after content-length octets"}
	errHeartBeat = &SyntaxError{"heart-beat header is not two comma-separated integers"}
)

// errInvalidRead is returned when the underlying io.Reader breaks the
// io.Reader contract; it is a programming error, not a peer's.
var errInvalidRead = errors.New("frame: underlying reader returned an invalid count")
