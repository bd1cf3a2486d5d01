//go:build differential

package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// TestAPIDifferentialPolicies sends the same policy requests to RabbitMQ's
// management plugin and to sluice and compares the answers (see
// TestAPIDifferential). Everything happens in a vhost of its own, so that
// no policy reaches another test's queues on the shared RabbitMQ.
//
//	RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start
//	go test -tags differential -run TestAPIDifferentialPolicies ./conformance/ -v
func TestAPIDifferentialPolicies(t *testing.T) {
	rbase := rabbitMgmtURL()
	cl := &http.Client{Timeout: 5 * time.Second}
	if resp, err := cl.Get(rbase + "/api/whoami"); err != nil {
		t.Fatalf("RabbitMQ management API not reachable at %s (RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start): %v", rbase, err)
	} else {
		resp.Body.Close()
	}
	b := brokertest.New(t)
	sbase := "http://" + b.HTTPAddr()
	tok := make([]byte, 3)
	rand.Read(tok)
	v := "d" + hex.EncodeToString(tok) + "-pol"
	p, op := "/api/policies/"+v+"/p1", "/api/operator-policies/"+v+"/o1"
	steps := []apiStep{
		{method: "PUT", path: "/api/vhosts/" + v, body: `{}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"max-priority":10}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"queue-type":"quorum"}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"message-ttl":-1,"foo":1}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"expires":0}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"overflow":"drop-tail"}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"dead-letter-exchange":5}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{}}`},
		{method: "PUT", path: p, body: `{"pattern":".*"}`},
		{method: "PUT", path: p, body: `{"definition":{"max-length":1}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"max-length":1.5}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"max-length":"5"}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"max-length":5},"priority":"7"}`},
		{method: "PUT", path: p, body: `{"pattern":"(","definition":{"max-length":5}}`},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"max-length":5},"apply-to":"streams"}`,
			known: "sluice's apply-to message names classic_queues and quorum_queues too (RabbitMQ 3.12's values)"},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"max-length":5},"apply-to":"classic_queues"}`,
			known: "classic_queues and quorum_queues are RabbitMQ 3.12's; 3.10 refuses them"},
		{method: "DELETE", path: p, known: "follows from classic_queues accepted above"},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":{"max-length":5},"priority":1.5}`,
			known: "sluice's priorities are integers; RabbitMQ takes any number"},
		{method: "DELETE", path: p, known: "follows from the priority refused above"},
		{method: "PUT", path: p, body: `{"pattern":".*","definition":5}`,
			known: "a definition that is not an object: RabbitMQ answers 500 with no body, sluice 400"},
		{method: "PUT", path: "/api/policies/nope-" + v + "/p1", body: `{"pattern":".*","definition":{"max-length":5}}`},
		{method: "GET", path: p},
		{method: "DELETE", path: p},
		{method: "PUT", path: p, body: `{"pattern":"^` + v + `","definition":{"max-length":5,"ha-mode":"all","queue-mode":"lazy"},"apply-to":"queues","priority":3}`},
		{method: "PUT", path: p, body: `{"pattern":"^` + v + `","definition":{"max-length":6},"priority":2}`},
		{method: "GET", path: p},
		{method: "PUT", path: "/api/policies/" + v + "/p2", body: `{"pattern":"^` + v + `x","definition":{"message-ttl":1000,"dead-letter-exchange":"dlx"},"apply-to":"exchanges","priority":1}`},
		{method: "GET", path: "/api/policies/" + v},
		{method: "GET", path: "/api/policies/nope-" + v},
		{method: "DELETE", path: p},
		{method: "DELETE", path: p},
		{method: "GET", path: p},
		{method: "PUT", path: op, body: `{"pattern":".*","definition":{"dead-letter-exchange":"x"}}`},
		{method: "PUT", path: op, body: `{"pattern":".*","definition":{"max-length":-3}}`},
		{method: "PUT", path: op, body: `{"pattern":"^` + v + `","definition":{"max-length":3,"message-ttl":100}}`},
		{method: "PUT", path: op, body: `{"pattern":"^` + v + `","definition":{"max-length":2}}`},
		{method: "GET", path: op},
		{method: "GET", path: "/api/operator-policies/" + v},
		{method: "DELETE", path: op},
		{method: "DELETE", path: op},
		{method: "DELETE", path: "/api/vhosts/" + v},
	}
	var diffs, known []string
	for _, s := range steps {
		want := apiTranscript(t, rbase, s)
		got := apiTranscript(t, sbase, s)
		if want == got {
			continue
		}
		d := fmt.Sprintf("RabbitMQ: %s\n  sluice: %s", want, got)
		if s.known != "" {
			known = append(known, d+"\n  (known: "+s.known+")")
			continue
		}
		diffs = append(diffs, d)
	}
	for _, k := range known {
		t.Log(k)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	t.Logf("%d steps, %d differences, %d known", len(steps), len(diffs), len(known))
}
