package broker

import (
	"container/heap"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// Exchange types that RabbitMQ users know from plugins, with the plugins'
// names and arguments so their clients move over unchanged.
const (
	// ExchangeDelayed holds a message with an x-delay header (milliseconds)
	// until it is due, then routes it like its x-delayed-type.
	ExchangeDelayed = "x-delayed-message"
	// ExchangeDedup drops a message whose x-deduplication-header was seen
	// within x-cache-ttl, and otherwise routes like fanout.
	ExchangeDedup = "x-message-deduplication"
)

// delayedPrefix names the pseudo queue under which storage keeps the
// persistent messages a delayed exchange holds; no client queue can have
// a name with a NUL byte.
const delayedPrefix = "\x00delayed:"

// checkPluginArgs validates the arguments of the plugin exchange types.
func checkPluginArgs(d ExchangeDecl, vhost string, maxCacheSize int64) error {
	switch d.Type {
	case ExchangeDelayed:
		t, _ := message.String(d.Args["x-delayed-type"])
		if t == "" || t == ExchangeDelayed || newRouter(t, nil) == nil {
			return errorf(CodePreconditionFailed, "Invalid argument, 'x-delayed-type' must be an existing exchange type")
		}
		if t == ExchangeConsistentHash {
			return checkHashArgs(d.Args) // it routes with the delayed exchange's arguments
		}
	case ExchangeConsistentHash:
		return checkHashArgs(d.Args)
	case ExchangeDedup:
		for _, k := range []string{"x-cache-size", "x-cache-ttl"} {
			if v, ok := d.Args[k]; ok {
				n, ok := argInt(v)
				if !ok || n <= 0 {
					return errorf(CodePreconditionFailed, "invalid arg '%s' for exchange '%s' in vhost '%s': must be a positive integer", k, d.Name, vhost)
				}
				if k == "x-cache-ttl" && n > maxMillisArg {
					return errorf(CodePreconditionFailed, "invalid arg 'x-cache-ttl' for exchange '%s' in vhost '%s': {value_too_large,%d,%d}",
						d.Name, vhost, n, int64(maxMillisArg))
				}
				if k == "x-cache-size" && n > maxCacheSize {
					return errorf(CodePreconditionFailed,
						"invalid arg 'x-cache-size' for exchange '%s' in vhost '%s': %d is above this broker's limit of %d ids (--max-dedup-ids)",
						d.Name, vhost, n, maxCacheSize)
				}
			}
		}
	}
	return nil
}

// argInt reads an integer argument, also given as a decimal string (the
// plugin's own examples pass x-cache-size as '5').
func argInt(v any) (int64, bool) {
	if n, ok := message.Int(v); ok {
		return n, true
	}
	if s, ok := message.String(v); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// routerFor is the empty router of an exchange of kind with args: a
// delayed-message exchange routes as its x-delayed-type, a de-duplication
// exchange as fanout.
func routerFor(kind string, args message.Table) router {
	switch kind {
	case ExchangeDelayed:
		t, _ := message.String(args["x-delayed-type"])
		return newRouter(t, args)
	case ExchangeDedup:
		return newRouter(ExchangeFanout, nil)
	}
	return newRouter(kind, args)
}

// setupPlugin gives a new exchange of a plugin type its state.
func (x *Exchange) setupPlugin() {
	switch x.kind {
	case ExchangeDelayed:
		x.delayed = &delayedHolder{x: x}
	case ExchangeDedup:
		size, ttl := int64(defaultCacheSize), defaultCacheTTL
		if n, ok := argInt(x.args["x-cache-size"]); ok && n > 0 {
			size = n
		}
		if n, ok := argInt(x.args["x-cache-ttl"]); ok && n > 0 {
			ttl = time.Duration(n) * time.Millisecond
		}
		x.dedup = newDedupCache(ttl, size, false)
	}
}

// seenBefore applies an exchange's de-duplication. When the message is new
// it returns a commit function that remembers its id; the caller calls it
// once the message was taken, so a refused publish can be retried.
func (x *Exchange) seenBefore(m *message.Message, now int64) (bool, func()) {
	if x.dedup == nil {
		return false, nil
	}
	x.dedupMu.Lock()
	dup, key, exp := x.dedup.lookup(m, now)
	x.dedupMu.Unlock()
	if dup || key == "" {
		return dup, nil
	}
	return false, func() {
		x.dedupMu.Lock()
		x.dedup.remember(key, exp, now, "")
		x.dedupMu.Unlock()
		if x.durable && x.vh.b.store != nil {
			x.vh.b.store.LogDedup(QueueRef{VHost: x.vh.name, Queue: dedupExchangePrefix + x.name}, key, exp, "")
		}
	}
}

// delayedHolder keeps a delayed exchange's waiting messages in a heap with
// one timer.
type delayedHolder struct {
	x     *Exchange
	mu    sync.Mutex
	items timeHeap
	seq   uint64
	timer *time.Timer
	at    int64
}

func (h *delayedHolder) ref() QueueRef {
	return QueueRef{VHost: h.x.vh.name, Queue: delayedPrefix + h.x.name}
}

// hold parks m until due; pid is its storage id (0 if not logged).
func (h *delayedHolder) hold(m *message.Message, due int64, pid uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	heap.Push(&h.items, timeItem{at: due, seq: h.seq, e: newEntry(m, 0, pid)})
	h.armLocked()
}

func (h *delayedHolder) armLocked() {
	if len(h.items) == 0 {
		return
	}
	at := h.items[0].at
	if at == h.at && h.timer != nil {
		return
	}
	h.at = at
	d := time.Duration(at - time.Now().UnixNano())
	if h.timer == nil {
		h.timer = time.AfterFunc(d, h.fire)
	} else {
		h.timer.Reset(d)
	}
}

// fire routes every message that is due.
func (h *delayedHolder) fire() {
	b := h.x.vh.b
	if !b.tasks.begin() {
		return // the broker is closing
	}
	defer b.tasks.end()
	now := time.Now().UnixNano()
	h.mu.Lock()
	var due []*entry
	for len(h.items) > 0 && h.items[0].at <= now {
		due = append(due, heap.Pop(&h.items).(timeItem).e)
	}
	h.at = 0
	h.armLocked()
	h.mu.Unlock()
	v := h.x.vh
	var rs routeState
	// A held message's record is settled only once the copies it was
	// routed to are durable, as for dead letters (at-least-once).
	w := &durableWait{}
	for i, e := range due {
		w.wg.Add(1)
		res, err := v.routeAndEnqueue(h.x, e.msg.RoutingKey, e.msg, &rs, PublishOptions{Confirm: w, Seq: uint64(i)}, now)
		if err != nil {
			v.b.log.Warn().Err(err).Str("exchange", h.x.name).Msg("delayed message could not be routed")
		}
		if err != nil || !res.Pending {
			w.wg.Done()
		}
	}
	w.wg.Wait()
	if v.b.store == nil {
		return
	}
	for i, e := range due {
		if e.pid != 0 && !w.failed(uint64(i)) {
			v.b.store.LogSettled(h.ref(), e.pid)
		}
	}
}

// durableWait is a Confirmer that lets the broker wait until messages it
// routed itself are durable, noting which failed.
type durableWait struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	bad map[uint64]bool
}

func (w *durableWait) Confirmed(seq uint64, ok bool) {
	if !ok {
		w.mu.Lock()
		if w.bad == nil {
			w.bad = map[uint64]bool{}
		}
		w.bad[seq] = true
		w.mu.Unlock()
	}
	w.wg.Done()
}

func (w *durableWait) failed(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bad[seq]
}

// stop drops the held messages of a deleted exchange.
func (h *delayedHolder) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer != nil {
		h.timer.Stop()
	}
	for _, it := range h.items {
		if it.e.pid != 0 && h.x.vh.b.store != nil {
			h.x.vh.b.store.LogSettled(h.ref(), it.e.pid)
		}
	}
	h.items = nil
}

// Held is the number of messages a delayed exchange is holding.
func (x *Exchange) Held() int {
	if x.delayed == nil {
		return 0
	}
	x.delayed.mu.Lock()
	defer x.delayed.mu.Unlock()
	return len(x.delayed.items)
}

// holdDelayed parks a message published to a delayed exchange, logging it
// first when it is persistent. ok is false when it is not to be delayed.
func (v *VHost) holdDelayed(x *Exchange, msg *message.Message, now int64, opt PublishOptions) (PublishResult, bool) {
	ms, ok := headerMillis(msg, "x-delay")
	if !ok || ms <= 0 {
		return PublishResult{}, false
	}
	due := now + ms*int64(time.Millisecond)
	res := PublishResult{Routed: true}
	var pid uint64
	if st := v.b.store; st != nil && msg.Persistent() && x.durable {
		pid = v.b.nextMsgID.Add(1)
		var done func(error)
		if opt.Confirm != nil {
			res.Pending = true
			c, seq := opt.Confirm, opt.Seq
			done = func(err error) { c.Confirmed(seq, err == nil) }
		}
		if err := st.LogMessage(pid, now, []QueueRef{x.delayed.ref()}, msg, done); err != nil {
			pid = 0 // refused at once: held in memory only (the confirm is a nack)
		}
	}
	x.delayed.hold(msg, due, pid)
	return res, true
}

// restoreDelayed puts a recovered delayed message back into its exchange;
// it reports false when ref is not a delayed exchange's.
func (b *Broker) restoreDelayed(rm *RecoveredMessage, ref QueueRef) bool {
	if len(ref.Queue) <= len(delayedPrefix) || ref.Queue[:len(delayedPrefix)] != delayedPrefix {
		return false
	}
	v, ok := b.VHost(ref.VHost)
	if !ok {
		return false
	}
	x, ok := v.Exchange(ref.Queue[len(delayedPrefix):])
	if !ok || x.delayed == nil {
		return false
	}
	ms, _ := headerMillis(rm.Msg, "x-delay")
	x.delayed.hold(rm.Msg, rm.PublishedAt+ms*int64(time.Millisecond), rm.ID)
	return true
}
