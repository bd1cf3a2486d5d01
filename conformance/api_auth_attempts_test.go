package conformance

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sluice-mq/sluice/brokertest"
)

// /api/auth/attempts/NODE counts logins per protocol as RabbitMQ's does
// (amqp091, stomp, http for the API itself), DELETE resets them, /source
// is empty (sluice keeps no per-source table, RabbitMQ none by default),
// and /metrics has the rabbitmq_auth_attempts_*_total counters.
func TestAPIAuthAttempts(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	var o obj
	api.getJSON("/api/overview", &o)
	node, _ := o["node"].(string)
	base := "/api/auth/attempts/" + node

	if c, err := amqp.Dial(b.AMQPURL()); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	if _, err := amqp.Dial(strings.Replace(b.AMQPURL(), "guest:guest", "guest:wrong", 1)); err == nil {
		t.Fatal("a wrong password was taken")
	}
	s, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("guest", "guest"))
	if err != nil {
		t.Fatal(err)
	}
	s.Disconnect()
	if _, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("guest", "nope")); err == nil {
		t.Fatal("a wrong passcode was taken")
	}
	api.as("guest", "bad").want(http.StatusUnauthorized, "GET", "/api/overview", "")

	raw := api.want(http.StatusOK, "GET", base, "")
	if !strings.HasPrefix(string(raw), `[{"protocol":`) {
		t.Errorf("keys not in RabbitMQ's order: %s", raw)
	}
	var got []obj
	api.getJSON(base, &got)
	seen := map[string]obj{}
	for _, a := range got {
		seen[a["protocol"].(string)] = a
	}
	for _, p := range []string{"amqp091", "stomp"} {
		a := seen[p]
		if a["auth_attempts"] != float64(2) || a["auth_attempts_failed"] != float64(1) || a["auth_attempts_succeeded"] != float64(1) {
			t.Errorf("%s: %v, want 2 attempts, 1 failed, 1 succeeded", p, a)
		}
	}
	if h := seen["http"]; h["auth_attempts_failed"] != float64(1) || h["auth_attempts_succeeded"].(float64) < 2 {
		t.Errorf("http: %v, want 1 failed and the API client's own successes", h)
	}
	if raw := api.want(http.StatusOK, "GET", base+"/source", ""); strings.TrimSpace(string(raw)) != "[]" {
		t.Errorf("/source: %s", raw)
	}
	api.want(http.StatusNotFound, "GET", "/api/auth/attempts/nobody@nowhere", "")

	resp, err := http.Get("http://" + b.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`rabbitmq_auth_attempts_total{protocol="amqp091"} 2`,
		`rabbitmq_auth_attempts_failed_total{protocol="stomp"} 1`, `rabbitmq_auth_attempts_succeeded_total{protocol="stomp"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A management user who is no monitor may not read them, nor reset.
	api.want(http.StatusCreated, "PUT", "/api/users/watcher", `{"password":"w","tags":"management"}`)
	api.as("watcher", "w").want(http.StatusUnauthorized, "GET", base, "")
	api.as("watcher", "w").want(http.StatusUnauthorized, "DELETE", base, "")
	api.want(http.StatusNoContent, "DELETE", base, "")
	api.getJSON(base, &got)
	for _, a := range got {
		if a["protocol"] != "http" {
			t.Errorf("after DELETE: %v", a)
		}
	}
}
