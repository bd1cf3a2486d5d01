package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// The durable topology lives in one small file, definitions.bin, rewritten
// whole on each change (write a temporary file, fsync, rename, fsync the
// directory), so it is always either the old or the new version. Topology
// changes are rare; keeping them out of the message log means no definition
// record ever pins a log segment.
//
// The file is one sealed record (see crypto.go) whose plain form is JSON;
// argument tables are stored in the storage codec's table encoding
// (codec.go) so that every value keeps its exact type, and so are policy
// definitions. Version 4 is the current layout: version 3's with global
// runtime parameters added (each value its JSON); version 3 files are read
// as having none. Version 3 added vhost metadata, policies and operator
// policies to version 2's; version 2 files are read as having none of
// those. Version 1 held tables in AMQP's wire
// encoding and is refused with errOldFormat.
const definitionsFile = "definitions.bin"

// definitionsVersion is the layout of the definitions file. Part of the
// on-disk format.
const definitionsVersion = 4

type defsFile struct {
	Version   int       `json:"version"`
	VHosts    []string  `json:"vhosts"`
	Exchanges []defExch `json:"exchanges"`
	Queues    []defQ    `json:"queues"`
	Bindings  []defBind `json:"bindings"`
	// Since version 3.
	VHostMeta        []defVHostMeta `json:"vhost_meta,omitempty"`
	Policies         []defPolicy    `json:"policies,omitempty"`
	OperatorPolicies []defPolicy    `json:"operator_policies,omitempty"`
	// Since version 4.
	GlobalParameters []defGlobal `json:"global_parameters,omitempty"`
}

type defGlobal struct {
	Name  string
	Value json.RawMessage
}

type defVHostMeta struct {
	Name, Description, DefaultQueueType string
	Tags                                []string `json:",omitempty"`
}

type defPolicy struct {
	VHost, Name, Pattern, ApplyTo string
	Priority                      int
	Definition                    []byte // a table in the storage codec
}

type defExch struct {
	VHost, Name, Type    string
	AutoDelete, Internal bool
	Args                 []byte `json:",omitempty"`
}

type defQ struct {
	VHost, Name string
	AutoDelete  bool
	Args        []byte `json:",omitempty"`
}

type defBind struct {
	VHost, Source, Destination string
	DestIsExchange             bool
	Key                        string
	Args                       []byte `json:",omitempty"`
}

func encodeArgs(t message.Table) ([]byte, error) {
	if len(t) == 0 {
		return nil, nil
	}
	return appendTable(nil, t, 0)
}

func decodeArgs(b []byte) (message.Table, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r := codecReader{b: b}
	t := r.table(0)
	if r.err == nil && len(r.b) != 0 {
		return nil, fmt.Errorf("storage: %d bytes after an argument table", len(r.b))
	}
	return t, r.err
}

func marshalDefinitions(d broker.Definitions) ([]byte, error) {
	f := defsFile{Version: definitionsVersion, VHosts: d.VHosts}
	for _, x := range d.Exchanges {
		a, err := encodeArgs(x.Args)
		if err != nil {
			return nil, err
		}
		f.Exchanges = append(f.Exchanges, defExch{x.VHost, x.Name, x.Type, x.AutoDelete, x.Internal, a})
	}
	for _, q := range d.Queues {
		a, err := encodeArgs(q.Args)
		if err != nil {
			return nil, err
		}
		f.Queues = append(f.Queues, defQ{q.VHost, q.Name, q.AutoDelete, a})
	}
	for _, b := range d.Bindings {
		a, err := encodeArgs(b.Args)
		if err != nil {
			return nil, err
		}
		f.Bindings = append(f.Bindings, defBind{b.VHost, b.Source, b.Destination, b.DestIsExchange, b.Key, a})
	}
	for _, name := range slices.Sorted(maps.Keys(d.VHostMeta)) {
		m := d.VHostMeta[name]
		f.VHostMeta = append(f.VHostMeta, defVHostMeta{name, m.Description, m.DefaultQueueType, m.Tags})
	}
	var err error
	if f.Policies, err = encodePolicies(d.Policies); err != nil {
		return nil, err
	}
	if f.OperatorPolicies, err = encodePolicies(d.OperatorPolicies); err != nil {
		return nil, err
	}
	for _, g := range d.GlobalParameters {
		f.GlobalParameters = append(f.GlobalParameters, defGlobal{g.Name, g.Value})
	}
	return json.Marshal(f)
}

func encodePolicies(ps []broker.Policy) ([]defPolicy, error) {
	var out []defPolicy
	for _, p := range ps {
		def, err := appendTable(nil, message.Table(p.Definition), 0)
		if err != nil {
			return nil, fmt.Errorf("policy '%s' in vhost '%s': %w", p.Name, p.VHost, err)
		}
		out = append(out, defPolicy{p.VHost, p.Name, p.Pattern, p.ApplyTo, p.Priority, def})
	}
	return out, nil
}

func decodePolicies(fs []defPolicy) ([]broker.Policy, error) {
	var out []broker.Policy
	for _, f := range fs {
		t, err := decodeArgs(f.Definition)
		if err != nil {
			return nil, err
		}
		out = append(out, broker.Policy{VHost: f.VHost, Name: f.Name, Pattern: f.Pattern, ApplyTo: f.ApplyTo,
			Priority: f.Priority, Definition: t})
	}
	return out, nil
}

func unmarshalDefinitions(data []byte) (broker.Definitions, error) {
	var f defsFile
	var d broker.Definitions
	if err := json.Unmarshal(data, &f); err != nil {
		return d, err
	}
	switch f.Version {
	case definitionsVersion:
	case 3:
		// Version 4 only added global parameters.
		f.GlobalParameters = nil
	case 2:
		// Versions 3 and 4 only added sections; a version 2 file has none.
		f.VHostMeta, f.Policies, f.OperatorPolicies, f.GlobalParameters = nil, nil, nil, nil
	case 1:
		return d, errOldFormat
	default:
		return d, fmt.Errorf("unknown definitions version %d", f.Version)
	}
	d.VHosts = f.VHosts
	for _, x := range f.Exchanges {
		a, err := decodeArgs(x.Args)
		if err != nil {
			return d, err
		}
		d.Exchanges = append(d.Exchanges, broker.ExchangeDef{VHost: x.VHost, Name: x.Name, Type: x.Type, AutoDelete: x.AutoDelete, Internal: x.Internal, Args: a})
	}
	for _, q := range f.Queues {
		a, err := decodeArgs(q.Args)
		if err != nil {
			return d, err
		}
		d.Queues = append(d.Queues, broker.QueueDef{VHost: q.VHost, Name: q.Name, AutoDelete: q.AutoDelete, Args: a})
	}
	for _, b := range f.Bindings {
		a, err := decodeArgs(b.Args)
		if err != nil {
			return d, err
		}
		d.Bindings = append(d.Bindings, broker.BindingDef{VHost: b.VHost, Source: b.Source, Destination: b.Destination, DestIsExchange: b.DestIsExchange, Key: b.Key, Args: a})
	}
	for _, m := range f.VHostMeta {
		if d.VHostMeta == nil {
			d.VHostMeta = map[string]broker.VHostMeta{}
		}
		d.VHostMeta[m.Name] = broker.VHostMeta{Description: m.Description, Tags: m.Tags, DefaultQueueType: m.DefaultQueueType}
	}
	var err error
	if d.Policies, err = decodePolicies(f.Policies); err != nil {
		return d, err
	}
	if d.OperatorPolicies, err = decodePolicies(f.OperatorPolicies); err != nil {
		return d, err
	}
	for _, g := range f.GlobalParameters {
		if !json.Valid(g.Value) {
			return d, fmt.Errorf("global parameter %q: its value is not JSON", g.Name)
		}
		d.GlobalParameters = append(d.GlobalParameters, broker.GlobalParameter{Name: g.Name, Value: g.Value})
	}
	return d, nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new file, never a mix.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".definitions-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// usersFile holds the user database (auth.Registry's persistent form: users
// with salted password hashes, permissions, limits), sealed like the
// definitions and rewritten whole on each change in the same way. Storage
// does not read what is inside.
const usersFile = "users.bin"

// SaveUsers durably replaces the stored user database.
func (s *Store) SaveUsers(data []byte) error {
	s.defsMu.Lock()
	defer s.defsMu.Unlock()
	return writeFileAtomic(filepath.Join(s.opts.Dir, usersFile), s.keyring().seal(nil, s.usersBinding(), data))
}

// LoadUsers returns the stored user database, or nil when there is none
// (a new data directory).
func (s *Store) LoadUsers() ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(s.opts.Dir, usersFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	}
	plain, err := s.keyring().open(nil, data, s.usersBinding(), s.opts.AcceptUnsealed)
	if errors.Is(err, ErrUnsealed) {
		return nil, fmt.Errorf("%s: %w: %s", usersFile, err, acceptUnsealedHint)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", usersFile, err)
	}
	return plain, nil
}

func (s *Store) usersBinding() binding {
	return binding{place: placeUsers, dataID: s.dataID}
}
