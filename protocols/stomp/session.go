package stomp

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// ackMode is a subscription's ack header.
type ackMode uint8

const (
	ackAuto             ackMode = iota // no acknowledgement
	ackClient                          // cumulative per subscription
	ackClientIndividual                // one message at a time
)

// subscription is one SUBSCRIBE (or the implicit subscription to a
// temp-queue). Its fields are fixed once it is registered, except pending,
// which is guarded by conn.subMu.
type subscription struct {
	id    string // the subscription header; for a temp queue "/temp-queue/ID"
	hasID bool
	tag   string // consumer tag: "T_" + id, or "Q_" + destination without id
	ack   ackMode
	dest  destination
	queue string

	// pending are the delivered, unacknowledged tags of a client-mode
	// subscription, ascending, from head on.
	pending []uint64
	head    int
	// starting is set while SUBSCRIBE is being handled: the broker
	// delivers what the queue holds as soon as the consumer exists, and
	// those deliveries wait in held until SUBSCRIBE's RECEIPT is queued,
	// which RabbitMQ sends first. Guarded by conn.subMu.
	starting bool
	held     []broker.Delivery
}

// description names the subscription in texts, as RabbitMQ does.
func (s *subscription) description() string {
	if s.hasID {
		return "id='" + s.id + "'"
	}
	return "destination='" + strings.TrimPrefix(s.tag, "Q_") + "'"
}

// takeUpTo removes and appends to dst the pending tags up to tag, which
// must itself be pending. conn.subMu held.
func (s *subscription) takeUpTo(tag uint64, dst []uint64) ([]uint64, bool) {
	live := s.pending[s.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i] > tag })
	if i == 0 || live[i-1] != tag {
		return dst, false
	}
	dst = append(dst, live[:i]...)
	s.head += i
	if s.head == len(s.pending) {
		s.pending, s.head = s.pending[:0], 0
	} else if s.head > 1024 && s.head > len(s.pending)/2 {
		n := copy(s.pending, s.pending[s.head:])
		s.pending, s.head = s.pending[:n], 0
	}
	return dst, true
}

// txn is an open transaction: frames held back until COMMIT.
type txn struct {
	ops   []txOp
	bytes int64
	// receipts are the SENDs' receipts, owed once COMMIT has published
	// (dropped by ABORT), as RabbitMQ's plugin answers them.
	receipts []string
}

type txOp struct {
	// a SEND
	msg           *message.Message
	exchange, key string
	// or an ACK / NACK
	sub     *subscription
	tag     uint64
	nack    bool
	requeue bool
}

const (
	maxCachedDests    = 1024
	maxCachedDeclared = 10000
)

// destination parses a destination header, remembering the result.
func (c *conn) destination(b []byte) (destination, error) {
	if d, ok := c.dests[string(b)]; ok {
		return d, nil
	}
	d, err := parseDestination(string(b))
	if err != nil {
		return d, err
	}
	if err := d.checkNames(); err != nil {
		return d, err
	}
	if c.dests == nil {
		c.dests = map[string]destination{}
	}
	if len(c.dests) < maxCachedDests {
		c.dests[string(b)] = d
	}
	return d, nil
}

// destinationHeader returns the parsed destination of f or the ERROR
// RabbitMQ sends without one.
func (c *conn) destinationHeader(f *frame.Frame, command string) (destination, []byte, error) {
	raw, ok := f.Get(hDestination)
	if !ok {
		return destination{}, nil, errorf("Missing destination", "\"%s\" must include a 'destination' header\n", command)
	}
	d, err := c.destination(raw)
	if de, ok := err.(*destError); ok {
		return d, raw, &stompError{msg: de.title(), detail: de.Error()}
	}
	if err != nil {
		return d, raw, err
	}
	return d, raw, nil
}

// boolHeader reads a boolean header; ok is false when it is absent or not
// a boolean.
func boolHeader(f *frame.Frame, name string) (val, ok bool) {
	v, present := f.Get(name)
	if !present {
		return false, false
	}
	return parseBool(bytes.TrimSpace(v))
}

// hasDurableHeader is durable:true or persistent:true on SUBSCRIBE or
// UNSUBSCRIBE.
func hasDurableHeader(f *frame.Frame) bool {
	d, _ := boolHeader(f, hDurable)
	p, _ := boolHeader(f, hPersistent)
	return d || p
}

// queueDecl builds the queue.declare RabbitMQ's plugin makes for an
// endpoint: durable when asked (the default for /queue), otherwise
// exclusive and auto-delete; then the exclusive and auto-delete headers, or
// the destination kind's defaults, override those two.
func (c *conn) queueDecl(f *frame.Frame, kind destKind, name string) (broker.QueueDecl, error) {
	args, err := queueArgs(f)
	if err != nil {
		return broker.QueueDecl{}, err
	}
	// RabbitMQ's plugin declares the queue with each of these it finds,
	// and one that is not a boolean fails the declare.
	for _, name := range []string{hDurable, hPersistent, hExclusive, hAutoDelete} {
		if v, present := f.Get(name); present {
			if _, ok := parseBool(bytes.TrimSpace(v)); !ok {
				return broker.QueueDecl{}, errorf(processingError, "Header '%s' must be true or false, got '%s'\n", name, v)
			}
		}
	}
	durable, ok := boolHeader(f, hDurable)
	if !ok {
		durable, ok = boolHeader(f, hPersistent)
	}
	if !ok {
		durable = kind == destQueue
	}
	d := broker.QueueDecl{Name: name, Args: args, Owner: c.id}
	if durable {
		d.Durable = true
	} else {
		d.AutoDelete, d.Exclusive = true, true
	}
	exclusive, hasExclusive := boolHeader(f, hExclusive)
	autoDelete, hasAutoDelete := boolHeader(f, hAutoDelete)
	switch kind {
	case destTopic:
		if !hasExclusive {
			exclusive, hasExclusive = false, true
		}
		if !hasAutoDelete {
			autoDelete, hasAutoDelete = true, true
		}
	case destExchange:
		if !hasExclusive {
			exclusive, hasExclusive = true, true
		}
		if !hasAutoDelete {
			autoDelete, hasAutoDelete = true, true
		}
	}
	if hasExclusive {
		d.Exclusive = exclusive
	}
	if hasAutoDelete {
		d.AutoDelete = autoDelete
	}
	return d, nil
}

// ensureQueue declares a /queue destination once per connection, as
// RabbitMQ's plugin does.
func (c *conn) ensureQueue(f *frame.Frame, name string) error {
	if _, ok := c.declared[name]; ok {
		return nil
	}
	decl, err := c.queueDecl(f, destQueue, name)
	if err != nil {
		return err
	}
	decl.Admit = c.admitQueue(decl.Args)
	if _, err := c.vhost.DeclareQueue(decl); err != nil {
		return err
	}
	if c.declared == nil {
		c.declared = map[string]struct{}{}
	}
	if len(c.declared) < maxCachedDeclared {
		c.declared[name] = struct{}{}
	}
	return nil
}

func invalidEndpoint(raw []byte, command string) error {
	return errorf("Invalid destination", "'%s' is not a valid destination for '%s'\n", raw, command)
}

// send handles SEND.
func (c *conn) send(f *frame.Frame) error {
	if f.Has(hMessageID) {
		return errorf("Invalid header", "'%s' is not allowed on '%s'.\n", hMessageID, "SEND")
	}
	d, raw, err := c.destinationHeader(f, "SEND")
	if err != nil {
		return err
	}
	// Before anything is declared or published.
	if err := checkSendHeaders(f, c.version == frame.V10); err != nil {
		return err
	}
	switch d.kind {
	case destQueue:
		if err := c.ensureQueue(f, d.name); err != nil {
			return err
		}
	case destTempQueue:
		return invalidEndpoint(raw, "SEND")
	}
	exchange, key := d.routing()
	if err := c.authorizePublish(exchange, key); err != nil {
		return err
	}
	var tx *txn
	if id, ok := f.Get(hTransaction); ok {
		if tx = c.txns[string(id)]; tx == nil {
			return errorf("Bad transaction", "Invalid transaction identifier: \"%s\"\n", id)
		}
	}
	msg := buildMessage(f, c.version == frame.V10, &c.in)
	if p := &msg.Properties; p.Has(message.FlagReplyTo) && strings.HasPrefix(p.ReplyTo, prefixTempQueue+"/") {
		if rd, err := parseDestination(p.ReplyTo); err == nil && rd.kind == destTempQueue {
			q, err := c.replyQueue(rd.name)
			if err != nil {
				return err
			}
			p.ReplyTo = q
		}
	}
	if err := c.checkUserID(msg); err != nil {
		return err
	}
	if err := checkExpiration(msg); err != nil {
		return err
	}
	if tx != nil {
		tx.bytes += int64(len(msg.Body) + headerBytes(f))
		if tx.bytes > c.srv.cfg.MaxTransactionBytes {
			return errorf("Transaction too large", "the transaction holds more than %d bytes (tx-max-bytes)\n", c.srv.cfg.MaxTransactionBytes)
		}
		tx.ops = append(tx.ops, txOp{msg: msg, exchange: exchange, key: key})
		// The SEND is done at COMMIT, and so is its receipt: it follows
		// the COMMIT's, once storage has the transaction's messages.
		if r, ok := f.GetString(hReceipt); ok {
			tx.receipts = append(tx.receipts, r)
		}
		return nil
	}
	h := holdReceipt(f)
	if err := c.publish(exchange, key, msg, h); err != nil {
		return err
	}
	return c.finishReceipt(h)
}

// headerBytes is what a held SEND keeps of its frame's headers: the
// message's properties and headers, and its receipt until COMMIT.
func headerBytes(f *frame.Frame) int {
	n := 0
	for _, h := range f.Headers {
		n += len(h.Name) + len(h.Value)
	}
	return n
}

// replyQueue returns the private queue behind /temp-queue/id, creating it
// and subscribing this connection to it on first use, as RabbitMQ does.
func (c *conn) replyQueue(id string) (string, error) {
	if q, ok := c.temp[id]; ok {
		return q, nil
	}
	if err := c.checkSubscriptionLimit(); err != nil {
		return "", err
	}
	info, err := c.vhost.DeclareQueue(broker.QueueDecl{Exclusive: true, AutoDelete: true, Owner: c.id, Admit: c.admitQueue(nil)})
	if err != nil {
		return "", err
	}
	dest := prefixTempQueue + "/" + id
	sub := &subscription{id: dest, hasID: true, tag: "T_" + dest, ack: ackAuto, queue: info.Name,
		dest: destination{kind: destTempQueue, name: id}}
	c.addSub(sub)
	if _, err := c.session.Consume(info.Name, broker.ConsumeSpec{Tag: sub.tag, NoAck: true}); err != nil {
		c.removeSub(sub.tag)
		_, _ = c.vhost.DeleteQueue(info.Name, false, false, c.id)
		return "", err
	}
	if c.temp == nil {
		c.temp = map[string]string{}
	}
	c.temp[id] = info.Name
	return info.Name, nil
}

func (c *conn) addSub(s *subscription) {
	c.subMu.Lock()
	c.subs[s.tag] = s
	c.subMu.Unlock()
}

func (c *conn) removeSub(tag string) *subscription {
	c.subMu.Lock()
	s := c.subs[tag]
	delete(c.subs, tag)
	c.subMu.Unlock()
	return s
}

func (c *conn) lookupSub(tag []byte) *subscription {
	c.subMu.Lock()
	s := c.subs[string(tag)]
	c.subMu.Unlock()
	return s
}

func (c *conn) checkSubscriptionLimit() error {
	c.subMu.Lock()
	n := len(c.subs)
	c.subMu.Unlock()
	if max := c.srv.cfg.MaxSubscriptions; n >= max {
		return errorf("Too many subscriptions", "subscription limit of %d per session reached (MaxSubscriptions)\n", max)
	}
	return nil
}

// subscribe handles SUBSCRIBE.
func (c *conn) subscribe(f *frame.Frame) error {
	id, hasID := f.GetString(hID)
	if !hasID && hasDurableHeader(f) {
		return &stompError{msg: "Missing Header", detail: "Header 'id' is required for durable subscriptions"}
	}
	d, raw, err := c.destinationHeader(f, "SUBSCRIBE")
	if err != nil {
		return err
	}
	sub := &subscription{id: id, hasID: hasID, dest: d, starting: true}
	if hasID {
		if strings.HasPrefix(id, prefixTempQueue+"/") {
			return errorf("Invalid id", "SUBSCRIBE 'id' may not start with %s/\n", prefixTempQueue)
		}
		sub.tag = "T_" + id
	} else {
		sub.tag = "Q_" + string(raw)
	}
	switch mode, _ := f.Get(hAck); string(mode) {
	case "", "auto":
		sub.ack = ackAuto
	case "client":
		sub.ack = ackClient
	case "client-individual":
		sub.ack = ackClientIndividual
	default:
		return errorf(processingError, "ack mode '%s' is not one of auto, client, client-individual\n", mode)
	}
	prefetch := 0
	if v, ok := f.Get(hPrefetchCount); ok {
		n, isInt := parseInt(bytes.TrimSpace(v))
		if !isInt {
			// RabbitMQ's plugin cannot read it either ("Processing error").
			return errorf(processingError, "Header '%s' must be an integer, got '%s'\n", hPrefetchCount, v)
		}
		if n > 0 {
			prefetch = int(min(n, 1<<31-1))
		}
	}
	if c.lookupSub([]byte(sub.tag)) != nil {
		e := errorf("Duplicated subscription identifier", "A subscription identified by '%s' already exists.", sub.tag)
		e.closes = true // as RabbitMQ's
		return e
	}
	if err := c.checkSubscriptionLimit(); err != nil {
		return err
	}

	// The queue to consume from, declared and bound as RabbitMQ does.
	var cleanup bool // delete the queue if the subscription fails
	switch d.kind {
	case destQueue:
		if err := c.ensureQueue(f, d.name); err != nil {
			return err
		}
		sub.queue = d.name
	case destAmqQueue, destReplyQueue:
		sub.queue = d.name
	case destTopic, destExchange:
		exchange, key := d.routing()
		if d.kind == destTopic {
			if err := c.authorizeTopicSubscription(exchange, key); err != nil {
				return err
			}
		}
		decl, err := c.queueDecl(f, d.kind, "")
		if err != nil {
			return err
		}
		if name, ok := f.GetString(hXQueueName); ok && name != "" {
			if len(name) > maxShortString {
				return tooLong(hXQueueName, len(name), "a queue name")
			}
			decl.Name = name
		} else if hasDurableHeader(f) {
			decl.Name = subscriptionQueueName(key, id)
		} else {
			decl.Name = "stomp-subscription-" + randomID()
		}
		decl.Admit = c.admitQueue(decl.Args)
		info, err := c.vhost.DeclareQueue(decl)
		if err != nil {
			return err
		}
		sub.queue = info.Name
		cleanup = !decl.Durable
		// The plugin consumes, then binds: read on the queue is asked
		// before the binding's permissions.
		err = c.authorizeConsume(info.Name)
		if err == nil {
			err = c.authorizeBind(info.Name, exchange, key)
		}
		if err != nil {
			if cleanup {
				_, _ = c.vhost.DeleteQueue(info.Name, false, false, c.id)
			}
			return err
		}
		if err := c.vhost.Bind(broker.BindSpec{Source: exchange, Destination: info.Name, Key: key, Owner: c.id}); err != nil {
			if cleanup {
				_, _ = c.vhost.DeleteQueue(info.Name, false, false, c.id)
			}
			return err
		}
	default:
		return invalidEndpoint(raw, "SUBSCRIBE")
	}
	if d.kind != destTopic && d.kind != destExchange {
		if err := c.authorizeConsume(sub.queue); err != nil {
			return err
		}
	}

	c.session.Qos(prefetch, 0, false)
	c.addSub(sub)
	spec := broker.ConsumeSpec{Tag: sub.tag, NoAck: sub.ack == ackAuto}
	if v, ok := f.Get("x-consumer-timeout"); ok {
		// A visibility lease of this subscription's own (LavinMQ's name).
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil || n <= 0 {
			c.removeSub(sub.tag)
			return &stompError{msg: "Invalid header", detail: "header 'x-consumer-timeout' must be a positive number of milliseconds\n"}
		}
		spec.Args = message.Table{"x-consumer-timeout": n}
	}
	if v, ok := f.Get("x-priority"); ok {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err == nil {
			if spec.Args == nil {
				spec.Args = message.Table{}
			}
			spec.Args["x-priority"] = n
		}
	}
	if _, err := c.session.Consume(sub.queue, spec); err != nil {
		c.removeSub(sub.tag)
		if cleanup {
			_, _ = c.vhost.DeleteQueue(sub.queue, false, false, c.id)
		}
		return err
	}
	c.startSub(sub, f)
	return nil
}

// startSub queues SUBSCRIBE's RECEIPT, then the deliveries held while it
// was handled, and lets later ones through. Under subMu, so that no
// delivery overtakes the held ones.
func (c *conn) startSub(sub *subscription, f *frame.Frame) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if r, ok := f.Get(hReceipt); ok {
		c.out.receipt(string(r))
	}
	for _, d := range sub.held {
		c.out.pushCounted(d, sub)
	}
	sub.held, sub.starting = nil, false
}

// unsubscribe handles UNSUBSCRIBE; with durable:true (or persistent:true)
// it also deletes the queue of a durable topic subscription.
func (c *conn) unsubscribe(f *frame.Frame) error {
	var tag string
	if id, ok := f.GetString(hID); ok {
		if strings.HasPrefix(id, prefixTempQueue+"/") {
			return errorf("Invalid id", "UNSUBSCRIBE 'id' may not start with %s/\n", prefixTempQueue)
		}
		tag = "T_" + id
	} else if dest, ok := f.GetString(hDestination); ok {
		tag = "Q_" + dest
	} else {
		return &stompError{msg: "Missing destination or id", detail: "UNSUBSCRIBE must include a 'destination' or 'id' header"}
	}
	sub := c.lookupSub([]byte(tag))
	if sub == nil {
		desc := (&subscription{id: strings.TrimPrefix(tag, "T_"), hasID: strings.HasPrefix(tag, "T_"), tag: tag}).description()
		return errorf("No subscription found", "UNSUBSCRIBE must refer to an existing subscription.\nSubscription to %q not found.\n", desc)
	}
	c.session.Cancel(tag)
	c.removeSub(tag)
	if sub.dest.kind == destTopic && hasDurableHeader(f) && sub.hasID {
		name, ok := f.GetString(hXQueueName)
		if !ok || name == "" {
			name = subscriptionQueueName(sub.dest.name, sub.id)
		}
		if _, err := c.vhost.DeleteQueue(name, false, false, c.id); err != nil {
			return err
		}
	}
	return nil
}

// parseAckID splits a message-id "CONSUMERTAG@@SESSION@@TAG" into the
// consumer tag and the delivery tag. The consumer tag may itself contain
// "@@", so the split is from the right.
func parseAckID(v []byte) (ctag []byte, tag uint64, ok bool) {
	i := bytes.LastIndex(v, []byte("@@"))
	if i < 0 {
		return nil, 0, false
	}
	digits := v[i+2:]
	j := bytes.LastIndex(v[:i], []byte("@@"))
	if j < 0 || len(digits) == 0 || len(digits) > 20 {
		return nil, 0, false
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return nil, 0, false
	}
	return v[:j], n, true
}

// ack handles ACK and NACK.
func (c *conn) ack(f *frame.Frame, nack bool) error {
	command := "ACK"
	if nack {
		command = "NACK"
	}
	header := hMessageID
	if c.version == frame.V12 {
		header = hID
	}
	v, ok := f.Get(header)
	if !ok {
		return errorf("Missing header", "\"%s\" must include the \"%s\" header\n", command, header)
	}
	ctag, tag, ok := parseAckID(v)
	if !ok {
		return errorf("Invalid header", "\"%s\" must include a valid \"%s\" header\n", command, header)
	}
	sub := c.lookupSub(ctag)
	if sub == nil {
		return errorf("Subscription not found", "Message with id \"%s\" has no subscription\n", v)
	}
	requeue := true
	if r, ok := boolHeader(f, hRequeue); ok {
		requeue = r
	}
	if id, ok := f.Get(hTransaction); ok {
		tx := c.txns[string(id)]
		if tx == nil {
			return errorf("Bad transaction", "Invalid transaction identifier: \"%s\"\n", id)
		}
		tx.bytes += 256
		if tx.bytes > c.srv.cfg.MaxTransactionBytes {
			return errorf("Transaction too large", "the transaction holds more than %d bytes (tx-max-bytes)\n", c.srv.cfg.MaxTransactionBytes)
		}
		tx.ops = append(tx.ops, txOp{sub: sub, tag: tag, nack: nack, requeue: requeue})
		c.receipt(f)
		return nil
	}
	// RabbitMQ's plugin sends the RECEIPT once the frame is taken and
	// hands the ack to its channel afterwards: a NACK's redeliveries, and
	// the ERROR for an unknown delivery tag, come after the RECEIPT.
	c.receipt(f)
	return c.settle(sub, tag, nack, requeue)
}

// receipt queues the RECEIPT f asks for, if any.
func (c *conn) receipt(f *frame.Frame) {
	if r, ok := f.GetString(hReceipt); ok {
		c.out.receipt(r)
	}
}

// settle acks or nacks: in client mode every pending message of the
// subscription up to tag, otherwise tag alone.
func (c *conn) settle(sub *subscription, tag uint64, nack, requeue bool) error {
	if sub.ack != ackClient {
		if nack {
			return c.session.Nack(tag, false, requeue)
		}
		return c.session.Ack(tag, false)
	}
	c.subMu.Lock()
	tags, ok := sub.takeUpTo(tag, c.tags[:0])
	c.subMu.Unlock()
	c.tags = tags[:0]
	if !ok {
		return &broker.Error{Code: broker.CodePreconditionFailed, Text: fmt.Sprintf("unknown delivery tag %d", tag)}
	}
	for _, t := range tags {
		var err error
		if nack {
			err = c.session.Nack(t, false, requeue)
		} else {
			err = c.session.Ack(t, false)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func transactionHeader(f *frame.Frame, command string) (string, error) {
	id, ok := f.GetString(hTransaction)
	if !ok {
		return "", errorf("Missing transaction", "\"%s\" must include a 'transaction' header\n", command)
	}
	return id, nil
}

// begin handles BEGIN; beginning an open transaction again empties it, as
// in RabbitMQ.
func (c *conn) begin(f *frame.Frame) error {
	id, err := transactionHeader(f, "BEGIN")
	if err != nil {
		return err
	}
	if _, open := c.txns[id]; !open {
		if max := c.srv.cfg.MaxTransactions; len(c.txns) >= max {
			return errorf("Too many transactions", "limit of %d open transactions per session reached (MaxTransactions)\n", max)
		}
	}
	if c.txns == nil {
		c.txns = map[string]*txn{}
	}
	c.txns[id] = &txn{}
	return nil
}

// commit handles COMMIT: the held frames run in order.
func (c *conn) commit(f *frame.Frame) error {
	id, err := transactionHeader(f, "COMMIT")
	if err != nil {
		return err
	}
	tx := c.txns[id]
	if tx == nil {
		return errorf("Bad transaction", "Invalid transaction identifier: \"%s\"\n", id)
	}
	delete(c.txns, id)
	h := holdReceipt(f)
	if len(tx.receipts) > 0 {
		if h == nil {
			h = &heldReceipt{left: 1} // no receipt of its own, only its SENDs'
		}
		h.then = tx.receipts
	}
	for _, op := range tx.ops {
		if op.msg != nil {
			if err := c.publish(op.exchange, op.key, op.msg, h); err != nil {
				return err
			}
			continue
		}
		if err := c.settle(op.sub, op.tag, op.nack, op.requeue); err != nil {
			return err
		}
	}
	return c.finishReceipt(h)
}

// abortTx handles ABORT: the held frames are dropped.
func (c *conn) abortTx(f *frame.Frame) error {
	id, err := transactionHeader(f, "ABORT")
	if err != nil {
		return err
	}
	if _, ok := c.txns[id]; !ok {
		return errorf("Bad transaction", "Invalid transaction identifier: \"%s\"\n", id)
	}
	delete(c.txns, id)
	return nil
}
