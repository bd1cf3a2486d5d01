package server

import (
	"runtime/metrics"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluice-mq/sluice/broker"
)

// brokerCollector reads the broker, the store and the listeners when
// Prometheus scrapes. It describes nothing up front (an "unchecked"
// collector): the queues come and go between scrapes.
type brokerCollector struct {
	s    *Server
	mode metricsMode
	// queues, when set, were sampled for this scrape by its handler,
	// which writes their per-object samples itself (metrics_text.go).
	queues []queueSample
}

func (c *brokerCollector) Describe(chan<- *prometheus.Desc) {}

// metricDef is one metric's name, help and type.
type metricDef struct {
	name, help string
	kind       prometheus.ValueType
}

var (
	gauge   = prometheus.GaugeValue
	counter = prometheus.CounterValue
	untyped = prometheus.UntypedValue
)

// Per-queue metrics, by RabbitMQ's family (the ets table the plugin reads).
var (
	qReady     = metricDef{"queue_messages_ready", "Messages ready to be delivered to consumers", gauge}
	qUnacked   = metricDef{"queue_messages_unacked", "Messages delivered to consumers but not yet acknowledged", gauge}
	qMessages  = metricDef{"queue_messages", "Sum of ready and unacknowledged messages - total queue depth", gauge}
	qConsumers = metricDef{"queue_consumers", "Consumers on a queue", gauge}
	qCapacity  = metricDef{"queue_consumer_capacity", "Consumer capacity", gauge}
	qUtilised  = metricDef{"queue_consumer_utilisation", "Same as consumer capacity", gauge}
	qRAM       = metricDef{"queue_messages_ram", "Ready and unacknowledged messages stored in memory", gauge}
	qReadyRAM  = metricDef{"queue_messages_ready_ram", "Ready messages stored in memory", gauge}
	qReadyRAMB = metricDef{"queue_messages_ram_bytes", "Size of ready messages stored in memory (bodies)", gauge}
	qPagedOut  = metricDef{"queue_messages_paged_out", "Messages paged out to disk", gauge}
	qBytes     = metricDef{"queue_messages_bytes", "Size in bytes of ready and unacknowledged messages", gauge}
	qReadyB    = metricDef{"queue_messages_ready_bytes", "Size in bytes of ready messages", gauge}
	qUnackedB  = metricDef{"queue_messages_unacked_bytes", "Size in bytes of all unacknowledged messages", gauge}
	qPersist   = metricDef{"queue_messages_persistent", "Persistent messages", gauge}
	qPersistB  = metricDef{"queue_messages_persistent_bytes", "Size in bytes of persistent messages", gauge}
	qDiskReads = metricDef{"queue_disk_reads_total", "Total number of times queue read messages from disk", counter}
	qPublished = metricDef{"queue_messages_published_total", "Total number of messages published to queues", counter}

	// sluice's own, per queue.
	sqDelayed    = metricDef{"sluice_queue_messages_delayed", "Messages waiting for their delivery delay", gauge}
	sqDiskBytes  = metricDef{"sluice_queue_disk_bytes", "Bytes of the write-ahead log the queue's live messages take", gauge}
	sqAhead      = metricDef{"sluice_queue_paged_reads_ahead_total", "Paged-out messages read back by the read-ahead", counter}
	sqInline     = metricDef{"sluice_queue_paged_reads_inline_total", "Paged-out messages read back inline, when consumers outran the read-ahead", counter}
	sqUnreadable = metricDef{"sluice_queue_messages_unreadable_total", "Messages set aside because their body could not be read back (never discarded)", counter}
)

// queueFamilies are the families /metrics/detailed offers, with their
// metrics; the rest of the per-queue metrics are in queue_metrics too.
var queueFamilies = map[string][]metricDef{
	"queue_coarse_metrics": {qReady, qUnacked, qMessages},
	"queue_consumer_count": {qConsumers},
	"queue_metrics":        {qConsumers, qCapacity, qUtilised, qRAM, qReadyRAM, qReadyRAMB, qPagedOut, qBytes, qReadyB, qUnackedB, qPersist, qPersistB, qDiskReads},
}

// queueSample is one queue's figures for one scrape.
type queueSample struct {
	vhost, name string
	stats       broker.QueueStats
	mem         broker.Memory
	counts      broker.MessageCounts
	diskBytes   int64
	capacity    float64
}

func (q *queueSample) value(d metricDef) float64 {
	switch d {
	case qReady:
		return float64(q.stats.Ready)
	case qUnacked:
		return float64(q.stats.Unacked)
	case qMessages:
		return float64(q.stats.Ready + q.stats.Unacked)
	case qConsumers:
		return float64(q.stats.Consumers)
	case qCapacity, qUtilised:
		return q.capacity
	case qRAM:
		return float64(q.mem.Resident + q.stats.Unacked) // delivered messages keep their bodies
	case qReadyRAM:
		return float64(q.mem.Resident)
	case qReadyRAMB:
		return float64(q.mem.ResidentBytes)
	case qPagedOut:
		return float64(q.mem.PagedOut)
	case qBytes:
		return float64(q.stats.ReadyBytes + q.stats.UnackedBytes)
	case qReadyB:
		return float64(q.stats.ReadyBytes)
	case qUnackedB:
		return float64(q.stats.UnackedBytes)
	case qPersist:
		return float64(q.stats.Persistent)
	case qPersistB:
		return float64(q.stats.PersistentBytes)
	case qDiskReads:
		return float64(q.mem.ReadsAhead + q.mem.ReadsInline)
	case qPublished:
		return float64(q.counts.Publish)
	case sqDelayed:
		return float64(q.stats.Delayed)
	case sqDiskBytes:
		return float64(q.diskBytes)
	case sqAhead:
		return float64(q.mem.ReadsAhead)
	case sqInline:
		return float64(q.mem.ReadsInline)
	case sqUnreadable:
		return float64(q.mem.Unreadable)
	}
	return 0
}

// perQueueMetrics are what /metrics and /metrics/per-object show per queue.
var perQueueMetrics = []metricDef{qReady, qUnacked, qMessages, qConsumers, qCapacity, qUtilised, qRAM, qReadyRAM, qReadyRAMB,
	qPagedOut, qBytes, qReadyB, qUnackedB, qPersist, qPersistB, qDiskReads, qPublished, sqDelayed, sqDiskBytes, sqAhead, sqInline, sqUnreadable}

// emitter sends const metrics, making each Desc once per scrape.
type emitter struct {
	ch    chan<- prometheus.Metric
	descs map[string]*prometheus.Desc
}

func (e *emitter) send(name, help string, kind prometheus.ValueType, v float64, labelNames []string, labelValues ...string) {
	d := e.descs[name]
	if d == nil {
		d = prometheus.NewDesc(name, help, labelNames, nil)
		e.descs[name] = d
	}
	e.ch <- prometheus.MustNewConstMetric(d, kind, v, labelValues...)
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	e := &emitter{ch: ch, descs: map[string]*prometheus.Desc{}}
	queues := c.queues
	if queues == nil {
		queues = c.s.sampleQueues(nil)
	}
	switch c.mode {
	case metricsAggregated:
		c.collectQueues(e, queues)
		c.collectNode(e, queues)
	case metricsPerObject:
		c.collectNode(e, queues)
	}
	c.collectIdentity(e)
}

// sampleQueues reads every queue once (one short lock each).
// vhosts, when not nil, are the only vhosts sampled.
func (s *Server) sampleQueues(vhosts map[string]bool) []queueSample {
	b := s.Broker
	var bytes map[broker.QueueRef]int64
	if s.store != nil {
		bytes = s.store.QueueBytes()
	}
	out := []queueSample{}
	for _, vn := range b.VHosts() {
		if vhosts != nil && !vhosts[vn] {
			continue
		}
		v, ok := b.VHost(vn)
		if !ok {
			continue
		}
		for _, q := range v.Queues() {
			m := q.Metrics()
			out = append(out, queueSample{vhost: vn, name: q.Name(), stats: m.Stats, mem: m.Memory,
				counts: m.Counts, diskBytes: bytes[broker.QueueRef{VHost: vn, Queue: q.Name()}], capacity: m.ConsumerCapacity})
		}
	}
	return out
}

// collectQueues emits the per-queue metrics summed into one sample each,
// as /metrics has them.
func (c *brokerCollector) collectQueues(e *emitter, queues []queueSample) {
	for _, d := range perQueueMetrics {
		name := metricName(d)
		sum := 0.0
		for i := range queues {
			sum += queues[i].value(d)
		}
		e.send(name, d.help, d.kind, sum, nil)
	}
}

// detailedDefs are the metrics of the families asked for, each once.
func detailedDefs(families []string) []metricDef {
	var out []metricDef
	for _, fam := range []string{"queue_coarse_metrics", "queue_consumer_count", "queue_metrics"} {
		if !slices.Contains(families, fam) {
			continue
		}
		for _, d := range queueFamilies[fam] {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// metricName is a metric's full name: RabbitMQ's get rabbitmq_.
func metricName(d metricDef) string {
	if strings.HasPrefix(d.name, "sluice_") {
		return d.name
	}
	return "rabbitmq_" + d.name
}

// collectNode emits the node's totals, counters and resources.
func (c *brokerCollector) collectNode(e *emitter, queues []queueSample) {
	s := c.s
	b := s.Broker
	consumers := 0
	for i := range queues {
		consumers += queues[i].stats.Consumers
	}
	var conns connTotals
	if s.tls.limits != nil {
		t := s.tls.limits.Opened.Totals()
		conns = connTotals{t.Connections, t.Channels, t.ConnectionsOpened, t.ConnectionsClosed, t.ChannelsOpened, t.ChannelsClosed}
	}
	e.send("rabbitmq_connections", "Connections currently open", gauge, float64(conns.open), nil)
	e.send("rabbitmq_channels", "Channels currently open", gauge, float64(conns.channels), nil)
	e.send("rabbitmq_consumers", "Consumers currently connected", gauge, float64(consumers), nil)
	e.send("rabbitmq_queues", "Queues available", gauge, float64(len(queues)), nil)
	unacked := 0
	for i := range queues {
		unacked += queues[i].stats.Unacked
	}
	// The plugin's channel_metrics family, summed over channels as
	// /metrics has it: every consumer and unacked delivery is a channel's.
	e.send("rabbitmq_channel_consumers", "Consumers on a channel", gauge, float64(consumers), nil)
	e.send("rabbitmq_channel_messages_unacked", "Delivered but not yet acknowledged messages", gauge, float64(unacked), nil)
	churn := b.QueueChurn()
	for _, m := range []struct {
		name, help string
		v          uint64
	}{
		{"rabbitmq_connections_opened_total", "Total number of connections opened", conns.opened},
		{"rabbitmq_connections_closed_total", "Total number of connections closed or terminated", conns.closed},
		{"rabbitmq_channels_opened_total", "Total number of channels opened", conns.chOpened},
		{"rabbitmq_channels_closed_total", "Total number of channels closed", conns.chClosed},
		{"rabbitmq_queues_declared_total", "Total number of queues declared", churn.Declared},
		{"rabbitmq_queues_created_total", "Total number of queues created", churn.Created},
		{"rabbitmq_queues_deleted_total", "Total number of queues deleted", churn.Deleted},
	} {
		e.send(m.name, m.help, counter, float64(m.v), nil)
	}
	if c.s.Users != nil {
		// The plugin's auth_attempt_metrics, per protocol.
		for _, a := range c.s.Users.Attempts().Snapshot() {
			e.send("rabbitmq_auth_attempts_total", "Total number of authentication attempts", counter, float64(a.Total), []string{"protocol"}, a.Protocol)
			e.send("rabbitmq_auth_attempts_succeeded_total", "Total number of successful authentication attempts", counter, float64(a.Succeeded), []string{"protocol"}, a.Protocol)
			e.send("rabbitmq_auth_attempts_failed_total", "Total number of failed authentication attempts", counter, float64(a.Failed), []string{"protocol"}, a.Protocol)
		}
	}
	c.collectMessageCounters(e, b.MessageCounts(), consumers)
	c.collectResources(e, conns.open)
	c.collectStore(e)
}

type connTotals struct {
	open, channels                     int64
	opened, closed, chOpened, chClosed uint64
}

// collectMessageCounters emits the broker's message counters under
// RabbitMQ's global counter names (protocol "amqp091": RabbitMQ counts
// its STOMP plugin's messages there too, and sluice counts STOMP's and
// the SQS API's) and its aggregated channel counters.
func (c *brokerCollector) collectMessageCounters(e *emitter, m broker.MessageCounts, consumers int) {
	proto := []string{"protocol"}
	protoQT := []string{"protocol", "queue_type"}
	routed := m.Publish - m.ReturnUnroutable - m.DropUnroutable
	for _, g := range []struct {
		name, help string
		v          uint64
	}{
		{"messages_received_total", "Total number of messages received from publishers", m.Publish},
		{"messages_received_confirm_total", "Total number of messages received from publishers expecting confirmations", m.Confirm},
		{"messages_routed_total", "Total number of messages routed to queues or streams", routed},
		{"messages_unroutable_dropped_total", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", m.DropUnroutable},
		{"messages_unroutable_returned_total", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", m.ReturnUnroutable},
		{"messages_confirmed_total", "Total number of messages confirmed to publishers", m.Confirm},
	} {
		e.send("rabbitmq_global_"+g.name, g.help, counter, float64(g.v), proto, "amqp091")
	}
	e.send("rabbitmq_global_consumers", "Current number of consumers", gauge, float64(consumers), proto, "amqp091")
	for _, g := range []struct {
		name, help string
		v          uint64
	}{
		{"messages_delivered_total", "Total number of messages delivered to consumers", m.DeliverGet()},
		{"messages_delivered_consume_manual_ack_total", "Total number of messages delivered to consumers using basic.consume with manual acknowledgment", m.Deliver},
		{"messages_delivered_consume_auto_ack_total", "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment", m.DeliverNoAck},
		{"messages_delivered_get_manual_ack_total", "Total number of messages delivered to consumers using basic.get with manual acknowledgment", m.Get},
		{"messages_delivered_get_auto_ack_total", "Total number of messages delivered to consumers using basic.get with automatic acknowledgment", m.GetNoAck},
		{"messages_get_empty_total", "Total number of times basic.get operations fetched no message", m.GetEmpty},
		{"messages_redelivered_total", "Total number of messages redelivered to consumers", m.Redeliver},
		{"messages_acknowledged_total", "Total number of messages acknowledged by consumers", m.Ack},
	} {
		e.send("rabbitmq_global_"+g.name, g.help, counter, float64(g.v), protoQT, "amqp091", "rabbit_classic_queue")
	}
	// The plugin's channel families, summed over channels as /metrics does.
	for _, g := range []struct {
		name, help string
		v          uint64
	}{
		{"channel_messages_published_total", "Total number of messages published into an exchange on a channel", m.Publish},
		{"channel_messages_confirmed_total", "Total number of messages published into an exchange and confirmed on the channel", m.Confirm},
		{"channel_messages_unroutable_returned_total", "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable", m.ReturnUnroutable},
		{"channel_messages_unroutable_dropped_total", "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", m.DropUnroutable},
		{"channel_get_ack_total", "Total number of messages fetched with basic.get in manual acknowledgement mode", m.Get},
		{"channel_get_total", "Total number of messages fetched with basic.get in automatic acknowledgement mode", m.GetNoAck},
		{"channel_messages_delivered_ack_total", "Total number of messages delivered to consumers in manual acknowledgement mode", m.Deliver},
		{"channel_messages_delivered_total", "Total number of messages delivered to consumers in automatic acknowledgement mode", m.DeliverNoAck},
		{"channel_messages_redelivered_total", "Total number of messages redelivered to consumers", m.Redeliver},
		{"channel_messages_acked_total", "Total number of messages acknowledged by consumers", m.Ack},
		{"channel_get_empty_total", "Total number of times basic.get operations fetched no message", m.GetEmpty},
	} {
		e.send("rabbitmq_"+g.name, g.help, counter, float64(g.v), nil)
	}
	e.send("sluice_messages_deduplicated_total", "Messages de-duplication recognised and dropped", counter, float64(m.Duplicate), nil)
	e.send("sluice_flow_held_total", "Publishes after which flow control held the publisher back (a congested queue)", counter, float64(m.FlowHeld), nil)
	e.send("sluice_messages_unreadable_total", "Messages set aside because their body could not be read back from storage", counter, float64(c.s.Broker.UnreadableMessages()), nil)
}

// memSamples are the Go runtime's figures for the memory the process uses,
// as the memory alarm reckons it (alarms.go).
var memSamples = []string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes"}

// collectResources emits memory, disk, descriptors and alarms.
func (c *brokerCollector) collectResources(e *emitter, conns int64) {
	s := c.s
	samples := []metrics.Sample{{Name: memSamples[0]}, {Name: memSamples[1]}}
	metrics.Read(samples)
	used := samples[0].Value.Uint64() - samples[1].Value.Uint64()
	u := s.hostUsage()
	e.send("rabbitmq_process_resident_memory_bytes", "Memory used in bytes", gauge, float64(used), nil)
	e.send("rabbitmq_resident_memory_limit_bytes", "Memory high watermark in bytes", gauge, float64(s.memoryLimit()), nil)
	if u.diskOK {
		e.send("rabbitmq_disk_space_available_bytes", "Disk space available in bytes", gauge, u.diskFree, nil)
	}
	e.send("rabbitmq_disk_space_available_limit_bytes", "Free disk space low watermark in bytes", gauge, float64(s.cfg.DiskFreeLimit), nil)
	e.send("rabbitmq_process_open_fds", "Open file descriptors", gauge, u.openFDs, nil)
	e.send("rabbitmq_process_max_fds", "Open file descriptors limit", gauge, u.maxFDs, nil)
	e.send("rabbitmq_process_open_tcp_sockets", "Open TCP sockets", gauge, float64(conns), nil)
	maxSockets := u.maxFDs
	if s.cfg.MaxConnections > 0 {
		maxSockets = float64(s.cfg.MaxConnections)
	}
	e.send("rabbitmq_process_max_tcp_sockets", "Open TCP sockets limit", gauge, maxSockets, nil)
	reason := s.Broker.Alarms.Reason()
	on := func(name string) float64 {
		for _, a := range strings.Split(reason, " & ") {
			if a == name {
				return 1
			}
		}
		return 0
	}
	e.send("rabbitmq_alarms_file_descriptor_limit", "is 1 if file descriptor limit alarm is in effect", untyped, 0, nil)
	e.send("rabbitmq_alarms_free_disk_space_watermark", "is 1 if free disk space watermark alarm is in effect", untyped, on("disk"), nil)
	e.send("rabbitmq_alarms_memory_used_watermark", "is 1 if VM memory watermark alarm is in effect", untyped, on("memory"), nil)
	pressure := 0.0
	if s.Broker.MemoryPressure() {
		pressure = 1
	}
	e.send("sluice_memory_pressure", "is 1 while memory use is past memory-paging-percent of the watermark and transient messages are paged out too", gauge, pressure, nil)
}

// collectStore emits the write-ahead log's figures.
func (c *brokerCollector) collectStore(e *emitter) {
	st := c.s.store
	if st == nil {
		return
	}
	m := st.Metrics()
	e.send("sluice_wal_appends_total", "Records appended to the write-ahead log", counter, float64(m.Log.Appends), nil)
	e.send("sluice_wal_batches_total", "Batches written to the write-ahead log (one write each)", counter, float64(m.Log.Batches), nil)
	e.send("sluice_wal_fsyncs_total", "fdatasync calls on the write-ahead log's segments", counter, float64(m.Log.Syncs), nil)
	e.send("sluice_wal_written_bytes_total", "Bytes written to the write-ahead log", counter, float64(m.Log.Bytes), nil)
	e.send("sluice_wal_segments", "Segment files of the write-ahead log", gauge, float64(m.Segments), nil)
	e.send("sluice_disk_bytes", "Bytes of the write-ahead log on disk (every segment's batches)", gauge, float64(m.DiskBytes), nil)
	e.send("sluice_compaction_segments_reclaimed_total", "Head segments of the log compaction removed", counter, float64(m.SegmentsReclaimed), nil)
	e.send("sluice_compaction_messages_copied_total", "Live messages compaction copied forward before removing their segment", counter, float64(m.MessagesCopied), nil)
}

// collectIdentity emits rabbitmq_identity_info and rabbitmq_build_info,
// which RabbitMQ's dashboards join every panel on.
func (c *brokerCollector) collectIdentity(e *emitter) {
	node := nodeName()
	e.send("rabbitmq_identity_info", "RabbitMQ node & cluster identity info", untyped, 1,
		[]string{"rabbitmq_node", "rabbitmq_cluster", "rabbitmq_cluster_permanent_id"}, node, node, "sluice-"+node)
	e.send("rabbitmq_build_info", "RabbitMQ & Erlang/OTP version info", untyped, 1,
		[]string{"rabbitmq_version", "prometheus_plugin_version", "prometheus_client_version", "erlang_version", "product_name", "product_version"},
		rabbitmqCompatVersion, Version, clientGolangVersion, goVersion, "sluice", Version)
}
