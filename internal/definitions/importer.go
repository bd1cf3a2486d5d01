package definitions

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// PolicyStore keeps policies and operator policies (the broker's).
type PolicyStore interface {
	SetPolicy(p Policy, operator bool) error
	Policies(vhost string, operator bool) []Policy
}

// Importer applies documents to a broker and its user database.
type Importer struct {
	Broker *broker.Broker
	Users  *auth.Registry
	// NewScratch returns an empty broker configured as Broker is (its
	// limits), with no storage: the document's topology is declared
	// there first, so that the core's own checks refuse what it would
	// refuse before anything real changes. It is closed after the run.
	NewScratch func() *broker.Broker
	// Policies returns a broker's policy store; nil when the broker has
	// none (then policies are reported as skipped).
	Policies func(b *broker.Broker) PolicyStore
	Log      zerolog.Logger
}

// Skipped is a part of a document that was not imported, and why.
type Skipped struct {
	Section   string `json:"section"`
	VHost     string `json:"vhost,omitempty"`
	Component string `json:"component,omitempty"`
	Name      string `json:"name,omitempty"`
	Reason    string `json:"reason"`
}

// Result says what an import did.
type Result struct {
	Skipped                               []Skipped
	Users, VHosts, Permissions, Policies  int
	Exchanges, Queues, Bindings, Existing int
}

// Internal is the acting user of an import made by the broker itself
// (--definitions at start-up), as RabbitMQ's rmq-internal: no user gets
// permissions on the vhosts it creates.
const Internal = ""

// Import checks d whole and then applies it: to the whole broker when
// vhost is "", else to that vhost only (its exchanges, queues, bindings,
// policies and parameters, as RabbitMQ's per-vhost import; the vhost
// must exist). actor is the user importing: it gets every permission on
// the vhosts the import creates, as in RabbitMQ. A refused document is an
// *Error and nothing has changed; a later failure (storage) is returned
// as it is, with what was applied before it kept.
func (im *Importer) Import(d *Document, vhost, actor string) (Result, error) {
	p, err := im.plan(d, vhost, actor)
	if err != nil {
		return Result{}, err
	}
	if err := im.dryRun(p); err != nil {
		return Result{}, err
	}
	return im.apply(p)
}

// plan is a checked document: what to create, in order.
type plan struct {
	vhost     string // "" for the whole broker
	actor     string
	vhosts    []VHost
	batch     auth.Batch
	policies  []Policy
	opolicies []Policy
	exchanges []Exchange
	queues    []Queue
	bindings  []Binding
	globals   []broker.GlobalParameter
	res       Result
}

func (p *plan) skip(s Skipped) { p.res.Skipped = append(p.res.Skipped, s) }

func (im *Importer) plan(d *Document, vhost, actor string) (*plan, error) {
	p := &plan{vhost: vhost, actor: actor, batch: auth.Batch{VHostLimits: map[string]map[string]int64{}}}
	for _, k := range d.Unknown {
		p.skip(Skipped{Section: k, Reason: "not a section of a definitions document sluice knows"})
	}
	known := map[string]bool{}
	for _, v := range im.Broker.VHosts() {
		known[v] = true
	}
	if vhost != "" {
		if !known[vhost] {
			return nil, &Error{Reason: "vhost_not_found"}
		}
		p.scopeToVHost(d)
	} else {
		if err := p.planVHosts(d, known); err != nil {
			return nil, err
		}
		if err := im.planUsers(p, d, known); err != nil {
			return nil, err
		}
		if err := im.planGlobals(p, d); err != nil {
			return nil, err
		}
	}
	hasVHost := func(v string) error {
		if !known[v] {
			return &Error{Reason: []string{"no_such_vhost", v}}
		}
		return nil
	}
	if err := im.planParameters(p, d, hasVHost); err != nil {
		return nil, err
	}
	if err := im.planPolicies(p, d, hasVHost); err != nil {
		return nil, err
	}
	if err := im.planTopology(p, d, hasVHost); err != nil {
		return nil, err
	}
	return p, im.checkQueueLimits(p)
}

// scopeToVHost makes every object of d one of vhost's, and reports what
// a per-vhost import leaves out.
func (p *plan) scopeToVHost(d *Document) {
	for _, s := range []struct {
		name string
		n    int
	}{{"users", len(d.Users)}, {"vhosts", len(d.VHosts)}, {"permissions", len(d.Permissions)},
		{"topic_permissions", len(d.TopicPermissions)}, {"global_parameters", len(d.GlobalParameters)}} {
		if s.n > 0 {
			p.skip(Skipped{Section: s.name, VHost: p.vhost,
				Reason: fmt.Sprintf("%d left out: an import into one vhost takes its exchanges, queues, bindings, policies and parameters", s.n)})
		}
	}
	for i := range d.Parameters {
		d.Parameters[i].VHost = p.vhost
	}
	for i := range d.Policies {
		d.Policies[i].VHost = p.vhost
	}
	for i := range d.Exchanges {
		d.Exchanges[i].VHost = p.vhost
	}
	for i := range d.Queues {
		d.Queues[i].VHost = p.vhost
	}
	for i := range d.Bindings {
		d.Bindings[i].VHost = p.vhost
	}
}

// queueTypes are the default queue types a vhost may have.
var queueTypes = []string{"", "classic", "quorum"}

func (p *plan) planVHosts(d *Document, known map[string]bool) error {
	for _, v := range d.VHosts {
		if !slices.Contains(queueTypes, v.DefaultQueueType) {
			return &Error{Reason: fmt.Sprintf("Invalid default queue type '%s' of vhost '%s': sluice has classic and quorum", v.DefaultQueueType, v.Name)}
		}
		if len(v.Limits) > 0 {
			if err := checkLimits(v.Limits, vhostLimitNames, "vhost '"+v.Name+"'"); err != nil {
				return err
			}
			p.batch.VHostLimits[v.Name] = v.Limits
		}
		p.vhosts = append(p.vhosts, v)
		known[v.Name] = true
	}
	return nil
}

var (
	vhostLimitNames = []string{auth.LimitMaxConnections, auth.LimitMaxQueues}
	userLimitNames  = []string{auth.LimitMaxConnections, auth.LimitMaxChannels}
)

func checkLimits(l map[string]int64, names []string, of string) error {
	for k := range l {
		if !slices.Contains(names, k) {
			return &Error{Reason: fmt.Sprintf("Validation failed\n\nUnrecognised terms [{<<\"%s\">>,...}] in limits of %s\n", k, of)}
		}
	}
	return nil
}

// hashFor is the algorithm of a hash given without one: MD5 in files
// written before RabbitMQ 3.6, SHA-256 since (rabbit_auth_backend_internal
// :hashing_algorithm).
func hashFor(version string) string {
	for _, old := range []string{"3.0.", "3.1.", "3.2.", "3.3.", "3.4.", "3.5."} {
		if strings.HasPrefix(version, old) {
			return auth.HashMD5
		}
	}
	return auth.HashSHA256
}

func (im *Importer) planUsers(p *plan, d *Document, known map[string]bool) error {
	users := map[string]bool{}
	for _, u := range im.Users.Users() {
		users[u.Name] = true
	}
	for _, u := range d.Users {
		rec := auth.UserRecord{Name: u.Name, Tags: u.Tags, Limits: u.Limits, HashingAlgorithm: u.HashingAlgorithm}
		switch {
		case u.Password != nil:
			h, err := auth.HashPassword(auth.HashSHA256, *u.Password)
			if err != nil {
				return err
			}
			rec.PasswordHash, rec.HashingAlgorithm = h, auth.HashSHA256
		default:
			if rec.HashingAlgorithm == "" {
				rec.HashingAlgorithm = hashFor(d.RabbitVersion)
			}
			rec.PasswordHash = u.PasswordHash
			if err := auth.CheckHash(rec.HashingAlgorithm, rec.PasswordHash); err != nil {
				return &Error{Reason: fmt.Sprintf("user '%s': %v", u.Name, err)}
			}
		}
		if err := checkLimits(u.Limits, userLimitNames, "user '"+u.Name+"'"); err != nil {
			return err
		}
		p.batch.Users = append(p.batch.Users, rec)
		users[u.Name] = true
	}
	for _, pm := range d.Permissions {
		if err := checkGrant(known, users, pm.VHost, pm.User, pm.Configure, pm.Write, pm.Read); err != nil {
			return err
		}
		p.batch.Permissions = append(p.batch.Permissions, pm)
	}
	for _, tp := range d.TopicPermissions {
		r := strings.NewReplacer("{username}", tp.User, "{vhost}", tp.VHost)
		if err := checkGrant(known, users, tp.VHost, tp.User, r.Replace(tp.Write), r.Replace(tp.Read)); err != nil {
			return err
		}
		p.batch.TopicPermissions = append(p.batch.TopicPermissions, tp)
	}
	p.res.Users, p.res.Permissions = len(d.Users), len(d.Permissions)+len(d.TopicPermissions)
	return nil
}

// checkGrant checks a permission's user, vhost and patterns (Go's RE2:
// a PCRE pattern with backreferences or lookaround is refused).
func checkGrant(vhosts, users map[string]bool, vhost, user string, patterns ...string) error {
	if !vhosts[vhost] {
		return &Error{Reason: []string{"no_such_vhost", vhost}}
	}
	if !users[user] {
		return &Error{Reason: []string{"no_such_user", user}}
	}
	for _, pat := range patterns {
		if _, err := regexp.Compile(pat); err != nil {
			return &Error{Reason: fmt.Sprintf("invalid permission pattern %q of user '%s' in vhost '%s': %v", pat, user, vhost, err)}
		}
	}
	return nil
}

// planGlobals takes the global parameters, cluster_name among them.
// RabbitMQ's internal ones (internal_cluster_id, which every export of
// 3.x holds) identify the source cluster, not this one; RabbitMQ 4.x
// leaves them out of exports, and they are only logged here.
func (im *Importer) planGlobals(p *plan, d *Document) error {
	for _, g := range d.GlobalParameters {
		if strings.HasPrefix(g.Name, "internal") {
			im.Log.Info().Str("parameter", g.Name).Msg("definitions: RabbitMQ's internal global parameter not imported")
			continue
		}
		if g.Name == "" {
			return &Error{Reason: "a global parameter has no name"}
		}
		value, err := json.Marshal(g.Value)
		if err != nil {
			return &Error{Reason: fmt.Sprintf("global parameter %s: %v", g.Name, err)}
		}
		p.globals = append(p.globals, broker.GlobalParameter{Name: g.Name, Value: value})
	}
	return nil
}

func (im *Importer) planParameters(p *plan, d *Document, hasVHost func(string) error) error {
	for _, pa := range d.Parameters {
		switch pa.Component {
		case "vhost-limits":
			if err := hasVHost(pa.VHost); err != nil {
				return err
			}
			m, ok := pa.Value.(map[string]any)
			if !ok {
				return invalid("parameter vhost-limits of vhost '%s': value must be an object", pa.VHost)
			}
			l, err := limits(m, "vhost-limits of vhost '"+pa.VHost+"'", "value")
			if err != nil {
				return err
			}
			if err := checkLimits(l, vhostLimitNames, "vhost '"+pa.VHost+"'"); err != nil {
				return err
			}
			p.batch.VHostLimits[pa.VHost] = l
		case "operator_policy":
			if err := hasVHost(pa.VHost); err != nil {
				return err
			}
			m, ok := pa.Value.(map[string]any)
			if !ok {
				return invalid("operator policy '%s' of vhost '%s': value must be an object", pa.Name, pa.VHost)
			}
			pol, err := parsePolicy(m, "operator policy '"+pa.Name+"'")
			if err != nil {
				return err
			}
			pol.VHost, pol.Name = pa.VHost, pa.Name
			if im.Policies == nil {
				p.skip(Skipped{Section: "parameters", VHost: pa.VHost, Component: pa.Component, Name: pa.Name, Reason: "this build of sluice has no policies"})
				continue
			}
			p.opolicies = append(p.opolicies, pol)
		default:
			p.skip(Skipped{Section: "parameters", VHost: pa.VHost, Component: pa.Component, Name: pa.Name,
				Reason: "sluice has no " + pa.Component + " (a RabbitMQ plugin's runtime parameter)"})
		}
	}
	return nil
}

func (im *Importer) planPolicies(p *plan, d *Document, hasVHost func(string) error) error {
	for _, pol := range d.Policies {
		if err := hasVHost(pol.VHost); err != nil {
			return err
		}
		if pol.Name == "" {
			return invalid("policy in virtual host '%s' has undefined name", pol.VHost)
		}
		if im.Policies == nil {
			p.skip(Skipped{Section: "policies", VHost: pol.VHost, Name: pol.Name, Reason: "this build of sluice has no policies"})
			continue
		}
		p.policies = append(p.policies, pol)
	}
	p.res.Policies = len(p.policies) + len(p.opolicies)
	return nil
}

func (im *Importer) planTopology(p *plan, d *Document, hasVHost func(string) error) error {
	exists := func(vhost string, q bool, name string) bool {
		v, ok := im.Broker.VHost(vhost)
		if !ok {
			return false
		}
		if q {
			_, ok = v.Queue(name)
		} else {
			_, ok = v.Exchange(name)
		}
		return ok
	}
	for _, x := range d.Exchanges {
		if err := hasVHost(x.VHost); err != nil {
			return err
		}
		switch {
		case x.Name == "" || strings.HasPrefix(x.Name, "amq."):
			p.skip(Skipped{Section: "exchanges", VHost: x.VHost, Name: x.Name, Reason: "a predeclared exchange (the default or amq.*) is not imported"})
		case exists(x.VHost, false, x.Name):
			p.res.Existing++
		default:
			p.exchanges = append(p.exchanges, x)
		}
	}
	for _, q := range d.Queues {
		if err := hasVHost(q.VHost); err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(q.Name, "amq."):
			p.skip(Skipped{Section: "queues", VHost: q.VHost, Name: q.Name, Reason: "a queue name beginning with amq. is reserved"})
		case exists(q.VHost, true, q.Name):
			p.res.Existing++
		default:
			p.queues = append(p.queues, q)
		}
	}
	for _, b := range d.Bindings {
		if err := hasVHost(b.VHost); err != nil {
			return err
		}
		p.bindings = append(p.bindings, b)
	}
	return nil
}

// checkQueueLimits refuses an import that would take a vhost past its
// max-queues limit (the file's when it sets one), as RabbitMQ's
// validate_limits, or past the broker's --max-queues, before anything is
// applied.
func (im *Importer) checkQueueLimits(p *plan) error {
	add := map[string]int{}
	for _, q := range p.queues {
		add[q.VHost]++
	}
	if err := im.checkBrokerQueueLimit(p); err != nil {
		return err
	}
	for v, n := range add {
		limit, ok := im.Users.VHostLimit(v, auth.LimitMaxQueues)
		if l, set := p.batch.VHostLimits[v]; set {
			limit, ok = l[auth.LimitMaxQueues]
			ok = ok && limit >= 0
		}
		have := 0
		if vh, found := im.Broker.VHost(v); found {
			have = len(vh.Queues())
		}
		if ok && int64(have+n) > limit {
			return &Error{Reason: fmt.Sprintf("Adding %d queue(s) to virtual host \"%s\" would exceed the limit of %d queue(s).\n\n"+
				"This virtual host currently has %d queue(s) defined.\n\nImport aborted!", n, v, limit, have)}
		}
	}
	return nil
}

// checkBrokerQueueLimit refuses an import whose new queues would take a
// vhost past the broker's --max-queues. Unlike a vhost's own limit
// (RabbitMQ's rule, which counts every queue the file names), only queues
// the vhost does not have yet count: a redeclare adds nothing.
func (im *Importer) checkBrokerQueueLimit(p *plan) error {
	max := im.Broker.MaxQueues()
	if max <= 0 {
		return nil
	}
	fresh := map[string]map[string]bool{}
	for _, q := range p.queues {
		if vh, ok := im.Broker.VHost(q.VHost); ok {
			if _, exists := vh.Queue(q.Name); exists {
				continue
			}
		}
		if fresh[q.VHost] == nil {
			fresh[q.VHost] = map[string]bool{}
		}
		fresh[q.VHost][q.Name] = true
	}
	for v, names := range fresh {
		have := 0
		if vh, ok := im.Broker.VHost(v); ok {
			have = len(vh.Queues())
		}
		if have+len(names) > max {
			return &Error{Reason: fmt.Sprintf("Adding %d queue(s) to virtual host \"%s\" would exceed this broker's limit of %d queue(s) per virtual host (--max-queues).\n\n"+
				"This virtual host currently has %d queue(s) defined.\n\nImport aborted!", len(names), v, max, have)}
		}
	}
	return nil
}

// brokerReason words a core refusal as RabbitMQ's import does
// ("precondition_failed: invalid arg ...").
func brokerReason(err error) *Error {
	var be *broker.Error
	if errors.As(err, &be) {
		return &Error{Reason: strings.ToLower(broker.CodeName(be.Code)) + ": " + be.Text}
	}
	return &Error{Reason: err.Error()}
}

func exchangeDecl(x Exchange) broker.ExchangeDecl {
	return broker.ExchangeDecl{Name: x.Name, Type: x.Type, Durable: x.Durable, AutoDelete: x.AutoDelete,
		Internal: x.Internal, Args: message.Table(x.Arguments)}
}

func queueDecl(q Queue) broker.QueueDecl {
	return broker.QueueDecl{Name: q.Name, Durable: q.Durable, AutoDelete: q.AutoDelete, Args: message.Table(q.Arguments)}
}

func bindSpec(b Binding) broker.BindSpec {
	return broker.BindSpec{Source: b.Source, Destination: b.Destination, DestIsExchange: b.DestinationIsExchange,
		Key: b.RoutingKey, Args: message.Table(b.Arguments)}
}

// parallel runs fn on each of items with many goroutines: a durable
// declare waits for the definitions save that covers it, each save
// writes the whole topology, and the declares waiting together share one
// save. With 64 at a time 2,000 queues and their bindings import in about
// 5 s on a busy 2-vCPU machine; one at a time took 25 s, 8 at a time 18 s.
// The first error is returned.
func parallel[T any](items []T, fn func(T) error) error {
	const workers = 64
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for w := 0; w < min(workers, len(items)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next == len(items) {
					mu.Unlock()
					return
				}
				it := items[next]
				next++
				mu.Unlock()
				if err := fn(it); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
