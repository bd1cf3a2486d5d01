package server

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// Health checks for orchestrators and monitoring, with RabbitMQ's paths
// and answers (rabbit_mgmt_wm_health_check_*, rabbit_mgmt_wm_aliveness_test):
// 200 {"status":"ok"} when the check passes, 503 {"status":"failed",
// "reason": ...} with details when it does not. Sluice is one node with no
// replicas, so the quorum and mirror checks always pass; its vhosts
// cannot be down apart from the broker. GET /healthz (server.go) stays
// for probes that cannot authenticate.

func (s *Server) registerHealthAPI() {
	h := func(path string, fn http.HandlerFunc) { s.mux.HandleFunc("GET /api/"+path, s.apiAuth(accessMgmt, fn)) }
	h("health/checks/alarms", s.alarmsCheck("There are alarms in effect in the cluster"))
	h("health/checks/local-alarms", s.alarmsCheck("There are alarms in effect on the node"))
	h("health/checks/virtual-hosts", healthOK)
	h("health/checks/node-is-quorum-critical", singleNode)
	h("health/checks/node-is-mirror-sync-critical", singleNode)
	h("health/checks/port-listener/{port}", s.portListenerCheck)
	h("health/checks/protocol-listener/{protocol}", s.protocolListenerCheck)
	h("health/checks/certificate-expiration/{within}/{unit}", s.certificateCheck)
	h("aliveness-test/{vhost}", s.alivenessTest)
	// The node health check RabbitMQ 3.x deprecated but still answers
	// (rabbit_mgmt_wm_healthchecks): channels and queues can be listed,
	// and no resource alarm is on.
	h("healthchecks/node", s.nodeHealthCheck)
	h("healthchecks/node/{node}", s.nodeHealthCheck)
}

func (s *Server) nodeHealthCheck(w http.ResponseWriter, r *http.Request) {
	if n := r.PathValue("node"); n != "" && n != nodeName() {
		notFound(w)
		return
	}
	if names := splitAlarms(s.Broker.Alarms.Reason()); len(names) > 0 {
		// RabbitMQ prints Erlang terms: [{{resource_limit,memory,Node},[]}].
		terms := make([]string, 0, len(names))
		for _, n := range names {
			terms = append(terms, "{{resource_limit,"+n+",'"+nodeName()+"'},[]}")
		}
		healthFailed(w, "resource alarm(s) in effect:["+strings.Join(terms, ",")+"]")
		return
	}
	healthOK(w, r)
}

func healthOK(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, ordered{{"status", "ok"}})
}

func singleNode(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, ordered{{"status", "ok"}, {"reason", "single node cluster"}})
}

// healthFailed answers a failed check: 503 with RabbitMQ's body, the
// status and reason first.
func healthFailed(w http.ResponseWriter, reason string, details ...field) {
	body := append(ordered{{"status", "failed"}, {"reason", reason}}, details...)
	writeJSON(w, http.StatusServiceUnavailable, body)
}

// alarmsCheck fails while a memory or disk alarm is on; one node, so the
// cluster's alarms are the node's.
func (s *Server) alarmsCheck(reason string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		names := splitAlarms(s.Broker.Alarms.Reason())
		if len(names) == 0 {
			healthOK(w, r)
			return
		}
		alarms := make([]map[string]string, 0, len(names))
		for _, n := range names {
			alarms = append(alarms, map[string]string{"resource": n, "node": nodeName()})
		}
		healthFailed(w, reason, field{"alarms", alarms})
	}
}

func (s *Server) portListenerCheck(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil {
		badRequest(w, "Invalid port")
		return
	}
	var ports []int
	for _, l := range s.activeListeners() {
		if !slices.Contains(ports, l.Port) {
			ports = append(ports, l.Port)
		}
	}
	if !slices.Contains(ports, port) {
		healthFailed(w, "No active listener", field{"missing", port}, field{"ports", ports})
		return
	}
	writeJSON(w, http.StatusOK, ordered{{"status", "ok"}, {"port", port}})
}

// protocolAliases are the other names RabbitMQ accepts for a listener's
// protocol (rabbit_mgmt_wm_health_check_protocol_listener), for the
// protocols sluice has.
var protocolAliases = map[string]string{
	"amqp091": "amqp", "amqp0.9.1": "amqp", "amqp0-9-1": "amqp", "amqp0_9_1": "amqp", "amqps": "amqp/ssl",
	"stomp1.0": "stomp", "stomp1.1": "stomp", "stomp1.2": "stomp", "stomp10": "stomp", "stomp11": "stomp",
	"stomp12": "stomp", "stomp1_0": "stomp", "stomp1_1": "stomp", "stomp1_2": "stomp",
	"stomps": "stomp/ssl", "stomp+tls": "stomp/ssl", "stomp+ssl": "stomp/ssl",
	"http1": "http", "http1.1": "http", "http_api": "http", "management": "http", "management_ui": "http", "ui": "http",
	"webstomp": "http/web-stomp", "web-stomp": "http/web-stomp", "web_stomp": "http/web-stomp",
	"webstomp/tls": "https/web-stomp", "web-stomp/tls": "https/web-stomp", "webstomp/ssl": "https/web-stomp",
	"web-stomp/ssl": "https/web-stomp", "webstomp+tls": "https/web-stomp", "web-stomp+tls": "https/web-stomp",
	"webstomp+ssl": "https/web-stomp", "web-stomp+ssl": "https/web-stomp",
	"sqss": "sqs/ssl",
}

func (s *Server) protocolListenerCheck(w http.ResponseWriter, r *http.Request) {
	proto := strings.ToLower(r.PathValue("protocol"))
	if p, ok := protocolAliases[proto]; ok {
		proto = p
	}
	var protos []string
	for _, l := range s.activeListeners() {
		if !slices.Contains(protos, l.Protocol) {
			protos = append(protos, l.Protocol)
		}
	}
	if !slices.Contains(protos, proto) {
		healthFailed(w, "No active listener", field{"missing", proto}, field{"protocols", protos})
		return
	}
	writeJSON(w, http.StatusOK, ordered{{"status", "ok"}, {"protocol", proto}})
}

// certUnits are the units certificate-expiration takes, in seconds
// (RabbitMQ's month is a twelfth of a 365-day year).
var certUnits = map[string]int64{"days": 86400, "weeks": 7 * 86400, "months": 365 * 86400 / 12, "years": 365 * 86400}

// certificateCheck fails when the certificate of the TLS listeners, or a
// CA certificate of tls-ca, expires within the given time.
func (s *Server) certificateCheck(w http.ResponseWriter, r *http.Request) {
	within, err := strconv.ParseInt(r.PathValue("within"), 10, 64)
	if err != nil {
		badRequest(w, "Invalid expiration value.")
		return
	}
	unit, ok := certUnits[strings.ToLower(r.PathValue("unit"))]
	if !ok {
		badRequest(w, "Time unit not recognised. Supported units: days, weeks, months, years.")
		return
	}
	if s.tls.mgr == nil {
		healthOK(w, r)
		return
	}
	deadline := time.Now().Add(time.Duration(within*unit) * time.Second)
	set := s.tls.mgr.Settings()
	var certExp, caExp []string
	if c := s.tls.mgr.Certificate(); c != nil && c.NotAfter.Before(deadline) {
		certExp = append(certExp, c.NotAfter.UTC().Format(time.RFC3339))
	}
	for _, c := range readCerts(set.CAFile) {
		if c.NotAfter.Before(deadline) {
			caExp = append(caExp, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if certExp == nil && caExp == nil {
		healthOK(w, r)
		return
	}
	var expired []map[string]any
	for _, l := range s.activeListeners() {
		if strings.HasSuffix(l.Protocol, "/ssl") || strings.HasPrefix(l.Protocol, "https") {
			expired = append(expired, map[string]any{"node": l.Node, "protocol": l.Protocol, "interface": l.IPAddress,
				"port": l.Port, "certfile": set.CertFile, "cacertfile": set.CAFile,
				"certfile_expires_on": nonNil(certExp), "cacertfile_expires_on": nonNil(caExp)})
		}
	}
	healthFailed(w, "Certificates expiring", field{"expired", expired})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// readCerts reads the certificates of a PEM file; none when there is no
// file or it cannot be read (the listeners loaded it at start).
func readCerts(file string) []*x509.Certificate {
	if file == "" {
		return nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			return out
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// aliveConnID owns what the aliveness test does in the core: no client
// connection has it (AMQP counts up from 1, STOMP from 1<<62).
const aliveConnID = broker.ConnID(1) << 61

// alivenessTest declares the queue aliveness-test in the vhost, publishes
// a message to it and gets it back, as RabbitMQ's aliveness test does
// (the queue is left in place, so a probe every few seconds does not
// create and delete it each time).
func (s *Server) alivenessTest(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("vhost")
	if !s.vhostAuthorized(w, r, name) {
		return
	}
	v, ok := s.Broker.VHost(name)
	if !ok {
		notFound(w)
		return
	}
	const queue = "aliveness-test"
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: queue, Owner: aliveConnID}); err != nil {
		healthFailed(w, err.Error())
		return
	}
	sess := v.NewSession(aliveConnID, aliveSink{})
	defer sess.Close()
	msg := &message.Message{Body: []byte("test_message")}
	if _, err := sess.Publish("", queue, msg, broker.PublishOptions{}); err != nil {
		healthFailed(w, err.Error())
		return
	}
	_, _, got, err := sess.Get(queue, true)
	switch {
	case err != nil:
		healthFailed(w, err.Error())
	case !got:
		healthFailed(w, "aliveness-test queue is empty")
	default:
		healthOK(w, r)
	}
}

// aliveSink is the sink of a session that only publishes and gets.
type aliveSink struct{}

func (aliveSink) Deliver(broker.Delivery) {}
func (aliveSink) Cancelled(string)        {}
func (aliveSink) Full() bool              { return false }
