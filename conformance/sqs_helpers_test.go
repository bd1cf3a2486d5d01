package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// The SQS API tested with aws-sdk-go-v2's SQS client, which speaks the
// AWS JSON 1.0 protocol, signs with SigV4 and verifies MD5OfMessageBody
// (failing the call on a mismatch), against a real broker.

// sqsClientFor is an SDK client for b's SQS endpoint signing with key and
// secret; it never retries, so that an error is the broker's answer.
func sqsClientFor(t testing.TB, b *brokertest.Broker, key, secret string, opts ...func(*sqs.Options)) *sqs.Client {
	t.Helper()
	if b.SQSURL() == "" {
		t.Fatal("the broker has no SQS listener")
	}
	cfg := aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return sqs.NewFromConfig(cfg, append([]func(*sqs.Options){func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(b.SQSURL())
		o.HTTPClient = sqsHTTPClient
	}}, opts...)...)
}

// sqsHTTPClient works around a client-side race of aws-sdk-go-v2
// (aws/aws-sdk-go-v2#1825, #2737): smithy closes the request body as soon
// as the response headers arrive, and when that beats net/http's write
// loop (a server on the same machine answers that fast) the loop closes
// the connection under the response being read ("deserialization failed
// ... use of closed network connection" with status 200). Handing the
// transport its own copy of the body avoids it.
var sqsHTTPClient = &http.Client{Transport: ownBody{http.DefaultTransport}}

type ownBody struct{ next http.RoundTripper }

func (o ownBody) CloseIdleConnections() {
	if c, ok := o.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (o ownBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return o.next.RoundTrip(r)
}

// sqsGuest is a client for guest (access key guest, secret guest).
func sqsGuest(t testing.TB, b *brokertest.Broker) *sqs.Client {
	return sqsClientFor(t, b, "guest", "guest")
}

func sqsCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sqsCreate creates a queue and returns its URL.
func sqsCreate(t testing.TB, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(sqsCtx(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return *out.QueueUrl
}

// sqsErrCode is the API error code of err ("" when it is not one), and
// requires the HTTP status when status is not 0.
func sqsAPIError(t testing.TB, err error, code string) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error; want %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code %q (%v); want %q", ae.ErrorCode(), err, code)
	}
	return ae
}
