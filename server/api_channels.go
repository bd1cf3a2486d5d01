package server

import (
	"net/http"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/internal/conninfo"
)

// Channels and consumers in the management API (rabbit_mgmt_wm_channel[s],
// rabbit_mgmt_wm_channels_vhost, rabbit_mgmt_wm_consumers). An AMQP
// channel is one channel; a STOMP connection shows as channel 1 of its
// connection, as RabbitMQ's STOMP plugin does. Visibility is the
// connections' (api_connections.go).

func (s *Server) registerChannelAPI() {
	s.mux.HandleFunc("GET /api/channels", s.apiAuth(accessMgmt, s.listChannels))
	s.mux.HandleFunc("GET /api/channels/{name}", s.apiAuth(accessMgmt, s.getChannel))
	s.mux.HandleFunc("GET /api/vhosts/{vhost}/channels", s.apiAuth(accessMgmt, s.vhostChannels))
	s.mux.HandleFunc("GET /api/consumers", s.apiAuth(accessMgmt, s.listConsumers))
	s.mux.HandleFunc("GET /api/consumers/{vhost}", s.apiAuth(accessMgmt, s.listConsumers))
}

func (s *Server) allChannels() []conninfo.Channel {
	var out []conninfo.Channel
	for _, a := range s.connAdmins() {
		out = append(out, a.Channels()...)
	}
	return out
}

// connDetails is a channel's connection_details.
type connDetails struct {
	Name     string `json:"name"`
	PeerHost string `json:"peer_host"`
	PeerPort int    `json:"peer_port"`
}

// channelJSON is a channel as RabbitMQ's management API shows it.
type channelJSON struct {
	Name                string      `json:"name"`
	Number              int         `json:"number"`
	Node                string      `json:"node"`
	ConnectionDetails   connDetails `json:"connection_details"`
	VHost               string      `json:"vhost"`
	User                string      `json:"user"`
	UserWhoPerformed    string      `json:"user_who_performed_action"`
	State               string      `json:"state"`
	ConsumerCount       int         `json:"consumer_count"`
	MessagesUnacked     int         `json:"messages_unacknowledged"`
	MessagesUnconfirmed int         `json:"messages_unconfirmed"`
	MessagesUncommitted int         `json:"messages_uncommitted"`
	AcksUncommitted     int         `json:"acks_uncommitted"`
	PrefetchCount       int         `json:"prefetch_count"`
	GlobalPrefetchCount int         `json:"global_prefetch_count"`
	Confirm             bool        `json:"confirm"`
	Transactional       bool        `json:"transactional"`
	PendingRaftCommands int         `json:"pending_raft_commands"`
	MessageStats        any         `json:"message_stats,omitempty"`
	IdleSince           string      `json:"idle_since,omitempty"`
	// Only in GET /api/channels/NAME.
	ConsumerDetails []consumerJSON `json:"consumer_details,omitempty"`
	Deliveries      *[]any         `json:"deliveries,omitempty"`
	Publishes       *[]any         `json:"publishes,omitempty"`
}

func (s *Server) channelJSON(ch *conninfo.Channel) channelJSON {
	j := channelJSON{Name: ch.Name(), Number: ch.Number, Node: nodeName(), VHost: ch.Conn.VHost,
		User: ch.Conn.User, UserWhoPerformed: ch.Conn.User, State: ch.State,
		MessagesUnconfirmed: ch.Unconfirmed, MessagesUncommitted: ch.UncommittedMessages,
		AcksUncommitted: ch.UncommittedAcks, Confirm: ch.Confirm, Transactional: ch.Transactional,
		ConnectionDetails: connDetails{Name: ch.Conn.Name}}
	j.ConnectionDetails.PeerHost, j.ConnectionDetails.PeerPort = hostPort(ch.Conn.Peer)
	if ch.Session != nil {
		si := ch.Session.Info()
		j.ConsumerCount, j.MessagesUnacked = si.Consumers, si.Unacked
		j.PrefetchCount, j.GlobalPrefetchCount = si.PrefetchCount, si.GlobalPrefetchCount
		j.MessageStats = s.channelMessageStats(ch.Session)
		if t, idle := s.sampler().sessionIdleSince(ch.Session); idle {
			j.IdleSince = rmqTime(t)
		}
	}
	return j
}

// visibleChannels lists the channels u may see, of vhost when not "".
func (s *Server) visibleChannels(u apiUser, vhost string) []conninfo.Channel {
	var out []conninfo.Channel
	for _, ch := range s.allChannels() {
		if connVisible(u, ch.Conn.User) && (vhost == "" || ch.Conn.VHost == vhost) {
			out = append(out, ch)
		}
	}
	return out
}

func (s *Server) channelList(u apiUser, vhost string) []channelJSON {
	out := []channelJSON{}
	for _, ch := range s.visibleChannels(u, vhost) {
		out = append(out, s.channelJSON(&ch))
	}
	return out
}

// statsDisabled answers what RabbitMQ answers for channels and consumers
// under disable_stats=true, and reports whether it did.
func statsDisabled(w http.ResponseWriter, r *http.Request) bool {
	if wantStats(r) {
		return false
	}
	badRequest(w, "Stats in management UI are disabled on this node")
	return true
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	if statsDisabled(w, r) {
		return
	}
	writeList(w, r, s.channelList(userOf(r), ""))
}

func (s *Server) vhostChannels(w http.ResponseWriter, r *http.Request) {
	vhost := r.PathValue("vhost")
	if !s.vhostAuthorized(w, r, vhost) || statsDisabled(w, r) {
		return
	}
	writePlainList(w, r, s.channelList(userOf(r), vhost))
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request) {
	if statsDisabled(w, r) {
		return
	}
	name := r.PathValue("name")
	for _, ch := range s.allChannels() {
		if ch.Name() != name {
			continue
		}
		if !connVisible(userOf(r), ch.Conn.User) {
			notAuthorisedObject(w)
			return
		}
		j := s.channelJSON(&ch)
		j.ConsumerDetails = s.consumersOf(&ch)
		none, none2 := []any{}, []any{}
		j.Deliveries, j.Publishes = &none, &none2
		if j.ConsumerDetails == nil {
			j.ConsumerDetails = []consumerJSON{}
		}
		writeJSON(w, http.StatusOK, j)
		return
	}
	notFound(w)
}

// consumerJSON is a consumer as RabbitMQ's management API shows it.
type consumerJSON struct {
	Arguments      message.Table      `json:"arguments"`
	AckRequired    bool               `json:"ack_required"`
	Active         bool               `json:"active"`
	ActivityStatus string             `json:"activity_status"`
	ChannelDetails consumerChannelRef `json:"channel_details"`
	ConsumerTag    string             `json:"consumer_tag"`
	Exclusive      bool               `json:"exclusive"`
	PrefetchCount  int                `json:"prefetch_count"`
	Queue          consumerQueueRef   `json:"queue"`
}

type consumerChannelRef struct {
	ConnectionName string `json:"connection_name"`
	Name           string `json:"name"`
	Node           string `json:"node"`
	Number         int    `json:"number"`
	PeerHost       string `json:"peer_host"`
	PeerPort       int    `json:"peer_port"`
	User           string `json:"user"`
}

type consumerQueueRef struct {
	Name  string `json:"name"`
	VHost string `json:"vhost"`
}

// consumersOf lists a channel's consumers.
func (s *Server) consumersOf(ch *conninfo.Channel) []consumerJSON {
	if ch.Session == nil {
		return nil
	}
	ref := consumerChannelRef{ConnectionName: ch.Conn.Name, Name: ch.Name(), Node: nodeName(), Number: ch.Number,
		User: ch.Conn.User}
	ref.PeerHost, ref.PeerPort = hostPort(ch.Conn.Peer)
	var out []consumerJSON
	for _, c := range ch.Session.Consumers() {
		out = append(out, consumerJSONOf(c, ref))
	}
	return out
}

func consumerJSONOf(c broker.ConsumerInfo, ref consumerChannelRef) consumerJSON {
	// RabbitMQ's words: "up" for a consumer of an ordinary queue; on a
	// single-active-consumer queue "single_active" or, on standby, "waiting".
	status := "up"
	switch {
	case c.SingleActive && c.Active:
		status = "single_active"
	case !c.Active:
		status = "waiting"
	}
	return consumerJSON{Arguments: c.Arguments, AckRequired: c.AckRequired, Active: c.Active, ActivityStatus: status,
		ChannelDetails: ref, ConsumerTag: c.Tag, Exclusive: c.Exclusive, PrefetchCount: c.PrefetchCount,
		Queue: consumerQueueRef{Name: c.Queue, VHost: c.VHost}}
}

// listConsumers is GET /api/consumers[/V]: every consumer of the visible
// channels (of vhost V). Any management user may ask for any existing
// vhost; what it sees is still only its own channels' consumers.
func (s *Server) listConsumers(w http.ResponseWriter, r *http.Request) {
	vhost := r.PathValue("vhost")
	if vhost != "" {
		if _, ok := s.Broker.VHost(vhost); !ok {
			notFound(w)
			return
		}
	}
	if statsDisabled(w, r) {
		return
	}
	out := []consumerJSON{}
	for _, ch := range s.visibleChannels(userOf(r), vhost) {
		out = append(out, s.consumersOf(&ch)...)
	}
	writePlainList(w, r, out, "queue.vhost", "queue.name", "consumer_tag")
}

// channelMessageStats is a channel's message_stats, or nil (left out) while
// nothing was counted, as RabbitMQ leaves it out.
func (s *Server) channelMessageStats(sess *broker.Session) any {
	if m := s.messageStats(sess); m != nil {
		return m
	}
	return nil
}
