package conformance

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// The health checks of the management API.

func TestAPIHealthChecks(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	check := func(status int, path string) obj {
		t.Helper()
		var o obj
		raw := api.want(status, "GET", "/api/"+path, "")
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatalf("%s: %v in %s", path, err, raw)
		}
		return o
	}
	for _, p := range []string{"health/checks/alarms", "health/checks/local-alarms", "health/checks/virtual-hosts",
		"health/checks/node-is-quorum-critical", "health/checks/node-is-mirror-sync-critical",
		"health/checks/certificate-expiration/1/weeks", "aliveness-test/%2F"} {
		if o := check(http.StatusOK, p); o["status"] != "ok" {
			t.Errorf("%s: %v", p, o)
		}
	}
	_, amqpPort := hostPortOf(t, b.AMQPAddr())
	if o := check(http.StatusOK, "health/checks/port-listener/"+strconv.Itoa(int(amqpPort))); o["port"] != amqpPort {
		t.Errorf("port-listener: %v", o)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	mustOK(t, err)
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	if o := check(http.StatusServiceUnavailable, "health/checks/port-listener/"+strconv.Itoa(freePort)); o["status"] != "failed" ||
		o["reason"] != "No active listener" || o["missing"] != float64(freePort) {
		t.Errorf("port-listener of a closed port: %v", o)
	}
	check(http.StatusBadRequest, "health/checks/port-listener/abc")
	// The bodies' keys in RabbitMQ's order, status first (as RabbitMQ
	// 3.10 writes them; a client reading the raw text sees the same).
	for path, prefix := range map[string]string{
		"health/checks/port-listener/" + strconv.Itoa(freePort):      `{"status":"failed","reason":"No active listener","missing":` + strconv.Itoa(freePort) + `,"ports":[`,
		"health/checks/port-listener/" + strconv.Itoa(int(amqpPort)): `{"status":"ok","port":`,
		"health/checks/protocol-listener/amqp091":                    `{"status":"ok","protocol":"amqp"}`,
		"health/checks/protocol-listener/mqtt":                       `{"status":"failed","reason":"No active listener","missing":"mqtt","protocols":[`,
		"health/checks/node-is-quorum-critical":                      `{"status":"ok"`,
	} {
		if _, raw := api.do("GET", "/api/"+path, ""); !strings.HasPrefix(string(raw), prefix) {
			t.Errorf("%s: %s, want it to begin %s", path, raw, prefix)
		}
	}
	for _, p := range []string{"amqp", "amqp091", "AMQP0-9-1", "stomp", "stomp1.2", "http", "web-stomp"} {
		if o := check(http.StatusOK, "health/checks/protocol-listener/"+p); o["status"] != "ok" {
			t.Errorf("protocol-listener/%s: %v", p, o)
		}
	}
	if o := check(http.StatusServiceUnavailable, "health/checks/protocol-listener/mqtt"); o["missing"] != "mqtt" {
		t.Errorf("protocol-listener/mqtt: %v", o)
	}
	check(http.StatusBadRequest, "health/checks/certificate-expiration/1/fortnights")
	check(http.StatusBadRequest, "health/checks/certificate-expiration/soon/days")
	check(http.StatusNotFound, "aliveness-test/nope")
	if !queueExists(t, amqpDial(t, b), "aliveness-test") {
		t.Error("the aliveness test did not declare its queue")
	}

	// Under a resource alarm the alarm checks fail with RabbitMQ's body.
	b.Broker.Alarms.Set("memory", true)
	o := check(http.StatusServiceUnavailable, "health/checks/alarms")
	alarms, _ := o["alarms"].([]any)
	if o["status"] != "failed" || o["reason"] != "There are alarms in effect in the cluster" || len(alarms) != 1 ||
		alarms[0].(obj)["resource"] != "memory" || alarms[0].(obj)["node"] == nil {
		t.Errorf("alarms under the memory alarm: %v", o)
	}
	if o := check(http.StatusServiceUnavailable, "health/checks/local-alarms"); o["reason"] != "There are alarms in effect on the node" {
		t.Errorf("local-alarms: %v", o)
	}
	var nodes []obj
	api.getJSON("/api/nodes", &nodes)
	if nodes[0]["mem_alarm"] != true {
		t.Errorf("mem_alarm %v", nodes[0]["mem_alarm"])
	}
	b.Broker.Alarms.Set("disk", true)
	if o := check(http.StatusServiceUnavailable, "health/checks/alarms"); len(o["alarms"].([]any)) != 2 {
		t.Errorf("two alarms: %v", o)
	}
	b.Broker.Alarms.Set("memory", false)
	b.Broker.Alarms.Set("disk", false)
	check(http.StatusOK, "health/checks/alarms")

	// /healthz stays open to probes without credentials.
	resp, err := http.Get("http://" + b.HTTPAddr() + "/healthz")
	mustOK(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	api.as("", "").want(http.StatusUnauthorized, "GET", "/api/health/checks/alarms", "")
}

// TestAPIHealthUnderMemoryWatermark: the resource monitor's own alarm (a
// watermark the broker is already above) fails the alarm checks, and
// /api/nodes shows the limit and the alarm.
func TestAPIHealthUnderMemoryWatermark(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.MemoryLimit = 1 })
	api := newAPI(t, b)
	eventually(t, "the memory alarm checked", func() bool {
		st, _ := api.do("GET", "/api/health/checks/local-alarms", "")
		return st == http.StatusServiceUnavailable
	})
	var nodes []obj
	api.getJSON("/api/nodes", &nodes)
	wantFields(t, "node under the watermark", nodes[0], obj{"mem_alarm": true, "mem_limit": 1.0, "disk_free_alarm": false})
	// The deprecated node check fails too, with RabbitMQ's reason.
	raw := api.want(http.StatusServiceUnavailable, "GET", "/api/healthchecks/node", "")
	var failed obj
	mustOK(t, json.Unmarshal(raw, &failed))
	if failed["status"] != "failed" || !strings.HasPrefix(failed["reason"].(string), "resource alarm(s) in effect:[{{resource_limit,memory,'") {
		t.Fatalf("node health check under the watermark: %s", raw)
	}
}

// The node health check RabbitMQ 3.x deprecated but still answers.
func TestAPINodeHealthCheck(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	var ok obj
	api.getJSON("/api/healthchecks/node", &ok)
	if ok["status"] != "ok" {
		t.Fatalf("healthchecks/node: %v", ok)
	}
	var o obj
	api.getJSON("/api/overview", &o)
	api.getJSON("/api/healthchecks/node/"+esc(o["node"].(string)), &ok)
	if ok["status"] != "ok" {
		t.Fatalf("healthchecks/node/NODE: %v", ok)
	}
	api.want(http.StatusNotFound, "GET", "/api/healthchecks/node/rabbit@elsewhere", "")
}
