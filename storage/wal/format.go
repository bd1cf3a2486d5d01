package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// The constants in this block are part of the on-disk format: do not change.
// Files written with one value cannot be read with another; a change needs a
// new batchMagic (its last byte is the format version) and a reader for both.
const (
	// batchMagic opens every batch header: the bytes "SWL" and the format
	// version 1, read as a little-endian uint32. No byte is zero, so a
	// zero-filled (preallocated, never written) region can never match it.
	batchMagic uint32 = 0x014C5753

	// batchHeaderSize is the size of a batch header. A multiple of
	// alignment, so the records after it stay aligned.
	batchHeaderSize = 32

	// recordHeaderSize is the size of a record header: length and CRC.
	recordHeaderSize = 8

	// alignment of every batch and record header in a segment file. Torn
	// writes tear at sector (>= 512 byte) granularity, which is a multiple
	// of 8, so an aligned 8-byte word — a record's length and CRC — is
	// either entirely old or entirely new, never half of each.
	alignment = 8

	// segmentSuffix and segmentDigits make a segment's file name: its
	// first position in decimal, zero padded to 20 digits (the width of the
	// largest uint64) so that lexical order is numeric order.
	segmentSuffix = ".wal"
	segmentDigits = 20
)

// Byte offsets of the batch header fields (part of the on-disk format: do
// not change).
const (
	bhMagic   = 0  // uint32 batchMagic
	bhHdrCRC  = 4  // uint32 CRC32C of header bytes [8, 32)
	bhPos     = 8  // uint64 position of this header: segment ID + file offset
	bhLength  = 16 // uint32 body length in bytes, a multiple of 8
	bhCount   = 20 // uint32 number of records in the body, >= 1
	bhBodyCRC = 24 // uint32 CRC32C of the body bytes
	bhFlags   = 28 // uint32 reserved, zero
)

// castagnoli is CRC32C, which amd64 and arm64 compute in hardware (part of
// the on-disk format: do not change).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var le = binary.LittleEndian

// zeros is padding source and the zero-fill buffer for torn tails.
var zeros [64 << 10]byte

func align8(n int64) int64 { return (n + alignment - 1) &^ (alignment - 1) }

// recordSize is the number of bytes a record with an n-byte payload takes
// in a batch body.
func recordSize(n int) int64 { return recordHeaderSize + align8(int64(n)) }

// recordCRC is the checksum stored in a record header: CRC32C over the
// record's position (uint64 LE), its length (uint32 LE) and its payload.
// Folding the position in means a record is valid only where it was
// written: a payload that itself contains a well-formed record, or a stale
// record left in a reused region, fails the check when read at the wrong
// position.
func recordCRC(pos Pos, payload []byte) uint32 {
	// The 12 prefix bytes go through the table byte by byte (the same
	// arithmetic as crc32.Update) so that no buffer escapes to the heap.
	c := ^uint32(0)
	for i := 0; i < 64; i += 8 {
		c = castagnoli[byte(c)^byte(uint64(pos)>>i)] ^ (c >> 8)
	}
	for i := 0; i < 32; i += 8 {
		c = castagnoli[byte(c)^byte(uint32(len(payload))>>i)] ^ (c >> 8)
	}
	return crc32.Update(^c, castagnoli, payload)
}

// appendRecord appends a framed record (header, payload, zero padding to
// 8 bytes) for position pos to buf.
func appendRecord(buf []byte, pos Pos, payload []byte) []byte {
	var h [recordHeaderSize]byte
	le.PutUint32(h[0:], uint32(len(payload)))
	le.PutUint32(h[4:], recordCRC(pos, payload))
	buf = append(buf, h[:]...)
	buf = append(buf, payload...)
	return append(buf, zeros[:align8(int64(len(payload)))-int64(len(payload))]...)
}

// putBatchHeader fills h (batchHeaderSize bytes) for a batch at pos whose
// body is body and holds count records.
func putBatchHeader(h []byte, pos Pos, body []byte, count int) {
	le.PutUint32(h[bhMagic:], batchMagic)
	le.PutUint64(h[bhPos:], uint64(pos))
	le.PutUint32(h[bhLength:], uint32(len(body)))
	le.PutUint32(h[bhCount:], uint32(count))
	le.PutUint32(h[bhBodyCRC:], crc32.Checksum(body, castagnoli))
	le.PutUint32(h[bhFlags:], 0)
	le.PutUint32(h[bhHdrCRC:], crc32.Checksum(h[bhPos:batchHeaderSize], castagnoli))
}

// batchHeader is a decoded batch header.
type batchHeader struct {
	pos     Pos
	length  int64
	count   int64
	bodyCRC uint32
}

// decodeBatchHeader checks the magic, the header CRC and the reserved
// flags of h and decodes it; a non-empty reason says why h is not a header.
func decodeBatchHeader(h []byte) (batchHeader, string) {
	if le.Uint32(h[bhMagic:]) != batchMagic {
		return batchHeader{}, "no batch header (bad magic)"
	}
	if le.Uint32(h[bhHdrCRC:]) != crc32.Checksum(h[bhPos:batchHeaderSize], castagnoli) {
		return batchHeader{}, "batch header checksum mismatch"
	}
	if le.Uint32(h[bhFlags:]) != 0 {
		return batchHeader{}, "batch header has unknown flags"
	}
	bh := batchHeader{
		pos:     Pos(le.Uint64(h[bhPos:])),
		length:  int64(le.Uint32(h[bhLength:])),
		count:   int64(le.Uint32(h[bhCount:])),
		bodyCRC: le.Uint32(h[bhBodyCRC:]),
	}
	if bh.count == 0 || bh.length%alignment != 0 || bh.length < bh.count*recordHeaderSize {
		return batchHeader{}, fmt.Sprintf("batch header has impossible length %d for %d records", bh.length, bh.count)
	}
	return bh, ""
}

func segmentName(id Pos) string {
	return fmt.Sprintf("%0*d%s", segmentDigits, uint64(id), segmentSuffix)
}

// parseSegmentName returns the ID in a segment file name, and false for any
// other file.
func parseSegmentName(name string) (Pos, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != segmentDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return Pos(n), true
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if le.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
