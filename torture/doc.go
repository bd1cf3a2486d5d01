// Package torture is sluice's torture test, in the spirit of Pebble's
// metamorphic tests: a seeded random workload runs against the sluice
// binary built from the working tree (tiny WAL segments, --sync always),
// the broker is killed with SIGKILL at random moments and restarted on the
// same data directory, and after every restart every queue is inspected and
// compared with a model of what the broker promised.
//
// Run it with
//
//	go test -run TestTorture ./torture                         (about 50 s)
//	make torture DURATION=1h                                   (long)
//	TORTURE_SEED=N go test -run TestTorture ./torture          (replay)
//
// The workload (torture_test.go, workload_test.go): AMQP publishers with
// publisher confirms and in transactions, persistent and transient, with
// mandatory set so unroutable messages are known; consumers that ack, nack,
// reject, requeue, hold and die (channel or connection closed with unacked
// messages); basic.get; queue purge, delete and re-declare; per-message and
// queue TTL; delayed queues (x-delivery-delay, x-delay); a delivery-limit
// queue dead-lettering into another; a de-duplicating queue; routing keys
// and short-string properties of exactly 255 bytes, large header tables,
// bodies up to a few hundred KiB; and a STOMP client that sends with
// receipts, consumes with client-individual acks and nacks, and sends
// 256-byte routing keys and properties, which must be refused.
//
// The model (model_test.go) and what it asserts are described there, next
// to the code that asserts them.
package torture
