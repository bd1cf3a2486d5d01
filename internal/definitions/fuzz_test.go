package definitions

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

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
