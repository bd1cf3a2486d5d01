//go:build differential

// The same AMQP traffic goes to RabbitMQ (with its management plugin: see
// api_differential_test.go) and to sluice, and the message_stats of the
// queue, the exchange and the vhost are compared: the keys and the counts
// (rates are left out: they depend on when each broker sampled).
//
//	RABBITMQ_MANAGEMENT=1 scripts/rabbitmq.sh start
//	go test -tags differential -run TestMessageStatsDifferential ./conformance/ -v
package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// statsTraffic runs the scenario in vhost v of the broker at amqpURL.
func statsTraffic(t *testing.T, amqpURL, v string) {
	conn, err := amqp.Dial(strings.TrimSuffix(amqpURL, "/") + "/" + url.PathEscape(v))
	if err != nil {
		t.Fatalf("dial %s: %v", amqpURL, err)
	}
	defer conn.Close()
	ch := amqpChan(t, conn)
	must(t, ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 16))
	ch.NotifyReturn(make(chan amqp.Return, 4))
	declareQ(t, ch, "q", nil)
	must(t, ch.ExchangeDeclare("x", "fanout", false, false, false, false, nil), "exchange.declare")
	must(t, ch.QueueBind("q", "", "x", false, nil), "queue.bind")
	for i := 0; i < 6; i++ {
		pub(t, ch, "x", "", amqp.Publishing{Body: []byte(fmt.Sprint(i))})
		nextConfirm(t, confirms)
	}
	must(t, ch.Publish("", "nowhere", true, false, amqp.Publishing{Body: []byte("r")}), "mandatory publish")
	nextConfirm(t, confirms)
	must(t, ch.Publish("", "nowhere", false, false, amqp.Publishing{Body: []byte("d")}), "publish")
	nextConfirm(t, confirms)

	c2 := amqpChan(t, conn)
	getOne(t, c2, "q", true)
	d := getOne(t, c2, "q", false)
	must(t, d.Nack(false, true), "nack")
	ds := consume(t, c2, "q", "c", false, nil)
	for i := 0; i < 5; i++ {
		must(t, next(t, ds).Ack(false), "ack")
	}
	must(t, c2.Cancel("c", false), "cancel")
	getEmpty(t, c2, "q")
}

// countsOf is an object's message_stats without the rates.
func countsOf(t *testing.T, c *apiClient, path string) map[string]any {
	var obj map[string]any
	c.getJSON(path, &obj)
	ms, _ := obj["message_stats"].(map[string]any)
	out := map[string]any{}
	for k, v := range ms {
		if !strings.HasSuffix(k, "_details") {
			out[k] = v
		}
	}
	return out
}

func TestMessageStatsDifferential(t *testing.T) {
	rbase := rabbitMgmtURL()
	b := brokertest.New(t)
	tok := make([]byte, 3)
	rand.Read(tok)
	v := "ms" + hex.EncodeToString(tok)
	rabbit := &apiClient{t: t, base: rbase, user: "guest", pass: "guest"}
	sluice := newAPI(t, b)
	for _, c := range []*apiClient{rabbit, sluice} {
		c.want(201, "PUT", "/api/vhosts/"+v, "")
		c.want(204, "PUT", "/api/permissions/"+v+"/guest", `{"configure":".*","write":".*","read":".*"}`)
	}
	defer rabbit.do("DELETE", "/api/vhosts/"+v, "")
	statsTraffic(t, rabbitURL(), v)
	statsTraffic(t, b.AMQPURL(), v)

	// Differences kept for now, logged rather than failed.
	known := map[string]string{}
	for _, path := range []string{"/api/queues/" + v + "/q", "/api/exchanges/" + v + "/x", "/api/vhosts/" + v} {
		// RabbitMQ's figures arrive with its statistics events, every 5 s
		// per channel and queue: read until they stop changing.
		var want map[string]any
		last, stableSince := "", time.Now()
		for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
			want = countsOf(t, rabbit, path)
			j, _ := json.Marshal(want)
			if string(j) != last {
				last, stableSince = string(j), time.Now()
			} else if len(want) > 0 && time.Since(stableSince) > 7*time.Second {
				break
			}
		}
		got := countsOf(t, sluice, path)
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		switch {
		case string(wj) != string(gj) && known[path] != "":
			t.Logf("%s message_stats (known: %s):\nRabbitMQ: %s\n  sluice: %s", path, known[path], wj, gj)
		case string(wj) != string(gj):
			t.Errorf("%s message_stats:\nRabbitMQ: %s\n  sluice: %s", path, wj, gj)
		default:
			t.Logf("%s: %s", path, gj)
		}
	}
}
