package auth

import "strconv"

// Access is what one connection may do: a user in a vhost, checked
// against a Store. Its methods are RabbitMQ's rules, one per operation
// (rabbit_channel's check_*_permitted call sites), so that every adapter
// (AMQP, STOMP, the HTTP API, SQS) asks the same questions in the same
// order and gets the same *Denied. The checks are live: a permission
// changed in the Store applies to the next operation.
//
// An Access is a small value; copy it freely. Its methods allocate
// nothing when access is granted.
type Access struct {
	Store       Store
	User, VHost string
}

func (a Access) check(kind Kind, name string, op Op) error {
	return a.Store.Authorize(a.User, a.VHost, kind, name, op)
}

// Configure is declare and delete of a queue or exchange (not passive):
// configure on it. A server-named queue is checked under the name the
// server gave it (amq.gen-...).
func (a Access) Configure(kind Kind, name string) error { return a.check(kind, name, Configure) }

// Passive is any one of configure, write or read on the resource. AMQP's
// passive declares need no permission (as RabbitMQ 3.x; RabbitMQ 4.x asks
// this since rabbitmq-server#16085); the SQS adapter asks it before it
// reveals that a queue exists. A refusal names configure's refusal, which
// has the same text as the others.
func (a Access) Passive(kind Kind, name string) error {
	if a.check(kind, name, Read) == nil || a.check(kind, name, Write) == nil {
		return nil
	}
	return a.check(kind, name, Configure)
}

// DeadLetterExchange is what declaring a new queue with an
// x-dead-letter-exchange also needs: read on the queue and write on the
// dead-letter exchange, so that a user cannot publish through a queue
// where they could not publish directly.
func (a Access) DeadLetterExchange(queue, dlx string) error {
	if err := a.check(Queue, queue, Read); err != nil {
		return err
	}
	return a.check(Exchange, dlx, Write)
}

// AlternateExchange is the same for a new exchange with an
// alternate-exchange: read on the exchange, write on the alternate.
func (a Access) AlternateExchange(exchange, alternate string) error {
	if err := a.check(Exchange, exchange, Read); err != nil {
		return err
	}
	return a.check(Exchange, alternate, Write)
}

// Publish is basic.publish and STOMP SEND: write on the exchange ("" is
// amq.default).
func (a Access) Publish(exchange string) error { return a.check(Exchange, exchange, Write) }

// Read is consume, get and purge: read on the queue.
func (a Access) Read(queue string) error { return a.check(Queue, queue, Read) }

// Bind is queue.bind and queue.unbind (dest a queue) or exchange.bind and
// exchange.unbind (dest an exchange): write on the destination, then read
// on the source. The routing key's topic permission is TopicRead's.
func (a Access) Bind(destKind Kind, dest, source string) error {
	if err := a.check(destKind, dest, Write); err != nil {
		return err
	}
	return a.check(Exchange, source, Read)
}

// TopicRestricted reports whether the user has a topic permission on
// exchange; only then must the adapter find out whether the exchange is a
// topic exchange and call TopicWrite or TopicRead. Cheap: it keeps that
// lookup off the publish path of users without topic permissions.
func (a Access) TopicRestricted(exchange string) bool {
	return a.Store.TopicRestricted(a.User, a.VHost, exchange)
}

// TopicWrite is a publish's routing key on a topic exchange.
func (a Access) TopicWrite(exchange, key string) error {
	return a.Store.AuthorizeTopic(a.User, a.VHost, exchange, key, Write)
}

// TopicRead is a binding's key on a topic exchange.
func (a Access) TopicRead(exchange, key string) error {
	return a.Store.AuthorizeTopic(a.User, a.VHost, exchange, key, Read)
}

// TopicRestricted implements Store.
func (r *Registry) TopicRestricted(user, vhost, exchange string) bool {
	for _, g := range r.state.Load().topics[userVHost{user, vhost}] {
		if g.p.Exchange == exchange {
			return true
		}
	}
	return false
}

// Limited is an operation refused by a limit (RabbitMQ answers 406
// PRECONDITION_FAILED on a channel); Text is RabbitMQ's.
type Limited struct{ Text string }

func (l *Limited) Error() string { return l.Text }

// DeclareQueue is a queue.declare that is not passive, once the queue's
// final name is known (a server-named one's too): configure on it; for a
// new queue also the dead-letter exchange's permissions (when dlx is set)
// and the vhost's max-queues, given how many queues the vhost holds. In
// RabbitMQ's order; a refusal is *Denied or *Limited.
func (a Access) DeclareQueue(name string, isNew bool, dlx string, hasDLX bool, queues int) error {
	if err := a.Configure(Queue, name); err != nil {
		return err
	}
	if !isNew {
		return nil
	}
	if hasDLX {
		if err := a.DeadLetterExchange(name, dlx); err != nil {
			return err
		}
	}
	if max, ok := a.Store.VHostLimit(a.VHost, LimitMaxQueues); ok && int64(queues) >= max {
		return &Limited{Text: "cannot declare queue '" + name + "': queue limit in vhost '" + a.VHost +
			"' (" + strconv.FormatInt(max, 10) + ") is reached"}
	}
	return nil
}
