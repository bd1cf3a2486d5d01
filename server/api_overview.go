package server

import (
	"cmp"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/broker"
)

// The overview, nodes, extensions and cluster name endpoints
// (rabbit_mgmt_wm_overview, _nodes, _node, _extensions, _cluster_name).
//
// Sluice answers as a RabbitMQ 3.10.8 node would, so that clients that
// branch on the version work: rabbitmq_version and management_version
// are rabbitmqCompat. product_name and product_version say what it is.
// There is no Erlang: erlang_version and erlang_full_version say so, with
// the Go release (rabbitmqadmin and the usual HTTP API clients only show
// them).

// rabbitmqCompat is the RabbitMQ release whose management API sluice's
// copies (docs/ARCHITECTURE.md).
const rabbitmqCompat = "3.10.8"

func (s *Server) registerOverviewAPI() {
	s.mux.HandleFunc("GET /api/overview", s.apiAuth(accessMgmt, s.overview))
	s.mux.HandleFunc("GET /api/nodes", s.apiAuth(accessMgmt, s.listNodes))
	s.mux.HandleFunc("GET /api/nodes/{node}", s.apiAuth(accessMgmt, s.getNode))
	s.mux.HandleFunc("GET /api/extensions", s.apiAuth(accessMgmt, s.extensions))
	s.mux.HandleFunc("GET /api/cluster-name", s.apiAuth(accessMgmt, s.getClusterName))
	s.mux.HandleFunc("PUT /api/cluster-name", s.apiAuth(accessAdmin, s.putClusterName))
}

// clusterName is the cluster_name global parameter, which PUT
// /api/cluster-name sets; until then the node's name, as RabbitMQ's
// default.
func (s *Server) clusterName() string {
	if name, ok := s.Broker.ClusterName(); ok {
		return name
	}
	return nodeName()
}

func (s *Server) getClusterName(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"name": s.clusterName()})
}

// putClusterName sets the name; RabbitMQ takes any string, "" too.
func (s *Server) putClusterName(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, "name")
	if !ok {
		return
	}
	name, err := b.str("name")
	if err != nil {
		badRequest(w, "name must be a string")
		return
	}
	value, _ := json.Marshal(name)
	if _, err := s.Broker.SetGlobalParameter(broker.ClusterNameParameter, value); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("cluster_name", name).Str("by", userOf(r).Name).Msg("cluster name set through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) extensions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []any{}) // sluice's UI is its own; it adds nothing to RabbitMQ's
}

// exchangeTypeJSON is an entry of exchange_types.
type exchangeTypeJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
}

// overviewExchangeTypes are the types sluice declares, sorted by name as the
// overview lists them.
var overviewExchangeTypes = []exchangeTypeJSON{
	{broker.ExchangeDirect, "AMQP direct exchange, as per the AMQP specification", true},
	{broker.ExchangeFanout, "AMQP fanout exchange, as per the AMQP specification", true},
	{broker.ExchangeHeaders, "AMQP headers exchange, as per the AMQP specification", true},
	{broker.ExchangeTopic, "AMQP topic exchange, as per the AMQP specification", true},
	{broker.ExchangeConsistentHash, "Consistent Hashing Exchange", true},
	{broker.ExchangeDelayed, "Delayed message exchange (x-delay header), as the rabbitmq_delayed_message_exchange plugin", true},
	{broker.ExchangeLocalRandom, "Picks one random local binding (queue) to route via (to).", true},
	{broker.ExchangeDedup, "Message deduplication exchange, as the rabbitmq-message-deduplication plugin", true},
}

// listenerJSON is an entry of the overview's listeners.
type listenerJSON struct {
	Node       string         `json:"node"`
	Protocol   string         `json:"protocol"`
	IPAddress  string         `json:"ip_address"`
	Port       int            `json:"port"`
	SocketOpts map[string]any `json:"socket_opts"`
}

// listenerProtocols are RabbitMQ's protocol names for sluice's listeners
// (rabbit_networking); SQS has no RabbitMQ name and keeps its own.
var listenerProtocols = map[string]string{"amqp": "amqp", "amqps": "amqp/ssl", "stomp": "stomp", "stomps": "stomp/ssl",
	"http": "http", "https": "https", "sqs": "sqs", "sqss": "sqs/ssl",
	"web-stomp": "http/web-stomp", "web-stomps": "https/web-stomp", "prometheus": "http/prometheus", "prometheus-tls": "https/prometheus"}

// activeListeners lists the open listeners by RabbitMQ's protocol names,
// sorted by protocol and port. STOMP over WebSocket is listed on the HTTP
// listeners too when there is no Web STOMP listener of its own, so that
// a client looking up http/web-stomp finds the port that serves it.
func (s *Server) activeListeners() []listenerJSON {
	var out []listenerJSON
	add := func(proto string, a net.Addr) {
		host, port := hostPort(a)
		out = append(out, listenerJSON{Node: nodeName(), Protocol: proto, IPAddress: host, Port: port, SocketOpts: map[string]any{}})
	}
	for name, ln := range s.listeners {
		proto, ok := listenerProtocols[name]
		if !ok {
			continue
		}
		add(proto, ln.Addr())
		switch {
		case name == "http" && s.listeners["web-stomp"] == nil:
			add("http/web-stomp", ln.Addr())
		case name == "https" && s.listeners["web-stomps"] == nil:
			add("https/web-stomp", ln.Addr())
		}
	}
	slices.SortFunc(out, func(a, b listenerJSON) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
	})
	return out
}

// webContexts are the management contexts (the HTTP listeners).
func (s *Server) webContexts() []map[string]any {
	out := []map[string]any{}
	for _, name := range []string{"http", "https"} {
		if ln := s.listeners[name]; ln != nil {
			host, port := hostPort(ln.Addr())
			c := map[string]any{"node": nodeName(), "description": "Sluice Management", "path": "/",
				"ip": host, "port": strconv.Itoa(port)}
			if name == "https" {
				c["ssl"] = true
			}
			out = append(out, c)
		}
	}
	return out
}

// totalsJSON is queue_totals: counts with their NAME_details rates.
type totalsJSON struct {
	Messages            int      `json:"messages"`
	MessagesRate        rateJSON `json:"messages_details"`
	MessagesReady       int      `json:"messages_ready"`
	MessagesReadyRate   rateJSON `json:"messages_ready_details"`
	MessagesUnacked     int      `json:"messages_unacknowledged"`
	MessagesUnackedRate rateJSON `json:"messages_unacknowledged_details"`
}

type objectTotals struct {
	Connections int  `json:"connections"`
	Channels    int  `json:"channels"`
	Exchanges   int  `json:"exchanges"`
	Queues      int  `json:"queues"`
	Consumers   *int `json:"consumers,omitempty"`
}

// overviewJSON is /api/overview. Node, listeners and contexts are for
// monitors only, as in RabbitMQ.
type overviewJSON struct {
	ManagementVersion   string             `json:"management_version"`
	RatesMode           string             `json:"rates_mode"`
	SampleRetention     map[string][]int   `json:"sample_retention_policies"`
	ExchangeTypes       []exchangeTypeJSON `json:"exchange_types"`
	ProductVersion      string             `json:"product_version"`
	ProductName         string             `json:"product_name"`
	RabbitMQVersion     string             `json:"rabbitmq_version"`
	ClusterName         string             `json:"cluster_name"`
	ErlangVersion       string             `json:"erlang_version"`
	ErlangFullVersion   string             `json:"erlang_full_version"`
	DisableStats        bool               `json:"disable_stats"`
	EnableQueueTotals   bool               `json:"enable_queue_totals"`
	MessageStats        any                `json:"message_stats,omitempty"`
	QueueTotals         *totalsJSON        `json:"queue_totals,omitempty"`
	ChurnRates          map[string]any     `json:"churn_rates,omitempty"`
	ObjectTotals        objectTotals       `json:"object_totals"`
	StatisticsEventQLen *int               `json:"statistics_db_event_queue,omitempty"`
	Node                string             `json:"node,omitempty"`
	Listeners           []listenerJSON     `json:"listeners,omitempty"`
	Contexts            []map[string]any   `json:"contexts,omitempty"`
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	stats := wantStats(r)
	o := overviewJSON{ManagementVersion: rabbitmqCompat, RatesMode: "basic",
		SampleRetention: map[string][]int{"global": {600, 3600, 28800, 86400}, "basic": {600, 3600}, "detailed": {600}},
		ExchangeTypes:   overviewExchangeTypes, ProductVersion: Version, ProductName: "Sluice", RabbitMQVersion: rabbitmqCompat,
		ClusterName: s.clusterName(), ErlangVersion: "n/a (sluice, " + runtime.Version() + ")",
		ErlangFullVersion: "n/a: sluice is written in Go (" + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")",
		DisableStats:      !stats, EnableQueueTotals: r.URL.Query().Get("enable_queue_totals") == "true"}
	vhosts := s.visibleVHosts(u)
	for _, name := range vhosts {
		if v, ok := s.Broker.VHost(name); ok {
			o.ObjectTotals.Queues += len(v.Queues())
			o.ObjectTotals.Exchanges += len(v.Exchanges())
		}
	}
	if !stats {
		o.ObjectTotals.Connections = len(s.visibleConnections(u, ""))
		o.Node = nodeName()
		writeJSON(w, http.StatusOK, o)
		return
	}
	chans := s.visibleChannels(u, "")
	o.ObjectTotals.Connections = len(s.visibleConnections(u, ""))
	o.ObjectTotals.Channels = len(chans)
	o.QueueTotals = s.overviewTotals(vhosts)
	o.ChurnRates = s.churnRates()
	zero := 0
	o.StatisticsEventQLen = &zero
	o.MessageStats = s.overviewMessageStats(u, vhosts)
	if u.isMonitor() {
		// Counting consumers per user would mean walking every channel's
		// consumers; RabbitMQ leaves the figure out for non-monitors too.
		n := 0
		for _, ch := range chans {
			if ch.Session != nil {
				n += ch.Session.Info().Consumers
			}
		}
		o.ObjectTotals.Consumers = &n
		o.Node, o.Listeners, o.Contexts = nodeName(), s.activeListeners(), s.webContexts()
	}
	writeJSON(w, http.StatusOK, o)
}

// overviewMessageStats is the overview's message_stats: the broker's for
// monitors, the sum over the user's vhosts for the others (RabbitMQ's
// overview for a user).
func (s *Server) overviewMessageStats(u apiUser, vhosts []string) map[string]any {
	if u.isMonitor() {
		return s.messageStats(s.Broker)
	}
	out := map[string]any{}
	for _, name := range vhosts {
		v, ok := s.Broker.VHost(name)
		if !ok {
			continue
		}
		for k, val := range s.messageStats(v) {
			switch val := val.(type) {
			case uint64:
				n, _ := out[k].(uint64)
				out[k] = n + val
			case map[string]any:
				r, _ := val["rate"].(float64)
				prev, _ := out[k].(map[string]any)
				sum, _ := prev["rate"].(float64)
				out[k] = map[string]any{"rate": sum + r}
			}
		}
	}
	return out
}

// overviewTotals sums the messages of the vhosts' queues, with the rates the
// sampler keeps per vhost.
func (s *Server) overviewTotals(vhosts []string) *totalsJSON {
	t := &totalsJSON{}
	for _, name := range vhosts {
		v, ok := s.Broker.VHost(name)
		if !ok {
			continue
		}
		ready, unacked := vhostDepth(v)
		t.MessagesReady += ready
		t.MessagesUnacked += unacked
		rr, ur := s.ioRates.depthRates(name)
		t.MessagesReadyRate.Rate += rr
		t.MessagesUnackedRate.Rate += ur
	}
	t.Messages = t.MessagesReady + t.MessagesUnacked
	t.MessagesRate.Rate = t.MessagesReadyRate.Rate + t.MessagesUnackedRate.Rate
	return t
}

// vhostDepth counts a vhost's ready and unacknowledged messages.
func vhostDepth(v *broker.VHost) (ready, unacked int) {
	for _, q := range v.Queues() {
		st := q.Stats() // one lock hold for both
		ready += st.Ready
		unacked += st.Unacked
	}
	return ready, unacked
}

var startedAt = time.Now()

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	if !userOf(r).isMonitor() {
		apiError(w, http.StatusUnauthorized, "not_authorised", "Not monitor user")
		return
	}
	writeJSON(w, http.StatusOK, []map[string]any{s.nodeJSON()})
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	if !userOf(r).isMonitor() {
		apiError(w, http.StatusUnauthorized, "not_authorised", "Not monitor user")
		return
	}
	if r.PathValue("node") != nodeName() {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.nodeJSON())
}

// nodeJSON describes this process as RabbitMQ describes a node, with
// real figures: memory as the memory alarm measures it, free disk in the
// data directory, file descriptors, connections, goroutines for Erlang
// processes.
func (s *Server) nodeJSON() map[string]any {
	alarms := s.Broker.Alarms.Reason()
	fdUsed, fdTotal := fileDescriptors()
	sockets := 0
	for _, a := range s.connAdmins() {
		sockets += len(a.ConnectionsIO()) // names only: no client properties decoded
	}
	socketsTotal := fdTotal
	if m := s.cfg.MaxConnections; m > 0 && m < socketsTotal {
		socketsTotal = m
	}
	mechs := []map[string]any{
		{"name": "PLAIN", "description": "SASL PLAIN authentication mechanism", "enabled": true},
		{"name": "AMQPLAIN", "description": "QPid AMQPLAIN mechanism", "enabled": true},
		{"name": "EXTERNAL", "description": "SASL EXTERNAL authentication mechanism (TLS client certificates)",
			"enabled": s.tls.mgr != nil && s.tls.mgr.AsksClientCert()},
	}
	out := map[string]any{
		"name": nodeName(), "type": "disc", "running": true, "os_pid": strconv.Itoa(os.Getpid()),
		"mem_used": memoryUsed(), "mem_limit": s.memoryLimit(), "mem_alarm": containsAlarm(alarms, "memory"),
		"mem_calculation_strategy": "go runtime",
		"disk_free":                diskFree(s.cfg.DataDir), "disk_free_limit": int64(s.cfg.DiskFreeLimit),
		"disk_free_alarm": containsAlarm(alarms, "disk"),
		"fd_used":         fdUsed, "fd_total": fdTotal, "sockets_used": sockets, "sockets_total": socketsTotal,
		// Goroutines stand for Erlang processes; Go sets them no limit,
		// so proc_total is Erlang's default limit, for the ratio tools show.
		"proc_used": runtime.NumGoroutine(), "proc_total": 1048576,
		"uptime": time.Since(startedAt).Milliseconds(), "run_queue": 0, "processors": runtime.NumCPU(),
		"rates_mode": "basic", "exchange_types": overviewExchangeTypes, "auth_mechanisms": mechs,
		"applications": []map[string]string{{"name": "sluice", "description": "Sluice message broker", "version": Version}},
		"contexts":     s.webContexts(), "partitions": []string{}, "cluster_links": []any{},
		"being_drained": false, "net_ticktime": 60, "enabled_plugins": []string{},
		"db_dir": s.cfg.DataDir,
	}
	s.nodeCounters(out)
	return out
}

func containsAlarm(reason, name string) bool {
	for _, a := range splitAlarms(reason) {
		if a == name {
			return true
		}
	}
	return false
}
