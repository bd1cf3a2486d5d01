package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/internal/definitions"
)

// POST /api/queues/VHOST/NAME/get (rabbit_mgmt_wm_queue_get): up to count
// basic.gets on a session of its own, with read on the queue. The ackmode
// says what becomes of the messages: ack_requeue_false takes them (no-ack
// gets); ack_requeue_true leaves them unacked until the session closes,
// which requeues them (so count gets see count different messages);
// reject_requeue_true / _false reject them all at the end, with or
// without requeue (without: dead-lettered where the queue says so).

// maxGetCount bounds one request's gets (RabbitMQ has no bound; a huge
// count on a huge queue would build a huge answer).
const maxGetCount = 10000

// apiSink is the Sink of the API's sessions: they only get and publish,
// never consume, so nothing is ever delivered to it.
type apiSink struct{}

func (apiSink) Deliver(broker.Delivery) {}
func (apiSink) Cancelled(string)        {}
func (apiSink) Full() bool              { return false }

type gotMessage struct {
	PayloadBytes    int    `json:"payload_bytes"`
	Redelivered     bool   `json:"redelivered"`
	Exchange        string `json:"exchange"`
	RoutingKey      string `json:"routing_key"`
	MessageCount    int    `json:"message_count"`
	Properties      any    `json:"properties"` // [] when there are none, as RabbitMQ's empty proplist
	Payload         string `json:"payload"`
	PayloadEncoding string `json:"payload_encoding"`
}

func (s *Server) getMessages(w http.ResponseWriter, r *http.Request) {
	v, ok := s.topologyVHost(w, r, vhostNotFound)
	if !ok {
		return
	}
	name := r.PathValue("name")
	b, ok := readBody(w, r, "ackmode", "count", "encoding")
	if !ok {
		return
	}
	ackmode, _ := b.str("ackmode")
	noAck, reject, requeue := false, false, false
	switch ackmode {
	case "ack_requeue_false":
		noAck = true
	case "ack_requeue_true":
	case "reject_requeue_true":
		reject, requeue = true, true
	case "reject_requeue_false":
		reject = true
	default:
		// RabbitMQ fails on an unknown mode with a 500 (list_to_atom and
		// a missing clause); a 400 says what is wrong.
		badRequest(w, "ackmode must be ack_requeue_true, ack_requeue_false, reject_requeue_true or reject_requeue_false")
		return
	}
	count, err := intKey(b, "count")
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	count = min(count, maxGetCount)
	enc, _ := b.str("encoding")
	if enc != "auto" && enc != "base64" {
		badRequest(w, "Unsupported encoding. Please use auto or base64.")
		return
	}
	truncate := -1
	if b["truncate"] != nil {
		if truncate, err = intKey(b, "truncate"); err != nil {
			badRequest(w, err.Error())
			return
		}
	}
	if err := s.access(r, v.Name()).Read(name); err != nil {
		s.channelError(w, r, err)
		return
	}
	sess := v.NewSession(apiOwner, apiSink{})
	defer sess.Close() // requeues what was got with ack_requeue_true
	out := []gotMessage{}
	var tags []uint64
	for range count {
		d, remaining, ok, err := sess.Get(name, noAck)
		if err != nil {
			s.channelError(w, r, err)
			return
		}
		if !ok {
			break
		}
		tags = append(tags, d.Tag)
		out = append(out, gotJSON(d, remaining, enc, truncate))
	}
	if reject {
		for _, t := range tags {
			_ = sess.Nack(t, false, requeue)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// intKey reads a whole number given as a JSON number or a string of
// digits (RabbitMQ's parse_int).
func intKey(b body, key string) (int, error) {
	s, err := b.str(key)
	if err == nil {
		var n int64
		if n, err = strconv.ParseInt(s, 10, 32); err == nil {
			return int(n), nil
		}
	}
	return 0, errors.New(key + " must be an integer")
}

func gotJSON(d broker.Delivery, remaining int, enc string, truncate int) gotMessage {
	m := d.Msg
	body := m.Body
	if truncate >= 0 && len(body) > truncate {
		body = body[:truncate]
	}
	g := gotMessage{PayloadBytes: len(m.Body), Redelivered: d.Redelivered, Exchange: m.Exchange,
		RoutingKey: m.RoutingKey, MessageCount: remaining, Properties: []any{}}
	if props := propertiesJSON(&m.Properties); len(props) > 0 {
		g.Properties = props
	}
	if enc == "auto" && utf8.Valid(body) {
		g.Payload, g.PayloadEncoding = string(body), "string"
	} else {
		g.Payload, g.PayloadEncoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	return g
}

// propertiesJSON is rabbit_mgmt_format:basic_properties: the properties
// that are set, by their AMQP names.
func propertiesJSON(p *message.Properties) map[string]any {
	out := map[string]any{}
	str := func(f uint16, key, v string) {
		if p.Has(f) {
			out[key] = v
		}
	}
	str(message.FlagContentType, "content_type", p.ContentType)
	str(message.FlagContentEncoding, "content_encoding", p.ContentEncoding)
	if p.Has(message.FlagHeaders) {
		out["headers"] = argsJSON(p.Headers)
	}
	if p.Has(message.FlagDeliveryMode) {
		out["delivery_mode"] = p.DeliveryMode
	}
	if p.Has(message.FlagPriority) {
		out["priority"] = p.Priority
	}
	str(message.FlagCorrelationID, "correlation_id", p.CorrelationID)
	str(message.FlagReplyTo, "reply_to", p.ReplyTo)
	str(message.FlagExpiration, "expiration", p.Expiration)
	str(message.FlagMessageID, "message_id", p.MessageID)
	if p.Has(message.FlagTimestamp) {
		out["timestamp"] = p.Timestamp
	}
	str(message.FlagType, "type", p.Type)
	str(message.FlagUserID, "user_id", p.UserID)
	str(message.FlagAppID, "app_id", p.AppID)
	str(message.FlagClusterID, "cluster_id", p.ClusterID)
	return out
}

// propertiesFromJSON is rabbit_mgmt_format:to_basic_properties: headers a
// table, delivery_mode, priority and timestamp integers, the rest
// strings; unknown keys are ignored. The error is RabbitMQ's reason
// ({not_int,priority} and the like), which it shows as a JSON list.
func propertiesFromJSON(m map[string]any) (message.Properties, []string) {
	p, reason := propertiesFrom(m)
	if reason == "" {
		return p, nil
	}
	return p, strings.Split(strings.Trim(reason, "{}"), ",")
}

func propertiesFrom(m map[string]any) (message.Properties, string) {
	var p message.Properties
	strKey := func(key string, f uint16, dst *string) string {
		v, ok := m[key]
		if !ok || v == nil {
			return ""
		}
		s, isStr := v.(string)
		if !isStr {
			return "{not_string," + key + "}"
		}
		*dst = s
		p.Flags |= f
		return ""
	}
	numKey := func(key string, f uint16, lo, hi int64) (int64, string) {
		v, ok := m[key]
		if !ok || v == nil {
			return 0, ""
		}
		n, isNum := v.(json.Number)
		i, err := n.Int64()
		if !isNum || err != nil || i < lo || i > hi {
			return 0, "{not_int," + key + "}"
		}
		p.Flags |= f
		return i, ""
	}
	for _, c := range []struct {
		key string
		f   uint16
		dst *string
	}{
		{"content_type", message.FlagContentType, &p.ContentType},
		{"content_encoding", message.FlagContentEncoding, &p.ContentEncoding},
		{"correlation_id", message.FlagCorrelationID, &p.CorrelationID},
		{"reply_to", message.FlagReplyTo, &p.ReplyTo},
		{"expiration", message.FlagExpiration, &p.Expiration},
		{"message_id", message.FlagMessageID, &p.MessageID},
		{"type", message.FlagType, &p.Type},
		{"user_id", message.FlagUserID, &p.UserID},
		{"app_id", message.FlagAppID, &p.AppID},
		{"cluster_id", message.FlagClusterID, &p.ClusterID},
	} {
		if e := strKey(c.key, c.f, c.dst); e != "" {
			return p, e
		}
	}
	if n, e := numKey("delivery_mode", message.FlagDeliveryMode, 0, 255); e != "" {
		return p, e
	} else {
		p.DeliveryMode = uint8(n)
	}
	if n, e := numKey("priority", message.FlagPriority, 0, 255); e != "" {
		return p, e
	} else {
		p.Priority = uint8(n)
	}
	if n, e := numKey("timestamp", message.FlagTimestamp, -1<<63, 1<<63-1); e != "" {
		return p, e
	} else {
		p.Timestamp = n
	}
	if h, ok := m["headers"].(map[string]any); ok {
		t, err := definitions.TableFromJSON(h)
		if err != nil {
			return p, "{not_table,headers}"
		}
		p.Headers, p.Flags = t, p.Flags|message.FlagHeaders
	}
	return p, ""
}
