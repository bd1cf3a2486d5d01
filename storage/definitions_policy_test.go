package storage

import (
	"reflect"
	"testing"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// TestDefinitionsPoliciesRoundTrip: vhost metadata, policies and operator
// policies come back from the definitions file as they went in, values
// with their types, through a sealed store and a reopen.
func TestDefinitionsPoliciesRoundTrip(t *testing.T) {
	d := broker.Definitions{VHosts: []string{"/", "v2"},
		VHostMeta: map[string]broker.VHostMeta{"v2": {Description: "second", Tags: []string{"a", "b"}, DefaultQueueType: "quorum"}},
		Queues:    []broker.QueueDef{{VHost: "/", Name: "q"}},
		Policies: []broker.Policy{{VHost: "/", Name: "ttl", Pattern: "^(?!amq\\.).*", ApplyTo: "queues", Priority: 3,
			Definition: map[string]any{"message-ttl": int64(5000), "dead-letter-exchange": "dlx", "message-groups": true,
				"ha-params": []any{"n1", "n2"}}}},
		OperatorPolicies: []broker.Policy{{VHost: "v2", Name: "cap", Pattern: ".*", ApplyTo: "all", Priority: -1,
			Definition: map[string]any{"max-length": int64(10)}}},
	}
	dir := t.TempDir()
	k := testKeyring(t, "k1")
	s, _ := openStore(t, dir, k)
	if err := s.SaveDefinitions(d); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, rec := openStore(t, dir, k)
	defer s2.Close()
	got := rec.Definitions
	for i := range got.Policies {
		got.Policies[i].Definition = map[string]any(message.Table(got.Policies[i].Definition))
	}
	if !reflect.DeepEqual(got.VHostMeta, d.VHostMeta) {
		t.Errorf("vhost metadata %+v, want %+v", got.VHostMeta, d.VHostMeta)
	}
	if !reflect.DeepEqual(got.Policies, d.Policies) || !reflect.DeepEqual(got.OperatorPolicies, d.OperatorPolicies) {
		t.Errorf("policies\n%+v %+v\nwant\n%+v %+v", got.Policies, got.OperatorPolicies, d.Policies, d.OperatorPolicies)
	}
}

// TestDefinitionsVersion2StillRead: a file written before policies were
// saved (version 2) is read, with no policies and no metadata.
func TestDefinitionsVersion2StillRead(t *testing.T) {
	old := []byte(`{"version":2,"vhosts":["/","v"],"exchanges":null,"queues":[{"VHost":"/","Name":"q","AutoDelete":false}],"bindings":null}`)
	d, err := unmarshalDefinitions(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.VHosts) != 2 || len(d.Queues) != 1 || d.Policies != nil || d.VHostMeta != nil {
		t.Fatalf("version 2 read as %+v", d)
	}
	// Sections a version 2 file cannot have are ignored if present.
	d, err = unmarshalDefinitions([]byte(`{"version":2,"vhosts":["/"],"policies":[{"VHost":"/","Name":"p","Pattern":".*"}]}`))
	if err != nil || d.Policies != nil {
		t.Fatalf("version 2 with a policies section: %+v, %v", d, err)
	}
}

// TestDefinitionsGlobalParameters: global parameters come back as they
// went in (version 4), and a version 3 file is read with none.
func TestDefinitionsGlobalParameters(t *testing.T) {
	d := broker.Definitions{VHosts: []string{"/"}, GlobalParameters: []broker.GlobalParameter{
		{Name: "cluster_name", Value: []byte(`"blue"`)}, {Name: "obj", Value: []byte(`{"a":[1,2.5,null]}`)}}}
	data, err := marshalDefinitions(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalDefinitions(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.GlobalParameters, d.GlobalParameters) {
		t.Fatalf("global parameters %s, want %s", got.GlobalParameters, d.GlobalParameters)
	}
	got, err = unmarshalDefinitions([]byte(`{"version":3,"vhosts":["/"],"global_parameters":[{"Name":"x","Value":1}]}`))
	if err != nil || got.GlobalParameters != nil {
		t.Fatalf("version 3 read as %+v, %v", got, err)
	}
	if _, err := unmarshalDefinitions([]byte(`{"version":4,"vhosts":["/"],"global_parameters":[{"Name":"x"}]}`)); err == nil {
		t.Fatal("a global parameter with no value was read")
	}
}
