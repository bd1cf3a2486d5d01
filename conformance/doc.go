// Package conformance holds black-box tests: real client libraries
// (amqp091-go, go-stomp) against a real sluice listener started by
// brokertest. Nothing here reaches into the broker's internals.
package conformance
