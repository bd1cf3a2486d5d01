package conformance

import (
	"net/http"
	"testing"

	"github.com/sluice-mq/sluice/brokertest"
)

// /api/parameters as RabbitMQ 3.10 answers it without plugins (checked
// against it): vhost-limits and operator_policy are the components there
// are, listed with their value, vhost, component and name; a plugin's
// component lists nothing and its PUT gets "component ... not found".
func TestAPIParameters(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusNoContent, "PUT", "/api/vhost-limits/%2F/max-queues", `{"value":9}`)
	api.want(http.StatusCreated, "PUT", "/api/operator-policies/%2F/cap", `{"pattern":".*","definition":{"max-length":10},"apply-to":"queues"}`)

	var list []map[string]any
	api.getJSON("/api/parameters", &list)
	if got := jsonOf(list); got != `[{"component":"operator_policy","name":"cap","value":{"apply-to":"queues","definition":{"max-length":10},"pattern":".*","priority":0},"vhost":"/"},{"component":"vhost-limits","name":"limits","value":{"max-queues":9},"vhost":"/"}]` {
		t.Fatalf("parameters: %s", got)
	}
	api.getJSON("/api/parameters/vhost-limits/%2F", &list)
	if got := jsonOf(list); got != `[{"component":"vhost-limits","name":"limits","value":{"max-queues":9},"vhost":"/"}]` {
		t.Fatalf("vhost-limits of /: %s", got)
	}
	api.getJSON("/api/parameters/shovel", &list)
	if len(list) != 0 {
		t.Fatalf("shovel parameters: %v", list)
	}
	api.want(http.StatusNotFound, "GET", "/api/parameters/shovel/no-such-vhost", "")
	var one map[string]any
	api.getJSON("/api/parameters/operator_policy/%2F/cap", &one)
	if one["name"] != "cap" || one["component"] != "operator_policy" {
		t.Fatalf("operator policy parameter: %v", one)
	}
	raw := api.want(http.StatusBadRequest, "PUT", "/api/parameters/shovel/%2F/s1", `{"value":{"src-uri":"amqp://"}}`)
	if got := string(raw); got != `{"error":"bad_request","reason":"Validation failed\n\ncomponent shovel not found\n"}`+"\n" {
		t.Fatalf("a shovel PUT: %q", got)
	}

	// Changes through /api/parameters are the same objects.
	api.want(http.StatusCreated, "PUT", "/api/parameters/operator_policy/%2F/op2", `{"value":{"pattern":"^x","definition":{"max-length":3},"priority":1}}`)
	var op map[string]any
	api.getJSON("/api/operator-policies/%2F/op2", &op)
	if op["pattern"] != "^x" || op["priority"] != 1.0 {
		t.Fatalf("operator policy set as a parameter: %v", op)
	}
	api.want(http.StatusBadRequest, "PUT", "/api/parameters/operator_policy/%2F/op3", `{"value":{"pattern":"^x","definition":{"max-length":3}}}`)
	// The limits parameter is the whole set: it replaces the vhost's.
	api.want(http.StatusNoContent, "PUT", "/api/parameters/vhost-limits/%2F/limits", `{"value":{"max-connections":5}}`)
	var limits []map[string]any
	api.getJSON("/api/vhost-limits/%2F", &limits)
	if got := jsonOf(limits); got != `[{"value":{"max-connections":5},"vhost":"/"}]` {
		t.Fatalf("limits after the parameter PUT: %s", got)
	}
	api.want(http.StatusBadRequest, "PUT", "/api/parameters/vhost-limits/%2F/limits", `{"value":{"max-bogus":5}}`)
	api.want(http.StatusNoContent, "DELETE", "/api/parameters/operator_policy/%2F/op2", "")
	api.want(http.StatusNoContent, "DELETE", "/api/parameters/vhost-limits/%2F/limits", "")
	api.want(http.StatusNotFound, "DELETE", "/api/parameters/vhost-limits/%2F/limits", "")
	api.getJSON("/api/parameters", &list)
	if len(list) != 1 || list[0]["name"] != "cap" {
		t.Fatalf("parameters after the deletes: %v", list)
	}

	// Policymakers read; changing limits or operator policies needs an
	// administrator, as their own endpoints do.
	api.want(http.StatusCreated, "PUT", "/api/users/pm", `{"password":"pm","tags":"policymaker"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/pm", `{"configure":".*","write":".*","read":".*"}`)
	api.as("pm", "pm").want(http.StatusOK, "GET", "/api/parameters", "")
	api.as("pm", "pm").want(http.StatusUnauthorized, "PUT", "/api/parameters/vhost-limits/%2F/limits", `{"value":{"max-queues":1000}}`)
	api.as("pm", "pm").want(http.StatusUnauthorized, "DELETE", "/api/parameters/operator_policy/%2F/cap", "")
	api.want(http.StatusCreated, "PUT", "/api/users/mgmt", `{"password":"mgmt","tags":"management"}`)
	api.as("mgmt", "mgmt").want(http.StatusUnauthorized, "GET", "/api/parameters", "")
}
