package sqs

import (
	"encoding/base64"
	"encoding/binary"
)

// A receipt handle names one receive of one message: the adapter's
// session that holds it in flight (epoch: a random number per session, so
// a handle from before a restart, or from another session, matches
// nothing), the delivery tag the session gave that receive (a new one per
// receive, so an old handle names an old receive), when it was received
// (visibility may be extended up to 12 hours from then), and the queue.
//
// Layout, then unpadded base64url: version byte (1), epoch (8 bytes),
// tag (8), receive time in unix milliseconds (8), queue name (rest).
type receipt struct {
	epoch  uint64
	tag    uint64
	recvAt int64
	queue  string
}

const receiptVersion = 1
const receiptFixed = 1 + 8 + 8 + 8

func (r receipt) String() string {
	b := make([]byte, receiptFixed+len(r.queue))
	b[0] = receiptVersion
	binary.BigEndian.PutUint64(b[1:], r.epoch)
	binary.BigEndian.PutUint64(b[9:], r.tag)
	binary.BigEndian.PutUint64(b[17:], uint64(r.recvAt))
	copy(b[receiptFixed:], r.queue)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseReceipt decodes a handle; ok is false for anything this adapter
// did not make (SQS's ReceiptHandleIsInvalid).
func parseReceipt(s string) (receipt, bool) {
	if len(s) > 2048 {
		return receipt{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) <= receiptFixed || b[0] != receiptVersion {
		return receipt{}, false
	}
	r := receipt{
		epoch:  binary.BigEndian.Uint64(b[1:]),
		tag:    binary.BigEndian.Uint64(b[9:]),
		recvAt: int64(binary.BigEndian.Uint64(b[17:])),
		queue:  string(b[receiptFixed:]),
	}
	if r.tag == 0 || r.recvAt <= 0 {
		return receipt{}, false
	}
	return r, true
}
