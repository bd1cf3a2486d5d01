package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/internal/definitions"
)

// What the queue, exchange and binding endpoints share: the vhost in the
// path with RabbitMQ's is_authorized_vhost rule, the user's permissions
// (auth.Access, the same checks an AMQP channel makes) and RabbitMQ's two
// ways of reporting a refused operation: rabbit_mgmt_util:direct_request
// (declare, delete, bind, purge: "Access refused.", the bare reason) and
// with_channel (get, publish: the AMQP close text with its code name).

// apiOwner is the connection id the API's own operations run as: no AMQP
// connection has it, so an exclusive queue is locked to the API as it is
// to RabbitMQ's management plugin.
const apiOwner broker.ConnID = 0

// topologyVHost reads the path's vhost for an endpoint RabbitMQ guards
// with is_authorized_vhost: a user without access to an existing vhost
// (administrators excepted; monitoring users too need permissions here)
// gets 401; a missing vhost gets missing (RabbitMQ's 404 differs between
// GET and a change). ok false: the answer has been written.
func (s *Server) topologyVHost(w http.ResponseWriter, r *http.Request, missing func(http.ResponseWriter)) (*broker.VHost, bool) {
	name := r.PathValue("vhost")
	v, exists := s.Broker.VHost(name)
	u := userOf(r)
	if exists && !u.isAdmin() && s.Users.VHostAccess(u.Name, name) != nil {
		apiError(w, http.StatusUnauthorized, "not_authorised", "User not authorised to access virtual host")
		return nil, false
	}
	if !exists {
		missing(w)
		return nil, false
	}
	return v, true
}

// vhostNotFound is direct_request's answer for a change in a missing vhost.
func vhostNotFound(w http.ResponseWriter) {
	apiError(w, http.StatusNotFound, "not_found", "vhost_not_found")
}

// listVHosts is the vhosts a list endpoint covers: the path's (checked as
// topologyVHost does) or, without one, those the user can see.
func (s *Server) listScope(w http.ResponseWriter, r *http.Request) ([]*broker.VHost, bool) {
	if r.PathValue("vhost") != "" {
		v, ok := s.topologyVHost(w, r, notFound)
		if !ok {
			return nil, false
		}
		return []*broker.VHost{v}, true
	}
	var out []*broker.VHost
	for _, name := range s.visibleVHosts(userOf(r)) {
		if v, ok := s.Broker.VHost(name); ok {
			out = append(out, v)
		}
	}
	return out, true
}

func (s *Server) access(r *http.Request, vhost string) auth.Access {
	return auth.Access{Store: s.Users, User: userOf(r).Name, VHost: vhost}
}

// directError answers a refused change as direct_request does: 401
// "Access refused." for a permission (the reason only in the log), 404
// not_found with the reason, 400 with the reason for the rest.
func (s *Server) directError(w http.ResponseWriter, r *http.Request, err error) {
	out, _ := broker.Refusal(err)
	var be *broker.Error
	if !errors.As(out, &be) {
		s.serverError(w, r, err)
		return
	}
	switch be.Code {
	case broker.CodeAccessRefused, broker.CodeNotAllowed:
		s.log.Debug().Str("user", userOf(r).Name).Str("path", r.URL.Path).Str("refusal", be.Text).Msg("management API operation refused")
		apiError(w, http.StatusUnauthorized, "not_authorised", "Access refused.")
	case broker.CodeNotFound:
		apiError(w, http.StatusNotFound, "not_found", be.Text)
	default:
		badRequest(w, be.Text)
	}
}

// channelError answers a refused get as with_channel does: 401 and 404
// carry the AMQP text ("ACCESS_REFUSED - ..."), the rest is a 400 with
// the code ("406 PRECONDITION_FAILED - ...").
func (s *Server) channelError(w http.ResponseWriter, r *http.Request, err error) {
	out, _ := broker.Refusal(err)
	var be *broker.Error
	if !errors.As(out, &be) {
		s.serverError(w, r, err)
		return
	}
	switch be.Code {
	case broker.CodeAccessRefused:
		apiError(w, http.StatusUnauthorized, "not_authorised", be.Error())
	case broker.CodeNotFound:
		apiError(w, http.StatusNotFound, "not_found", be.Error())
	default:
		badRequest(w, channelCloseText(be))
	}
}

// channelCloseText is "CODE NAME - text", as bad_request_exception prints
// a channel's close.
func channelCloseText(be *broker.Error) string {
	return strconv.Itoa(be.Code) + " " + be.Error()
}

// argsJSON is an argument table as the API shows it ({} for none).
func argsJSON(t message.Table) map[string]any {
	if t == nil {
		return map[string]any{}
	}
	return definitions.TableToJSON(t)
}

// argsFromBody reads the "arguments" key of a request body: an object (or
// absent / null: none).
func argsFromBody(b body) (message.Table, error) {
	switch v := b["arguments"].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		if len(v) == 0 {
			return nil, nil
		}
		return definitions.TableFromJSON(v)
	case []any:
		if len(v) == 0 { // RabbitMQ's UI sends [] for no arguments
			return nil, nil
		}
	}
	return nil, errors.New("arguments must be an object")
}

// boolKey reads a boolean body key as RabbitMQ's props_to_method does: a
// JSON boolean or the strings "true" / "false"; absent: def.
func boolKey(b body, key string, def bool) (bool, error) {
	switch v := b[key].(type) {
	case nil:
		return def, nil
	case bool:
		return v, nil
	case string:
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, errors.New(key + " must be true or false")
}

// rmqTime formats a time as RabbitMQ's management API does
// ("2024-01-02T03:04:05.678+00:00").
func rmqTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000+00:00")
}
