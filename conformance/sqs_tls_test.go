package conformance

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestSQSOverHTTPS: the SQS API on the TLS listener (--sqss-addr) with the
// broker's certificate; queue URLs given over it are https URLs. Without a
// certificate the listener stays off.
func TestSQSOverHTTPS(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "none"))
	endpoint := "https://" + b.Addr("sqss").String()
	client := &http.Client{Transport: ownBody{&http.Transport{TLSClientConfig: p.clientTLS(nil)}}}
	c := sqsClientFor(t, b, "guest", "guest", func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = client
	})
	url := sqsCreate(t, c, "secure", nil)
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("queue URL over HTTPS: %s", url)
	}
	sqsSend(t, c, url, "over tls")
	msgs := sqsReceive(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if len(msgs) != 1 || *msgs[0].Body != "over tls" {
		t.Fatalf("received %+v", msgs)
	}
	// The plain listener serves the same queue.
	plain := sqsGuest(t, b)
	if _, err := plain.DeleteMessage(sqsCtx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	// A client that does not trust the certificate fails the handshake.
	untrusting := sqsClientFor(t, b, "guest", "guest", func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	if _, err := untrusting.ListQueues(sqsCtx(t), &sqs.ListQueuesInput{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate: %v", err)
	}
	if off := brokertest.New(t); off.Addr("sqss") != nil {
		t.Fatal("the SQS HTTPS listener opened without a certificate")
	}
}
