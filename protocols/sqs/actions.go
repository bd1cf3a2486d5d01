package sqs

import (
	"encoding/base64"
	"errors"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

type action func(c *call) (any, *apiError)

var actions map[string]action

func init() {
	actions = map[string]action{
		"CreateQueue":                  (*call).createQueue,
		"GetQueueUrl":                  (*call).getQueueURL,
		"ListQueues":                   (*call).listQueues,
		"DeleteQueue":                  (*call).deleteQueue,
		"PurgeQueue":                   (*call).purgeQueue,
		"GetQueueAttributes":           (*call).getQueueAttributes,
		"SetQueueAttributes":           (*call).setQueueAttributes,
		"ListQueueTags":                (*call).listQueueTags,
		"TagQueue":                     (*call).tagQueue,
		"UntagQueue":                   (*call).untagQueue,
		"ListDeadLetterSourceQueues":   (*call).listDeadLetterSourceQueues,
		"SendMessage":                  (*call).sendMessage,
		"SendMessageBatch":             (*call).sendMessageBatch,
		"ReceiveMessage":               (*call).receiveMessage,
		"DeleteMessage":                (*call).deleteMessage,
		"DeleteMessageBatch":           (*call).deleteMessageBatch,
		"ChangeMessageVisibility":      (*call).changeMessageVisibility,
		"ChangeMessageVisibilityBatch": (*call).changeMessageVisibilityBatch,
		"AddPermission":                (*call).permissionActions,
		"RemovePermission":             (*call).permissionActions,
		"StartMessageMoveTask":         (*call).startMessageMoveTask,
		"ListMessageMoveTasks":         (*call).listMessageMoveTasks,
		"CancelMessageMoveTask":        (*call).cancelMessageMoveTask,
	}
}

// --- addressing and permissions ---

// vhostOf finds the vhost of an account id.
func (c *call) vhostOf(account string) (*broker.VHost, bool) {
	for _, name := range c.s.b.VHosts() {
		if AccountID(name) == account {
			return c.s.b.VHost(name)
		}
	}
	return nil, false
}

// requestVHost is the vhost of a request without a QueueUrl (CreateQueue,
// GetQueueUrl, ListQueues): the account of QueueOwnerAWSAccountId, else
// the first segment of the request path when it is an account id (an
// endpoint URL http://host:9324/ACCOUNT), else "/".
func (c *call) requestVHost(owner string) (*broker.VHost, *apiError) {
	acct := owner
	if acct == "" {
		if first, _, _ := strings.Cut(strings.TrimPrefix(c.r.URL.Path, "/"), "/"); len(first) == 12 && isDigits(first) {
			acct = first
		}
	}
	if acct == "" {
		acct = defaultAccount
	}
	v, ok := c.vhostOf(acct)
	if !ok {
		return nil, errNoQueue()
	}
	if err := c.s.users.VHostAccess(c.user.Name, v.Name()); err != nil {
		return nil, c.denied(err)
	}
	return v, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (c *call) denied(err error) *apiError {
	return errorf(errAccessDenied, "Access to the resource is denied: %s.", err.Error())
}

// access is the user's auth.Access in v.
func (c *call) access(v *broker.VHost) auth.Access {
	return auth.Access{Store: c.s.users, User: c.user.Name, VHost: v.Name()}
}

// authorize checks op on queue name in v; passive asks for any one of
// configure, write and read (RabbitMQ's passive declare).
func (c *call) authorize(v *broker.VHost, name string, op auth.Op, passive bool) *apiError {
	var err error
	if passive {
		err = c.access(v).Passive(auth.Queue, name)
	} else {
		err = c.s.users.Authorize(c.user.Name, v.Name(), auth.Queue, name, op)
	}
	if err != nil {
		return c.denied(err)
	}
	return nil
}

// target is the queue a request names by QueueUrl.
type target struct {
	v       *broker.VHost
	q       *broker.Queue
	name    string
	account string
}

// queue resolves QueueUrl and checks op (passive: any permission).
func (c *call) queue(op auth.Op, passive bool) (target, *apiError) {
	if c.in.QueueUrl == "" {
		return target{}, errMissing("QueueUrl")
	}
	acct, name, ok := parseQueueURL(c.in.QueueUrl)
	if !ok {
		return target{}, errorf(errInvalidAddress, "The address %s is not valid for this endpoint.", truncate(c.in.QueueUrl, 256))
	}
	v, ok := c.vhostOf(acct)
	if !ok {
		return target{}, errNoQueue()
	}
	if err := c.s.users.VHostAccess(c.user.Name, v.Name()); err != nil {
		return target{}, c.denied(err)
	}
	if err := c.authorize(v, name, op, passive); err != nil {
		return target{}, err
	}
	q, ok := v.Queue(name)
	if !ok || q.Exclusive() {
		return target{}, errNoQueue()
	}
	return target{v: v, q: q, name: name, account: acct}, nil
}

func (c *call) arn(account, queue string) string {
	return "arn:aws:sqs:" + c.s.cfg.Region + ":" + account + ":" + queue
}

func (c *call) url(account, queue string) string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return queueURL(scheme, c.r.Host, account, queue)
}

// coreError maps a refusal of the core.
func coreError(err error) *apiError {
	var be *broker.Error
	if errors.As(err, &be) {
		switch be.Code {
		case broker.CodeNotFound:
			return errNoQueue()
		case broker.CodeResourceError:
			return errorf(errOverLimit, "%s", be.Text)
		case broker.CodeAccessRefused:
			return errorf(errAccessDenied, "%s", be.Text)
		case broker.CodePreconditionFailed, broker.CodeResourceLocked:
			return errorf(errInvalidParameterValue, "%s", be.Text)
		}
		return errorf(errInternal, "%s", be.Text)
	}
	return errorf(errInternal, "%v", err)
}

// --- queues ---

type queueURLOut struct {
	QueueUrl string
}

func (c *call) createQueue() (any, *apiError) {
	name := c.in.QueueName
	if name == "" {
		return nil, errMissing("QueueName")
	}
	if !validQueueName(name) {
		return nil, errInvalidParam("QueueName", truncate(name, 96), "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length. A FIFO queue's name ends in .fifo.")
	}
	v, err := c.requestVHost("")
	if err != nil {
		return nil, err
	}
	if err := c.authorize(v, name, auth.Configure, false); err != nil {
		return nil, err
	}
	acct := AccountID(v.Name())
	if q, ok := v.Queue(name); ok && !q.Exclusive() {
		return c.existingQueue(q, acct)
	}
	dlqOK := c.dlqCheck(v, acct)
	args, err := newQueueArgs(name, c.in.Attributes, time.Now().Unix(), c.in.Tags, dlqOK)
	if err != nil {
		return nil, err
	}
	if _, derr := v.DeclareQueue(broker.QueueDecl{Name: name, Durable: true, Args: args}); derr != nil {
		if q, ok := v.Queue(name); ok {
			// Created meanwhile by another request: compare with it.
			return c.existingQueue(q, acct)
		}
		return nil, coreError(derr)
	}
	c.s.log.Info().Str("vhost", v.Name()).Str("queue", name).Str("user", c.user.Name).Msg("sqs queue created")
	return queueURLOut{c.url(acct, name)}, nil
}

// existingQueue answers CreateQueue for a queue that exists: its URL when
// every attribute asked for has the queue's value, else QueueNameExists.
func (c *call) existingQueue(q *broker.Queue, acct string) (any, *apiError) {
	have := attributesOf(q, c.arn(acct, q.Name()))
	for _, name := range sortedKeys(c.in.Attributes) {
		if !knownAttr(name) {
			return nil, errorf(errInvalidAttributeName, "Unknown Attribute %s.", name)
		}
		if !sameAttribute(name, c.in.Attributes[name], have[name]) {
			return nil, errorf(errQueueNameExists, "A queue already exists with the same name and a different value for attribute %s", name)
		}
	}
	return queueURLOut{c.url(acct, q.Name())}, nil
}

func (c *call) getQueueURL() (any, *apiError) {
	if c.in.QueueName == "" {
		return nil, errMissing("QueueName")
	}
	v, err := c.requestVHost(c.in.QueueOwnerAWSAccountId)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(v, c.in.QueueName, 0, true); err != nil {
		return nil, err
	}
	q, ok := v.Queue(c.in.QueueName)
	if !ok || q.Exclusive() {
		return nil, errNoQueue()
	}
	return queueURLOut{c.url(AccountID(v.Name()), q.Name())}, nil
}

type listQueuesOut struct {
	QueueUrls []string `json:",omitempty" xml:"QueueUrl"`
	NextToken string   `json:",omitempty" xml:",omitempty"`
}

func (c *call) listQueues() (any, *apiError) {
	v, err := c.requestVHost("")
	if err != nil {
		return nil, err
	}
	limit := 1000
	if m := c.in.MaxResults; m != nil {
		if *m < 1 || *m > 1000 {
			return nil, errInvalidParam("MaxResults", *m, "MaxResults must be an integer between 1 and 1000.")
		}
		limit = *m
	}
	after := ""
	if c.in.NextToken != "" {
		b, derr := base64.RawURLEncoding.DecodeString(c.in.NextToken)
		if derr != nil {
			return nil, errInvalidParam("NextToken", truncate(c.in.NextToken, 64), "Invalid NextToken value.")
		}
		after = string(b)
	}
	var names []string
	for _, q := range v.Queues() {
		n := q.Name()
		if q.Exclusive() || !strings.HasPrefix(n, c.in.QueueNamePrefix) || (after != "" && n <= after) {
			continue
		}
		if c.access(v).Passive(auth.Queue, n) != nil {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	out := listQueuesOut{}
	acct := AccountID(v.Name())
	for i, n := range names {
		if i == limit {
			if c.in.MaxResults != nil {
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(names[i-1]))
			}
			break
		}
		out.QueueUrls = append(out.QueueUrls, c.url(acct, n))
	}
	return out, nil
}

func (c *call) deleteQueue() (any, *apiError) {
	t, err := c.queue(auth.Configure, false)
	if err != nil {
		return nil, err
	}
	if _, derr := t.v.DeleteQueue(t.name, false, false, 0); derr != nil {
		return nil, coreError(derr)
	}
	c.s.dropSession(t.v.Name(), t.name)
	c.s.log.Info().Str("vhost", t.v.Name()).Str("queue", t.name).Str("user", c.user.Name).Msg("sqs queue deleted")
	return nil, nil
}

// purgeQueue needs read on the queue, as AMQP's queue.purge in RabbitMQ.
func (c *call) purgeQueue() (any, *apiError) {
	t, err := c.queue(auth.Read, false)
	if err != nil {
		return nil, err
	}
	key := t.v.Name() + "\x00" + t.name
	now := time.Now()
	c.s.mu.Lock()
	last, ok := c.s.purges[key]
	if ok && now.Sub(last) < 60*time.Second {
		c.s.mu.Unlock()
		return nil, errorf(errPurgeInProgress, "Only one PurgeQueue operation on %s is allowed every 60 seconds.", t.name)
	}
	c.s.purges[key] = now
	for k, at := range c.s.purges {
		if now.Sub(at) >= 60*time.Second {
			delete(c.s.purges, k)
		}
	}
	c.s.mu.Unlock()
	if _, perr := t.v.PurgeQueue(t.name, 0); perr != nil {
		return nil, coreError(perr)
	}
	// SQS deletes the messages in flight too: the ones SQS clients
	// received are all held by the queue's session, and acking every
	// delivery of it deletes them (their handles then delete nothing and
	// ChangeMessageVisibility gets MessageNotInflight). Messages AMQP or
	// STOMP consumers hold stay theirs, as a queue.purge leaves them.
	if vs := c.s.existingSession(t); vs != nil {
		_ = vs.s.Ack(0, true)
	}
	return nil, nil
}

type attributesOut struct {
	Attributes attrMap `json:",omitempty" xml:"Attribute"`
}

func (c *call) getQueueAttributes() (any, *apiError) {
	t, err := c.queue(0, true)
	if err != nil {
		return nil, err
	}
	all := attributesOf(t.q, c.arn(t.account, t.name))
	out := attrMap{}
	for _, n := range c.in.AttributeNames {
		if n == "All" {
			for k, v := range all {
				out[k] = v
			}
			continue
		}
		if !knownAttr(n) {
			return nil, errorf(errInvalidAttributeName, "Unknown Attribute %s.", n)
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	if len(out) == 0 {
		return attributesOut{}, nil
	}
	return attributesOut{out}, nil
}

// setQueueAttributes changes the queue's arguments with the core's
// SetQueueArguments: every settable attribute applies to the live queue;
// FifoQueue is refused with UnsupportedOperation unless it keeps its
// value (a queue's type is fixed when it is created, as in SQS).
func (c *call) setQueueAttributes() (any, *apiError) {
	t, err := c.queue(auth.Configure, false)
	if err != nil {
		return nil, err
	}
	if len(c.in.Attributes) == 0 {
		return nil, errMissing("Attributes")
	}
	for _, name := range sortedKeys(c.in.Attributes) {
		if !knownAttr(name) {
			return nil, errorf(errInvalidAttributeName, "Unknown Attribute %s.", name)
		}
	}
	cur := t.q.Arguments()
	next := maps.Clone(cur)
	if next == nil {
		next = message.Table{}
	}
	if err := applyAttributes(next, c.in.Attributes, settingsOf(cur).fifo, c.dlqCheck(t.v, t.account)); err != nil {
		return nil, err
	}
	next[argModified] = time.Now().Unix()
	return nil, c.setArgs(t, cur, next)
}

// dlqCheck accepts a dead-letter queue in account that exists and that the
// user may send to.
func (c *call) dlqCheck(v *broker.VHost, acct string) func(string, string) *apiError {
	return func(dlqAcct, dlq string) *apiError {
		if dlqAcct != acct {
			return badAttr("RedrivePolicy", "The dead-letter queue must be in the same account (vhost) as the source queue.")
		}
		if _, ok := v.Queue(dlq); !ok {
			return badAttr("RedrivePolicy", "Dead letter target does not exist.")
		}
		return c.authorize(v, dlq, auth.Write, false)
	}
}

// argAttribute names the SQS attribute of a queue argument the core fixes
// when the queue is created (de-duplication and groups shape the queue's
// structure), for errors. The others — the size limit, the redrive policy,
// the lease, the delay, the retention — change on a live queue through
// the core's configuration swap.
var argAttribute = map[string]string{
	argGroups: "FifoQueue", argDedup: "FifoQueue",
}

// setArgs applies the difference between cur and next to the queue.
func (c *call) setArgs(t target, cur, next message.Table) *apiError {
	set := message.Table{}
	var unset []string
	for k, v := range next {
		if old, ok := cur[k]; !ok || !sameArg(old, v) {
			set[k] = v
		}
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			unset = append(unset, k)
		}
	}
	for _, k := range append(sortedKeys(set), unset...) {
		if a, fixed := argAttribute[k]; fixed {
			return errorf(errUnsupportedOperation, "%s cannot be changed on an existing queue: sluice fixes it when the queue is created.", a)
		}
	}
	if err := t.v.SetQueueArguments(t.name, set, unset); err != nil {
		return coreError(err)
	}
	return nil
}

// sameArg compares two argument values as the adapter writes them.
func sameArg(a, b any) bool {
	switch x := a.(type) {
	case message.Table:
		y, ok := b.(message.Table)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !sameArg(v, y[k]) {
				return false
			}
		}
		return true
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	}
	if n, ok := message.Int(a); ok {
		m, ok2 := message.Int(b)
		return ok2 && n == m
	}
	return a == b
}

type tagsOut struct {
	Tags tagMap `json:",omitempty" xml:"Tag"`
}

func (c *call) listQueueTags() (any, *apiError) {
	t, err := c.queue(0, true)
	if err != nil {
		return nil, err
	}
	tags := tagsOf(t.q.Arguments())
	if len(tags) == 0 {
		return tagsOut{}, nil
	}
	return tagsOut{tags}, nil
}

// tagQueue adds or replaces tags (at most 50 per queue, keys of 1-128
// and values of at most 256 characters, as SQS).
func (c *call) tagQueue() (any, *apiError) {
	t, err := c.queue(auth.Configure, false)
	if err != nil {
		return nil, err
	}
	if len(c.in.Tags) == 0 {
		return nil, errMissing("Tags")
	}
	cur := t.q.Arguments()
	tags := tagsOf(cur)
	for k, v := range c.in.Tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return nil, errInvalidParam("Tags", truncate(k, 32), "Tag keys must be 1 to 128 characters and values at most 256.")
		}
		tags[k] = v
	}
	if len(tags) > 50 {
		return nil, errInvalidParam("Tags", len(tags), "A queue can have at most 50 tags.")
	}
	return nil, c.setTags(t, cur, tags)
}

func (c *call) untagQueue() (any, *apiError) {
	t, err := c.queue(auth.Configure, false)
	if err != nil {
		return nil, err
	}
	if len(c.in.TagKeys) == 0 {
		return nil, errMissing("TagKeys")
	}
	cur := t.q.Arguments()
	tags := tagsOf(cur)
	for _, k := range c.in.TagKeys {
		delete(tags, k)
	}
	return nil, c.setTags(t, cur, tags)
}

func (c *call) setTags(t target, cur message.Table, tags map[string]string) *apiError {
	next := maps.Clone(cur)
	if next == nil {
		next = message.Table{}
	}
	delete(next, argTags)
	if len(tags) > 0 {
		tt := message.Table{}
		for k, v := range tags {
			tt[k] = v
		}
		next[argTags] = tt
	}
	return c.setArgs(t, cur, next)
}

type queueURLsOut struct {
	QueueUrls []string `json:"queueUrls" xml:"QueueUrl"`
}

func (c *call) listDeadLetterSourceQueues() (any, *apiError) {
	t, err := c.queue(0, true)
	if err != nil {
		return nil, err
	}
	out := queueURLsOut{QueueUrls: []string{}}
	for _, q := range t.v.Queues() {
		args := q.Arguments()
		dlx, hasDLX := message.String(args[argDLX])
		dlrk, _ := message.String(args[argDLRK])
		if hasDLX && dlx == "" && dlrk == t.name && c.access(t.v).Passive(auth.Queue, q.Name()) == nil {
			out.QueueUrls = append(out.QueueUrls, c.url(t.account, q.Name()))
		}
	}
	sort.Strings(out.QueueUrls)
	return out, nil
}

func (c *call) permissionActions() (any, *apiError) {
	return nil, errorf(errUnsupportedOperation, "%s is not supported: sluice grants access with its users' permissions per vhost (configure, write and read patterns on queue names, as RabbitMQ's), not with SQS queue policies. Use sluicectl or the management API to set permissions.", c.action)
}

// --- sessions ---

// queueSession returns the session holding the in-flight messages of
// queue t, opening it on first use. One session per queue: a receipt
// handle's tag can then only ever name a message of its own queue.
func (s *Server) queueSession(t target) (*vsession, *apiError) {
	key := t.v.Name() + "\x00" + t.name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errorf(errServiceUnavailable, "The broker is shutting down.")
	}
	vs := s.sessions[key]
	if vs == nil {
		vs = &vsession{s: t.v.NewSession(0, nopSink{}), epoch: randomEpoch()}
		s.sessions[key] = vs
	}
	return vs, nil
}

// existingSession is the queue's session if it has one.
func (s *Server) existingSession(t target) *vsession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[t.v.Name()+"\x00"+t.name]
}

func (s *Server) dropSession(vhost, queue string) {
	key := vhost + "\x00" + queue
	s.mu.Lock()
	vs := s.sessions[key]
	delete(s.sessions, key)
	s.mu.Unlock()
	if vs != nil {
		vs.s.Close()
	}
}

// --- sending ---

type sendOut struct {
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty" xml:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty" xml:",omitempty"`
	MessageId                    string
	SequenceNumber               string `json:",omitempty" xml:",omitempty"`
}

// prepared is a message ready to publish and the answer it will get.
type prepared struct {
	msg *message.Message
	out sendOut
	// answer is what the core keeps with a FIFO message's
	// de-duplication id (PublishOptions.DedupAnswer), durably: its
	// MessageId and SequenceNumber, for the answer to a duplicate.
	answer string
}

// prepare validates one message for queue t and builds it.
func (c *call) prepare(t target, set queueSettings, maxSize int64, e *entry) (prepared, *apiError) {
	if e.MessageBody == nil || len(*e.MessageBody) == 0 {
		return prepared{}, errMissing("MessageBody")
	}
	body := []byte(*e.MessageBody) // the request's decoded copy, the message's own
	if !validSQSText(body) {
		return prepared{}, errorf(errInvalidMessageContents, "Invalid binary character was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	attrs, err := checkAttributes(e.MessageAttributes)
	if err != nil {
		return prepared{}, err
	}
	if size := int64(len(body) + attributesSize(attrs)); size > maxSize {
		return prepared{}, errInvalidParam("MessageBody", "", "Message must be shorter than "+strconv.FormatInt(maxSize, 10)+" bytes.")
	}
	var sys map[string]attrValue
	for name, a := range e.MessageSystemAttributes {
		if name != "AWSTraceHeader" {
			return prepared{}, errInvalidParam("MessageSystemAttributes", name, "Only AWSTraceHeader may be sent as a message system attribute.")
		}
		if a.DataType != "String" || a.StringValue == nil {
			return prepared{}, errInvalidParam("MessageSystemAttributes.AWSTraceHeader", a.DataType, "AWSTraceHeader must be a String.")
		}
		sys = map[string]attrValue{name: {DataType: "String", StringValue: *a.StringValue}}
	}
	h := headersFor(attrs)
	if sys != nil {
		h[hdrTrace] = sys["AWSTraceHeader"].StringValue
	}
	if e.DelaySeconds != nil {
		d := *e.DelaySeconds
		if d < 0 || d > 900 {
			return prepared{}, errInvalidParam("DelaySeconds", d, "DelaySeconds must be >= 0 and <= 900.")
		}
		if set.fifo && d != 0 {
			return prepared{}, errInvalidParam("DelaySeconds", d, "The request include parameter that is not valid for this queue type (a FIFO queue has per-queue delays only).")
		}
		if set.delayed {
			h[hdrDelay] = int64(d) * 1000
		}
	}
	if set.fifo {
		if e.MessageGroupId == nil || *e.MessageGroupId == "" {
			return prepared{}, errMissing("MessageGroupId")
		}
		h[hdrGroup] = *e.MessageGroupId
		if e.MessageDeduplicationId != nil && *e.MessageDeduplicationId != "" {
			h[hdrDedupID] = *e.MessageDeduplicationId
		} else if !set.content {
			return prepared{}, errInvalidParam("MessageDeduplicationId", "", "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
	} else {
		if e.MessageDeduplicationId != nil {
			return prepared{}, errInvalidParam("MessageDeduplicationId", *e.MessageDeduplicationId, "The request include parameter that is not valid for this queue type")
		}
		if e.MessageGroupId != nil && *e.MessageGroupId != "" {
			h[hdrGroup] = *e.MessageGroupId
		}
	}
	seq := ""
	if set.fifo {
		seq = c.s.nextSequence()
		h[hdrSeq] = seq
	}
	now := time.Now()
	id := newMessageIDAt(now)
	m := &message.Message{Body: body, Properties: message.Properties{
		Flags:        message.FlagDeliveryMode | message.FlagMessageID | message.FlagTimestamp | message.FlagUserID,
		DeliveryMode: message.Persistent, MessageID: id, Timestamp: now.Unix(), UserID: c.user.Name,
	}}
	if len(h) > 0 {
		m.Properties.Flags |= message.FlagHeaders
		m.Properties.Headers = h
	}
	p := prepared{msg: m, out: sendOut{MD5OfMessageBody: md5Hex(body), MD5OfMessageAttributes: attributesMD5(attrs),
		MD5OfMessageSystemAttributes: attributesMD5(sys), MessageId: id, SequenceNumber: seq}}
	if set.fifo {
		// A duplicate within the window is answered with the original's
		// MessageId and SequenceNumber: the core drops the copy and hands
		// back what the original left with its id (publish).
		p.answer = id + " " + seq
	}
	return p, nil
}

// confirms collects the storage outcomes of a request's publishes. A
// confirm may arrive inside Publish (when the fsync finished before the
// enqueueing), so no lock is held across a publish: left counts the
// publishes whose outcome is still to come, plus one guard that the
// publishing loop drops at its end.
type confirms struct {
	mu   sync.Mutex
	ok   map[uint64]bool
	left atomic.Int64
	done chan struct{}
}

func (k *confirms) Confirmed(seq uint64, ok bool) {
	k.mu.Lock()
	k.ok[seq] = ok
	k.mu.Unlock()
	k.settle()
}

func (k *confirms) settle() {
	if k.left.Add(-1) == 0 {
		close(k.done)
	}
}

// publish sends the prepared messages to queue t and waits until each is
// durable (the covering fsync) or refused. It returns one error or nil per
// message.
func (c *call) publish(t target, ps []prepared) []*apiError {
	errs := make([]*apiError, len(ps))
	ctx := c.r.Context()
	c.s.b.Alarms.Wait(ctx.Done()) // memory or disk alarm: publishers wait
	if ctx.Err() != nil {
		for i := range errs {
			errs[i] = errorf(errServiceUnavailable, "The request was cancelled while the broker held publishers back.")
		}
		return errs
	}
	sess := t.v.NewSession(0, nopSink{})
	defer sess.Close()
	k := &confirms{ok: map[uint64]bool{}, done: make(chan struct{})}
	k.left.Store(1)
	var pending []uint64
	var gates []*broker.FlowGate
	for i, p := range ps {
		if p.msg == nil {
			continue
		}
		k.left.Add(1)
		res, err := sess.Publish("", t.name, p.msg, broker.PublishOptions{Confirm: k, Seq: uint64(i), DedupAnswer: p.answer})
		if res.Duplicate {
			if id, seq, ok := strings.Cut(res.DuplicateAnswer, " "); ok {
				ps[i].out.MessageId, ps[i].out.SequenceNumber = id, seq
			}
		}
		if res.Pending {
			pending = append(pending, uint64(i)) // k.Confirmed settles it
		} else {
			k.settle()
		}
		switch {
		case err != nil:
			errs[i] = coreError(err)
		case !res.Routed:
			errs[i] = errNoQueue()
		case res.Rejected:
			errs[i] = errorf(errOverLimit, "The queue refused the message: it is full (x-max-length with reject-publish).")
		}
		if res.Flow != nil {
			gates = append(gates, res.Flow)
		}
	}
	k.settle() // the guard
	<-k.done   // storage always answers: the log completes or fails every append
	k.mu.Lock()
	for _, i := range pending {
		if !k.ok[i] && errs[i] == nil {
			errs[i] = errorf(errInternal, "The message could not be stored.")
		}
	}
	k.mu.Unlock()
	for _, g := range gates {
		g.Wait(ctx.Done()) // the queue is congested: answer once it drains
	}
	return errs
}

func (c *call) sendMessage() (any, *apiError) {
	t, err := c.queue(auth.Write, false)
	if err != nil {
		return nil, err
	}
	args := t.q.Arguments()
	maxSize, ok := argInt(args, argMaxSize)
	if !ok {
		maxSize = defaultMaxSize
	}
	p, err := c.prepare(t, settingsOf(args), maxSize, &c.in.entry)
	if err != nil {
		return nil, err
	}
	ps := []prepared{p}
	if errs := c.publish(t, ps); errs[0] != nil {
		return nil, errs[0]
	}
	return ps[0].out, nil // a duplicate's is the original's
}

type batchError struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string `json:",omitempty" xml:",omitempty"`
}

func entryError(id string, e *apiError) batchError {
	return batchError{Id: id, SenderFault: e.fault == "Sender", Code: e.code, Message: e.message}
}

type sendBatchEntry struct {
	Id string
	sendOut
}

type sendBatchOut struct {
	Successful []sendBatchEntry `xml:"SendMessageBatchResultEntry"`
	Failed     []batchError     `xml:"BatchResultErrorEntry"`
}

// checkBatch applies SQS's rules for a batch: 1 to 10 entries with
// distinct ids of 1 to 80 alphanumerics, hyphens and underscores.
func checkBatch(entries []entry) *apiError {
	if len(entries) == 0 {
		return errorf(errEmptyBatch, "There should be at least one entry in the request.")
	}
	if len(entries) > 10 {
		return errorf(errTooManyEntries, "Maximum number of entries per request are 10. You have sent %d.", len(entries))
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if !validBatchID(e.Id) {
			return errorf(errInvalidBatchEntryID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[e.Id] {
			return errorf(errBatchIDsNotDistinct, "Id %s repeated.", e.Id)
		}
		seen[e.Id] = true
	}
	return nil
}

func validBatchID(id string) bool {
	if id == "" || len(id) > 80 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (c *call) sendMessageBatch() (any, *apiError) {
	t, err := c.queue(auth.Write, false)
	if err != nil {
		return nil, err
	}
	if err := checkBatch(c.in.Entries); err != nil {
		return nil, err
	}
	total := 0
	for _, e := range c.in.Entries {
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
		for k, a := range e.MessageAttributes {
			total += len(k) + len(a.DataType) + len(a.BinaryValue)
			if a.StringValue != nil {
				total += len(*a.StringValue)
			}
		}
	}
	if total > maxBatchPayload {
		return nil, errorf(errBatchTooLong, "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxBatchPayload, total)
	}
	args := t.q.Arguments()
	maxSize, ok := argInt(args, argMaxSize)
	if !ok {
		maxSize = defaultMaxSize
	}
	set := settingsOf(args)
	ps := make([]prepared, len(c.in.Entries))
	errs := make([]*apiError, len(ps))
	for i := range c.in.Entries {
		ps[i], errs[i] = c.prepare(t, set, maxSize, &c.in.Entries[i])
	}
	perrs := c.publish(t, ps)
	out := sendBatchOut{Successful: []sendBatchEntry{}, Failed: []batchError{}}
	for i, e := range c.in.Entries {
		if errs[i] == nil {
			errs[i] = perrs[i]
		}
		if errs[i] != nil {
			out.Failed = append(out.Failed, entryError(e.Id, errs[i]))
			continue
		}
		out.Successful = append(out.Successful, sendBatchEntry{Id: e.Id, sendOut: ps[i].out})
	}
	return out, nil
}

// --- receiving (receive.go) ---

func validSystemAttr(a string) bool {
	for _, n := range systemAttrNames {
		if n == a {
			return true
		}
	}
	return false
}

// --- deleting and visibility ---

// handleFor parses a receipt handle for queue t.
func handleFor(t target, h *string) (receipt, *apiError) {
	if h == nil || *h == "" {
		return receipt{}, errMissing("ReceiptHandle")
	}
	r, ok := parseReceipt(*h)
	if !ok || r.queue != t.name {
		return receipt{}, errorf(errReceiptHandleInvalid, "The input receipt handle \"%s\" is not a valid receipt handle.", truncate(*h, 128))
	}
	return r, nil
}

// deleteOne deletes the message of handle h. A handle of an earlier
// receive (the message was received again since), of a message already
// deleted or from before a restart deletes nothing and is no error, as in
// SQS.
func (c *call) deleteOne(t target, h *string) *apiError {
	r, err := handleFor(t, h)
	if err != nil {
		return err
	}
	vs := c.s.existingSession(t)
	if vs == nil || vs.epoch != r.epoch {
		return nil
	}
	_ = vs.s.Ack(r.tag, false) // an unknown tag: deleted already, or received again
	return nil
}

func (c *call) deleteMessage() (any, *apiError) {
	t, err := c.queue(auth.Read, false)
	if err != nil {
		return nil, err
	}
	return nil, c.deleteOne(t, c.in.ReceiptHandle)
}

type idEntry struct {
	Id string
}

type deleteBatchOut struct {
	Successful []idEntry    `xml:"DeleteMessageBatchResultEntry"`
	Failed     []batchError `xml:"BatchResultErrorEntry"`
}

func (c *call) deleteMessageBatch() (any, *apiError) {
	t, err := c.queue(auth.Read, false)
	if err != nil {
		return nil, err
	}
	if err := checkBatch(c.in.Entries); err != nil {
		return nil, err
	}
	out := deleteBatchOut{Successful: []idEntry{}, Failed: []batchError{}}
	for _, e := range c.in.Entries {
		if err := c.deleteOne(t, e.ReceiptHandle); err != nil {
			out.Failed = append(out.Failed, entryError(e.Id, err))
		} else {
			out.Successful = append(out.Successful, idEntry{e.Id})
		}
	}
	return out, nil
}

// changeOne sets the visibility of handle h's message to secs from now:
// 0 makes it visible at once; the total from its receive may not pass 12
// hours.
func (c *call) changeOne(t target, h *string, secs *int) *apiError {
	if secs == nil {
		return errMissing("VisibilityTimeout")
	}
	if *secs < 0 || *secs > maxVisibility {
		return errInvalidParam("VisibilityTimeout", *secs, "Must be >= 0 and <= 43200.")
	}
	r, err := handleFor(t, h)
	if err != nil {
		return err
	}
	if elapsed := nowMillis() - r.recvAt; elapsed/1000+int64(*secs) > maxVisibility {
		return errInvalidParam("VisibilityTimeout", *secs, "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]")
	}
	notInflight := errorf(errMessageNotInflight, "Message does not exist or is not available for visibility timeout change.")
	vs := c.s.existingSession(t)
	if vs == nil || vs.epoch != r.epoch {
		return notInflight
	}
	// ExtendLease refuses a tag that is not in flight (deleted, or its
	// lease ran out and it was received again since).
	if _, err := vs.s.ExtendLease(r.tag, time.Duration(*secs)*time.Second); err != nil {
		return notInflight
	}
	if *secs == 0 {
		// Visible at once, not at the lease timer's next tick. Should the
		// timer have taken it back first, the Nack finds nothing to do.
		_ = vs.s.Nack(r.tag, false, true)
	}
	return nil
}

func (c *call) changeMessageVisibility() (any, *apiError) {
	t, err := c.queue(auth.Read, false)
	if err != nil {
		return nil, err
	}
	return nil, c.changeOne(t, c.in.ReceiptHandle, c.in.VisibilityTimeout)
}

type changeBatchOut struct {
	Successful []idEntry    `xml:"ChangeMessageVisibilityBatchResultEntry"`
	Failed     []batchError `xml:"BatchResultErrorEntry"`
}

func (c *call) changeMessageVisibilityBatch() (any, *apiError) {
	t, err := c.queue(auth.Read, false)
	if err != nil {
		return nil, err
	}
	if err := checkBatch(c.in.Entries); err != nil {
		return nil, err
	}
	out := changeBatchOut{Successful: []idEntry{}, Failed: []batchError{}}
	for _, e := range c.in.Entries {
		if err := c.changeOne(t, e.ReceiptHandle, e.VisibilityTimeout); err != nil {
			out.Failed = append(out.Failed, entryError(e.Id, err))
		} else {
			out.Successful = append(out.Successful, idEntry{e.Id})
		}
	}
	return out, nil
}
