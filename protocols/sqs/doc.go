// Package sqs is sluice's SQS-compatible API: an HTTP handler that speaks
// both wire protocols the AWS SDKs use — AWS JSON 1.0 (X-Amz-Target:
// AmazonSQS.<Action>, current SDKs) and the Query protocol (form-encoded
// Action=..., XML answers; older SDKs) — on one listener, verifies AWS
// Signature Version 4 on every request, checks every action against the
// user's permissions with the same auth.Store call the other adapters make,
// and maps the actions onto the protocol-neutral core (package broker).
//
// An SQS queue is a durable queue of a vhost; its attributes are queue
// arguments (attributes.go). Messages are received with broker.Session.Get
// on one long-lived session per queue that holds every message SQS
// clients have in flight; a receipt handle names that session, the delivery
// tag and the queue (handle.go), so any request may delete or change the
// visibility of a message another request received. docs/SQS.md says what
// is supported and how it maps.
package sqs
