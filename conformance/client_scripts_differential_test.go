//go:build differential

package conformance

import (
	"os"
	"strings"
	"testing"
)

// TestDifferentialClientScripts runs the client scripts (pika, kombu,
// stomp.py, Net::Stomp, stomp gem, Bunny, php-amqplib, PHP's stomp, the
// Java client, stomp.js) against a real RabbitMQ (RABBITMQ_MANAGEMENT=1
// scripts/rabbitmq.sh start, for Web STOMP) and checks that it still prints
// what the .rabbitmq.txt recordings say it does, so that the files
// TestClientScripts and TestStompJSClient compare sluice with are
// RabbitMQ's own answers.
// SLUICE_RECORD=1 writes them instead.
func TestDifferentialClientScripts(t *testing.T) {
	for _, c := range []struct {
		s    clientScript
		addr string
	}{
		{pikaScript, "127.0.0.1:5682"},
		{kombuScript, "127.0.0.1:5682"},
		{stompPyScript, rabbitSTOMPAddr()},
		{netStompScript, rabbitSTOMPAddr()},
		{stompGemScript, rabbitSTOMPAddr()},
		{bunnyScript, "127.0.0.1:5682"},
		{phpAMQPScript, "127.0.0.1:5682"},
		{phpStompScript, rabbitSTOMPAddr()},
		{javaScript, "127.0.0.1:5682"},
		{stompJSScript, "127.0.0.1:15684"},
	} {
		t.Run(c.s.name, func(t *testing.T) {
			got := runClientScript(t, c.s, c.addr)
			if os.Getenv("SLUICE_RECORD") == "1" {
				if err := os.WriteFile(c.s.recording(), []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(c.s.recording())
			if err != nil {
				t.Fatal(err)
			}
			if diffs := lineDiffs(strings.Split(strings.TrimRight(string(want), "\n"), "\n"), got); len(diffs) > 0 {
				t.Fatalf("RabbitMQ no longer prints %s:\n%s", c.s.recording(), strings.Join(diffs, "\n"))
			}
		})
	}
}
