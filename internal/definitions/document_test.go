package definitions

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

func mustParse(t *testing.T, doc string) *Document {
	t.Helper()
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return d
}

// TestParseShapes: what RabbitMQ 3.x and 4.x write reads the same.
func TestParseShapes(t *testing.T) {
	d := mustParse(t, `{"rabbit_version":"3.5.7",
		"users":[{"name":"a","password_hash":"x","tags":"administrator, management"},
		         {"name":"b","tags":["monitoring"],"limits":{"max-connections":3}},
		         {"name":"c","administrator":"true"},
		         {"name":"d","password":"pw","tags":[]}],
		"vhosts":[{"name":"v3","description":"top","tags":"a,b","limits":[]},
		          {"name":"v4","metadata":{"description":"meta","tags":["x"],"default_queue_type":"quorum"},"limits":{"max-queues":2}},
		          {"name":"v5","metadata":{"default_queue_type":"undefined"}}],
		"policies":[{"vhost":"/","name":"p","pattern":"^a","definition":{"message-ttl":1000,"ha-params":1.5},"priority":"3"}],
		"queues":[{"name":"q","vhost":"/","type":"quorum","arguments":{}},{"name":"r","vhost":"/","type":"classic","durable":"false","auto_delete":true,"arguments":[]}],
		"bindings":[{"source":"s","vhost":"/","destination":"e","destination_type":"exchange","routing_key":7}],
		"extra":[]}`)
	if d.RabbitVersion != "3.5.7" || hashFor(d.RabbitVersion) != "rabbit_password_hashing_md5" || hashFor("3.6.0") != "rabbit_password_hashing_sha256" {
		t.Fatalf("version %q", d.RabbitVersion)
	}
	if got := d.Users[0].Tags; !reflect.DeepEqual(got, []string{"administrator", "management"}) {
		t.Fatalf("tags as a string: %v", got)
	}
	if d.Users[1].Limits["max-connections"] != 3 || d.Users[0].Limits != nil {
		t.Fatalf("limits: %v %v", d.Users[1].Limits, d.Users[0].Limits)
	}
	if !reflect.DeepEqual(d.Users[2].Tags, []string{"administrator"}) || d.Users[3].Password == nil || *d.Users[3].Password != "pw" {
		t.Fatalf("administrator flag, password: %+v %+v", d.Users[2], d.Users[3])
	}
	v3, v4, v5 := d.VHosts[0], d.VHosts[1], d.VHosts[2]
	if v3.Description != "top" || !reflect.DeepEqual(v3.Tags, []string{"a", "b"}) || len(v3.Limits) != 0 {
		t.Fatalf("3.x vhost: %+v", v3)
	}
	if v4.Description != "meta" || v4.DefaultQueueType != "quorum" || v4.Limits["max-queues"] != 2 {
		t.Fatalf("4.x vhost: %+v", v4)
	}
	if v5.DefaultQueueType != "" {
		t.Fatalf("undefined queue type: %+v", v5)
	}
	p := d.Policies[0]
	if p.Priority != 3 || p.ApplyTo != "all" || p.Definition["message-ttl"] != int64(1000) || p.Definition["ha-params"] != 1.5 {
		t.Fatalf("policy: %+v", p)
	}
	if d.Queues[0].Arguments["x-queue-type"] != "quorum" || !d.Queues[0].Durable {
		t.Fatalf("4.x queue type: %+v", d.Queues[0])
	}
	if _, set := d.Queues[1].Arguments["x-queue-type"]; set || d.Queues[1].Durable || !d.Queues[1].AutoDelete {
		t.Fatalf("classic queue: %+v", d.Queues[1])
	}
	if b := d.Bindings[0]; !b.DestinationIsExchange || b.RoutingKey != "7" {
		t.Fatalf("binding: %+v", b)
	}
	if !reflect.DeepEqual(d.Unknown, []string{"extra"}) {
		t.Fatalf("unknown: %v", d.Unknown)
	}
}

func TestParseRefusals(t *testing.T) {
	for doc, want := range map[string]string{
		`{`:                                   "failed_to_parse_json",
		`"str"`:                               "failed_to_parse_json",
		`{} {}`:                               "failed_to_parse_json",
		`null`:                                "failed_to_parse_json",
		`{"users":{}}`:                        "users must be a list",
		`{"users":[1]}`:                       "users[0] must be an object",
		`{"users":[{"name":"u"}]}`:            "tags_not_present",
		`{"users":[{"name":"","tags":""}]}`:   "name must not be empty",
		`{"users":[{"name":"u","tags":[1]}]}`: "tags must be a string or a list of strings",
		`{"users":[{"name":"u","tags":"","password":"a","password_hash":""}]}`:                                  "both_password_and_password_hash_are_provided",
		`{"users":[{"name":"u","tags":"","limits":{"max-connections":"x"}}]}`:                                   "should be a number",
		`{"queues":[{"name":"q","durable":"maybe"}]}`:                                                           "durable must be true or false",
		`{"queues":[{"name":"q","arguments":"x"}]}`:                                                             "arguments must be an object",
		`{"queues":[{"name":["q"]}]}`:                                                                           "name must be a string",
		`{"queues":[{"name":"","vhost":"/"}]}`:                                                                  "name must not be empty",
		`{"bindings":[{"source":"s","destination_type":"topic"}]}`:                                              `destination_type must be "queue" or "exchange"`,
		`{"policies":[{"name":"p","pattern":"x","priority":1.5,"definition":{}}]}`:                              "priority must be a whole number",
		`{"policies":[{"name":"p","pattern":"x"}]}`:                                                             "definition must be an object",
		`{"vhosts":[{"name":"v","metadata":[]}]}`:                                                               "metadata must be an object",
		`{"queues":[{"name":"q","arguments":{"a":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}}]}`: "nested deeper",
		`{"queues":[{"name":"q","arguments":{"a":1e999}}]}`:                                                     "out of range",
	} {
		_, err := Parse([]byte(doc))
		var de *Error
		if !errors.As(err, &de) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.60s): %v, want %q", doc, err, want)
		}
	}
	if d, err := Parse([]byte("  ")); err != nil || len(d.Users) != 0 {
		t.Fatalf("an empty body is an empty document: %v", err)
	}
}

// TestTableJSON: arguments map as RabbitMQ maps them, both ways.
func TestTableJSON(t *testing.T) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(`{"i":5,"f":1.5,"s":"x","b":true,"n":null,"l":[1,"a"],"t":{"k":2}}`))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	tab, err := TableFromJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	want := message.Table{"i": int64(5), "f": 1.5, "s": "x", "b": true, "n": nil, "l": []any{int64(1), "a"}, "t": message.Table{"k": int64(2)}}
	if !reflect.DeepEqual(tab, want) {
		t.Fatalf("from JSON: %#v", tab)
	}
	out := TableToJSON(message.Table{"ts": time.Unix(1700000000, 0), "bin": []byte{0xff, 0x00}, "txt": []byte("ok"),
		"dec": message.Decimal{Scale: 2, Value: 150}, "i8": int8(-3), "nested": message.Table{"u": uint16(9)}})
	got, _ := json.Marshal(out)
	if string(got) != `{"bin":"/wA=","dec":1.5,"i8":-3,"nested":{"u":9},"ts":1700000000,"txt":"ok"}` {
		t.Fatalf("to JSON: %s", got)
	}
}

// TestParseFixtures: the conformance fixtures parse.
func TestParseFixtures(t *testing.T) {
	for _, f := range []string{"rabbitmq-3.10.8-definitions.json", "rabbitmq-4.x-definitions.json"} {
		raw, err := os.ReadFile("../../conformance/testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		d := mustParse(t, string(raw))
		if len(d.Users) == 0 || len(d.Queues) == 0 || len(d.Bindings) == 0 || len(d.Unknown) != 0 {
			t.Fatalf("%s: %+v", f, d)
		}
	}
}
