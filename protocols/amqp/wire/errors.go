package wire

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Error is a protocol error with the reply code and text to send in
// connection.close (hard errors) or channel.close (soft errors). ClassID and
// MethodID name the method that caused it, when known.
type Error struct {
	Code     uint16
	Text     string // reply-text, already prefixed with ReplyName(Code)
	ClassID  uint16
	MethodID uint16
}

// maxShortstr is the longest short string; reply-text is one.
const maxShortstr = 255

// NewError returns an *Error whose Text is "NAME - text" as RabbitMQ writes
// its reply texts ("NOT_FOUND - no queue 'q' in vhost '/'"), cut to the 255
// octets a short string can hold so it can always be sent.
func NewError(code uint16, text string) *Error {
	if name := ReplyName(code); name != "" && !hasPrefix(text, name) {
		text = name + " - " + text
	}
	if len(text) > maxShortstr {
		// As RabbitMQ: cut to 252 bytes and mark the cut with "...".
		n := maxShortstr - 3
		for n > 0 && !utf8.RuneStart(text[n]) {
			n--
		}
		text = text[:n] + "..."
	}
	return &Error{Code: code, Text: text}
}

func hasPrefix(s, name string) bool {
	return len(s) >= len(name) && s[:len(name)] == name
}

func (e *Error) Error() string {
	return "amqp " + strconv.Itoa(int(e.Code)) + ": " + e.Text
}

// Hard reports whether the error must close the connection, not just the
// channel.
func (e *Error) Hard() bool { return IsHardError(e.Code) }

// CloseMethod returns the method that reports e to the peer:
// connection.close for a hard error, channel.close for a soft one.
func (e *Error) CloseMethod() Method {
	if e.Hard() {
		return &ConnectionClose{ReplyCode: e.Code, ReplyText: e.Text, FailedClassID: e.ClassID, FailedMethodID: e.MethodID}
	}
	return &ChannelClose{ReplyCode: e.Code, ReplyText: e.Text, FailedClassID: e.ClassID, FailedMethodID: e.MethodID}
}

// ErrProtocolHeader is matched (errors.Is) by the error ReadProtocolHeader
// returns when a peer opens with anything but AMQP 0-9-1's header. The
// caller should then write ProtocolHeader and close the connection.
var ErrProtocolHeader = errors.New("wire: not an AMQP 0-9-1 protocol header")

// ProtocolHeaderError carries the bytes a peer sent instead of the AMQP
// 0-9-1 protocol header.
type ProtocolHeaderError struct {
	Header []byte
}

func (e *ProtocolHeaderError) Error() string {
	return ErrProtocolHeader.Error() + ": " + strconv.Quote(string(e.Header))
}

func (e *ProtocolHeaderError) Unwrap() error { return ErrProtocolHeader }

// Errors shared by the decoders. They are values, not constructed per
// failure, because a fuzzing or hostile peer can make every frame fail.
var (
	errTruncated    = NewError(FrameError, "frame payload too short for the method's arguments")
	errTrailing     = NewError(FrameError, "frame payload longer than the method's arguments")
	errTableLength  = NewError(FrameError, "field table length exceeds the frame")
	errArrayLength  = NewError(FrameError, "field array length exceeds the frame")
	errStringLength = NewError(FrameError, "string length exceeds the frame")
	errTableDepth   = NewError(SyntaxError, "field tables nested deeper than the limit")
	errShortPayload = NewError(FrameError, "method frame shorter than its class and method ids")
)

func errFieldType(t byte) *Error {
	return NewError(SyntaxError, "unknown field table value type '"+printable(t)+"'")
}

func printable(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return string(rune(b))
	}
	return "\\x" + strconv.FormatUint(uint64(b), 16)
}

func unknownMethod(classID, methodID uint16) *Error {
	ids := strconv.Itoa(int(classID)) + "/" + strconv.Itoa(int(methodID))
	var e *Error
	if !knownClass(classID) {
		// RabbitMQ has no handler for a class it does not know.
		e = NewError(NotImplemented, "unknown class id "+ids)
	} else {
		e = NewError(CommandInvalid, "unknown method id "+ids)
	}
	e.ClassID, e.MethodID = classID, methodID
	return e
}
