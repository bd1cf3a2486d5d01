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
// Flags (after the package): -torture.duration, -torture.segment-size
// (64 KiB; the WAL's minimum is 4 KiB, and a persistent message whose
// record does not fit one segment is nacked), -torture.keep-going (report
// each lifetime's failures and go on), -torture.rev=COMMIT (build that
// commit from a git archive instead of the working tree, to check that the
// test finds a bug a later commit fixed), -torture.race-broker.
//
// Replay: every lifetime's length, flags, inspection choices and each
// worker's sequence of operations come from the seed; what the broker's
// timing changes (how many operations fit in a lifetime, which deliveries
// arrive where) does not, so a replay is close to, not the same as, the
// failing run. The failure report names the seed and prints the log lines
// of every message it names and the tail of the operation log; the data
// directory and the broker's log are kept.
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
//
// TestCrashDrain (drain_test.go) is the kill -9 crash test of conformance
// with consumers draining and acking while publishers publish, on 32 KiB
// segments, so that the log is reclaimed while it is written: every
// confirmed message is acked by a consumer or present after each restart.
package torture
