package broker

import (
	"errors"
	"fmt"

	"github.com/sluice-mq/sluice/auth"
)

// Reply codes shared by the core and the adapters. They are AMQP 0-9-1's,
// which RabbitMQ's STOMP plugin also uses to classify its ERROR frames, so an
// adapter can map them without a table of its own.
const (
	CodeContentTooLarge    = 311
	CodeNoRoute            = 312
	CodeConnectionForced   = 320
	CodeAccessRefused      = 403
	CodeNotFound           = 404
	CodeResourceLocked     = 405
	CodePreconditionFailed = 406
	CodeCommandInvalid     = 503
	CodeResourceError      = 506
	CodeNotAllowed         = 530
	CodeNotImplemented     = 540
	CodeInternalError      = 541
)

// Error is a refusal from the core. Code says what kind (and so whether an
// AMQP adapter closes the channel or the connection); Text says what was
// wrong and on which object, in RabbitMQ's words, without the code's name.
type Error struct {
	Code int
	Text string
}

func (e *Error) Error() string { return CodeName(e.Code) + " - " + e.Text }

// CodeName is RabbitMQ's name for a reply code, the prefix of its reply texts.
func CodeName(code int) string {
	switch code {
	case CodeContentTooLarge:
		return "CONTENT_TOO_LARGE"
	case CodeNoRoute:
		return "NO_ROUTE"
	case CodeConnectionForced:
		return "CONNECTION_FORCED"
	case CodeAccessRefused:
		return "ACCESS_REFUSED"
	case CodeNotFound:
		return "NOT_FOUND"
	case CodeResourceLocked:
		return "RESOURCE_LOCKED"
	case CodePreconditionFailed:
		return "PRECONDITION_FAILED"
	case CodeCommandInvalid:
		return "COMMAND_INVALID"
	case CodeResourceError:
		return "RESOURCE_ERROR"
	case CodeNotAllowed:
		return "NOT_ALLOWED"
	case CodeNotImplemented:
		return "NOT_IMPLEMENTED"
	case CodeInternalError:
		return "INTERNAL_ERROR"
	}
	return fmt.Sprintf("CODE_%d", code)
}

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

func errNoQueue(name, vhost string) *Error {
	return errorf(CodeNotFound, "no queue '%s' in vhost '%s'", name, vhost)
}

func errNoExchange(name, vhost string) *Error {
	return errorf(CodeNotFound, "no exchange '%s' in vhost '%s'", name, vhost)
}

func errQueueLocked(name, vhost string) *Error {
	return errorf(CodeResourceLocked, "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. "+
		"It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.", name, vhost)
}

// Refusal turns a refusal from auth into the core's error, as every
// adapter reports it: *auth.Denied is 403 ACCESS_REFUSED, *auth.Limited
// 406 PRECONDITION_FAILED, both with RabbitMQ's text. Other errors, and
// nil, pass through; denied says whether it was a permission refusal.
func Refusal(err error) (out error, denied bool) {
	if err == nil {
		return nil, false // before errors.As, whose targets escape: no allocation on a grant
	}
	var d *auth.Denied
	var l *auth.Limited
	switch {
	case errors.As(err, &d):
		return &Error{Code: CodeAccessRefused, Text: d.Text}, true
	case errors.As(err, &l):
		return &Error{Code: CodePreconditionFailed, Text: l.Text}, false
	}
	return err, false
}
