package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/brokertest"
)

// Global runtime parameters (/api/global-parameters) as RabbitMQ 3.10
// answers them, checked against it: 201 for a new one, 204 for a change or
// a delete, 404 for a missing one, 400 without a value, any JSON as the
// value; policymaker or administrator only. cluster_name is one of them:
// /api/cluster-name and AMQP's connection.start report it, and it lasts
// over a restart, as RabbitMQ's does.
func TestAPIGlobalParametersAndClusterName(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir))
	api := newAPI(t, b)

	var list []map[string]any
	api.getJSON("/api/global-parameters", &list)
	if len(list) != 0 {
		t.Fatalf("a new broker has global parameters: %v", list)
	}
	api.want(http.StatusCreated, "PUT", "/api/global-parameters/obj", `{"value":{"a":[1,2.5,null],"b":"x"}}`)
	api.want(http.StatusNoContent, "PUT", "/api/global-parameters/obj", `{"value":{"a":[1,2.5,null]}}`)
	api.want(http.StatusCreated, "PUT", "/api/global-parameters/gone", `{"value":7}`)
	api.want(http.StatusNoContent, "DELETE", "/api/global-parameters/gone", "")
	api.want(http.StatusNotFound, "DELETE", "/api/global-parameters/gone", "")
	api.want(http.StatusNotFound, "GET", "/api/global-parameters/gone", "")
	if raw := strings.TrimSpace(string(api.want(http.StatusBadRequest, "PUT", "/api/global-parameters/foo", `{}`))); raw != `{"error":"bad_request","reason":"[{key_missing,value}]"}` {
		t.Fatalf("PUT without a value: %s", raw)
	}
	var one map[string]any
	api.getJSON("/api/global-parameters/obj", &one)
	if one["name"] != "obj" || jsonOf(one["value"]) != `{"a":[1,2.5,null]}` {
		t.Fatalf("GET obj: %v", one)
	}

	// Policymakers and administrators only.
	api.want(http.StatusCreated, "PUT", "/api/users/mon", `{"password":"mon","tags":"monitoring"}`)
	api.want(http.StatusCreated, "PUT", "/api/users/pm", `{"password":"pm","tags":"policymaker"}`)
	api.as("mon", "mon").want(http.StatusUnauthorized, "GET", "/api/global-parameters", "")
	api.as("mon", "mon").want(http.StatusUnauthorized, "PUT", "/api/global-parameters/x", `{"value":1}`)
	api.as("pm", "pm").want(http.StatusOK, "GET", "/api/global-parameters/obj", "")

	// The cluster name: a global parameter, reported by AMQP.
	api.want(http.StatusNoContent, "PUT", "/api/cluster-name", `{"name":"blue"}`)
	var cn map[string]any
	api.getJSON("/api/global-parameters/cluster_name", &cn)
	if cn["value"] != "blue" {
		t.Fatalf("cluster_name parameter: %v", cn)
	}
	if got := amqpClusterName(t, b); got != "blue" {
		t.Fatalf("connection.start's cluster_name %q after PUT /api/cluster-name", got)
	}
	api.want(http.StatusNoContent, "PUT", "/api/global-parameters/cluster_name", `{"value":"green"}`)
	if got := amqpClusterName(t, b); got != "green" {
		t.Fatalf("connection.start's cluster_name %q after PUT of the parameter", got)
	}
	var exported struct {
		GlobalParameters []map[string]any `json:"global_parameters"`
	}
	api.getJSON("/api/definitions", &exported)
	if jsonOf(exported.GlobalParameters) != `[{"name":"cluster_name","value":"green"},{"name":"obj","value":{"a":[1,2.5,null]}}]` {
		t.Fatalf("exported global parameters: %v", exported.GlobalParameters)
	}
	b.Stop(t)

	b = brokertest.New(t, brokertest.WithDataDir(dir))
	api = newAPI(t, b)
	api.getJSON("/api/cluster-name", &cn)
	if cn["name"] != "green" {
		t.Fatalf("cluster name after a restart: %v", cn)
	}
	if got := amqpClusterName(t, b); got != "green" {
		t.Fatalf("connection.start's cluster_name %q after a restart", got)
	}
	api.getJSON("/api/global-parameters", &list)
	if jsonOf(list) != `[{"name":"cluster_name","value":"green"},{"name":"obj","value":{"a":[1,2.5,null]}}]` {
		t.Fatalf("global parameters after a restart: %v", list)
	}
	// Cleared, the name is the node's again.
	api.want(http.StatusNoContent, "DELETE", "/api/global-parameters/cluster_name", "")
	api.getJSON("/api/cluster-name", &cn)
	if name, _ := cn["name"].(string); name == "green" || name == "" {
		t.Fatalf("cluster name after the parameter was cleared: %v", cn)
	}
}

func amqpClusterName(t *testing.T, b *brokertest.Broker) string {
	t.Helper()
	conn, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@%s/", b.AMQPAddr()))
	mustOK(t, err)
	defer conn.Close()
	name, _ := conn.Properties["cluster_name"].(string)
	return name
}
