//go:build differential

package conformance

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// The shapes of connections, channels, consumers, the overview and nodes,
// compared with RabbitMQ's management plugin (see api_differential_test.go
// for how to start it; RABBITMQ_URL and RABBITMQ_STOMP_ADDR reach its AMQP
// and STOMP listeners). The same clients connect to both; every key
// RabbitMQ's objects have must be in sluice's with a value of the same
// JSON type, apart from the keys listed as known (Erlang's runtime
// statistics, which a Go process does not have). Keys only sluice has are
// logged. The health checks' statuses and bodies are compared in full.
//
//	RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start
//	go test -tags differential -run TestAPIConnectionsDifferential ./conformance/ -v

// shapeKnown are keys RabbitMQ has that sluice leaves out on purpose.
var shapeKnown = map[string]string{
	"garbage_collection":            "Erlang process GC settings",
	"reductions":                    "Erlang reductions",
	"reductions_details":            "Erlang reductions",
	"idle_since":                    "sluice does not track a channel's last activity",
	"sample_retention_policies":     "",
	"release_series_support_status": "RabbitMQ release support, not sluice's",
	"churn_rates":                   "sluice does not count connection, channel and queue churn",
	"context_switches":              "Erlang scheduler statistics",
	"context_switches_details":      "Erlang scheduler statistics",
	"gc_num":                        "Erlang GC statistics",
	"gc_num_details":                "Erlang GC statistics",
	"gc_bytes_reclaimed":            "Erlang GC statistics",
	"gc_bytes_reclaimed_details":    "Erlang GC statistics",
	"metrics_gc_queue_length":       "Erlang metrics collector",
	"mnesia_disk_tx_count":          "Mnesia",
	"mnesia_disk_tx_count_details":  "Mnesia",
	"mnesia_ram_tx_count":           "Mnesia",
	"mnesia_ram_tx_count_details":   "Mnesia",
	"ra_open_file_metrics":          "Raft (quorum queues)",
	"config_files":                  "sluice has one flag set or config file",
	"log_files":                     "sluice logs to stderr",
	"queue_created":                 "churn statistics",
	"queue_created_details":         "churn statistics",
	"queue_declared":                "churn statistics",
	"queue_declared_details":        "churn statistics",
	"queue_deleted":                 "churn statistics",
	"queue_deleted_details":         "churn statistics",
	"connection_created":            "churn statistics",
	"connection_created_details":    "churn statistics",
	"connection_closed":             "churn statistics",
	"connection_closed_details":     "churn statistics",
	"channel_created":               "churn statistics",
	"channel_created_details":       "churn statistics",
	"channel_closed":                "churn statistics",
	"channel_closed_details":        "churn statistics",
	"mem_used_details":              "no history of node figures",
	"disk_free_details":             "no history of node figures",
	"fd_used_details":               "no history of node figures",
	"sockets_used_details":          "no history of node figures",
	"proc_used_details":             "no history of node figures",
	"io_read_avg_time":              "RabbitMQ's file I/O statistics",
	"io_read_bytes":                 "RabbitMQ's file I/O statistics",
	"io_read_count":                 "RabbitMQ's file I/O statistics",
	"io_reopen_count":               "RabbitMQ's file I/O statistics",
	"io_seek_avg_time":              "RabbitMQ's file I/O statistics",
	"io_seek_count":                 "RabbitMQ's file I/O statistics",
	"io_sync_avg_time":              "RabbitMQ's file I/O statistics",
	"io_sync_count":                 "RabbitMQ's file I/O statistics",
	"io_write_avg_time":             "RabbitMQ's file I/O statistics",
	"io_write_bytes":                "RabbitMQ's file I/O statistics",
	"io_write_count":                "RabbitMQ's file I/O statistics",
	"msg_store_read_count":          "RabbitMQ's message store",
	"msg_store_write_count":         "RabbitMQ's message store",
	"queue_index_read_count":        "RabbitMQ's queue index",
	"queue_index_write_count":       "RabbitMQ's queue index",
	"peer_cert_issuer":              "",
	"peer_cert_subject":             "",
	"peer_cert_validity":            "",
	"ssl_cipher":                    "",
	"ssl_hash":                      "",
	"ssl_key_exchange":              "",
	"ssl_protocol":                  "",
	"auth_mechanism":                "",
	"user_provided_name":            "",
	"message_stats":                 "only once something was counted",
	"cowboy_opts":                   "the Erlang web server's options",
	"ssl_opts":                      "the Erlang web server's options",
}

// shapeOpaque are objects whose keys are not compared: what was counted
// (message_stats: keys appear as counts do), what the client sent, and
// Erlang's socket options.
var shapeOpaque = map[string]bool{"message_stats": true, "socket_opts": true, "client_properties": true, "arguments": true}

// shapeDiff lists where got lacks a key of want or has another JSON type
// there, recursing into objects (and the first element of arrays).
func shapeDiff(path string, want, got any, out *[]string, extra *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: RabbitMQ has an object, sluice %T", path, got))
			return
		}
		if shapeOpaque[path[strings.LastIndexAny(path, ".]")+1:]] {
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				if _, known := shapeKnown[k]; !known && !strings.HasSuffix(k, "_details") {
					*out = append(*out, fmt.Sprintf("%s.%s: missing in sluice (RabbitMQ: %v)", path, k, wv))
				}
				continue
			}
			shapeDiff(path+"."+k, wv, gv, out, extra)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				*extra = append(*extra, path+"."+k)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: RabbitMQ has an array, sluice %T", path, got))
			return
		}
		if len(w) > 0 && len(g) > 0 {
			shapeDiff(path+"[]", w[0], g[0], out, extra)
		}
	default:
		if want != nil && got != nil && fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			*out = append(*out, fmt.Sprintf("%s: RabbitMQ %T (%v), sluice %T (%v)", path, want, want, got, got))
		}
	}
}

// clientsOn opens what the comparison lists on a broker: an AMQP
// connection with a named client, a channel with qos and a consumer, and
// a STOMP subscription.
func clientsOn(t *testing.T, amqpURL, stompAddr, queue string) func() {
	conn, err := amqp.DialConfig(amqpURL, amqp.Config{Properties: amqp.Table{"connection_name": "diff-" + queue}})
	mustOK(t, err)
	ch, err := conn.Channel()
	mustOK(t, err)
	mustOK(t, ch.Qos(5, 0, false))
	_, err = ch.QueueDeclare(queue, false, true, false, false, nil)
	mustOK(t, err)
	_, err = ch.Consume(queue, "diff-tag", false, false, false, false, amqp.Table{"x-priority": int32(1)})
	mustOK(t, err)
	sc, err := stomp.Dial("tcp", stompAddr, stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("guest", "guest"))
	mustOK(t, err)
	_, err = sc.Subscribe("/queue/"+queue+"-stomp", stomp.AckClient)
	mustOK(t, err)
	return func() {
		_ = sc.Disconnect()
		_ = conn.Close()
	}
}

// mine keeps the items of a list that belong to this test's clients (a
// shared RabbitMQ may have others').
func mine(list []obj, ports ...string) []obj {
	var out []obj
	for _, o := range list {
		s := fmt.Sprint(o["name"], o["connection_details"], o["channel_details"])
		for _, p := range ports {
			if strings.Contains(s, p) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

func TestAPIConnectionsDifferential(t *testing.T) {
	rbase := rabbitMgmtURL()
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(rbase + "/api/whoami"); err != nil {
		t.Fatalf("RabbitMQ management API not reachable at %s: %v", rbase, err)
	} else {
		resp.Body.Close()
	}
	ramqp, rstomp := os.Getenv("RABBITMQ_URL"), os.Getenv("RABBITMQ_STOMP_ADDR")
	if ramqp == "" {
		ramqp = "amqp://guest:guest@127.0.0.1:5682/"
	}
	if rstomp == "" {
		rstomp = "127.0.0.1:61623"
	}
	b := brokertest.New(t)
	defer clientsOn(t, ramqp, rstomp, "diffq")()
	defer clientsOn(t, b.AMQPURL(), b.STOMPAddr(), "diffq")()
	ru, err := url.Parse(ramqp)
	mustOK(t, err)
	rAMQPPort := ru.Port()
	_, rSTOMPPort, _ := net.SplitHostPort(rstomp)
	_, sAMQPPort, _ := net.SplitHostPort(b.AMQPAddr())
	_, sSTOMPPort, _ := net.SplitHostPort(b.STOMPAddr())
	rapi := &apiClient{t: t, base: rbase, user: "guest", pass: "guest"}
	sapi := newAPI(t, b)
	// RabbitMQ's statistics arrive every 5 s: wait until its listing
	// shows both connections with their channel.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		var rl []obj
		rapi.getJSON("/api/connections", &rl)
		ready := 0
		for _, c := range mine(rl, ":"+rAMQPPort, ":"+rSTOMPPort) {
			if c["state"] != nil && c["channels"] == 1.0 {
				ready++
			}
		}
		if ready == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RabbitMQ does not list this test's connections: %v", rl)
		}
	}

	var diffs, extras []string
	compare := func(what string, want, got any) {
		var d, e []string
		shapeDiff(what, want, got, &d, &e)
		diffs = append(diffs, d...)
		extras = append(extras, e...)
	}
	for _, p := range []string{"/api/connections", "/api/channels", "/api/consumers"} {
		var rl, sl []obj
		rapi.getJSON(p, &rl)
		sapi.getJSON(p, &sl)
		rl, sl = mine(rl, ":"+rAMQPPort, ":"+rSTOMPPort), mine(sl, ":"+sAMQPPort, ":"+sSTOMPPort)
		if len(rl) != len(sl) || len(rl) == 0 {
			t.Errorf("%s: RabbitMQ lists %d of this test's objects, sluice %d", p, len(rl), len(sl))
			continue
		}
		// AMQP first, STOMP second in both.
		byProto := func(l []obj, stompPort string) {
			sort.SliceStable(l, func(i, j int) bool {
				return !strings.Contains(fmt.Sprint(l[i]), ":"+stompPort) && strings.Contains(fmt.Sprint(l[j]), ":"+stompPort)
			})
		}
		byProto(rl, rSTOMPPort)
		byProto(sl, sSTOMPPort)
		for i := range rl {
			compare(fmt.Sprintf("%s[%d]", p, i), rl[i], sl[i])
			if p == "/api/connections" {
				for _, k := range []string{"protocol", "type", "channels", "channel_max", "state", "user", "vhost", "user_provided_name"} {
					if fmt.Sprint(rl[i][k]) != fmt.Sprint(sl[i][k]) {
						diffs = append(diffs, fmt.Sprintf("%s[%d].%s: RabbitMQ %v, sluice %v", p, i, k, rl[i][k], sl[i][k]))
					}
				}
			}
			if p != "/api/connections" {
				for _, k := range []string{"prefetch_count", "consumer_count", "number", "ack_required", "activity_status"} {
					if fmt.Sprint(rl[i][k]) != fmt.Sprint(sl[i][k]) {
						diffs = append(diffs, fmt.Sprintf("%s[%d].%s: RabbitMQ %v, sluice %v", p, i, k, rl[i][k], sl[i][k]))
					}
				}
			}
		}
	}
	for _, p := range []string{"/api/overview", "/api/nodes", "/api/cluster-name", "/api/extensions"} {
		var rv, sv any
		rapi.getJSON(p, &rv)
		sapi.getJSON(p, &sv)
		compare(p, rv, sv)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	sort.Strings(extras)
	t.Logf("keys only sluice has: %s", strings.Join(extras, ", "))

	// Health checks and errors: statuses and bodies, node names and
	// ports normalised.
	norm := func(s string) string {
		for _, p := range []string{rAMQPPort, sAMQPPort} {
			s = strings.ReplaceAll(s, p, "<amqp-port>")
		}
		return s
	}
	for _, s := range []apiStep{
		{method: "GET", path: "/api/health/checks/alarms"},
		{method: "GET", path: "/api/health/checks/local-alarms"},
		{method: "GET", path: "/api/health/checks/virtual-hosts"},
		{method: "GET", path: "/api/health/checks/node-is-quorum-critical"},
		{method: "GET", path: "/api/health/checks/node-is-mirror-sync-critical"},
		{method: "GET", path: "/api/health/checks/protocol-listener/amqp091"},
		{method: "GET", path: "/api/health/checks/protocol-listener/stomp"},
		{method: "GET", path: "/api/health/checks/port-listener/abc"},
		{method: "GET", path: "/api/health/checks/certificate-expiration/1/weeks"},
		{method: "GET", path: "/api/health/checks/certificate-expiration/1/foo"},
		{method: "GET", path: "/api/health/checks/certificate-expiration/x/days"},
		{method: "GET", path: "/api/aliveness-test/%2F"},
		{method: "GET", path: "/api/aliveness-test/nope"},
		{method: "GET", path: "/api/connections/nope"},
		{method: "GET", path: "/api/channels/nope"},
		{method: "GET", path: "/api/consumers/nope"},
		{method: "GET", path: "/api/vhosts/nope/connections"},
		{method: "GET", path: "/api/vhosts/nope/channels"},
		{method: "DELETE", path: "/api/connections/nope"},
	} {
		want, got := norm(apiTranscript(t, rbase, s)), norm(apiTranscript(t, "http://"+b.HTTPAddr(), s))
		if want != got {
			t.Errorf("RabbitMQ: %s\n  sluice: %s", want, got)
		}
	}
	{
		s := apiStep{method: "GET", path: "/api/health/checks/port-listener/" + rAMQPPort}
		want := norm(apiTranscript(t, rbase, s))
		s.path = "/api/health/checks/port-listener/" + sAMQPPort
		if got := norm(apiTranscript(t, "http://"+b.HTTPAddr(), s)); want != got {
			t.Errorf("RabbitMQ: %s\n  sluice: %s", want, got)
		}
	}
}
