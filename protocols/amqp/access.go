package amqp

import (
	"encoding/binary"

	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// access.request (class 30) is gone from AMQP 0-9-1's final XML, and so
// from the codec generated from it, but old clients still send it once per
// channel; RabbitMQ answers access.request-ok with ticket 1 and ignores the
// rest (realm, flags), and so does sluice. Permissions are checked on each
// operation as always.
const (
	classAccess           = 30
	methodAccessRequest   = 10
	methodAccessRequestOk = 11
	accessTicket          = 1
)

// isAccessRequest reports whether a method frame's payload is
// access.request.
func isAccessRequest(p []byte) bool {
	return len(p) >= 4 && binary.BigEndian.Uint16(p) == classAccess && binary.BigEndian.Uint16(p[2:]) == methodAccessRequest
}

// accessRequestOk is the answer: the ticket, a short.
type accessRequestOk struct{}

func (accessRequestOk) ClassID() uint16          { return classAccess }
func (accessRequestOk) MethodID() uint16         { return methodAccessRequestOk }
func (accessRequestOk) Read(*wire.Decoder) error { return nil }
func (accessRequestOk) Write(e *wire.Encoder)    { e.WriteShort(accessTicket) }
