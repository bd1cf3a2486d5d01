// Command consume-stomp is the README tour's STOMP client: it subscribes to
// a queue with go-stomp, prints each message and acknowledges it, and
// stops after n messages (or when none comes for the idle time).
//
//	go run ./examples/consume-stomp [-addr localhost:61613] [-queue tour] [-n 10]
package main

import (
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/go-stomp/stomp/v3"
)

func main() {
	addr := flag.String("addr", "localhost:61613", "broker STOMP address")
	queue := flag.String("queue", "tour", "queue to consume from")
	n := flag.Int("n", 10, "messages to take (0: until idle)")
	idle := flag.Duration("idle", 5*time.Second, "stop when no message comes for this long")
	flag.Parse()

	conn, err := stomp.Dial("tcp", *addr, stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"))
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer conn.Disconnect()
	// /amq/queue/NAME is the AMQP queue itself, as in RabbitMQ's STOMP
	// plugin (/queue/NAME would declare it too).
	sub, err := conn.Subscribe("/amq/queue/"+*queue, stomp.AckClientIndividual)
	if err != nil {
		log.Fatalf("subscribe: %v", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	got := 0
	for *n == 0 || got < *n {
		select {
		case m, ok := <-sub.C:
			if !ok {
				log.Fatal("the subscription was closed")
			}
			if m.Err != nil {
				log.Fatalf("subscription: %v", m.Err)
			}
			fmt.Printf("%s\n", m.Body)
			if err := conn.Ack(m); err != nil {
				log.Fatalf("ack: %v", err)
			}
			got++
		case <-time.After(*idle):
			fmt.Printf("no message for %s: took %d\n", *idle, got)
			return
		}
	}
	fmt.Printf("took %d messages from queue %q over STOMP\n", got, *queue)
}
