// Package broker is sluice's protocol-neutral core: virtual hosts, exchanges,
// bindings, queues, consumers and deliveries. Protocol adapters (AMQP 0-9-1,
// STOMP, later HTTP) translate their frames into the small set of calls here
// — declare, bind, publish, consume, get, ack, nack, cancel, close — and the
// core never imports a protocol package.
//
// # Concurrency
//
// There is no broker-wide lock on the publish -> deliver path:
//
//   - A VHost's mutex guards its name tables (exchanges, queues) and is held
//     only to look names up and to change topology.
//   - Each Exchange has its own RWMutex over its bindings; routing holds it for
//     reading.
//   - Each Queue owns its state under its own mutex, held briefly. Delivery is
//     inline: the goroutine that enqueues (a publisher) or frees credit (an
//     acker) also hands ready messages to consumers.
//   - A Session (an AMQP channel, a STOMP connection) guards its delivery tags
//     and prefetch accounting with its own mutex.
//
// Lock order is Queue.mu -> Session.mu -> the adapter's Sink. A Sink therefore
// must never call back into the broker from Deliver or Cancelled: it only
// appends to its connection's bounded output and returns. No I/O, fsync or
// logging happens under a queue's lock; dead-lettering collects messages under
// the lock and republishes them after it is released.
package broker
