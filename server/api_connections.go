package server

import (
	"net"
	"net/http"
	"strconv"

	"github.com/sluice-mq/sluice/internal/conninfo"
	"github.com/sluice-mq/sluice/protocols/stomp"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// Connections in the management API (rabbit_mgmt_wm_connection[s],
// rabbit_mgmt_wm_connections_vhost): AMQP and STOMP connections in one
// list, with RabbitMQ's fields. Administrators and monitoring users see
// every connection; other management users see their own only
// (rabbit_mgmt_util:filter_conn_ch_list), may read and close those, and
// need administrator to close anyone else's.

func (s *Server) registerConnectionAPI() {
	s.mux.HandleFunc("GET /api/connections", s.apiAuth(accessMgmt, s.listConnections))
	s.mux.HandleFunc("GET /api/connections/{name}", s.apiAuth(accessMgmt, s.getConnection))
	s.mux.HandleFunc("DELETE /api/connections/{name}", s.apiAuth(accessMgmt, s.closeConnection))
	// /api/connections/NAME/channels and /api/connections/username/USER
	// share a shape, which Go's mux refuses as two patterns (a connection
	// named "username" against a user named "channels"): one dispatches.
	s.mux.HandleFunc("GET /api/connections/{name}/{sub}", s.apiAuth(accessMgmt, s.connectionSub))
	s.mux.HandleFunc("DELETE /api/connections/{name}/{sub}", s.apiAuth(accessMgmt, s.connectionSub))
	s.mux.HandleFunc("GET /api/vhosts/{vhost}/connections", s.apiAuth(accessMgmt, s.vhostConnections))
}

// connAdmin is what an adapter with connections offers the API (SQS has
// none).
type connAdmin interface {
	Connections() []conninfo.Conn
	ConnectionsIO() []conninfo.Conn
	Channels() []conninfo.Channel
	CloseConnection(name, reason string) bool
}

func (s *Server) connAdmins() []connAdmin {
	out := []connAdmin{s.amqp}
	if st, ok := s.protos["stomp"].(*stomp.Server); ok {
		out = append(out, st)
	}
	return out
}

// allConnections lists every adapter's open connections.
func (s *Server) allConnections() []conninfo.Conn {
	var out []conninfo.Conn
	for _, a := range s.connAdmins() {
		out = append(out, a.Connections()...)
	}
	return out
}

// findConnection returns the named connection.
func (s *Server) findConnection(name string) (conninfo.Conn, bool) {
	for _, c := range s.allConnections() {
		if c.Name == name {
			return c, true
		}
	}
	return conninfo.Conn{}, false
}

// connVisible is filter_conn_ch_list's test: monitors see everything,
// other users what they opened.
func connVisible(u apiUser, user string) bool { return u.isMonitor() || u.Name == user }

// notAuthorisedObject is is_authorized_user's refusal.
func notAuthorisedObject(w http.ResponseWriter) {
	apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access object")
}

// rateJSON is a "_details" object.
type rateJSON struct {
	Rate float64 `json:"rate"`
}

// connJSON is a connection as RabbitMQ's management API shows it.
type connJSON struct {
	Name             string         `json:"name"`
	Node             string         `json:"node"`
	Type             string         `json:"type"`
	User             string         `json:"user"`
	UserWhoPerformed string         `json:"user_who_performed_action"`
	UserProvidedName string         `json:"user_provided_name,omitempty"`
	VHost            string         `json:"vhost"`
	Protocol         string         `json:"protocol"`
	AuthMechanism    string         `json:"auth_mechanism,omitempty"`
	ClientProperties map[string]any `json:"client_properties"`
	Channels         int            `json:"channels"`
	ChannelMax       int            `json:"channel_max"`
	FrameMax         int            `json:"frame_max"`
	Timeout          int            `json:"timeout"`
	State            string         `json:"state"`
	tlsconfig.ConnInfo
	PeerHost    string   `json:"peer_host"`
	PeerPort    int      `json:"peer_port"`
	Host        string   `json:"host"`
	Port        int      `json:"port"`
	ConnectedAt int64    `json:"connected_at"`
	RecvOct     uint64   `json:"recv_oct"`
	RecvOctRate rateJSON `json:"recv_oct_details"`
	RecvCnt     uint64   `json:"recv_cnt"`
	SendOct     uint64   `json:"send_oct"`
	SendOctRate rateJSON `json:"send_oct_details"`
	SendCnt     uint64   `json:"send_cnt"`
	SendPend    int      `json:"send_pend"`
}

// hostPort splits an address into RabbitMQ's host and port fields.
func hostPort(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String(), t.Port
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	port, _ := strconv.Atoi(p)
	return h, port
}

func (s *Server) connJSON(c *conninfo.Conn) connJSON {
	props := c.ClientProperties
	if props == nil {
		props = map[string]any{}
	}
	j := connJSON{Name: c.Name, Node: nodeName(), Type: c.Type, User: c.User, UserWhoPerformed: c.User,
		VHost: c.VHost, Protocol: c.Protocol, AuthMechanism: c.AuthMechanism, ClientProperties: props,
		Channels: c.Channels, ChannelMax: c.ChannelMax, FrameMax: c.FrameMax, Timeout: c.Timeout, State: c.State,
		ConnInfo: c.TLS, ConnectedAt: c.ConnectedAt,
		RecvOct: c.IO.RecvOct, RecvCnt: c.IO.RecvCnt, SendOct: c.IO.SendOct, SendCnt: c.IO.SendCnt}
	if n, ok := props["connection_name"].(string); ok {
		j.UserProvidedName = n
	}
	j.PeerHost, j.PeerPort = hostPort(c.Peer)
	j.Host, j.Port = hostPort(c.Local)
	j.RecvOctRate.Rate, j.SendOctRate.Rate = s.ioRates.rates(c.Name)
	return j
}

// visibleConnections lists what u may see, of vhost when it is not "".
func (s *Server) visibleConnections(u apiUser, vhost string) []connJSON {
	out := []connJSON{}
	for _, c := range s.allConnections() {
		if connVisible(u, c.User) && (vhost == "" || c.VHost == vhost) {
			out = append(out, s.connJSON(&c))
		}
	}
	return out
}

// trackedConn is a connection under disable_stats=true: what RabbitMQ's
// connection tracking knows of it.
type trackedConn struct {
	Name  string `json:"name"`
	VHost string `json:"vhost"`
	User  string `json:"user"`
	Node  string `json:"node"`
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if !wantStats(r) {
		out := []trackedConn{}
		for _, c := range s.allConnections() {
			if connVisible(u, c.User) {
				out = append(out, trackedConn{Name: c.Name, VHost: c.VHost, User: c.User, Node: nodeName()})
			}
		}
		writeList(w, r, out)
		return
	}
	writeList(w, r, s.visibleConnections(u, ""))
}

// vhostConnections is GET /api/vhosts/V/connections, a plain list.
func (s *Server) vhostConnections(w http.ResponseWriter, r *http.Request) {
	vhost := r.PathValue("vhost")
	if !s.vhostAuthorized(w, r, vhost) {
		return
	}
	writePlainList(w, r, s.visibleConnections(userOf(r), vhost))
}

// vhostAuthorized is is_authorized_vhost followed by resource_exists: a
// vhost that does not exist is a 404; one the user may not open a 401
// (administrators may see any).
func (s *Server) vhostAuthorized(w http.ResponseWriter, r *http.Request, vhost string) bool {
	if _, ok := s.Broker.VHost(vhost); !ok {
		notFound(w)
		return false
	}
	u := userOf(r)
	if !u.isAdmin() && s.Users.VHostAccess(u.Name, vhost) != nil {
		apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access virtual host")
		return false
	}
	return true
}

func (s *Server) getConnection(w http.ResponseWriter, r *http.Request) {
	c, ok := s.findConnection(r.PathValue("name"))
	if !ok {
		notFound(w)
		return
	}
	if !connVisible(userOf(r), c.User) {
		notAuthorisedObject(w)
		return
	}
	if !wantStats(r) {
		writeJSON(w, http.StatusOK, map[string]string{"name": c.Name})
		return
	}
	writeJSON(w, http.StatusOK, s.connJSON(&c))
}

// closeConnection closes a connection with the X-Reason header's text:
// AMQP clients get connection.close 320 "CONNECTION_FORCED - reason",
// STOMP clients an ERROR frame with the reason.
func (s *Server) closeConnection(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	c, ok := s.findConnection(name)
	if !ok {
		notFound(w)
		return
	}
	u := userOf(r)
	if !u.isAdmin() && u.Name != c.User {
		notAuthorisedObject(w)
		return
	}
	reason := r.Header.Get("X-Reason")
	if reason == "" {
		reason = "Closed via management plugin"
	}
	closed := false
	for _, a := range s.connAdmins() {
		if a.CloseConnection(name, reason) {
			closed = true
			break
		}
	}
	if !closed {
		notFound(w)
		return
	}
	s.log.Info().Str("connection", name).Str("user", c.User).Str("by", u.Name).Str("reason", reason).
		Msg("connection closed through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

// connectionSub serves /api/connections/username/USER (GET lists the
// user's connections, DELETE closes them: rabbit_mgmt_wm_connection_user_name)
// and GET /api/connections/NAME/channels. RabbitMQ routes the first before
// the second, so a connection named "username" has no channel list here
// either.
func (s *Server) connectionSub(w http.ResponseWriter, r *http.Request) {
	name, sub := r.PathValue("name"), r.PathValue("sub")
	switch {
	case name == "username":
		s.userConnections(w, r, sub)
	case sub == "channels" && r.Method == http.MethodGet:
		s.connectionChannels(w, r)
	default:
		notFound(w)
	}
}

// userConnections lists (GET) or closes (DELETE, with the X-Reason
// header's text) the connections of user, for an administrator or the
// user itself. The list is connection tracking's form, as RabbitMQ's.
func (s *Server) userConnections(w http.ResponseWriter, r *http.Request, user string) {
	u := userOf(r)
	if !u.isAdmin() && u.Name != user {
		notAuthorisedObject(w)
		return
	}
	var mine []conninfo.Conn
	for _, c := range s.allConnections() {
		if c.User == user {
			mine = append(mine, c)
		}
	}
	if r.Method == http.MethodGet {
		out := []trackedConn{}
		for _, c := range mine {
			out = append(out, trackedConn{Name: c.Name, VHost: c.VHost, User: c.User, Node: nodeName()})
		}
		writeList(w, r, out)
		return
	}
	reason := r.Header.Get("X-Reason")
	if reason == "" {
		reason = "Closed via management plugin"
	}
	for _, c := range mine {
		for _, a := range s.connAdmins() {
			if a.CloseConnection(c.Name, reason) {
				break
			}
		}
	}
	s.log.Info().Str("user", user).Int("connections", len(mine)).Str("by", u.Name).Str("reason", reason).
		Msg("a user's connections closed through the HTTP API")
	w.WriteHeader(http.StatusNoContent)
}

// connectionChannels is GET /api/connections/NAME/channels.
func (s *Server) connectionChannels(w http.ResponseWriter, r *http.Request) {
	c, ok := s.findConnection(r.PathValue("name"))
	if !ok {
		notFound(w)
		return
	}
	u := userOf(r)
	if !connVisible(u, c.User) {
		notAuthorisedObject(w)
		return
	}
	out := []channelJSON{}
	for _, ch := range s.allChannels() {
		if ch.Conn.Name == c.Name {
			out = append(out, s.channelJSON(&ch))
		}
	}
	writePlainList(w, r, out)
}
