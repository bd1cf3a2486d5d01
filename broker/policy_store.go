package broker

import (
	"maps"
	"sort"
)

// Setting, deleting and listing policies. A change is made durable (saved
// with the definitions) before it takes effect on any queue or exchange;
// when the save fails the change is undone and the error returned.

// SetPolicy adds or replaces a policy (operator false) or an operator
// policy in p.VHost. It validates p as RabbitMQ does (a *PolicyError
// carries RabbitMQ's reason); an empty ApplyTo is "all".
func (b *Broker) SetPolicy(p Policy, operator bool) error {
	re, err := b.checkPolicy(&p, operator)
	if err != nil {
		return err
	}
	v, ok := b.VHost(p.VHost)
	if !ok {
		return errorf(CodeNotFound, "no vhost '%s'", p.VHost)
	}
	cp := &compiledPolicy{Policy: p, re: re}
	b.policyMu.Lock()
	defer b.policyMu.Unlock()
	v.mu.Lock()
	set := v.policySet(operator)
	old, had := set[p.Name]
	set[p.Name] = cp
	v.mu.Unlock()
	if err := b.saveDefinitions(); err != nil {
		v.mu.Lock()
		if had {
			set[p.Name] = old
		} else {
			delete(set, p.Name)
		}
		v.mu.Unlock()
		return err
	}
	v.applyPolicies()
	b.log.Info().Str("vhost", p.VHost).Str("policy", p.Name).Bool("operator", operator).Str("pattern", p.Pattern).
		Str("apply_to", p.ApplyTo).Int("priority", p.Priority).Msg("policy set")
	return nil
}

// DeletePolicy removes a policy or operator policy; a missing one is
// CodeNotFound.
func (b *Broker) DeletePolicy(vhost, name string, operator bool) error {
	v, ok := b.VHost(vhost)
	if !ok {
		return errorf(CodeNotFound, "no vhost '%s'", vhost)
	}
	b.policyMu.Lock()
	defer b.policyMu.Unlock()
	v.mu.Lock()
	set := v.policySet(operator)
	old, had := set[name]
	delete(set, name)
	v.mu.Unlock()
	if !had {
		return errorf(CodeNotFound, "no policy '%s' in vhost '%s'", name, vhost)
	}
	if err := b.saveDefinitions(); err != nil {
		v.mu.Lock()
		set[name] = old
		v.mu.Unlock()
		return err
	}
	v.applyPolicies()
	b.log.Info().Str("vhost", vhost).Str("policy", name).Bool("operator", operator).Msg("policy cleared")
	return nil
}

// Policies lists the policies (or operator policies) of vhost, or of every
// vhost when vhost is "", sorted by vhost and then as they are tried
// (highest priority first, then by name).
func (b *Broker) Policies(vhost string, operator bool) []Policy {
	var out []Policy
	for _, v := range b.vhostList() {
		if vhost != "" && v.name != vhost {
			continue
		}
		v.mu.RLock()
		ps := sortedPolicies(v.policySet(operator))
		v.mu.RUnlock()
		for _, p := range ps {
			out = append(out, p.export())
		}
	}
	return out
}

// LookupPolicy returns one policy or operator policy.
func (b *Broker) LookupPolicy(vhost, name string, operator bool) (Policy, bool) {
	v, ok := b.VHost(vhost)
	if !ok {
		return Policy{}, false
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	p, ok := v.policySet(operator)[name]
	if !ok {
		return Policy{}, false
	}
	return p.export(), true
}

// export is a copy the caller may keep and change.
func (p *compiledPolicy) export() Policy {
	out := p.Policy
	out.Definition = maps.Clone(p.Definition)
	return out
}

// policySet is the map of policies or operator policies. v.mu held.
func (v *VHost) policySet(operator bool) map[string]*compiledPolicy {
	if operator {
		if v.pol.opPolicies == nil {
			v.pol.opPolicies = map[string]*compiledPolicy{}
		}
		return v.pol.opPolicies
	}
	if v.pol.policies == nil {
		v.pol.policies = map[string]*compiledPolicy{}
	}
	return v.pol.policies
}

// vhostList is the vhosts sorted by name.
func (b *Broker) vhostList() []*VHost {
	b.mu.RLock()
	vs := make([]*VHost, 0, len(b.vhosts))
	for _, v := range b.vhosts {
		vs = append(vs, v)
	}
	b.mu.RUnlock()
	sort.Slice(vs, func(i, j int) bool { return vs[i].name < vs[j].name })
	return vs
}

// restorePolicies puts stored policies back at start-up, before queues
// and exchanges are restored, so that each is declared with its policy.
// A stored policy that no longer validates is logged and skipped.
func (b *Broker) restorePolicies(ps []Policy, operator bool) {
	for _, p := range ps {
		re, err := b.checkPolicy(&p, operator)
		if err != nil {
			b.log.Error().Err(err).Str("vhost", p.VHost).Str("policy", p.Name).Msg("cannot restore policy")
			continue
		}
		v := b.AddVHost(p.VHost)
		v.mu.Lock()
		v.policySet(operator)[p.Name] = &compiledPolicy{Policy: p, re: re}
		v.pol.active, v.pol.activeOp = sortedPolicies(v.pol.policies), sortedPolicies(v.pol.opPolicies)
		v.mu.Unlock()
	}
}

// vhostPolicies are a vhost's policies by name, as stored, and sorted as
// they are tried, the ones in force (policy_apply.go).
type vhostPolicies struct {
	policies, opPolicies map[string]*compiledPolicy
	active, activeOp     []*compiledPolicy
}
