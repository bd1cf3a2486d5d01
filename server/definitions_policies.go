package server

import (
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/definitions"
)

// The broker's policies, for definitions import and export.

func init() {
	definitionPolicies = func(b *broker.Broker) definitions.PolicyStore { return brokerPolicies{b} }
}

type brokerPolicies struct{ b *broker.Broker }

func (p brokerPolicies) SetPolicy(pol definitions.Policy, operator bool) error {
	return p.b.SetPolicy(broker.Policy(pol), operator)
}

func (p brokerPolicies) Policies(vhost string, operator bool) []definitions.Policy {
	var out []definitions.Policy
	for _, pol := range p.b.Policies(vhost, operator) {
		out = append(out, definitions.Policy(pol))
	}
	return out
}
