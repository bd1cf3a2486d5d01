package server

import (
	"net/http"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/protocols/stomp"
)

// Virtual hosts in the management API: /api/vhosts[/NAME] and
// /api/vhosts/NAME/[topic-]permissions (rabbit_mgmt_wm_vhost*).

func (s *Server) registerVHostAPI() {
	s.mux.HandleFunc("GET /api/vhosts", s.apiAuth(accessMgmt, s.listVHosts))
	s.mux.HandleFunc("GET /api/vhosts/{vhost}", s.apiAuth(accessAdmin, s.getVHost))
	s.mux.HandleFunc("PUT /api/vhosts/{vhost}", s.apiAuth(accessAdmin, s.putVHost))
	s.mux.HandleFunc("DELETE /api/vhosts/{vhost}", s.apiAuth(accessAdmin, s.deleteVHost))
	s.mux.HandleFunc("GET /api/vhosts/{vhost}/permissions", s.apiAuth(accessAdmin, s.vhostPermissions))
	s.mux.HandleFunc("GET /api/vhosts/{vhost}/topic-permissions", s.apiAuth(accessAdmin, s.vhostTopicPermissions))
}

// visibleVHosts is RabbitMQ's list_visible_vhosts: every vhost for
// administrators and monitoring users, those the user may open for the
// others.
func (s *Server) visibleVHosts(u apiUser) []string {
	all := s.Broker.VHosts()
	if u.isMonitor() {
		return all
	}
	out := all[:0]
	for _, v := range all {
		if s.Users.VHostAccess(u.Name, v) == nil {
			out = append(out, v)
		}
	}
	return out
}

func (s *Server) vhostVisible(u apiUser, name string) bool {
	if _, ok := s.Broker.VHost(name); !ok {
		return false
	}
	return u.isMonitor() || s.Users.VHostAccess(u.Name, name) == nil
}

// vhostJSON is a vhost as rabbit_vhost:info shows it, with the message
// counts the management plugin adds.
type vhostJSON struct {
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Tags             []string          `json:"tags"`
	DefaultQueueType string            `json:"default_queue_type"`
	Metadata         vhostMetadata     `json:"metadata"`
	Tracing          bool              `json:"tracing"`
	ClusterState     map[string]string `json:"cluster_state"`
	Messages         *int              `json:"messages,omitempty"`
	MessagesReady    *int              `json:"messages_ready,omitempty"`
	MessagesUnacked  *int              `json:"messages_unacknowledged,omitempty"`
	MessageStats     map[string]any    `json:"message_stats,omitempty"`
	// How fast the depth changed over the last 5 s sample (conn_rates.go).
	MessagesDetails        *rateJSON `json:"messages_details,omitempty"`
	MessagesReadyDetails   *rateJSON `json:"messages_ready_details,omitempty"`
	MessagesUnackedDetails *rateJSON `json:"messages_unacknowledged_details,omitempty"`
	// Bytes its open connections received and sent, with their rates.
	RecvOct     *uint64   `json:"recv_oct,omitempty"`
	RecvOctRate *rateJSON `json:"recv_oct_details,omitempty"`
	SendOct     *uint64   `json:"send_oct,omitempty"`
	SendOctRate *rateJSON `json:"send_oct_details,omitempty"`
}

// vhostIO is the traffic of a vhost's open connections.
type vhostIO struct {
	recv, send         uint64
	recvRate, sendRate float64
}

// vhostTraffic sums the open connections' traffic by vhost.
func (s *Server) vhostTraffic() map[string]vhostIO {
	out := map[string]vhostIO{}
	for _, c := range s.allConnections() {
		t := out[c.VHost]
		t.recv += c.IO.RecvOct
		t.send += c.IO.SendOct
		rr, sr := s.ioRates.rates(c.Name)
		t.recvRate += rr
		t.sendRate += sr
		out[c.VHost] = t
	}
	return out
}

type vhostMetadata struct {
	Description      string   `json:"description"`
	Tags             []string `json:"tags"`
	DefaultQueueType string   `json:"default_queue_type"`
}

func (s *Server) vhostInfo(v *broker.VHost, stats bool, traffic map[string]vhostIO) vhostJSON {
	m := v.Meta()
	if m.Tags == nil {
		m.Tags = []string{}
	}
	if m.DefaultQueueType == "" {
		m.DefaultQueueType = "classic"
	}
	if v.Name() == "/" && m.Description == "" {
		m.Description = "Default virtual host"
	}
	j := vhostJSON{Name: v.Name(), Description: m.Description, Tags: m.Tags, DefaultQueueType: m.DefaultQueueType,
		Metadata:     vhostMetadata{Description: m.Description, Tags: m.Tags, DefaultQueueType: m.DefaultQueueType},
		ClusterState: map[string]string{nodeName(): "running"}}
	if stats {
		ready, unacked := vhostDepth(v)
		total := ready + unacked
		j.Messages, j.MessagesReady, j.MessagesUnacked = &total, &ready, &unacked
		rr, ur := s.ioRates.depthRates(v.Name())
		j.MessagesDetails, j.MessagesReadyDetails, j.MessagesUnackedDetails = &rateJSON{round1(rr + ur)}, &rateJSON{rr}, &rateJSON{ur}
		t := traffic[v.Name()]
		j.RecvOct, j.SendOct = &t.recv, &t.send
		j.RecvOctRate, j.SendOctRate = &rateJSON{round1(t.recvRate)}, &rateJSON{round1(t.sendRate)}
		j.MessageStats = s.messageStats(v)
	}
	return j
}

func wantStats(r *http.Request) bool { return r.URL.Query().Get("disable_stats") != "true" }

func (s *Server) listVHosts(w http.ResponseWriter, r *http.Request) {
	out := []vhostJSON{}
	stats := wantStats(r)
	var traffic map[string]vhostIO
	if stats {
		traffic = s.vhostTraffic()
	}
	for _, name := range s.visibleVHosts(userOf(r)) {
		if v, ok := s.Broker.VHost(name); ok {
			out = append(out, s.vhostInfo(v, stats, traffic))
		}
	}
	writeList(w, r, out)
}

func (s *Server) getVHost(w http.ResponseWriter, r *http.Request) {
	v, ok := s.Broker.VHost(r.PathValue("vhost"))
	if !ok {
		notFound(w)
		return
	}
	writeObject(w, r, s.vhostInfo(v, wantStats(r), s.vhostTraffic()))
}

// validQueueTypes are the default_queue_type values a vhost accepts.
var validQueueTypes = map[string]bool{"": true, "undefined": true, "classic": true, "quorum": true}

// putVHost creates a vhost (durably; the acting user gets every permission
// on it, as rabbit_vhost:put_vhost does) or updates its description, tags
// and default queue type.
func (s *Server) putVHost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("vhost")
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	var m broker.VHostMeta
	var err error
	if m.Description, err = b.str("description"); err != nil {
		badRequest(w, err.Error())
		return
	}
	if m.Tags, err = b.tags("tags"); err != nil {
		badRequest(w, err.Error())
		return
	}
	qt, err := b.str("default_queue_type")
	if err == nil && qt == "" {
		qt, err = b.str("defaultqueuetype") // RabbitMQ 3.11's name, still accepted
	}
	if err != nil || !validQueueTypes[qt] {
		badRequest(w, "Invalid default queue type '"+qt+"': sluice has classic and quorum")
		return
	}
	if qt == "undefined" {
		qt = ""
	}
	m.DefaultQueueType = qt
	v, isNew, err := s.Broker.CreateVHost(name)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := v.SaveMeta(m); err != nil {
		s.serverError(w, r, err)
		return
	}
	actor := userOf(r).Name
	if isNew {
		if _, exists := s.Users.User(actor); exists {
			if err := s.Users.SetPermission(auth.Permission{User: actor, VHost: name, Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
				s.serverError(w, r, err)
				return
			}
		}
		s.log.Info().Str("vhost", name).Str("by", actor).Msg("vhost created through the HTTP API")
	}
	created(w, isNew)
}

// deleteVHost closes the vhost's connections (AMQP and STOMP), deletes it
// with everything in it and forgets its permissions and limits.
func (s *Server) deleteVHost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("vhost")
	if _, ok := s.Broker.VHost(name); !ok {
		notFound(w)
		return
	}
	closed := s.closeVHostConnections(name)
	found, err := s.Broker.DeleteVHost(name)
	if !found {
		notFound(w)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.Users.ForgetVHost(name); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info().Str("vhost", name).Int("connections_closed", closed).Str("by", userOf(r).Name).Msg("vhost deleted through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

// closeVHostConnections closes every AMQP and STOMP connection on vhost,
// with RabbitMQ's reason.
func (s *Server) closeVHostConnections(vhost string) int {
	match := func(_, v string) bool { return v == vhost }
	reason := "vhost '" + vhost + "' is deleted"
	n := s.amqp.CloseConnections(match, reason)
	if st, ok := s.protos["stomp"].(*stomp.Server); ok {
		n += st.CloseConnections(match, reason)
	}
	return n
}

func (s *Server) vhostPermissions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("vhost")
	if _, ok := s.Broker.VHost(name); !ok {
		notFound(w)
		return
	}
	out := []auth.Permission{}
	for _, p := range s.Users.Permissions() {
		if p.VHost == name {
			out = append(out, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) vhostTopicPermissions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("vhost")
	if _, ok := s.Broker.VHost(name); !ok {
		notFound(w)
		return
	}
	out := []auth.TopicPermission{}
	for _, p := range s.Users.TopicPermissions() {
		if p.VHost == name {
			out = append(out, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
