package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// recordVersion is the first byte of every record's plain form: the
// version of the layouts below. Part of the on-disk format: do not change;
// a new layout gets a new version. Its high bit is set so that it can
// never be mistaken for a format-1 record, whose first byte was its kind
// (1-8): such a log is refused at Open with errOldFormat, not misread.
const recordVersion byte = 0x82

// Record kinds: the second byte of a record's plain form. Part of the
// on-disk format: do not change.
const (
	kindMessage   byte = 1 // a message and the durable queues it waits in
	kindSettled   byte = 2 // a queue is done with a message
	kindDelivered byte = 3 // a queue delivered a message for the first time
	kindDedup     byte = 4 // a de-duplication id remembered until it expires
	kindReturned  byte = 5 // a delivered message came back unacked once more
	kindSpill     byte = 6 // a transient message paged out; never recovered
	// Many ids of one queue settled or delivered at once (a multiple ack,
	// a dispatch of many messages).
	kindSettledMany   byte = 7
	kindDeliveredMany byte = 8
)

// The plain form of every record is version(1) kind(1) and then, by kind
// (integers little-endian, strings and tables in the storage codec of
// codec.go, whose lengths are uvarints checked on reading):
//
//	message, spill   id(8) published(8, unix nanoseconds, for TTLs after
//	                 a restart) targets(uvarint count, then per queue:
//	                 flags(1: bit0 delivered, bit1 returns follows)
//	                 vhost(string) queue(string) [returns(4)])
//	                 exchange(string) key(string) properties body(the rest)
//	settled, delivered, returned
//	                 id(8) vhost(string) queue(string)
//	settled-many, delivered-many
//	                 vhost(string) queue(string) ids(uvarint count, 8 each)
//	dedup            expires(8, unix nanoseconds) scope vhost(string)
//	                 scope queue(string) key(string)
//
// A spill record has no targets. Every string the broker can hold fits (a
// uvarint length has no 255- or 65,535-byte ceiling), so encoding never
// fails for a message the broker accepted; a decoder checks every length
// against what remains and never reads past the record.

// errOldFormat is a record written in format 1 (by a sluice from before the
// record version byte): its properties were in AMQP's wire encoding, which
// storage no longer reads.
var errOldFormat = errors.New("storage: the log holds format-1 records, written by an older sluice; this version reads format 2 only (drain the old broker's queues, or start on an empty data directory)")

// splitRecord checks a record's version and returns its kind and the
// bytes after the kind.
func splitRecord(plain []byte) (byte, []byte, error) {
	switch {
	case len(plain) < 2:
		if len(plain) == 1 && plain[0] >= 1 && plain[0] <= 8 {
			return 0, nil, errOldFormat
		}
		return 0, nil, errCodecShort
	case plain[0] == recordVersion:
		return plain[1], plain[2:], nil
	case plain[0] >= 1 && plain[0] <= 8:
		return 0, nil, errOldFormat
	}
	return 0, nil, fmt.Errorf("storage: unknown record version %#x", plain[0])
}

type target struct {
	ref       broker.QueueRef
	delivered bool
	returns   uint32 // times it came back unacked (x-delivery-limit)
}

// messageRecordSize estimates encodeMessage's output, to size its buffer:
// exact but for the properties, which get a generous allowance.
func messageRecordSize(targets []target, m *message.Message) int {
	n := 2 + 8 + 8 + 1 + 2*binary.MaxVarintLen32 + len(m.Exchange) + len(m.RoutingKey) + 2 + 14 + 256 + len(m.Body)
	for _, t := range targets {
		n += 1 + 2*binary.MaxVarintLen16 + len(t.ref.VHost) + len(t.ref.Queue) + 4
	}
	return n
}

// encodeMessage appends a message (or spill) record's plain form to dst.
// It fails only for a header value of a type the message model does not
// have; the caller refuses such a message before it is confirmed.
func encodeMessage(dst []byte, kind byte, id uint64, published int64, targets []target, m *message.Message) ([]byte, error) {
	dst = append(dst, recordVersion, kind)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(published))
	dst = binary.AppendUvarint(dst, uint64(len(targets)))
	for _, t := range targets {
		var flags byte
		if t.delivered {
			flags |= 1
		}
		if t.returns > 0 {
			flags |= 2
		}
		dst = append(dst, flags)
		dst = appendString(dst, t.ref.VHost)
		dst = appendString(dst, t.ref.Queue)
		if t.returns > 0 {
			dst = binary.LittleEndian.AppendUint32(dst, t.returns)
		}
	}
	dst = appendString(dst, m.Exchange)
	dst = appendString(dst, m.RoutingKey)
	dst, err := appendProperties(dst, &m.Properties)
	if err != nil {
		return nil, fmt.Errorf("storage: message %d: %w", id, err)
	}
	return append(dst, m.Body...), nil
}

func encodeRef(dst []byte, kind byte, id uint64, ref broker.QueueRef) []byte {
	dst = append(dst, recordVersion, kind)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = appendString(dst, ref.VHost)
	return appendString(dst, ref.Queue)
}

// decodedMessage is a message record read back.
type decodedMessage struct {
	id        uint64
	published int64
	targets   []target
	msg       *message.Message
}

// targets reads a message record's target list.
func (r *codecReader) targets() []target {
	n := r.count(3) // flags and two string lengths at least
	var targets []target
	if n > 0 {
		targets = make([]target, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		flags := r.u8()
		vhost := r.str()
		queue := r.str()
		t := target{ref: broker.QueueRef{VHost: vhost, Queue: queue}, delivered: flags&1 != 0}
		if flags&2 != 0 {
			t.returns = r.u32()
		}
		targets = append(targets, t)
	}
	return targets
}

// decodeMessageHead parses the id and targets of a message record (the
// bytes after its kind), leaving the message itself.
func decodeMessageHead(rec []byte) (uint64, []target, error) {
	r := codecReader{b: rec}
	id := r.u64()
	r.u64() // published
	targets := r.targets()
	return id, targets, r.err
}

// decodeMessage parses a message record (the bytes after its kind). The
// message's body is copied out of rec.
func decodeMessage(rec []byte) (decodedMessage, error) { return decodeMessageBody(rec, false) }

// decodeMessageBody is decodeMessage; with alias the body is a slice of rec
// (which the caller hands over) instead of a copy.
func decodeMessageBody(rec []byte, alias bool) (decodedMessage, error) {
	r := codecReader{b: rec}
	var d decodedMessage
	d.id = r.u64()
	d.published = int64(r.u64())
	d.targets = r.targets()
	m := &message.Message{}
	m.Exchange = r.str()
	m.RoutingKey = r.str()
	r.properties(&m.Properties)
	if r.err != nil {
		return d, fmt.Errorf("storage: message %d: %w", d.id, r.err)
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
	dst = append(dst, recordVersion, kind)
	dst = appendString(dst, ref.VHost)
	dst = appendString(dst, ref.Queue)
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint64(dst, id)
	}
	return dst
}

// decodeRefs parses a batch record (the bytes after its kind); ids are the
// raw 8-byte little-endian ids, a slice of rec.
func decodeRefs(rec []byte) (broker.QueueRef, []byte, error) {
	r := codecReader{b: rec}
	ref := broker.QueueRef{VHost: r.str(), Queue: r.str()}
	n := r.uvarint()
	if r.err == nil && (n > uint64(len(r.b))/8 || n*8 != uint64(len(r.b))) {
		return ref, nil, fmt.Errorf("storage: batch record says %d ids but holds %d bytes", n, len(r.b))
	}
	return ref, r.b, r.err
}

func decodeRef(rec []byte) (uint64, broker.QueueRef, error) {
	r := codecReader{b: rec}
	id := r.u64()
	ref := broker.QueueRef{VHost: r.str(), Queue: r.str()}
	return id, ref, r.err
}

// encodeDedup writes a de-duplication id: its expiry, scope and key, and
// then, when the publisher gave one, the answer for its duplicates. The
// answer is a trailing field: a record without it (written before it
// existed) reads with none, and a reader that predates it ignores it.
func encodeDedup(dst []byte, scope broker.QueueRef, key string, exp int64, answer string) []byte {
	dst = append(dst, recordVersion, kindDedup)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(exp))
	dst = appendString(dst, scope.VHost)
	dst = appendString(dst, scope.Queue)
	dst = appendString(dst, key)
	if answer != "" {
		dst = appendString(dst, answer)
	}
	return dst
}

func decodeDedup(rec []byte) (broker.RecoveredDedup, error) {
	r := codecReader{b: rec}
	var d broker.RecoveredDedup
	d.ExpiresAt = int64(r.u64())
	d.Scope = broker.QueueRef{VHost: r.str(), Queue: r.str()}
	d.Key = r.str()
	if r.err == nil && len(r.b) > 0 {
		d.Answer = r.str()
	}
	return d, r.err
}
