package sqs

import (
	"context"
	"time"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// ReceiveMessage: the request's parameters, a retried FIFO attempt
// (receive_attempts.go), one batch get from the core, the leases, and the
// answer.

type messageOut struct {
	MessageId     string
	ReceiptHandle string
	MD5OfBody     string
	Body          string
	// body, when set, is the body for the JSON answer, instead of Body:
	// the stored body itself when it is text already (no copy).
	body                   []byte
	Attributes             attrMap    `json:",omitempty" xml:"Attribute"`
	MD5OfMessageAttributes string     `json:",omitempty" xml:",omitempty"`
	MessageAttributes      msgAttrMap `json:",omitempty" xml:"MessageAttribute"`
}

type receiveOut struct {
	Messages []messageOut `json:",omitempty" xml:"Message"`
}

// receiveParams are a ReceiveMessage's checked parameters.
type receiveParams struct {
	n    int           // MaxNumberOfMessages
	wait time.Duration // the long poll
	vis  int64         // the visibility timeout, seconds
	want map[string]bool
}

// receiveParams checks the request's parameters; the queue's settings
// give the defaults.
func (c *call) receiveParams(set queueSettings) (receiveParams, *apiError) {
	p := receiveParams{n: 1, wait: time.Duration(set.wait) * time.Second, vis: set.visibility, want: map[string]bool{}}
	if m := c.in.MaxNumberOfMessages; m != nil {
		if *m < 1 || *m > 10 {
			return p, errInvalidParam("MaxNumberOfMessages", *m, "Must be between 1 and 10, if provided.")
		}
		p.n = *m
	}
	if w := c.in.WaitTimeSeconds; w != nil {
		if *w < 0 || *w > 20 {
			return p, errInvalidParam("WaitTimeSeconds", *w, "Must be >= 0 and <= 20, if provided.")
		}
		p.wait = time.Duration(*w) * time.Second
	}
	if v := c.in.VisibilityTimeout; v != nil {
		if *v < 0 || *v > maxVisibility {
			return p, errInvalidParam("VisibilityTimeout", *v, "Must be >= 0 and <= 43200, if provided.")
		}
		p.vis = int64(*v)
	}
	for _, l := range [][]string{c.in.AttributeNames, c.in.MessageSystemAttributeNames} {
		for _, a := range l {
			if !validSystemAttr(a) {
				return p, errorf(errInvalidAttributeName, "Unknown Attribute %s.", a)
			}
			p.want[a] = true
		}
	}
	return p, nil
}

func (c *call) receiveMessage() (any, *apiError) {
	t, err := c.queue(auth.Read, false)
	if err != nil {
		return nil, err
	}
	set := settingsOf(t.q.Arguments())
	p, err := c.receiveParams(set)
	if err != nil {
		return nil, err
	}
	vs, err := c.s.queueSession(t)
	if err != nil {
		return nil, err
	}
	var akey attemptKey
	if id := c.in.ReceiveRequestAttemptId; id != "" && set.fifo {
		if !validAttemptID(id) {
			return nil, errInvalidParam("ReceiveRequestAttemptId", truncate(id, 160), "It must be 1 to 128 characters: letters, digits and punctuation.")
		}
		akey = attemptKey{t.q, id}
		if out, ok := c.replayAttempt(vs, akey, p.vis); ok {
			return out, nil
		}
	}
	ds, err := c.take(t, vs, p)
	if err != nil {
		return nil, err
	}
	// Leases are set once every message is taken, so that a visibility of
	// 0 cannot hand the same message out twice in one answer.
	if c.in.VisibilityTimeout != nil || !set.leased {
		for i, d := range ds {
			first, _ := vs.s.ExtendLease(d.Tag, time.Duration(p.vis)*time.Second)
			if d.FirstLeased == 0 {
				// Its first lease is this one: report its time, which
				// later receives will report too.
				ds[i].FirstLeased = first
			}
		}
	}
	out := c.receiveAnswer(t, vs, ds, p.want)
	if akey.id != "" && len(ds) > 0 {
		tags := make([]uint64, len(ds))
		for i, d := range ds {
			tags[i] = d.Tag
		}
		c.s.attempts.put(akey, &attempt{at: time.Now(), out: out, tags: tags, epoch: vs.epoch, json: c.json})
	}
	return out, nil
}

// replayAttempt answers a retried FIFO receive with its first answer while
// every message of it is still in flight from it, its visibility started
// over (receive_attempts.go).
func (c *call) replayAttempt(vs *vsession, k attemptKey, vis int64) (receiveOut, bool) {
	a := c.s.attempts.get(k, time.Now())
	if a == nil || a.epoch != vs.epoch || a.json != c.json || !vs.s.Unacked(a.tags) {
		return receiveOut{}, false
	}
	for _, tag := range a.tags {
		_, _ = vs.s.ExtendLease(tag, time.Duration(vis)*time.Second)
	}
	return a.out, true
}

// take is one batch get: on a FIFO queue it may hand out several messages
// of a group, in order, as SQS does (broker/get_batch.go).
func (c *call) take(t target, vs *vsession, p receiveParams) ([]broker.Delivery, *apiError) {
	var ds []broker.Delivery
	var err error
	if p.wait > 0 {
		ctx, cancel := context.WithTimeout(c.r.Context(), p.wait)
		ds, err = vs.s.GetBatchWait(ctx, t.name, p.n, false)
		cancel()
	} else {
		ds, err = vs.s.GetBatch(t.name, p.n, false)
	}
	if err != nil {
		return nil, coreError(err)
	}
	return ds, nil
}

// receiveAnswer writes the received messages as SQS returns them: a new
// receipt handle each, the body (as text SQS can carry) and its MD5, the
// system attributes asked for, and the message attributes asked for with
// their MD5.
func (c *call) receiveAnswer(t target, vs *vsession, ds []broker.Delivery, want map[string]bool) receiveOut {
	recvAt := nowMillis()
	out := receiveOut{}
	arnOf := func(q string) string { return c.arn(t.account, q) }
	for _, d := range ds {
		m := messageOut{
			MessageId:     messageID(d.Msg),
			ReceiptHandle: receipt{epoch: vs.epoch, tag: d.Tag, recvAt: recvAt, queue: t.name}.String(),
			Attributes:    systemAttributes(d, want, arnOf),
		}
		if c.json && validSQSText(d.Msg.Body) {
			m.body, m.MD5OfBody = d.Msg.Body, md5Hex(d.Msg.Body)
		} else {
			m.Body, m.MD5OfBody = sqsTextMD5(d.Msg.Body)
		}
		if attrs := wantedAttributes(attributesOfMessage(d.Msg), c.in.MessageAttributeNames); len(attrs) > 0 {
			m.MD5OfMessageAttributes = attributesMD5(attrs)
			m.MessageAttributes = msgAttrMap{}
			for k, a := range attrs {
				o := outAttr{DataType: a.DataType}
				if a.isBinary() {
					o.BinaryValue = a.BinaryValue
				} else {
					s := a.StringValue
					o.StringValue = &s
				}
				m.MessageAttributes[k] = o
			}
		}
		out.Messages = append(out.Messages, m)
	}
	return out
}
