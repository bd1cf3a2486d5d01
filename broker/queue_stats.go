package broker

import "github.com/sluice-mq/sluice/broker/message"

// QueueStats are a queue's counts at one moment, as the queue-service
// APIs report them (SQS's ApproximateNumberOfMessages, ...NotVisible,
// ...Delayed).
type QueueStats struct {
	Ready     int // ready to be delivered
	Unacked   int // delivered, not yet settled (in flight)
	Delayed   int // waiting for their delivery delay
	Consumers int
	// ReadyBytes and UnackedBytes are the body bytes of the ready and of
	// the unacked messages.
	ReadyBytes, UnackedBytes int64
	// Persistent messages the queue holds in the log (ready, unacked or
	// delayed), and their body bytes.
	Persistent      int
	PersistentBytes int64
}

// Stats returns the queue's counts, taken under its lock in one go.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueStats{Ready: q.ready.count, Unacked: q.unacked, Delayed: len(q.delayed), Consumers: len(q.consumers)}
}

// Arguments returns a copy of the queue's arguments.
func (q *Queue) Arguments() message.Table { return q.arguments().Clone() }

// arguments is the queue's argument table, which SetQueueArguments
// replaces (never changes in place) under q.mu and its vhost's mu.
func (q *Queue) arguments() message.Table {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.args
}

// Exclusive reports whether the queue belongs to one connection.
func (q *Queue) Exclusive() bool { return q.exclusive }
