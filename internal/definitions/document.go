// Package definitions reads, checks, applies and writes RabbitMQ's
// definitions document: the JSON file of users, vhosts, permissions,
// limits, policies, exchanges, queues and bindings that
// `rabbitmqctl export_definitions` and GET /api/definitions write and
// POST /api/definitions and load_definitions read. It is the migration
// path from RabbitMQ to sluice (docs/MIGRATING.md).
//
// Parse accepts what RabbitMQ 3.x and 4.x write: user tags as a list or
// a comma-separated string, vhost metadata at the top level (3.x) or
// under "metadata" (3.11+), vhost "limits" as a list (3.9) or a map
// (4.x), a queue's "type" (4.x). An import is checked whole before
// anything changes (Importer.Import); what sluice has no use for
// (parameters of plugins it lacks, global parameters) is reported, not
// dropped silently.
package definitions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-mq/sluice/auth"
)

// Document is a parsed definitions file.
type Document struct {
	// RabbitVersion is rabbitmq_version (or rabbit_version): the version
	// that wrote the file. Versions before 3.6 hashed passwords with MD5
	// and did not say so.
	RabbitVersion    string
	Users            []User
	VHosts           []VHost
	Permissions      []auth.Permission
	TopicPermissions []auth.TopicPermission
	Parameters       []Parameter
	GlobalParameters []GlobalParameter
	Policies         []Policy
	Queues           []Queue
	Exchanges        []Exchange
	Bindings         []Binding
	// Unknown names the top-level keys this package does not read.
	Unknown []string
}

// User is a user of the file. Password (plain) and PasswordHash are
// mutually exclusive; neither is a user who logs in by certificate only.
type User struct {
	Name             string
	Password         *string
	PasswordHash     string
	HashingAlgorithm string
	Tags             []string
	// Limits nil: the file gives none (the user's are kept).
	Limits map[string]int64
}

// VHost is a vhost with its metadata.
type VHost struct {
	Name             string
	Description      string
	Tags             []string
	DefaultQueueType string
	// Limits are 4.x's copy of the vhost-limits parameter (nil: none).
	Limits map[string]int64
}

// Parameter is a runtime parameter of a vhost: vhost limits
// (component "vhost-limits"), operator policies ("operator_policy") and
// the parameters of plugins (shovel, federation-upstream, ...).
type Parameter struct {
	VHost, Component, Name string
	Value                  any
}

// GlobalParameter is a cluster-wide runtime parameter.
type GlobalParameter struct {
	Name  string
	Value any
}

// Policy is a policy (or, from a parameter, an operator policy).
type Policy struct {
	VHost, Name, Pattern, ApplyTo string
	Priority                      int
	Definition                    map[string]any
}

// Queue is a queue; Arguments are already AMQP table values.
type Queue struct {
	VHost, Name         string
	Durable, AutoDelete bool
	Arguments           map[string]any
}

// Exchange is an exchange.
type Exchange struct {
	VHost, Name, Type             string
	Durable, AutoDelete, Internal bool
	Arguments                     map[string]any
}

// Binding binds an exchange to a queue or to another exchange.
type Binding struct {
	VHost, Source, Destination string
	DestinationIsExchange      bool
	RoutingKey                 string
	Arguments                  map[string]any
}

// Error is a document that cannot be imported. Reason is the 400's
// reason, a string or, where RabbitMQ answers with a tuple such as
// ["no_such_vhost","v"], a list.
type Error struct{ Reason any }

func (e *Error) Error() string {
	if s, ok := e.Reason.(string); ok {
		return s
	}
	b, _ := json.Marshal(e.Reason)
	return string(b)
}

func invalid(format string, a ...any) *Error { return &Error{Reason: fmt.Sprintf(format, a...)} }

// sections are the top-level keys Parse reads.
var sections = []string{"rabbit_version", "rabbitmq_version", "product_name", "product_version",
	"users", "vhosts", "permissions", "topic_permissions", "parameters", "global_parameters",
	"policies", "queues", "exchanges", "bindings"}

// Parse decodes and checks a definitions document. Malformed JSON, or
// JSON that is not an object, is RabbitMQ's "failed_to_parse_json"; a
// value of the wrong type names where it is.
func Parse(data []byte) (*Document, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return &Document{}, nil // RabbitMQ takes an empty body for an empty document
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || dec.More() || top == nil {
		return nil, &Error{Reason: "failed_to_parse_json"}
	}
	d := &Document{}
	for k := range top {
		if !slices.Contains(sections, k) {
			d.Unknown = append(d.Unknown, k)
		}
	}
	slices.Sort(d.Unknown)
	var err error
	if d.RabbitVersion, err = str(top, "rabbitmq_version", "document"); err == nil && d.RabbitVersion == "" {
		d.RabbitVersion, err = str(top, "rabbit_version", "document")
	}
	if err != nil {
		return nil, err
	}
	steps := []struct {
		key   string
		parse func(obj) error
	}{
		{"users", func(o obj) error { u, err := parseUser(o); d.Users = append(d.Users, u); return err }},
		{"vhosts", func(o obj) error { v, err := parseVHost(o); d.VHosts = append(d.VHosts, v); return err }},
		{"permissions", func(o obj) error { p, err := parsePermission(o); d.Permissions = append(d.Permissions, p); return err }},
		{"topic_permissions", func(o obj) error {
			p, err := parseTopicPermission(o)
			d.TopicPermissions = append(d.TopicPermissions, p)
			return err
		}},
		{"parameters", func(o obj) error { p, err := parseParameter(o); d.Parameters = append(d.Parameters, p); return err }},
		{"global_parameters", func(o obj) error {
			name, err := o.str("name")
			d.GlobalParameters = append(d.GlobalParameters, GlobalParameter{Name: name, Value: o.m["value"]})
			return err
		}},
		{"policies", func(o obj) error {
			p, err := parsePolicy(o.m, o.where)
			if err == nil {
				p.VHost, err = o.str("vhost")
			}
			d.Policies = append(d.Policies, p)
			return err
		}},
		{"queues", func(o obj) error { q, err := parseQueue(o); d.Queues = append(d.Queues, q); return err }},
		{"exchanges", func(o obj) error { x, err := parseExchange(o); d.Exchanges = append(d.Exchanges, x); return err }},
		{"bindings", func(o obj) error { b, err := parseBinding(o); d.Bindings = append(d.Bindings, b); return err }},
	}
	for _, s := range steps {
		if err := eachObject(top, s.key, s.parse); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// obj is one object of a section, with where it is for error texts.
type obj struct {
	m     map[string]any
	where string
}

// eachObject calls fn for each object of the list top[key] (absent or
// null: none).
func eachObject(top map[string]any, key string, fn func(obj) error) error {
	v, ok := top[key]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return invalid("%s must be a list", key)
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return invalid("%s[%d] must be an object", key, i)
		}
		where := fmt.Sprintf("%s[%d]", key, i)
		if n, ok := m["name"].(string); ok {
			where += fmt.Sprintf(" (%q)", n)
		}
		if err := fn(obj{m: m, where: where}); err != nil {
			return err
		}
	}
	return nil
}

// str returns m[key] as text: strings as they are, numbers and booleans
// spelt out (RabbitMQ coerces them), absent or null as "".
func str(m map[string]any, key, where string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", invalid("%s: %s must be a string", where, key)
}

func (o obj) str(key string) (string, error) { return str(o.m, key, o.where) }

// boolean reads a flag: true or false, or their spellings as strings;
// absent or null is def.
func (o obj) boolean(key string, def bool) (bool, error) {
	switch v := o.m[key].(type) {
	case nil:
		return def, nil
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	}
	return false, invalid("%s: %s must be true or false", o.where, key)
}

// tags reads tags given as a list of strings or a comma-separated string
// (RabbitMQ before 3.9 wrote "administrator,management").
func tags(v any, where, key string) ([]string, error) {
	var parts []string
	switch t := v.(type) {
	case nil:
	case string:
		parts = strings.Split(t, ",")
	case []any:
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, invalid("%s: %s must be a string or a list of strings", where, key)
			}
			parts = append(parts, s)
		}
	default:
		return nil, invalid("%s: %s must be a string or a list of strings", where, key)
	}
	out := []string{}
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// args reads an arguments object into AMQP table values (absent, null and
// RabbitMQ's [] are empty).
func args(o obj, key string) (map[string]any, error) {
	switch v := o.m[key].(type) {
	case nil:
		return map[string]any{}, nil
	case []any:
		if len(v) == 0 {
			return map[string]any{}, nil
		}
	case map[string]any:
		t, err := TableFromJSON(v)
		if err != nil {
			return nil, invalid("%s: %s: %v", o.where, key, err)
		}
		return t, nil
	}
	return nil, invalid("%s: %s must be an object", o.where, key)
}

func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// limits reads a limits object; a list is 3.9's empty limits ([]).
func limits(v any, where, key string) (map[string]int64, error) {
	switch m := v.(type) {
	case nil:
		return nil, nil
	case []any:
		if len(m) == 0 {
			return map[string]int64{}, nil
		}
	case map[string]any:
		out := make(map[string]int64, len(m))
		for k, e := range m {
			n, ok := integer(e)
			if !ok {
				return nil, invalid("%s: %s: %s should be a number, actually was %v", where, key, k, e)
			}
			out[k] = n
		}
		return out, nil
	}
	return nil, invalid("%s: %s must be an object", where, key)
}

func parseUser(o obj) (User, error) {
	u := User{}
	var err error
	if u.Name, err = o.str("name"); err != nil {
		return u, err
	}
	if u.Name == "" {
		return u, invalid("%s: name must not be empty", o.where)
	}
	switch {
	case o.m["tags"] != nil:
		if u.Tags, err = tags(o.m["tags"], o.where, "tags"); err != nil {
			return u, err
		}
	case o.m["administrator"] != nil:
		s, _ := o.str("administrator")
		u.Tags = []string{}
		if b, _ := strconv.ParseBool(s); b {
			u.Tags = []string{auth.TagAdministrator}
		}
	default:
		return u, &Error{Reason: "tags_not_present"}
	}
	_, hasPassword := o.m["password"]
	_, hasHash := o.m["password_hash"]
	if hasPassword && hasHash {
		return u, &Error{Reason: "both_password_and_password_hash_are_provided"}
	}
	if hasPassword {
		pw, err := o.str("password")
		if err != nil {
			return u, err
		}
		u.Password = &pw
	}
	if u.PasswordHash, err = o.str("password_hash"); err != nil {
		return u, err
	}
	if u.HashingAlgorithm, err = o.str("hashing_algorithm"); err != nil {
		return u, err
	}
	u.Limits, err = limits(o.m["limits"], o.where, "limits")
	return u, err
}

func parseVHost(o obj) (VHost, error) {
	v := VHost{}
	var err error
	if v.Name, err = o.str("name"); err != nil {
		return v, err
	}
	if v.Name == "" {
		return v, invalid("%s: name must not be empty", o.where)
	}
	meta := map[string]any{}
	switch m := o.m["metadata"].(type) {
	case nil:
	case map[string]any:
		meta = m
	default:
		return v, invalid("%s: metadata must be an object", o.where)
	}
	// The top level wins over metadata, as rabbit_definitions:add_vhost.
	pick := func(key string) any {
		if x, ok := o.m[key]; ok && x != nil {
			return x
		}
		return meta[key]
	}
	if v.Description, err = str(map[string]any{"description": pick("description")}, "description", o.where); err != nil {
		return v, err
	}
	if v.Tags, err = tags(pick("tags"), o.where, "tags"); err != nil {
		return v, err
	}
	if v.DefaultQueueType, err = str(map[string]any{"q": pick("default_queue_type")}, "q", o.where); err != nil {
		return v, err
	}
	if v.DefaultQueueType == "undefined" {
		v.DefaultQueueType = ""
	}
	v.Limits, err = limits(o.m["limits"], o.where, "limits")
	return v, err
}

func parsePermission(o obj) (auth.Permission, error) {
	p := auth.Permission{}
	for _, f := range []struct {
		key string
		dst *string
	}{{"user", &p.User}, {"vhost", &p.VHost}, {"configure", &p.Configure}, {"write", &p.Write}, {"read", &p.Read}} {
		var err error
		if *f.dst, err = o.str(f.key); err != nil {
			return p, err
		}
	}
	return p, nil
}

func parseTopicPermission(o obj) (auth.TopicPermission, error) {
	p := auth.TopicPermission{}
	for _, f := range []struct {
		key string
		dst *string
	}{{"user", &p.User}, {"vhost", &p.VHost}, {"exchange", &p.Exchange}, {"write", &p.Write}, {"read", &p.Read}} {
		var err error
		if *f.dst, err = o.str(f.key); err != nil {
			return p, err
		}
	}
	return p, nil
}

func parseParameter(o obj) (Parameter, error) {
	p := Parameter{Value: o.m["value"]}
	var err error
	if p.VHost, err = o.str("vhost"); err == nil {
		if p.Component, err = o.str("component"); err == nil {
			p.Name, err = o.str("name")
		}
	}
	return p, err
}

// parsePolicy reads a policy's pattern, definition, priority and
// apply-to from m: a policies entry, or an operator_policy parameter's
// value.
func parsePolicy(m map[string]any, where string) (Policy, error) {
	o := obj{m: m, where: where}
	p := Policy{ApplyTo: "all"}
	var err error
	if p.Name, err = o.str("name"); err != nil {
		return p, err
	}
	if p.Pattern, err = o.str("pattern"); err != nil {
		return p, err
	}
	if a, err := o.str("apply-to"); err != nil {
		return p, err
	} else if a != "" {
		p.ApplyTo = a
	}
	switch v := m["priority"].(type) {
	case nil:
	case json.Number:
		n, err := v.Int64()
		if err != nil || n != int64(int(n)) {
			return p, invalid("%s: priority must be a whole number, not %s", where, v)
		}
		p.Priority = int(n)
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, invalid("%s: priority must be a whole number, not %q", where, v)
		}
		p.Priority = n
	default:
		return p, invalid("%s: priority must be a whole number", where)
	}
	def, ok := m["definition"].(map[string]any)
	if !ok {
		return p, invalid("%s: definition must be an object", where)
	}
	if p.Definition, err = plainJSON(def); err != nil {
		return p, invalid("%s: definition: %v", where, err)
	}
	return p, nil
}

func parseQueue(o obj) (Queue, error) {
	q := Queue{}
	var err error
	if q.Name, err = o.str("name"); err != nil {
		return q, err
	}
	if q.Name == "" {
		// The core would name it (amq.gen-...), a queue no export could
		// bring back.
		return q, invalid("%s: name must not be empty", o.where)
	}
	if q.VHost, err = o.str("vhost"); err != nil {
		return q, err
	}
	if q.Durable, err = o.boolean("durable", true); err != nil {
		return q, err
	}
	if q.AutoDelete, err = o.boolean("auto_delete", false); err != nil {
		return q, err
	}
	if q.Arguments, err = args(o, "arguments"); err != nil {
		return q, err
	}
	// 4.x names the type beside the arguments; a queue of the vhost's
	// default type may have no x-queue-type argument.
	typ, err := o.str("type")
	if err != nil {
		return q, err
	}
	if _, set := q.Arguments["x-queue-type"]; !set && typ != "" && typ != "classic" {
		q.Arguments["x-queue-type"] = typ
	}
	return q, nil
}

func parseExchange(o obj) (Exchange, error) {
	x := Exchange{}
	var err error
	if x.Name, err = o.str("name"); err != nil {
		return x, err
	}
	if x.VHost, err = o.str("vhost"); err != nil {
		return x, err
	}
	if x.Type, err = o.str("type"); err != nil {
		return x, err
	}
	if x.Durable, err = o.boolean("durable", true); err != nil {
		return x, err
	}
	if x.AutoDelete, err = o.boolean("auto_delete", false); err != nil {
		return x, err
	}
	if x.Internal, err = o.boolean("internal", false); err != nil {
		return x, err
	}
	x.Arguments, err = args(o, "arguments")
	return x, err
}

func parseBinding(o obj) (Binding, error) {
	b := Binding{}
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"vhost", &b.VHost}, {"source", &b.Source}, {"destination", &b.Destination}, {"routing_key", &b.RoutingKey}} {
		if *f.dst, err = o.str(f.key); err != nil {
			return b, err
		}
	}
	switch dt, _ := o.str("destination_type"); dt {
	case "queue":
	case "exchange":
		b.DestinationIsExchange = true
	default:
		return b, invalid("%s: destination_type must be \"queue\" or \"exchange\", not %q", o.where, dt)
	}
	b.Arguments, err = args(o, "arguments")
	return b, err
}
