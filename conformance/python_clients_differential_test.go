//go:build differential

package conformance

import (
	"os"
	"strings"
	"testing"
)

// TestDifferentialPythonClients runs the pika and stomp.py scripts against
// a real RabbitMQ (scripts/rabbitmq.sh start) and checks that it still
// prints what testdata/python/*.rabbitmq.txt says it does, so that the
// files TestPikaClient and TestStompPyClient compare sluice with are
// RabbitMQ's own answers. SLUICE_RECORD=1 writes them instead.
func TestDifferentialPythonClients(t *testing.T) {
	for _, c := range []struct{ script, module, addr string }{
		{"pika_client", "pika", "127.0.0.1:5682"},
		{"stomp_client", "stomp", rabbitSTOMPAddr()},
	} {
		t.Run(c.script, func(t *testing.T) {
			got := runPythonClient(t, c.script, c.module, c.addr)
			path := "testdata/python/" + c.script + ".rabbitmq.txt"
			if os.Getenv("SLUICE_RECORD") == "1" {
				if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := lineDiff(strings.Split(strings.TrimRight(string(want), "\n"), "\n"), got); diff != "" {
				t.Fatalf("RabbitMQ no longer prints %s:\n%s", path, diff)
			}
		})
	}
}
