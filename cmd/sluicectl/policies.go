package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
)

// Policies and operator policies: rabbitmqctl's set_policy, clear_policy,
// list_policies and their operator_policy twins, over /api/policies and
// /api/operator-policies.

type apiPolicy struct {
	VHost      string         `json:"vhost"`
	Name       string         `json:"name"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
}

func policyPath(operator bool) string {
	if operator {
		return "/api/operator-policies/"
	}
	return "/api/policies/"
}

// setPolicy is set_policy [-p VHOST] [--priority N] [--apply-to WHAT] NAME PATTERN DEFINITION.
func (c *ctl) setPolicy(a []string, operator bool) error {
	cmd := map[bool]string{false: "set_policy", true: "set_operator_policy"}[operator]
	if err := need(a, 3, 3, cmd+" [-p VHOST] [--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION"); err != nil {
		return err
	}
	var def map[string]any
	if err := json.Unmarshal([]byte(a[2]), &def); err != nil || def == nil {
		return fail(exitUsage, "the definition must be a JSON object: %s", a[2])
	}
	prio := 0
	if c.priority != "" {
		n, err := strconv.Atoi(c.priority)
		if err != nil {
			return fail(exitUsage, "--priority must be an integer, not %q", c.priority)
		}
		prio = n
	}
	what := "policy"
	if operator {
		what = "operator policy override"
	}
	c.info("Setting %s %q for pattern %q to %q with priority %q for vhost %q ...", what, a[0], a[1], a[2], strconv.Itoa(prio), c.vhost)
	body := map[string]any{"pattern": a[1], "definition": def, "priority": prio}
	if c.applyTo != "" {
		body["apply-to"] = c.applyTo
	}
	_, st, err := c.expect("PUT", policyPath(operator)+esc(c.vhost)+"/"+esc(a[0]), body, http.StatusCreated, http.StatusNoContent)
	if st == http.StatusNotFound {
		return noVHost(c.vhost)
	}
	return err
}

func (c *ctl) clearPolicy(a []string, operator bool) error {
	cmd, what := "clear_policy", "policy"
	if operator {
		cmd, what = "clear_operator_policy", "operator policy"
	}
	if err := need(a, 1, 1, cmd+" [-p VHOST] NAME"); err != nil {
		return err
	}
	c.info("Clearing %s %q on vhost %q ...", what, a[0], c.vhost)
	_, st, err := c.expect("DELETE", policyPath(operator)+esc(c.vhost)+"/"+esc(a[0]), nil, http.StatusNoContent)
	if st == http.StatusNotFound {
		return fail(exitNoUser, "Parameter does not exist")
	}
	return err
}

func (c *ctl) listPolicies(a []string, operator bool) error {
	cmd, what := "list_policies", "policies"
	if operator {
		cmd, what = "list_operator_policies", "operator policy overrides"
	}
	if err := need(a, 0, 0, cmd+" [-p VHOST]"); err != nil {
		return err
	}
	c.info("Listing %s for vhost %q ...", what, c.vhost)
	var ps []apiPolicy
	st, err := c.get(policyPath(operator)+esc(c.vhost), &ps)
	if err != nil {
		return err
	}
	switch st {
	case http.StatusOK:
	case http.StatusNotFound:
		return noVHost(c.vhost)
	default:
		return fail(exitError, "GET %s: status %d", policyPath(operator)+c.vhost, st)
	}
	// Highest priority first, as rabbitmqctl lists them.
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Priority > ps[j].Priority })
	rows := make([][]any, 0, len(ps))
	for _, p := range ps {
		def, _ := json.Marshal(p.Definition)
		rows = append(rows, []any{p.VHost, p.Name, p.Pattern, p.ApplyTo, string(def), fmt.Sprint(p.Priority)})
	}
	return c.table([]string{"vhost", "name", "pattern", "apply-to", "definition", "priority"}, rows)
}
