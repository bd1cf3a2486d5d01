package broker

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// Config holds the core's limits. Zero values mean the documented default.
type Config struct {
	// MaxConsumersPerSession bounds consumers on one channel/session (0 = no limit).
	MaxConsumersPerSession int
	// MaxQueues bounds queues per vhost (0 = no limit).
	MaxQueues int
	// ResidentBytes is how many bytes of ready message bodies a queue keeps
	// in memory before it pages further messages out to storage (0:
	// DefaultResidentBytes; negative: never page). See paging.go.
	ResidentBytes int64
	// FlowMessages is how many ready messages in memory a queue that
	// consumers are draining holds before its publishers are slowed down
	// (0: DefaultFlowMessages; negative: never). See flow.go.
	FlowMessages int
	// MaxDedupCacheSize bounds x-cache-size, the de-duplication ids one
	// queue or exchange remembers (0: DefaultMaxDedupCacheSize).
	MaxDedupCacheSize int64
	Logger            zerolog.Logger
}

// DefaultMaxDedupCacheSize is the default of Config.MaxDedupCacheSize: an
// id costs at most about 250 bytes (a longer one is remembered by its
// hash), so a cache at the limit holds about 250 MB.
const DefaultMaxDedupCacheSize = 1_000_000

// Broker is the set of virtual hosts.
type Broker struct {
	cfg    Config
	log    zerolog.Logger
	mu     sync.RWMutex
	vhosts map[string]*VHost

	// Alarms hold publishers back under memory or disk pressure.
	Alarms *Alarms

	store Persister // nil: nothing is durable
	// globals are the global runtime parameters (global_params.go).
	globals globalParams
	// policyMu orders policy changes (policy_store.go), so that they are
	// saved and applied one at a time, in the order they were made.
	policyMu sync.Mutex
	// Definitions saves (persist.go: saveDefinitions): saveWanted counts
	// the changes that asked for one, saveDone those the last finished
	// save covered, saveErr its outcome; saving while one is written.
	saveMu     sync.Mutex
	saveCond   *sync.Cond
	saveWanted uint64
	saveDone   uint64
	saveErr    error
	saving     bool
	nextMsgID  atomic.Uint64

	// pressure is set under memory pressure: then transient messages are
	// paged out (spilled) too, not only persistent ones.
	pressure atomic.Bool

	// tasks counts the broker's own work in flight (close.go).
	tasks tasks

	// unreadable counts messages whose body storage could not read back
	// (see Queue.setAsideLocked).
	unreadable atomic.Int64

	// retired holds the message counts of deleted vhosts, under mu; mono
	// keeps the totals from falling (counters.go).
	retired MessageCounts
	mono    monotonic
	churn   queueChurn
}

// UnreadableMessages is how many messages were set aside because their
// body could not be read back from storage since the broker started.
func (b *Broker) UnreadableMessages() int64 { return b.unreadable.Load() }

// MaxQueues is the bound on queues per vhost (0: none), for callers that
// check a batch before they declare it.
func (b *Broker) MaxQueues() int { return b.cfg.MaxQueues }

// New returns a broker with the default vhost "/".
func New(cfg Config) *Broker {
	if cfg.ResidentBytes == 0 {
		cfg.ResidentBytes = DefaultResidentBytes
	}
	if cfg.FlowMessages == 0 {
		cfg.FlowMessages = DefaultFlowMessages
	}
	if cfg.MaxDedupCacheSize == 0 {
		cfg.MaxDedupCacheSize = DefaultMaxDedupCacheSize
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, vhosts: map[string]*VHost{}, Alarms: newAlarms()}
	b.AddVHost("/")
	return b
}

// VHost returns the named virtual host.
func (b *Broker) VHost(name string) (*VHost, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.vhosts[name]
	return v, ok
}

// AddVHost creates a virtual host with its predeclared exchanges; adding
// an existing one returns it.
func (b *Broker) AddVHost(name string) *VHost {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.vhosts[name]; ok {
		return v
	}
	v := newVHost(b, name)
	b.vhosts[name] = v
	return v
}

// VHosts lists the virtual host names in order.
func (b *Broker) VHosts() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	names := make([]string, 0, len(b.vhosts))
	for n := range b.vhosts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReleaseOwner deletes the exclusive queues of a closed connection, in
// every vhost.
func (b *Broker) ReleaseOwner(owner ConnID) {
	for _, v := range snapshot(&b.mu, b.vhosts) {
		v.releaseOwner(owner)
	}
}
