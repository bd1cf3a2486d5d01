// Package storage makes sluice durable: persistent messages in durable
// queues go to a write-ahead log (package wal) with group commit, the
// durable topology to a small definitions file, and every byte of both can
// be sealed with AES-256-GCM. Store implements broker.Persister.
//
// # What is logged
//
// A message record when a persistent message is routed to durable queues
// (before any of them can deliver it), a settled record when a queue is
// done with it (ack, drop, expiry, purge, delete), a delivered record on
// its first delivery. Only message records are waited for (the publisher
// confirm rides on their fsync); the others are appended lazily, because
// losing one in a crash causes only an allowed redelivery.
//
// # Record format
//
// Storage owns its on-disk format; no protocol codec is involved. Every
// record starts with a version byte (record.go: recordVersion, format 2)
// and its kind; strings, properties and tables use the storage codec of
// codec.go, with uvarint lengths checked on reading. The codec is total:
// whatever message the broker holds is written so that it reads back the
// same, and a record that cannot be written fails its confirm and leaves
// nothing behind. Format-1 logs (from before the version byte) are
// refused at Open rather than misread.
//
// # Reclaiming space
//
// The store counts, per log segment, the messages whose record there is
// still needed. Segments are removed only from the head of the log, so a
// settled record is never lost while the message it settles can still be
// replayed. A head segment with no live message is removed; one whose live
// messages take less than half of it is compacted first: its live messages
// are copied forward to the tail (under the key that seals new records)
// and then it is removed. One old unacked message therefore costs its own
// bytes, not the segments after it.
//
// # Memory
//
// The in-memory index holds, per live message, its log position, record
// size and queue references (a 32-byte entry plus its map slot). Bodies
// live in the queues' memory until the broker pages them out; then
// ReadMessage reads them back, and a body whose record is still being
// written is served from Store.pending. Spill only registers a transient
// body; WriteSpills writes it, outside any queue lock.
package storage
