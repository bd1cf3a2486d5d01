package server

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// Exchanges in the management API: /api/exchanges[/VHOST[/NAME]], publish
// and the bindings of an exchange, with rabbit_mgmt_wm_exchange*'s
// behaviour. The default exchange is listed with the name "" and is
// "amq.default" in paths, as in RabbitMQ.

func (s *Server) registerExchangeAPI() {
	s.mux.HandleFunc("GET /api/exchanges", s.authed(s.listExchanges))
	s.mux.HandleFunc("GET /api/exchanges/{vhost}", s.authed(s.listExchanges))
	s.mux.HandleFunc("GET /api/exchanges/{vhost}/{name}", s.authed(s.getExchange))
	s.mux.HandleFunc("PUT /api/exchanges/{vhost}/{name}", s.authed(s.putExchange))
	s.mux.HandleFunc("DELETE /api/exchanges/{vhost}/{name}", s.authed(s.deleteExchange))
	s.mux.HandleFunc("POST /api/exchanges/{vhost}/{name}/publish", s.authed(s.publishMessage))
	s.mux.HandleFunc("GET /api/exchanges/{vhost}/{name}/bindings/source", s.authed(s.exchangeBindings(true)))
	s.mux.HandleFunc("GET /api/exchanges/{vhost}/{name}/bindings/destination", s.authed(s.exchangeBindings(false)))
}

// exchangeName is a path's exchange name: amq.default is the default
// exchange (rabbit_mgmt_util:id).
func exchangeName(r *http.Request, key string) string {
	n := r.PathValue(key)
	if n == "amq.default" {
		return ""
	}
	return n
}

type exchangeJSON struct {
	Name       string         `json:"name"`
	VHost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
	// UserWhoPerformedAction: RabbitMQ's "rmq-internal" for the exchanges
	// every vhost has; sluice does not record who declared the others.
	UserWhoPerformedAction string         `json:"user_who_performed_action"`
	Policy                 string         `json:"policy,omitempty"`
	MessageStats           map[string]any `json:"message_stats,omitempty"`
	// One exchange's GET only: the per-channel and per-queue rates
	// RabbitMQ lists only in its detailed rates mode (empty, as in its
	// default basic mode).
	Incoming *[]any `json:"incoming,omitempty"`
	Outgoing *[]any `json:"outgoing,omitempty"`
}

func (s *Server) exchangeInfo(vhost string, x *broker.Exchange, stats bool) exchangeJSON {
	i := x.Info()
	j := exchangeJSON{Name: i.Name, VHost: vhost, Type: i.Type, Durable: i.Durable, AutoDelete: i.AutoDelete,
		Internal: i.Internal, Arguments: argsJSON(i.Args)}
	if i.Name == "" || strings.HasPrefix(i.Name, "amq.") {
		j.UserWhoPerformedAction = "rmq-internal"
	}
	j.Policy = x.Policy()
	if stats {
		j.MessageStats = s.messageStats(x)
	}
	return j
}

func (s *Server) listExchanges(w http.ResponseWriter, r *http.Request) {
	vhosts, ok := s.listScope(w, r)
	if !ok {
		return
	}
	stats := wantStats(r)
	out := []exchangeJSON{}
	for _, v := range vhosts {
		for _, x := range v.Exchanges() {
			out = append(out, s.exchangeInfo(v.Name(), x, stats))
		}
	}
	writeList(w, r, out)
}

func (s *Server) getExchange(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, notFound)
	if !ok {
		return
	}
	x, ok := v.Exchange(exchangeName(r, "name"))
	if !ok {
		notFound(w)
		return
	}
	j := s.exchangeInfo(v.Name(), x, wantStats(r))
	j.Incoming, j.Outgoing = &[]any{}, &[]any{}
	writeObject(w, r, j)
}

// putExchange is exchange.declare with the user's permissions (configure;
// for a new exchange with an alternate-exchange, read on it and write on
// the alternate): 201 new, 204 equivalent, 400 with the reason otherwise.
func (s *Server) putExchange(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, vhostNotFound)
	if !ok {
		return
	}
	name := exchangeName(r, "name")
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	kind, err := b.str("type")
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	if kind == "" {
		kind = broker.ExchangeDirect // exchange.declare's default
	}
	var d broker.ExchangeDecl
	for _, f := range []struct {
		key string
		dst *bool
	}{{"durable", &d.Durable}, {"auto_delete", &d.AutoDelete}, {"internal", &d.Internal}} {
		if *f.dst, err = boolKey(b, f.key, false); err != nil {
			badRequest(w, err.Error())
			return
		}
	}
	if d.Args, err = argsFromBody(b); err != nil {
		badRequest(w, err.Error())
		return
	}
	d.Name, d.Type = name, kind
	_, existed := v.Exchange(name)
	if name != "" {
		a := s.access(r, v.Name())
		if err := a.Configure(auth.Exchange, name); err != nil {
			s.directError(w, r, err)
			return
		}
		if ae, ok := message.String(d.Args["alternate-exchange"]); ok && !existed {
			if err := a.AlternateExchange(name, ae); err != nil {
				s.directError(w, r, err)
				return
			}
		}
	}
	if _, err := v.DeclareExchange(d); err != nil {
		s.directError(w, r, err)
		return
	}
	created(w, !existed)
}

// deleteExchange is exchange.delete with if-unused; configure on it.
func (s *Server) deleteExchange(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, notFound)
	if !ok {
		return
	}
	name := exchangeName(r, "name")
	if _, ok := v.Exchange(name); !ok {
		notFound(w)
		return
	}
	if name != "" {
		if err := s.access(r, v.Name()).Configure(auth.Exchange, name); err != nil {
			s.directError(w, r, err)
			return
		}
	}
	if err := v.DeleteExchange(name, r.URL.Query().Get("if-unused") == "true"); err != nil {
		s.directError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) exchangeBindings(source bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.topologyVHost(w, r, notFound)
		if !ok {
			return
		}
		name := exchangeName(r, "name")
		if _, ok := v.Exchange(name); !ok {
			notFound(w)
			return
		}
		if source {
			writeBindings(w, r, v.Name(), v.BindingsFrom(name))
		} else {
			writeBindings(w, r, v.Name(), v.BindingsTo(name, true))
		}
	}
}

// publishTimeout bounds the wait for a persistent message's confirm.
const publishTimeout = 30 * time.Second

// publishConfirm learns a pending publish's outcome.
type publishConfirm chan bool

func (c publishConfirm) Confirmed(_ uint64, ok bool) {
	select {
	case c <- ok:
	default:
	}
}

// publishMessage is rabbit_mgmt_wm_exchange_publish: one mandatory publish
// with write on the exchange (and the routing key's topic permission),
// answered once confirmed, with {"routed": bool}. Refusals are reported
// as RabbitMQ reports the channel's close: 400 with "CODE NAME - text".
func (s *Server) publishMessage(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, vhostNotFound)
	if !ok {
		return
	}
	name := exchangeName(r, "name")
	b, ok := readBody(w, r, "routing_key", "properties", "payload", "payload_encoding")
	if !ok {
		return
	}
	key, err := b.str("routing_key")
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	payload, isStr := b["payload"].(string)
	if !isStr {
		badRequest(w, "payload_not_string")
		return
	}
	var body []byte
	switch enc, _ := b.str("payload_encoding"); enc {
	case "string":
		body = []byte(payload)
	case "base64":
		if body, err = base64.StdEncoding.DecodeString(payload); err != nil {
			badRequest(w, []string{"not_base64", payload}) // as RabbitMQ names it
			return
		}
	default:
		badRequest(w, "{unsupported_encoding,<<\""+enc+"\">>}")
		return
	}
	propsIn, _ := b["properties"].(map[string]any)
	props, reason := propertiesFromJSON(propsIn)
	if reason != nil {
		badRequest(w, reason)
		return
	}
	if err := s.authorizeAPIPublish(r, v, name, key); err != nil {
		s.publishError(w, r, err)
		return
	}
	sess := v.NewSession(apiOwner, apiSink{})
	defer sess.Close()
	confirm := make(publishConfirm, 1)
	msg := &message.Message{Exchange: name, RoutingKey: key, Properties: props, Body: body}
	res, err := sess.Publish(name, key, msg, broker.PublishOptions{Confirm: confirm, Mandatory: true})
	if err != nil {
		s.publishError(w, r, err)
		return
	}
	taken := !res.Rejected
	if res.Pending {
		select {
		case taken = <-confirm:
		case <-time.After(publishTimeout):
			taken = false
		case <-r.Context().Done():
			return
		}
	}
	if !taken {
		badRequest(w, "rejected Unable to publish message. Check queue limits.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"routed": res.Routed})
}

// authorizeAPIPublish is basic.publish's check, as the AMQP adapter makes
// it: write on the exchange, then the routing key's topic permission on a
// topic exchange the user has topic permissions for.
func (s *Server) authorizeAPIPublish(r *http.Request, v *broker.VHost, exchange, key string) error {
	a := s.access(r, v.Name())
	if err := a.Publish(exchange); err != nil {
		return err
	}
	if a.TopicRestricted(exchange) {
		if x, ok := v.Exchange(exchange); ok && x.Type() == broker.ExchangeTopic {
			return a.TopicWrite(exchange, key)
		}
	}
	return nil
}

// publishError: RabbitMQ learns of a refused publish from the channel's
// close, which it answers as a 400 with the close's code and text.
func (s *Server) publishError(w http.ResponseWriter, r *http.Request, err error) {
	out, _ := broker.Refusal(err)
	if be, ok := out.(*broker.Error); ok {
		badRequest(w, channelCloseText(be))
		return
	}
	s.serverError(w, r, err)
}
