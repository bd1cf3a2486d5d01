package definitions

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// FuzzParseDefinitions feeds Parse arbitrary documents: it must not
// panic, and the arguments of what it accepts must survive the trip to
// JSON and back (what an export followed by an import does to them).
func FuzzParseDefinitions(f *testing.F) {
	for _, name := range []string{"rabbitmq-3.10.8-definitions.json", "rabbitmq-4.x-definitions.json"} {
		if raw, err := os.ReadFile("../../conformance/testdata/" + name); err == nil {
			f.Add(raw)
		}
	}
	for _, s := range []string{
		`{}`, ``, `[]`, `{"users":[{"name":"a","tags":"x,y","limits":[]}]}`,
		`{"vhosts":[{"name":"v","metadata":{"tags":["a"],"default_queue_type":"quorum"},"limits":{"max-queues":1}}]}`,
		`{"queues":[{"name":"q","vhost":"/","type":"stream","arguments":{"a":[1,2.5,{"b":null}],"c":-9223372036854775808}}]}`,
		`{"policies":[{"vhost":"/","name":"p","pattern":"^(?!amq\\.).*","priority":"2","definition":{"max-length":1e3}}]}`,
		`{"parameters":[{"vhost":"/","component":"vhost-limits","name":"limits","value":{"max-queues":1}}],"global_parameters":[{"name":"x","value":[]}]}`,
		`{"bindings":[{"source":"a","destination":"b","destination_type":"exchange","arguments":{"x-match":"any"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of another type: %T %v", err, err)
			}
			return
		}
		check := func(args map[string]any) {
			raw, err := json.Marshal(TableToJSON(args))
			if err != nil {
				t.Fatalf("arguments do not encode: %v", err)
			}
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			back, err := TableFromJSON(m)
			if err != nil {
				t.Fatalf("exported arguments do not import: %v (%s)", err, raw)
			}
			if !sameValue(message.Table(args), back) {
				t.Fatalf("arguments changed on the way round: %#v -> %s -> %#v", args, raw, back)
			}
		}
		for _, q := range d.Queues {
			check(q.Arguments)
		}
		for _, x := range d.Exchanges {
			check(x.Arguments)
		}
		for _, b := range d.Bindings {
			check(b.Arguments)
		}
	})
}

// sameValue compares argument values as JSON carries them: a double
// with no fraction comes back a long, as in RabbitMQ.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		if y, ok := b.(int64); ok {
			return x == float64(y)
		}
	case message.Table:
		y, ok := b.(message.Table)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// brokerStore is the broker's policies as a PolicyStore (the server has
// the same adapter).
type brokerStore struct{ b *broker.Broker }

func (s brokerStore) SetPolicy(p Policy, operator bool) error {
	return s.b.SetPolicy(broker.Policy(p), operator)
}

func (s brokerStore) Policies(vhost string, operator bool) []Policy {
	var out []Policy
	for _, p := range s.b.Policies(vhost, operator) {
		out = append(out, Policy(p))
	}
	return out
}

func testImporter(b *broker.Broker, r *auth.Registry) *Importer {
	return &Importer{Broker: b, Users: r, Log: zerolog.Nop(),
		NewScratch: func() *broker.Broker { return broker.New(broker.Config{Logger: zerolog.Nop()}) },
		Policies:   func(b *broker.Broker) PolicyStore { return brokerStore{b} }}
}

// FuzzImport imports what Parse accepts into a fresh broker: no panic,
// and when the import succeeds, the broker's export imports into another
// fresh broker and exports the same again.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"rabbitmq-3.10.8-definitions.json", "rabbitmq-4.x-definitions.json"} {
		if raw, err := os.ReadFile("../../conformance/testdata/" + name); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"vhosts":[{"name":"v"}],"exchanges":[{"name":"x","vhost":"v","type":"headers"}],` +
		`"queues":[{"name":"q","vhost":"v","arguments":{"x-max-priority":3}}],` +
		`"bindings":[{"source":"x","vhost":"v","destination":"q","destination_type":"queue","arguments":{"x-match":"any","a":1}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		round := func(d *Document) []byte {
			b, r := broker.New(broker.Config{Logger: zerolog.Nop()}), auth.NewRegistry()
			defer b.Close()
			if _, err := testImporter(b, r).Import(d, "", Internal); err != nil {
				return nil
			}
			out, err := json.Marshal((&Exporter{Broker: b, Users: r,
				Policies: func(b *broker.Broker) PolicyStore { return brokerStore{b} }}).Export())
			if err != nil {
				t.Fatalf("export does not encode: %v", err)
			}
			return out
		}
		first := round(d)
		if first == nil {
			return
		}
		d2, err := Parse(first)
		if err != nil {
			t.Fatalf("the export does not parse: %v\n%s", err, first)
		}
		second := round(d2)
		if second == nil {
			t.Fatalf("the export of an import does not import:\n%s", first)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("export, import, export differs:\n%s\n%s", first, second)
		}
	})
}
