package definitions

import (
	"errors"
	"fmt"

	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// dryRun declares the plan's topology and policies in a scratch broker,
// so that what the core refuses (an unknown exchange type, a bad queue
// argument, a binding to nothing, a policy it does not take) refuses
// the import before anything real has changed.
func (im *Importer) dryRun(p *plan) error {
	if im.NewScratch == nil {
		return nil
	}
	s := im.NewScratch()
	defer s.Close()
	touched := map[string]bool{}
	for _, v := range p.vhosts {
		touched[v.Name] = true
	}
	for _, x := range p.exchanges {
		touched[x.VHost] = true
	}
	for _, q := range p.queues {
		touched[q.VHost] = true
	}
	for _, b := range p.bindings {
		touched[b.VHost] = true
	}
	for _, pol := range append(append([]Policy(nil), p.policies...), p.opolicies...) {
		touched[pol.VHost] = true
	}
	for v := range touched {
		if _, _, err := s.CreateVHost(v); err != nil {
			return err
		}
	}
	im.stubBindingEnds(s, p)
	for _, x := range p.exchanges {
		v, _ := s.VHost(x.VHost)
		if _, err := v.DeclareExchange(exchangeDecl(x)); err != nil {
			return brokerReason(err)
		}
	}
	for _, q := range p.queues {
		v, _ := s.VHost(q.VHost)
		if _, err := v.DeclareQueue(queueDecl(q)); err != nil {
			return brokerReason(err)
		}
	}
	for _, b := range p.bindings {
		v, _ := s.VHost(b.VHost)
		if err := v.Bind(bindSpec(b)); err != nil {
			return brokerReason(err)
		}
	}
	if im.Policies != nil {
		store := im.Policies(s)
		for _, pol := range p.policies {
			if err := store.SetPolicy(pol, false); err != nil {
				return policyReason(pol, err)
			}
		}
		for _, pol := range p.opolicies {
			if err := store.SetPolicy(pol, true); err != nil {
				return policyReason(pol, err)
			}
		}
	}
	return nil
}

func policyReason(pol Policy, err error) *Error {
	r := brokerReason(err)
	r.Reason = fmt.Sprintf("%v (%s/%s)", r.Reason, pol.VHost, pol.Name)
	return r
}

// stubBindingEnds gives the scratch broker the exchanges and queues that
// the plan's bindings name and that exist in the real broker only.
func (im *Importer) stubBindingEnds(s *broker.Broker, p *plan) {
	declared := map[[3]string]bool{}
	for _, x := range p.exchanges {
		declared[[3]string{"x", x.VHost, x.Name}] = true
	}
	for _, q := range p.queues {
		declared[[3]string{"q", q.VHost, q.Name}] = true
	}
	stub := func(vhost, name string, isExchange bool) {
		kind := "q"
		if isExchange {
			kind = "x"
		}
		real, ok := im.Broker.VHost(vhost)
		sv, _ := s.VHost(vhost)
		if !ok || sv == nil || declared[[3]string{kind, vhost, name}] {
			return
		}
		declared[[3]string{kind, vhost, name}] = true
		if isExchange {
			if x, ok := real.Exchange(name); ok {
				d := broker.ExchangeDecl{Name: name, Type: x.Type(), Durable: x.Durable()}
				if x.Type() == broker.ExchangeDelayed {
					d.Args = map[string]any{"x-delayed-type": "direct"}
				}
				_, _ = sv.DeclareExchange(d) // amq.* exist already
			}
			return
		}
		if q, ok := real.Queue(name); ok {
			_, _ = sv.DeclareQueue(broker.QueueDecl{Name: name, Durable: q.Durable()})
		}
	}
	for _, b := range p.bindings {
		stub(b.VHost, b.Source, true)
		stub(b.VHost, b.Destination, b.DestinationIsExchange)
	}
}

// apply makes the checked plan's changes: vhosts, then the user database
// in one batch, then policies, exchanges, queues and bindings.
func (im *Importer) apply(p *plan) (Result, error) {
	res := p.res
	var grants []auth.Permission
	for _, v := range p.vhosts {
		vh, created, err := im.Broker.CreateVHost(v.Name)
		if err != nil {
			return res, fmt.Errorf("vhost %q: %w", v.Name, err)
		}
		if err := vh.SaveMeta(broker.VHostMeta{Description: v.Description, Tags: v.Tags, DefaultQueueType: v.DefaultQueueType}); err != nil {
			return res, fmt.Errorf("vhost %q: %w", v.Name, err)
		}
		res.VHosts++
		if created && p.actor != Internal {
			grants = append(grants, auth.Permission{User: p.actor, VHost: v.Name, Configure: ".*", Write: ".*", Read: ".*"})
		}
	}
	if len(grants) > 0 {
		// First, so that the file's own permissions for the actor win.
		if _, ok := im.Users.User(p.actor); ok || userIn(p.batch.Users, p.actor) {
			p.batch.Permissions = append(grants, p.batch.Permissions...)
		}
	}
	b := p.batch
	if len(b.Users)+len(b.Permissions)+len(b.TopicPermissions)+len(b.VHostLimits) > 0 {
		if err := im.Users.Apply(b); err != nil {
			return res, fmt.Errorf("users and permissions: %w", err)
		}
	}
	for _, g := range p.globals {
		if _, err := im.Broker.SetGlobalParameter(g.Name, g.Value); err != nil {
			return res, fmt.Errorf("global parameter %s: %w", g.Name, err)
		}
	}
	if im.Policies != nil {
		store := im.Policies(im.Broker)
		for _, pol := range p.policies {
			if err := store.SetPolicy(pol, false); err != nil {
				return res, policyReason(pol, err)
			}
		}
		for _, pol := range p.opolicies {
			if err := store.SetPolicy(pol, true); err != nil {
				return res, policyReason(pol, err)
			}
		}
	}
	vhost := func(name string) (*broker.VHost, error) {
		if v, ok := im.Broker.VHost(name); ok {
			return v, nil
		}
		return nil, &Error{Reason: []string{"no_such_vhost", name}}
	}
	steps := []func() error{
		func() error {
			return parallel(p.exchanges, func(x Exchange) error {
				v, err := vhost(x.VHost)
				if err == nil {
					_, err = v.DeclareExchange(exchangeDecl(x))
				}
				return err
			})
		},
		func() error {
			return parallel(p.queues, func(q Queue) error {
				v, err := vhost(q.VHost)
				if err == nil {
					_, err = v.DeclareQueue(queueDecl(q))
				}
				return err
			})
		},
		func() error {
			return parallel(p.bindings, func(bd Binding) error {
				v, err := vhost(bd.VHost)
				if err == nil {
					err = v.Bind(bindSpec(bd))
				}
				return err
			})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			var be *broker.Error
			if errors.As(err, &be) && be.Code != broker.CodeInternalError {
				return res, brokerReason(err)
			}
			return res, err
		}
	}
	res.Exchanges, res.Queues, res.Bindings = len(p.exchanges), len(p.queues), len(p.bindings)
	im.logResult(p, res)
	return res, nil
}

func userIn(us []auth.UserRecord, name string) bool {
	for _, u := range us {
		if u.Name == name {
			return true
		}
	}
	return false
}

func (im *Importer) logResult(p *plan, res Result) {
	for _, s := range res.Skipped {
		im.Log.Warn().Str("section", s.Section).Str("vhost", s.VHost).Str("component", s.Component).
			Str("name", s.Name).Str("reason", s.Reason).Msg("definitions: not imported")
	}
	actor := p.actor
	if actor == Internal {
		actor = "(start-up)"
	}
	im.Log.Info().Str("vhost", p.vhost).Str("by", actor).Int("users", res.Users).Int("vhosts", res.VHosts).
		Int("permissions", res.Permissions).Int("policies", res.Policies).Int("exchanges", res.Exchanges).
		Int("queues", res.Queues).Int("bindings", res.Bindings).Int("existing", res.Existing).
		Int("skipped", len(res.Skipped)).Msg("definitions imported")
}
