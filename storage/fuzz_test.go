package storage

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// FuzzRecordDecode feeds arbitrary plain records to every record decoder:
// a record that passed its checksum and authentication can still be from a
// buggy or newer writer, and must give an error, never a panic or a body
// read past its end. A message record that decodes is re-encoded and must
// come back the same.
func FuzzRecordDecode(f *testing.F) {
	m := &message.Message{Exchange: "ex", RoutingKey: "rk", Body: []byte("body"),
		Properties: message.Properties{Flags: message.FlagHeaders | message.FlagDeliveryMode | message.FlagCorrelationID,
			Headers: message.Table{"n": int32(7), "s": "x"}, DeliveryMode: 2, CorrelationID: "c"}}
	for _, targets := range [][]target{nil, {{ref: qa}}, {{ref: qa, delivered: true, returns: 3}, {ref: qb}}} {
		rec, err := encodeMessage(nil, kindMessage, 42, 1000, targets, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
	}
	f.Add(encodeRef(nil, kindSettled, 7, qa))
	f.Add(encodeDedup(nil, qa, "key", 99, ""))
	f.Add(encodeDedup(nil, qa, "key", 99, "answer"))
	f.Add(encodeRefs(nil, kindSettledMany, qa, []uint64{1, 2, 3}))
	f.Add([]byte{kindMessage, 1, 2}) // format 1
	f.Fuzz(func(t *testing.T, rec []byte) {
		kind, body, err := splitRecord(rec)
		if err != nil {
			return
		}
		_, _, _ = decodeMessageHead(body)
		_, _, _ = decodeRef(body)
		_, _ = decodeDedup(body)
		_, _, _ = decodeRefs(body)
		d, err := decodeMessageBody(body, false)
		if err != nil || kind != kindMessage {
			return
		}
		again, err := encodeMessage(nil, kindMessage, d.id, d.published, d.targets, d.msg)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err) // the codec is total
		}
		d2, err := decodeMessage(again[2:])
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if d2.id != d.id || d2.published != d.published || !reflect.DeepEqual(d2.targets, d.targets) ||
			!sameMessage(d2.msg, d.msg) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", d, d2)
		}
	})
}

// FuzzDefinitions feeds arbitrary bytes to the definitions file parser.
func FuzzDefinitions(f *testing.F) {
	seed, err := marshalDefinitions(broker.Definitions{VHosts: []string{"/"},
		Exchanges: []broker.ExchangeDef{{VHost: "/", Name: "x", Type: "topic", Args: message.Table{"alternate-exchange": "ae"}}},
		Queues:    []broker.QueueDef{{VHost: "/", Name: "q", Args: message.Table{"x-max-length": int32(3)}}},
		Bindings:  []broker.BindingDef{{VHost: "/", Source: "x", Destination: "q", Key: "a.#"}},
		VHostMeta: map[string]broker.VHostMeta{"/": {Description: "d", Tags: []string{"t"}}},
		Policies: []broker.Policy{{VHost: "/", Name: "p", Pattern: "^q", ApplyTo: "queues", Priority: 1,
			Definition: map[string]any{"max-length": int64(3), "ha-params": []any{"a"}}}},
		OperatorPolicies: []broker.Policy{{VHost: "/", Name: "o", Pattern: ".*", ApplyTo: "all",
			Definition: map[string]any{"message-ttl": int64(10)}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := unmarshalDefinitions(data)
		if err != nil {
			return
		}
		if _, err := marshalDefinitions(d); err != nil {
			t.Fatalf("parsed definitions do not marshal: %v", err)
		}
	})
}

// FuzzParseKeyring feeds arbitrary keyring files: an error or a keyring
// that seals and opens, never a panic.
func FuzzParseKeyring(f *testing.F) {
	f.Add("k1:" + strings.Repeat("A", 43) + "=\n# comment\n")
	f.Add("k2:AAAA\n")
	f.Add(":\n")
	f.Fuzz(func(t *testing.T, text string) {
		k, err := ParseKeyring(strings.NewReader(text))
		if err != nil || k == nil {
			return
		}
		b := binding{place: placeDefinitions}
		sealed := k.seal(nil, b, []byte("payload"))
		if plain, err := k.open(nil, sealed, b, false); err != nil || string(plain) != "payload" {
			t.Fatalf("keyring %q does not open what it sealed: %v", k.Current(), err)
		}
	})
}

// sameMessage compares two decoded messages; %v prints maps in key order
// and a NaN as NaN, where reflect.DeepEqual would call NaN unequal to itself.
func sameMessage(a, b *message.Message) bool {
	return a.Exchange == b.Exchange && a.RoutingKey == b.RoutingKey && string(a.Body) == string(b.Body) &&
		fmt.Sprintf("%v", a.Properties) == fmt.Sprintf("%v", b.Properties)
}
