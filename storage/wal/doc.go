// Package wal is sluice's write-ahead log: a segmented, checksummed,
// append-only log with group commit. It exists so that a persistent message
// whose append returned survives kill -9 and power loss, and so that no
// damaged byte is ever handed back as data.
//
// # Positions and segments
//
// A Pos is one uint64: a byte offset in the log's position space. The log
// is a sequence of segment files in one directory; each covers a range of
// positions and is named after the first of them, its ID, as 20 zero-padded
// decimal digits and ".wal" (00000000000067108864.wal), so that lexical
// order is position order. A record's Pos is its segment's ID plus the file
// offset of its record header. When a segment is full the next one gets
// ID = previous ID + bytes used in the previous one, so positions grow
// strictly through the log and a Pos is read with one pread, without an
// index: find the segment (greatest ID <= pos) and read at pos-ID. Pos 0
// is never a record, because every segment starts with a batch header.
// Positions past the last durable batch may be reused after a crash cuts a
// torn tail off; no acknowledged record is ever at such a position.
//
// Segment files are preallocated (fallocate) to Options.SegmentSize,
// default 64 MiB, so that appends do not allocate blocks and a full disk is
// met when a segment is created, not halfway through a batch. Where the
// file system cannot preallocate, segments grow as written. The directory
// is fsynced after a segment file is created or removed.
//
// # On-disk format
//
// All integers are little-endian. A segment file is a sequence of batches
// starting at offset 0, each directly after the previous one, followed by
// zero bytes up to the end of the file. Every batch and every record header
// starts at a multiple of 8 bytes: torn writes tear at sector boundaries,
// which are multiples of 8, so a length field is never half old, half new.
//
// A batch is what one commit writes with one pwrite:
//
//	offset size  field
//	0      4     magic     0x014C5753: "SWL" and format version 1
//	4      4     hdrCRC    CRC32C of header bytes [8, 32)
//	8      8     pos       position of this header (segment ID + offset)
//	16     4     length    body length in bytes, a multiple of 8
//	20     4     count     number of records in the body, >= 1
//	24     4     bodyCRC   CRC32C of the body (length bytes)
//	28     4     flags     reserved, 0
//	32     length body     count records, back to back, filling it exactly
//
// A record in a body:
//
//	offset size  field
//	0      4     len       payload length in bytes
//	4      4     crc       CRC32C of pos (8 bytes) || len (4 bytes) || payload
//	8      len   payload
//	8+len  pad   zero bytes up to a multiple of 8
//
// where pos is the record's position. CRC32C is the Castagnoli CRC-32
// (hash/crc32.Castagnoli). Both the batch header and every record name
// their own position in what the checksum covers, so bytes that are valid
// somewhere else — a stale batch, a payload that happens to contain a well
// formed record — do not verify where they are read. The magic has no zero
// byte, so zeros (a preallocated, never written region) are never a batch.
// The constants that define this format are marked "part of the on-disk
// format: do not change" in format.go.
//
// A batch is the unit of atomicity: it is valid only if its header
// checksum, position, length, body checksum and every record checksum
// verify. A torn batch loses all its records together, and AppendBatch
// relies on that to make several records atomic.
//
// # Guarantees
//
// With SyncAlways (the default) Append returns, and AppendAsync calls
// done, only after an fdatasync that covers the record has returned. With
// SyncInterval(d) they complete once the record is written to the file (it
// survives the death of the process but not of the machine) and an
// fdatasync follows within d. AppendLazy promises nothing: the record is
// written with the next batch and may be lost in a crash, but never
// torn, and it is durable once any later synced append completes.
//
// A write or fdatasync error fails every append in flight with that error
// and puts the log in a failed state: every later append fails with
// ErrFailed wrapping the cause (e.g. ENOSPC), and nothing is retried,
// because after a failed fdatasync the kernel may have dropped the dirty
// pages and a second fdatasync would report success for lost data. Reads
// still work. Data written before the failure stays intact: the failed
// batch can only leave a torn tail, which the next Open cuts off.
//
// Open verifies every batch of every segment, calls Options.Replay with
// every valid record in log order, and reports what it found in a
// Recovery and through Options.Logger:
//
//   - Damage after the last valid batch of the last segment is a torn tail,
//     the mark of a crash during a write: it is zeroed on disk (so its
//     bytes can never be taken for part of a later batch) and writing
//     resumes at the last valid batch. Recovery.TornTail names file and
//     offset.
//   - Damage followed by valid batches, or at the end of a sealed segment
//     (sealed segments are fsynced before the next segment is created, so
//     a crash cannot tear them), is data loss a crash does not explain. It
//     is reported in Recovery.Damaged, loudly, and replay goes on with the
//     next valid batch: the rest of the log is never dropped. The region
//     stays on disk, and is reported at every Open, until the layer above
//     copies the segment's live records forward and removes it. (A crash
//     with several batches in flight, e.g. under SyncInterval, can leave a
//     hole before a batch that did reach the disk; that cannot be told
//     apart from damage and is reported the same way.)
//   - Zero bytes after the last batch are the unwritten rest of a
//     preallocated segment, not records.
//
// # Concurrency
//
// One writer goroutine owns the files' ends. Appenders queue records; the
// writer takes everything queued, writes it as one batch (more if it spans
// a segment or Options.MaxBatchBytes), fdatasyncs once and completes every
// waiter, so concurrent appenders share fsyncs (group commit). After a
// round that completed several waiters it waits briefly (until as many
// requests are queued again, at most a quarter of the last fdatasync) so
// that the appenders it just woke join the next fdatasync instead of
// splitting into two cohorts that alternate. Stats counts appends,
// batches, fdatasyncs and bytes to show the sharing. Reads use
// pread on the segment's *os.File, which is safe concurrently, and take a
// read lock only on the segment table, which the writer holds only to add
// a segment: a Read never waits for a write or an fdatasync.
//
// # Reclaiming space
//
// The log does not know which records are live; the layer above does.
// Segments and SegmentOf give per-segment counts and position ranges for
// reference counting, ScanSegment iterates a segment's valid records for
// copy-forward compaction, and RemoveSegment deletes any sealed segment,
// not only the oldest.
//
// # Exclusive use
//
// Open takes an exclusive flock on the file LOCK in the directory and
// writes its pid there; a second Open, in this process or another, fails
// with a *LockedError naming that pid. The kernel releases the lock when the
// holder dies, so there is no stale lock to clean up after kill -9.
package wal
