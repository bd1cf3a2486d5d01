package server

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// Bindings in the management API: /api/bindings[/VHOST] and
// /api/bindings/VHOST/e/SOURCE/{q,e}/DEST[/PROPS], with
// rabbit_mgmt_wm_binding(s)'s behaviour. A binding is addressed by its
// properties_key (rabbit_mgmt_format:pack_binding_props): "~" for an
// empty routing key without arguments, the routing key URL-quoted
// (quote_plus, "~" as %7E) without arguments, and "KEY~HASH" with
// arguments. RabbitMQ's HASH is erlang:phash2 of the Erlang argument
// table, which sluice cannot reproduce; sluice's is a 32-bit FNV-1a of
// the arguments in key order, written the same way (6 characters of
// URL-safe base64), so keys have RabbitMQ's shape but not its values.

func (s *Server) registerBindingAPI() {
	s.mux.HandleFunc("GET /api/bindings", s.authed(s.listBindings))
	s.mux.HandleFunc("GET /api/bindings/{vhost}", s.authed(s.listBindings))
	for _, dt := range []string{"q", "e"} {
		base := "/api/bindings/{vhost}/e/{source}/" + dt + "/{dest}"
		s.mux.HandleFunc("GET "+base, s.authed(s.listBindingsBetween(dt == "e")))
		s.mux.HandleFunc("POST "+base, s.authed(s.createBinding(dt == "e")))
		s.mux.HandleFunc("GET "+base+"/{props}", s.authed(s.getBinding(dt == "e")))
		s.mux.HandleFunc("DELETE "+base+"/{props}", s.authed(s.deleteBinding(dt == "e")))
	}
}

type bindingJSON struct {
	Source          string         `json:"source"`
	VHost           string         `json:"vhost"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"`
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
	PropertiesKey   string         `json:"properties_key"`
}

func toBindingJSON(vhost string, b broker.BindingInfo) bindingJSON {
	dt := "queue"
	if b.DestIsExchange {
		dt = "exchange"
	}
	return bindingJSON{Source: b.Source, VHost: vhost, Destination: b.Destination, DestinationType: dt,
		RoutingKey: b.Key, Arguments: argsJSON(b.Args), PropertiesKey: propertiesKey(b.Key, b.Args)}
}

// bindingSort is rabbit_mgmt_wm_bindings' default sort ("type" is no key
// of a binding: RabbitMQ sorts on it all the same, as nothing).
var bindingSort = []string{"vhost", "source", "type", "destination", "routing_key", "properties_key"}

// writeBindings answers a list of bindings (RabbitMQ never paginates it).
func writeBindings(w http.ResponseWriter, r *http.Request, vhost string, bs []broker.BindingInfo) {
	out := make([]bindingJSON, 0, len(bs))
	for _, b := range bs {
		out = append(out, toBindingJSON(vhost, b))
	}
	writePlainList(w, r, out, bindingSort...)
}

// propertiesKey is pack_binding_props.
func propertiesKey(key string, args message.Table) string {
	if len(args) == 0 {
		if key == "" {
			return "~"
		}
		return quoteBinding(key)
	}
	return quoteBinding(key) + "~" + quoteBinding(argsHash(args))
}

// quoteBinding is quote_binding: quotePlus with "~" escaped too.
func quoteBinding(s string) string { return quotePlus(s, false) }

// quotePlus is rabbit_http_util:quote_plus: letters, digits and ".-_"
// stay (and "~" with keepTilde), a space is "+", every other byte %XX.
func quotePlus(s string, keepTilde bool) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_',
			c == '~' && keepTilde:
			sb.WriteByte(c)
		case c == ' ':
			sb.WriteByte('+')
		default:
			const hex = "0123456789ABCDEF"
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
		}
	}
	return sb.String()
}

// argsHash stands for RabbitMQ's args_hash: 32 bits, URL-safe base64
// without padding.
func argsHash(args message.Table) string {
	h := fnv.New32a()
	h.Write([]byte(broker.CanonicalArgs(args)))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h.Sum32())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) listBindings(w http.ResponseWriter, r *http.Request) {
	vhosts, ok := s.listScope(w, r)
	if !ok {
		return
	}
	out := []bindingJSON{}
	for _, v := range vhosts {
		for _, b := range v.Bindings() {
			out = append(out, toBindingJSON(v.Name(), b))
		}
	}
	writePlainList(w, r, out, bindingSort...)
}

// bindingEnds reads the vhost, source and destination of a binding path.
func (s *Server) bindingEnds(w http.ResponseWriter, r *http.Request, missing func(http.ResponseWriter)) (v *broker.VHost, src, dest string, ok bool) {
	v, ok = s.topologyVHost(w, r, missing)
	if !ok {
		return nil, "", "", false
	}
	return v, exchangeName(r, "source"), r.PathValue("dest"), true
}

// between lists the bindings from src to dest.
func between(v *broker.VHost, src, dest string, toExchange bool) []broker.BindingInfo {
	var out []broker.BindingInfo
	for _, b := range v.BindingsTo(dest, toExchange) {
		if b.Source == src {
			out = append(out, b)
		}
	}
	return out
}

func (s *Server) listBindingsBetween(toExchange bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, src, dest, ok := s.bindingEnds(w, r, notFound)
		if !ok {
			return
		}
		writeBindings(w, r, v.Name(), between(v, src, dest, toExchange))
	}
}

// createBinding is queue.bind / exchange.bind with the body's routing_key
// and arguments: write on the destination, read on the source (and the
// key's topic permission). 201 with Location: the new binding's path
// relative to the request's, ending in its properties key quoted once
// more (rabbit_mgmt_format:url).
func (s *Server) createBinding(toExchange bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, src, dest, ok := s.bindingEnds(w, r, vhostNotFound)
		if !ok {
			return
		}
		b, ok := readBody(w, r)
		if !ok {
			return
		}
		key, err := b.str("routing_key")
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		args, err := argsFromBody(b)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		if err := s.authorizeAPIBind(r, v, toExchange, dest, src, key); err != nil {
			s.directError(w, r, err)
			return
		}
		if err := v.Bind(broker.BindSpec{Source: src, Destination: dest, DestIsExchange: toExchange, Key: key, Args: args, Owner: apiOwner}); err != nil {
			s.directError(w, r, err)
			return
		}
		last := r.URL.EscapedPath()
		if i := strings.LastIndexByte(last, '/'); i >= 0 {
			last = last[i+1:]
		}
		w.Header().Set("Location", last+"/"+quotePlus(propertiesKey(key, args), true))
		w.WriteHeader(http.StatusCreated)
	}
}

// authorizeAPIBind is the AMQP adapter's bind check (authorizeBind).
func (s *Server) authorizeAPIBind(r *http.Request, v *broker.VHost, toExchange bool, dest, source, key string) error {
	a := s.access(r, v.Name())
	kind := auth.Queue
	if toExchange {
		kind = auth.Exchange
	}
	if err := a.Bind(kind, dest, source); err != nil {
		return err
	}
	if a.TopicRestricted(source) {
		if x, ok := v.Exchange(source); ok && x.Type() == broker.ExchangeTopic {
			return a.TopicRead(source, key)
		}
	}
	return nil
}

// findBinding finds the binding a path's properties key names; on failure
// the answer (RabbitMQ's) has been written.
func (s *Server) findBinding(w http.ResponseWriter, r *http.Request, toExchange bool) (*broker.VHost, broker.BindingInfo, bool) {
	v, src, dest, ok := s.bindingEnds(w, r, notFound)
	if !ok {
		return nil, broker.BindingInfo{}, false
	}
	// The path value is decoded once, as RabbitMQ's is: a properties key
	// travels quoted once more than it is listed.
	props := r.PathValue("props")
	parts := strings.Split(props, "~")
	if props == "~" {
		parts = parts[:1]
	}
	if len(parts) <= 2 {
		key := unquote(parts[0])
		for _, b := range between(v, src, dest, toExchange) {
			if b.Key != key {
				continue
			}
			if len(parts) == 1 && len(b.Args) == 0 ||
				len(parts) == 2 && len(b.Args) > 0 && argsHash(b.Args) == unquote(parts[1]) {
				return v, b, true
			}
		}
	}
	// RabbitMQ's resource_exists is false for a key it cannot parse as for
	// one that names no binding.
	notFound(w)
	return nil, broker.BindingInfo{}, false
}

func unquote(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func (s *Server) getBinding(toExchange bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, b, ok := s.findBinding(w, r, toExchange)
		if !ok {
			return
		}
		writeObject(w, r, toBindingJSON(v.Name(), b))
	}
}

func (s *Server) deleteBinding(toExchange bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, b, ok := s.findBinding(w, r, toExchange)
		if !ok {
			return
		}
		if err := s.authorizeAPIBind(r, v, toExchange, b.Destination, b.Source, b.Key); err != nil {
			s.directError(w, r, err)
			return
		}
		if err := v.Unbind(broker.BindSpec{Source: b.Source, Destination: b.Destination, DestIsExchange: toExchange,
			Key: b.Key, Args: b.Args, Owner: apiOwner}); err != nil {
			s.directError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
