package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// Record kinds: the first byte of a record's plain form. Part of the
// on-disk format: do not change.
const (
	kindMessage   byte = 1 // a message and the durable queues it waits in
	kindSettled   byte = 2 // a queue is done with a message
	kindDelivered byte = 3 // a queue delivered a message for the first time
	kindDedup     byte = 4 // a de-duplication id remembered until it expires
	kindReturned  byte = 5 // a delivered message came back unacked once more
	kindSpill     byte = 6 // a transient message paged out; never recovered
	// Many ids of one queue settled or delivered at once (a multiple ack,
	// a dispatch of many messages): vhost(str16) queue(str16) n(4) ids(8 each).
	kindSettledMany   byte = 7
	kindDeliveredMany byte = 8
)

// A message record, after its kind byte (integers little-endian):
//
//	id        8   broker-wide message id, increasing in publish order
//	published 8   unix nanoseconds, for TTLs after a restart
//	targets   2   number of queues, then per queue:
//	              flags(1: bit0 delivered, bit1 returns follows)
//	              vhost(str16) queue(str16) [returns(4)]
//	exchange  str8
//	key       str8
//	header    4 + n   the AMQP content header of the properties: the
//	                  canonical binary form of message.Properties
//	body      the rest
//
// A settled or delivered record: id(8) vhost(str16) queue(str16).
// strN is an N-bit length followed by that many bytes.

type target struct {
	ref       broker.QueueRef
	delivered bool
	returns   uint32 // times it came back unacked (x-delivery-limit)
}

func appendStr16(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendStr8(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// encodeMessage appends a message record's plain form to dst.
// messageRecordSize estimates encodeMessage's output, to size its buffer:
// exact but for the properties, which get a generous allowance.
func messageRecordSize(targets []target, m *message.Message) int {
	n := 1 + 8 + 8 + 2 + 2 + len(m.Exchange) + len(m.RoutingKey) + 4 + 14 + 256 + len(m.Body)
	for _, t := range targets {
		n += 1 + 4 + len(t.ref.VHost) + len(t.ref.Queue) + 4
	}
	return n
}

// A spill record has the same form, with no targets.
func encodeMessage(dst []byte, kind byte, id uint64, published int64, targets []target, m *message.Message) ([]byte, error) {
	dst = append(dst, kind)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(published))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(targets)))
	for _, t := range targets {
		var flags byte
		if t.delivered {
			flags |= 1
		}
		if t.returns > 0 {
			flags |= 2
		}
		dst = append(dst, flags)
		dst = appendStr16(dst, t.ref.VHost)
		dst = appendStr16(dst, t.ref.Queue)
		if t.returns > 0 {
			dst = binary.LittleEndian.AppendUint32(dst, t.returns)
		}
	}
	dst = appendStr8(dst, m.Exchange)
	dst = appendStr8(dst, m.RoutingKey)
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	var err error
	dst, err = wire.EncodeContentHeader(dst, wire.ClassBasic, uint64(len(m.Body)), &m.Properties)
	if err != nil {
		return nil, fmt.Errorf("storage: encode properties: %w", err)
	}
	binary.LittleEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return append(dst, m.Body...), nil
}

func encodeRef(dst []byte, kind byte, id uint64, ref broker.QueueRef) []byte {
	dst = append(dst, kind)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = appendStr16(dst, ref.VHost)
	return appendStr16(dst, ref.Queue)
}

var errShort = errors.New("storage: record truncated")

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *reader) str16() string { return string(r.take(int(r.u16()))) }
func (r *reader) str8() string  { return string(r.take(int(r.u8()))) }

// decodedMessage is a message record read back.
type decodedMessage struct {
	id        uint64
	published int64
	targets   []target
	msg       *message.Message
}

// decodeMessageHead parses the id and targets of a message record (after
// the kind byte), leaving the message itself.
func decodeMessageHead(rec []byte) (uint64, []target, error) {
	r := reader{b: rec}
	id := r.u64()
	r.u64() // published
	n := int(r.u16())
	var targets []target
	for i := 0; i < n && r.err == nil; i++ {
		flags := r.u8()
		vhost := r.str16()
		queue := r.str16()
		t := target{ref: broker.QueueRef{VHost: vhost, Queue: queue}, delivered: flags&1 != 0}
		if flags&2 != 0 {
			t.returns = r.u32()
		}
		targets = append(targets, t)
	}
	return id, targets, r.err
}

// decodeMessage parses a message record's plain form (after the kind byte).
// The message's body is copied out of rec.
func decodeMessage(rec []byte) (decodedMessage, error) { return decodeMessageBody(rec, false) }

// decodeMessageBody is decodeMessage; with alias the body is a slice of rec
// (which the caller hands over) instead of a copy.
func decodeMessageBody(rec []byte, alias bool) (decodedMessage, error) {
	r := reader{b: rec}
	var d decodedMessage
	d.id = r.u64()
	d.published = int64(r.u64())
	n := int(r.u16())
	for i := 0; i < n && r.err == nil; i++ {
		flags := r.u8()
		vhost := r.str16()
		queue := r.str16()
		t := target{ref: broker.QueueRef{VHost: vhost, Queue: queue}, delivered: flags&1 != 0}
		if flags&2 != 0 {
			t.returns = r.u32()
		}
		d.targets = append(d.targets, t)
	}
	m := &message.Message{}
	m.Exchange = r.str8()
	m.RoutingKey = r.str8()
	hdr := r.take(int(r.u32()))
	if r.err != nil {
		return d, r.err
	}
	_, size, err := wire.DecodeContentHeader(hdr, &m.Properties)
	if err != nil {
		return d, fmt.Errorf("storage: message %d properties: %w", d.id, err)
	}
	if uint64(len(r.b)) != size {
		return d, fmt.Errorf("storage: message %d body is %d bytes, header says %d", d.id, len(r.b), size)
	}
	if alias {
		m.Body = r.b[:len(r.b):len(r.b)]
	} else {
		m.Body = append([]byte(nil), r.b...)
	}
	d.msg = m
	return d, nil
}

func encodeRefs(dst []byte, kind byte, ref broker.QueueRef, ids []uint64) []byte {
	dst = append(dst, kind)
	dst = appendStr16(dst, ref.VHost)
	dst = appendStr16(dst, ref.Queue)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint64(dst, id)
	}
	return dst
}

// decodeRefs parses a batch record (after the kind byte); ids are the raw
// 8-byte little-endian ids, a slice of rec.
func decodeRefs(rec []byte) (broker.QueueRef, []byte, error) {
	r := reader{b: rec}
	ref := broker.QueueRef{VHost: r.str16(), Queue: r.str16()}
	n := r.u32()
	if r.err == nil && uint64(n)*8 != uint64(len(r.b)) {
		return ref, nil, fmt.Errorf("storage: batch record says %d ids but holds %d bytes", n, len(r.b))
	}
	return ref, r.b, r.err
}

func decodeRef(rec []byte) (uint64, broker.QueueRef, error) {
	r := reader{b: rec}
	id := r.u64()
	ref := broker.QueueRef{VHost: r.str16(), Queue: r.str16()}
	return id, ref, r.err
}

// A dedup record: expires(8, unix nanos) scope vhost(str16) scope
// name(str16) key(str16).
func encodeDedup(dst []byte, scope broker.QueueRef, key string, exp int64) []byte {
	dst = append(dst, kindDedup)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(exp))
	dst = appendStr16(dst, scope.VHost)
	dst = appendStr16(dst, scope.Queue)
	return appendStr16(dst, key)
}

func decodeDedup(rec []byte) (broker.RecoveredDedup, error) {
	r := reader{b: rec}
	var d broker.RecoveredDedup
	d.ExpiresAt = int64(r.u64())
	d.Scope = broker.QueueRef{VHost: r.str16(), Queue: r.str16()}
	d.Key = r.str16()
	return d, r.err
}
