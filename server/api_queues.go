package server

import (
	"net/http"
	"strconv"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// Queues in the management API: /api/queues[/VHOST[/NAME]], its contents
// (purge), get and bindings, with rabbit_mgmt_wm_queue*'s behaviour.

func (s *Server) registerQueueAPI() {
	s.mux.HandleFunc("GET /api/queues", s.authed(s.listQueues))
	s.mux.HandleFunc("GET /api/queues/{vhost}", s.authed(s.listQueues))
	s.mux.HandleFunc("GET /api/queues/{vhost}/{name}", s.authed(s.getQueue))
	s.mux.HandleFunc("PUT /api/queues/{vhost}/{name}", s.authed(s.putQueue))
	s.mux.HandleFunc("DELETE /api/queues/{vhost}/{name}", s.authed(s.deleteQueue))
	s.mux.HandleFunc("DELETE /api/queues/{vhost}/{name}/contents", s.authed(s.purgeQueue))
	s.mux.HandleFunc("POST /api/queues/{vhost}/{name}/get", s.authed(s.getMessages))
	s.mux.HandleFunc("GET /api/queues/{vhost}/{name}/bindings", s.authed(s.queueBindings))
}

// queueJSON is a queue as RabbitMQ's management API shows it. With
// disable_stats=true only the declared part is there (and the totals with
// enable_queue_totals=true), as in RabbitMQ.
type queueJSON struct {
	Name       string         `json:"name"`
	VHost      string         `json:"vhost"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Exclusive  bool           `json:"exclusive"`
	Arguments  map[string]any `json:"arguments"`
	Type       string         `json:"type"`
	State      string         `json:"state"`
	Node       string         `json:"node"`
	// A quorum queue's leader, members and online members, as RabbitMQ
	// shows them; one node, so it is all three.
	Leader  string   `json:"leader,omitempty"`
	Members []string `json:"members,omitempty"`
	Online  []string `json:"online,omitempty"`
	*queueTotals
	*queueStats
}

type queueTotals struct {
	Messages        int `json:"messages"`
	MessagesReady   int `json:"messages_ready"`
	MessagesUnacked int `json:"messages_unacknowledged"`
}

type queueStats struct {
	Policy                    *string        `json:"policy"`
	OperatorPolicy            *string        `json:"operator_policy"`
	EffectivePolicyDefinition map[string]any `json:"effective_policy_definition"`
	Consumers                 int            `json:"consumers"`
	// consumer_capacity and its older name consumer_utilisation (both in
	// RabbitMQ 3.10): the share of recent time in which the queue could
	// hand a message to a consumer at once (broker/consumer_capacity.go);
	// 0 without consumers, as RabbitMQ.
	ConsumerCapacity     float64        `json:"consumer_capacity"`
	ConsumerUtilisation  float64        `json:"consumer_utilisation"`
	ExclusiveConsumerTag *string        `json:"exclusive_consumer_tag"`
	MessageBytes         int64          `json:"message_bytes"`
	MessageBytesReady    int64          `json:"message_bytes_ready"`
	MessageBytesUnacked  int64          `json:"message_bytes_unacknowledged"`
	Memory               int64          `json:"memory"`
	IdleSince            string         `json:"idle_since,omitempty"`
	MessageStats         map[string]any `json:"message_stats,omitempty"`
	// How fast the depth changed over the last 5 s sample (conn_rates.go).
	MessagesDetails        rateJSON `json:"messages_details"`
	MessagesReadyDetails   rateJSON `json:"messages_ready_details"`
	MessagesUnackedDetails rateJSON `json:"messages_unacknowledged_details"`
	// RabbitMQ's memory figures in sluice's terms: ready messages whose
	// body is in memory, unacknowledged ones (which keep their bodies),
	// and the body bytes of each kind; ready bytes paged out to disk.
	MessagesRAM             int     `json:"messages_ram"`
	MessagesReadyRAM        int     `json:"messages_ready_ram"`
	MessagesUnackedRAM      int     `json:"messages_unacknowledged_ram"`
	MessageBytesRAM         int64   `json:"message_bytes_ram"`
	MessageBytesPagedOut    int64   `json:"message_bytes_paged_out"`
	MessagesPersistent      int     `json:"messages_persistent"`
	MessageBytesPersistent  int64   `json:"message_bytes_persistent"`
	SingleActiveConsumerTag *string `json:"single_active_consumer_tag"`
	// One queue's GET only: its consumers, and the per-channel rates
	// RabbitMQ lists only in its detailed rates mode (empty, as in its
	// default basic mode).
	ConsumerDetails *[]consumerJSON `json:"consumer_details,omitempty"`
	Deliveries      *[]any          `json:"deliveries,omitempty"`
	Incoming        *[]any          `json:"incoming,omitempty"`

	// Sluice's own: the log bytes the queue's messages hold; ready
	// messages whose bodies are in memory, their bytes, and those paged
	// out to disk; paged-out messages read back ahead of need and inline
	// (when consumers outran the read-ahead); body bytes of delayed
	// messages held in memory; messages set aside since the start because
	// their body could not be read back (kept in the log, offered again
	// after a restart); messages waiting for their delivery delay.
	DiskBytes            int64 `json:"disk_bytes"`
	Resident             int   `json:"messages_ready_resident"`
	ResidentBytes        int64 `json:"memory_body_bytes"`
	PagedOut             int   `json:"messages_paged_out"`
	ReadsAhead           int64 `json:"paged_reads_ahead"`
	ReadsInline          int64 `json:"paged_reads_inline"`
	DelayedResidentBytes int64 `json:"memory_delayed_body_bytes"`
	Unreadable           int64 `json:"messages_unreadable"`
	Delayed              int   `json:"messages_delayed"`
}

// queueView says what a queue object carries.
type queueView struct {
	stats, totals bool
	disk          map[broker.QueueRef]int64
	node          string // nodeName(), asked once a request (it is a system call)
}

func (s *Server) queueViewOf(r *http.Request) queueView {
	qv := queueView{stats: wantStats(r), totals: r.URL.Query().Get("enable_queue_totals") == "true", node: nodeName()}
	if qv.stats && s.store != nil {
		qv.disk = s.store.QueueBytes()
	}
	return qv
}

func (s *Server) queueInfo(vhost string, q *broker.Queue, qv queueView) queueJSON {
	d := q.Details()
	j := queueJSON{Name: d.Name, VHost: vhost, Durable: d.Durable, AutoDelete: d.AutoDelete, Exclusive: d.Exclusive,
		Arguments: argsJSON(d.Args), Type: "classic", State: "running", Node: qv.node}
	if isQuorum(d) {
		j.Type = "quorum"
		j.Leader, j.Members, j.Online = qv.node, []string{qv.node}, []string{qv.node}
	}
	if !qv.stats {
		j.State = "live" // the record's state, which is what RabbitMQ shows without stats
		if qv.totals {
			j.queueTotals = &queueTotals{Messages: d.Ready + d.Unacked, MessagesReady: d.Ready, MessagesUnacked: d.Unacked}
		}
		return j
	}
	j.queueTotals = &queueTotals{Messages: d.Ready + d.Unacked, MessagesReady: d.Ready, MessagesUnacked: d.Unacked}
	mem := q.Memory()
	st := &queueStats{Consumers: d.Consumers, MessageBytes: d.ReadyBytes + d.UnackedBytes, MessageBytesReady: d.ReadyBytes,
		MessageBytesUnacked: d.UnackedBytes,
		Memory:              mem.ResidentBytes + mem.DelayedResidentBytes,
		DiskBytes:           qv.disk[broker.QueueRef{VHost: vhost, Queue: d.Name}], Resident: mem.Resident,
		ResidentBytes: mem.ResidentBytes, PagedOut: mem.PagedOut, ReadsAhead: mem.ReadsAhead,
		ReadsInline: mem.ReadsInline, DelayedResidentBytes: mem.DelayedResidentBytes, Unreadable: mem.Unreadable,
		Delayed: d.Delayed}
	if p := q.Policy(); p != "" {
		st.Policy = &p
	}
	if p := q.OperatorPolicy(); p != "" {
		st.OperatorPolicy = &p
	}
	st.EffectivePolicyDefinition = q.EffectivePolicyDefinition()
	if st.EffectivePolicyDefinition == nil {
		st.EffectivePolicyDefinition = map[string]any{}
	}
	st.ConsumerCapacity, st.ConsumerUtilisation = d.ConsumerCapacity, d.ConsumerCapacity
	rr, ur := s.ioRates.queueDepthRates(broker.QueueRef{VHost: vhost, Queue: d.Name})
	st.MessagesReadyDetails.Rate, st.MessagesUnackedDetails.Rate = rr, ur
	st.MessagesDetails.Rate = round1(rr + ur)
	st.MessagesReadyRAM, st.MessagesUnackedRAM = mem.Resident, d.Unacked
	st.MessagesRAM = mem.Resident + d.Unacked
	st.MessageBytesRAM = mem.ResidentBytes + d.UnackedBytes
	st.MessageBytesPagedOut = max(d.ReadyBytes-mem.ResidentBytes, 0)
	st.MessagesPersistent, st.MessageBytesPersistent = d.Persistent, d.PersistentBytes
	if d.SingleActiveConsumer != "" {
		st.SingleActiveConsumerTag = &d.SingleActiveConsumer
	}
	if !d.IdleSince.IsZero() {
		st.IdleSince = rmqTime(d.IdleSince)
	} else if t, idle := s.sampler().queueIdleSince(q); idle {
		st.IdleSince = rmqTime(t) // consumed from, but nothing moving
	}
	st.MessageStats = s.messageStats(q)
	j.queueStats = st
	return j
}

func isQuorum(d broker.QueueDetails) bool {
	t, _ := d.Args["x-queue-type"].(string)
	return t == "quorum"
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	vhosts, ok := s.listScope(w, r)
	if !ok {
		return
	}
	qv := s.queueViewOf(r)
	out := []queueJSON{}
	for _, v := range vhosts {
		for _, q := range v.Queues() {
			out = append(out, s.queueInfo(v.Name(), q, qv))
		}
	}
	writeList(w, r, out)
}

func (s *Server) getQueue(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, notFound)
	if !ok {
		return
	}
	q, ok := v.Queue(r.PathValue("name"))
	if !ok {
		notFound(w)
		return
	}
	j := s.queueInfo(v.Name(), q, s.queueViewOf(r))
	if j.queueStats != nil {
		consumers := s.queueConsumers(v.Name(), q.Name())
		j.ConsumerDetails, j.Deliveries, j.Incoming = &consumers, &[]any{}, &[]any{}
	}
	writeObject(w, r, j)
}

// queueConsumers lists the consumers of one queue, of every channel.
func (s *Server) queueConsumers(vhost, name string) []consumerJSON {
	out := []consumerJSON{}
	for _, ch := range s.allChannels() {
		if ch.Conn.VHost != vhost {
			continue
		}
		for _, c := range s.consumersOf(&ch) {
			if c.Queue.Name == name {
				out = append(out, c)
			}
		}
	}
	return out
}

// putQueue declares a queue as queue.declare does, with the user's
// permissions (configure; read and write for a dead-letter exchange) and
// the broker's argument checks: 201 for a new queue, 204 for an
// equivalent one, 400 with the reason for anything else.
func (s *Server) putQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if len(name) > 255 {
		badRequest(w, "queue should be less than 255 bytes, actually was "+strconv.Itoa(len(name))+"\n")
		return
	}
	v, ok := s.topologyVHost(w, r, vhostNotFound)
	if !ok {
		return
	}
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	durable, err := boolKey(b, "durable", false)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	autoDelete, err := boolKey(b, "auto_delete", false)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	args, err := argsFromBody(b)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	a := s.access(r, v.Name())
	isNew := false
	_, err = v.DeclareQueue(broker.QueueDecl{Name: name, Durable: durable, AutoDelete: autoDelete, Args: args, Owner: apiOwner,
		Admit: func(qname string, fresh bool, queues int) error {
			isNew = fresh
			dlx, hasDLX := args["x-dead-letter-exchange"].(string)
			return a.DeclareQueue(qname, fresh, dlx, hasDLX, queues)
		}})
	if err != nil {
		s.directError(w, r, err)
		return
	}
	created(w, isNew)
}

// deleteQueue is queue.delete with if-unused and if-empty (query
// parameters "true"); configure on the queue.
func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, notFound)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if _, ok := v.Queue(name); !ok {
		notFound(w)
		return
	}
	if err := s.access(r, v.Name()).Configure(auth.Queue, name); err != nil {
		s.directError(w, r, err)
		return
	}
	q := r.URL.Query()
	if _, err := v.DeleteQueue(name, q.Get("if-unused") == "true", q.Get("if-empty") == "true", apiOwner); err != nil {
		s.directError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// purgeQueue is queue.purge: read on the queue.
func (s *Server) purgeQueue(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, notFound)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if _, ok := v.Queue(name); !ok {
		notFound(w)
		return
	}
	if err := s.access(r, v.Name()).Read(name); err != nil {
		s.directError(w, r, err)
		return
	}
	if _, err := v.PurgeQueue(name, apiOwner); err != nil {
		s.directError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// queueBindings lists the bindings to a queue, the default exchange's
// implicit one first by RabbitMQ's sort.
func (s *Server) queueBindings(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, notFound)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if _, ok := v.Queue(name); !ok {
		notFound(w)
		return
	}
	writeBindings(w, r, v.Name(), v.BindingsTo(name, false))
}
