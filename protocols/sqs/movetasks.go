package sqs

import (
	"context"
	"encoding/base64"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker/message"
)

// Message move tasks (SQS's dead-letter queue redrive) run on the core's
// VHost.Redrive: every message ready in the dead-letter queue goes back to
// the queue it was dead-lettered from (the oldest x-death entry), or to
// DestinationArn, at most MaxNumberOfMessagesPerSecond a second. One task
// at a time per source queue; tasks are remembered in memory (the last 10
// per source) and stop with the broker.

type moveTask struct {
	id         string
	vhost      string
	source     string // queue name
	sourceArn  string
	destArn    string
	rate       int
	started    int64 // unix millis
	toMove     int
	cancel     context.CancelFunc
	done       chan struct{}
	status     string // RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED
	moved      int
	failReason string
}

type moveTasks struct {
	mu    sync.Mutex
	tasks map[string][]*moveTask // by vhost + "\x00" + source, newest last
	wg    sync.WaitGroup
}

// taskResult is one entry of ListMessageMoveTasks.
type taskResult struct {
	TaskHandle                        string `json:",omitempty" xml:",omitempty"`
	Status                            string
	SourceArn                         string
	DestinationArn                    string `json:",omitempty" xml:",omitempty"`
	MaxNumberOfMessagesPerSecond      *int   `json:",omitempty" xml:",omitempty"`
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove int64
	FailureReason                     string `json:",omitempty" xml:",omitempty"`
	StartedTimestamp                  int64
}

func (t *moveTask) handle() string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.id + "\x00" + t.vhost + "\x00" + t.source))
}

// queueOfArn resolves an SQS queue ARN to a vhost and queue and checks op.
func (c *call) queueOfArn(arn, param string, op auth.Op) (target, *apiError) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" {
		return target{}, errInvalidParam(param, truncate(arn, 128), "not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE).")
	}
	c.in.QueueUrl = "/" + parts[4] + "/" + parts[5]
	t, err := c.queue(op, false)
	if err != nil && err.code == errQueueDoesNotExist.code {
		return t, errorf(errResourceNotFound, "The resource that you specified for the %s parameter doesn't exist.", param)
	}
	return t, err
}

func (c *call) startMessageMoveTask() (any, *apiError) {
	if c.in.SourceArn == "" {
		return nil, errMissing("SourceArn")
	}
	src, err := c.queueOfArn(c.in.SourceArn, "SourceArn", auth.Read)
	if err != nil {
		return nil, err
	}
	rate := 0
	if r := c.in.MaxNumberOfMessagesPerSecond; r != nil {
		if *r < 1 || *r > 500 {
			return nil, errInvalidParam("MaxNumberOfMessagesPerSecond", *r, "must be from 1 to 500.")
		}
		rate = *r
	}
	dest := ""
	if c.in.DestinationArn != "" {
		d, err := c.queueOfArn(c.in.DestinationArn, "DestinationArn", auth.Write)
		if err != nil {
			return nil, err
		}
		if d.v != src.v {
			return nil, errInvalidParam("DestinationArn", c.in.DestinationArn, "the destination must be in the source's account (vhost).")
		}
		dest = d.name
	} else {
		// Back to the sources: the user must be able to send to each.
		n := 0
		for _, q := range src.v.Queues() {
			args := q.Arguments()
			if dlrk, _ := message.String(args[argDLRK]); dlrk == src.name {
				if _, hasDLX := args[argDLX]; hasDLX {
					if err := c.authorize(src.v, q.Name(), auth.Write, false); err != nil {
						return nil, err
					}
					n++
				}
			}
		}
		if n == 0 {
			return nil, errInvalidParam("SourceArn", c.in.SourceArn, "Source queue must be configured as a Dead Letter Queue.")
		}
	}
	key := src.v.Name() + "\x00" + src.name
	m := &c.s.moves
	m.mu.Lock()
	if c.s.isClosed() {
		m.mu.Unlock()
		return nil, errorf(errServiceUnavailable, "The broker is shutting down.")
	}
	for _, t := range m.tasks[key] {
		if t.status == "RUNNING" || t.status == "CANCELLING" {
			m.mu.Unlock()
			return nil, errorf(errUnsupportedOperation, "There is already a task running on %s. Only one active task is allowed for each source queue.", src.name)
		}
	}
	ctx, cancel := context.WithCancel(c.s.ctx)
	t := &moveTask{id: newMessageID(), vhost: src.v.Name(), source: src.name, sourceArn: c.in.SourceArn, destArn: c.in.DestinationArn,
		rate: rate, started: nowMillis(), toMove: src.q.Stats().Ready, cancel: cancel, done: make(chan struct{}), status: "RUNNING"}
	if m.tasks == nil {
		m.tasks = map[string][]*moveTask{}
	}
	m.tasks[key] = append(m.tasks[key], t)
	if l := m.tasks[key]; len(l) > 10 {
		m.tasks[key] = l[len(l)-10:]
	}
	m.wg.Add(1)
	m.mu.Unlock()
	v := src.v
	log := c.s.log
	go func() {
		defer m.wg.Done()
		defer close(t.done)
		moved, err := v.Redrive(ctx, t.source, dest, 0, float64(rate))
		m.mu.Lock()
		t.moved = moved
		switch {
		case err != nil:
			t.status, t.failReason = "FAILED", err.Error()
		case t.status == "CANCELLING":
			t.status = "CANCELLED"
		default:
			t.status = "COMPLETED"
		}
		m.mu.Unlock()
		cancel()
		log.Info().Str("vhost", v.Name()).Str("queue", t.source).Int("moved", moved).Str("status", t.status).Msg("sqs message move task ended")
	}()
	return struct{ TaskHandle string }{t.handle()}, nil
}

func (c *call) listMessageMoveTasks() (any, *apiError) {
	if c.in.SourceArn == "" {
		return nil, errMissing("SourceArn")
	}
	src, err := c.queueOfArn(c.in.SourceArn, "SourceArn", auth.Read)
	if err != nil {
		return nil, err
	}
	limit := 1
	if r := c.in.MaxResults; r != nil {
		if *r < 1 || *r > 10 {
			return nil, errInvalidParam("MaxResults", *r, "must be from 1 to 10.")
		}
		limit = *r
	}
	m := &c.s.moves
	m.mu.Lock()
	tasks := append([]*moveTask(nil), m.tasks[src.v.Name()+"\x00"+src.name]...)
	var out []taskResult
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].started > tasks[j].started })
	for _, t := range tasks {
		if len(out) == limit {
			break
		}
		r := taskResult{Status: t.status, SourceArn: t.sourceArn, DestinationArn: t.destArn, ApproximateNumberOfMessagesMoved: int64(t.moved),
			ApproximateNumberOfMessagesToMove: int64(t.toMove), FailureReason: t.failReason, StartedTimestamp: t.started}
		if t.rate > 0 {
			rate := t.rate
			r.MaxNumberOfMessagesPerSecond = &rate
		}
		if t.status == "RUNNING" {
			r.TaskHandle = t.handle()
		}
		out = append(out, r)
	}
	m.mu.Unlock()
	if out == nil {
		out = []taskResult{}
	}
	return struct {
		Results []taskResult `xml:"Results"`
	}{out}, nil
}

func (c *call) cancelMessageMoveTask() (any, *apiError) {
	if c.in.TaskHandle == "" {
		return nil, errMissing("TaskHandle")
	}
	notFound := errorf(errResourceNotFound, "The resource that you specified for the TaskHandle parameter doesn't exist.")
	raw, derr := base64.RawURLEncoding.DecodeString(c.in.TaskHandle)
	parts := strings.Split(string(raw), "\x00")
	if derr != nil || len(parts) != 3 {
		return nil, notFound
	}
	id, vhost, source := parts[0], parts[1], parts[2]
	v, ok := c.s.b.VHost(vhost)
	if !ok {
		return nil, notFound
	}
	if err := c.authorize(v, source, auth.Read, false); err != nil {
		return nil, err
	}
	m := &c.s.moves
	m.mu.Lock()
	var task *moveTask
	for _, t := range m.tasks[vhost+"\x00"+source] {
		if t.id == id {
			task = t
		}
	}
	if task == nil || task.status != "RUNNING" {
		m.mu.Unlock()
		if task != nil {
			return nil, errorf(errUnsupportedOperation, "The task is %s, not RUNNING.", task.status)
		}
		return nil, notFound
	}
	task.status = "CANCELLING"
	m.mu.Unlock()
	task.cancel()
	select {
	case <-task.done:
	case <-time.After(5 * time.Second):
	}
	m.mu.Lock()
	moved := task.moved
	m.mu.Unlock()
	return struct{ ApproximateNumberOfMessagesMoved int64 }{int64(moved)}, nil
}
