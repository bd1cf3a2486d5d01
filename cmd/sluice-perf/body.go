package main

import (
	"encoding/binary"
	"errors"
)

// Every message body starts with a 16-byte header, so that even the
// 16-byte-body scenario carries everything the consumer needs to account for
// the message and to time it:
//
//	[0:2]  producer index, big-endian uint16
//	[2:8]  sequence number within that producer, big-endian 48-bit
//	[8:16] send time, nanoseconds since the run's monotonic epoch, big-endian int64
//
// The rest of the body is filler. Producer and consumers live in the same
// process, so the timestamp is read from the same monotonic clock at both ends.
const bodyHeaderLen = 16

const maxSeq = 1<<48 - 1

var errShortBody = errors.New("body shorter than the 16-byte sluice-perf header")

// encodeHeader writes the header into b, which must hold bodyHeaderLen bytes.
func encodeHeader(b []byte, producer int, seq uint64, ts int64) {
	_ = b[bodyHeaderLen-1]
	binary.BigEndian.PutUint16(b[0:2], uint16(producer))
	b[2] = byte(seq >> 40)
	b[3] = byte(seq >> 32)
	binary.BigEndian.PutUint32(b[4:8], uint32(seq))
	binary.BigEndian.PutUint64(b[8:16], uint64(ts))
}

// decodeHeader reads what encodeHeader wrote.
func decodeHeader(b []byte) (producer int, seq uint64, ts int64, err error) {
	if len(b) < bodyHeaderLen {
		return 0, 0, 0, errShortBody
	}
	producer = int(binary.BigEndian.Uint16(b[0:2]))
	seq = uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(binary.BigEndian.Uint32(b[4:8]))
	ts = int64(binary.BigEndian.Uint64(b[8:16]))
	return producer, seq, ts, nil
}

// newBody returns a body of size bytes (at least the header) with filler.
func newBody(size int) []byte {
	if size < bodyHeaderLen {
		size = bodyHeaderLen
	}
	b := make([]byte, size)
	for i := bodyHeaderLen; i < size; i++ {
		b[i] = 'x'
	}
	return b
}
