package stomp

import (
	"bytes"
	"strconv"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// maxShortString is the longest AMQP short string: its length is one
// octet. Exchange and queue names, routing keys, header table keys and
// most message properties are short strings in AMQP, in the storage
// record and for every AMQP client that reads them, so STOMP text that
// becomes one is bounded here, at the edge, as AMQP's own framing bounds
// it for AMQP clients. Past the edge a longer one would be cut or refused
// by whatever encodes it — too late to tell the client which header was
// wrong.
const maxShortString = 255

// tooLong is the ERROR for a header whose text would become a short
// string longer than AMQP allows. It names the header, as RabbitMQ's
// ERRORs for a bad header do, but does not repeat its value.
func tooLong(header string, n int, what string) error {
	return &stompError{msg: "Invalid header", detail: "Header '" + header + "' is too long: " + what +
		" may be at most " + strconv.Itoa(maxShortString) + " bytes, got " + strconv.Itoa(n) + "\n"}
}

// checkNames refuses a destination whose queue or exchange name or
// routing key is longer than a short string. The text is that of the
// other destination errors, with the reason.
func (d destination) checkNames() error {
	what := "the queue name"
	switch d.kind {
	case destTopic:
		what = "the routing key"
	case destExchange:
		what = "the exchange name"
	case destTempQueue:
		what = "the temp-queue id"
	}
	if len(d.name) > maxShortString {
		return &stompError{msg: "Invalid destination", detail: "Header 'destination' is too long: " + what +
			" may be at most " + strconv.Itoa(maxShortString) + " bytes, got " + strconv.Itoa(len(d.name)) + "\n"}
	}
	if len(d.pattern) > maxShortString {
		return &stompError{msg: "Invalid destination", detail: "Header 'destination' is too long: the routing key may be at most " +
			strconv.Itoa(maxShortString) + " bytes, got " + strconv.Itoa(len(d.pattern)) + "\n"}
	}
	return nil
}

// checkSendHeaders refuses a SEND with a header that would become a short
// string longer than AMQP allows: a property that AMQP carries as one
// (content-type, content-encoding, correlation-id, reply-to, expiration,
// amqp-message-id as message-id, type, user-id, app-id), or the name of a
// header that goes into the headers table, whose keys are short strings.
// Values in the table are long strings and may be as long as the frame
// allows. Every occurrence of a repeated header is checked, although only
// the first is used: a refusal should not depend on order.
func checkSendHeaders(f *frame.Frame, v10 bool) error {
	for i := range f.Headers {
		h := &f.Headers[i]
		if controlHeader(h.Name) {
			continue
		}
		if !propertyHeader(h.Name) {
			if len(h.Name) > maxShortString {
				return tooLong(string(h.Name), len(h.Name), "a header name (a key of the AMQP headers table)")
			}
			continue
		}
		switch string(h.Name) {
		case hPersistent, hPriority, hTimestamp:
			continue // not strings
		}
		if n := len(trimValue(h.Value, v10)); n > maxShortString {
			return tooLong(string(h.Name), n, "its value (an AMQP short string)")
		}
	}
	// RabbitMQ's plugin cannot read a priority or timestamp that is not
	// an integer and refuses the SEND ("Processing error"); sluice
	// refuses it too, naming the header.
	for _, name := range [...]string{hPriority, hTimestamp} {
		if v, ok := f.Get(name); ok {
			if _, isInt := parseInt(bytes.TrimSpace(v)); !isInt {
				return &stompError{msg: processingError, detail: "Header '" + name + "' must be an integer, got '" + string(v) + "'\n"}
			}
		}
	}
	return nil
}

// checkExpiration refuses an expiration that is not a TTL as an AMQP
// publish refuses it: a channel error, precondition_failed, with
// RabbitMQ's reason.
func checkExpiration(msg *message.Message) error {
	p := &msg.Properties
	if !p.Has(message.FlagExpiration) {
		return nil
	}
	if why := message.ExpirationError(p.Expiration); why != "" {
		return &broker.Error{Code: broker.CodePreconditionFailed, Text: "invalid expiration '" + p.Expiration + "': " + why}
	}
	return nil
}
