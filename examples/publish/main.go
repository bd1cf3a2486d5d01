// Command publish is the README tour's RabbitMQ client: it declares a
// durable queue and publishes messages to it over AMQP 0-9-1 with
// amqp091-go (RabbitMQ's Go client), waiting for the broker's confirms.
//
//	go run ./examples/publish [-url amqp://guest:guest@localhost:5672/] [-queue tour] [-n 10]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	url := flag.String("url", "amqp://guest:guest@localhost:5672/", "broker URL")
	queue := flag.String("queue", "tour", "queue to declare and publish to")
	n := flag.Int("n", 10, "messages to publish")
	flag.Parse()

	conn, err := amqp.DialConfig(*url, amqp.Config{Properties: amqp.Table{"connection_name": "tour publisher"}})
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		log.Fatalf("channel: %v", err)
	}
	if _, err := ch.QueueDeclare(*queue, true, false, false, false, nil); err != nil {
		log.Fatalf("queue.declare: %v", err)
	}
	// Publisher confirms: the broker says when each message is safe.
	if err := ch.Confirm(false); err != nil {
		log.Fatalf("confirm.select: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 1; i <= *n; i++ {
		body := fmt.Sprintf("hello %d from AMQP", i)
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", *queue, false, false, amqp.Publishing{
			ContentType: "text/plain", DeliveryMode: amqp.Persistent, Body: []byte(body),
		})
		if err != nil {
			log.Fatalf("publish: %v", err)
		}
		if ok, err := conf.WaitContext(ctx); err != nil || !ok {
			log.Fatalf("message %d not confirmed: %v", i, err)
		}
	}
	fmt.Printf("published %d messages to queue %q\n", *n, *queue)
}
