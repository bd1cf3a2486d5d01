package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sluice-mq/sluice/brokertest"
)

// sqsRaw sends a request signed by the SDK's own SigV4 signer at signAt
// (nothing signed when key is ""), and returns status, headers and body.
func sqsRaw(t testing.TB, req *http.Request, body, key, secret string, signAt time.Time) (int, http.Header, string) {
	t.Helper()
	if key != "" {
		sum := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), "sqs", "us-west-2", signAt)
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// sqsJSONRequest builds a JSON 1.0 request for action.
func sqsJSONRequest(t testing.TB, b *brokertest.Broker, action, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.SQSURL()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	return req
}

// checkJSONError checks a JSON error answer: status, __type, the
// x-amzn-query-error header and a request id.
func checkJSONError(t testing.TB, status int, h http.Header, body string, wantStatus int, wantType, wantQuery string) {
	t.Helper()
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if status != wantStatus || e.Type != wantType || h.Get("x-amzn-query-error") != wantQuery || h.Get("x-amzn-RequestId") == "" || e.Message == "" {
		t.Fatalf("got %d %s %q query-error %q request-id %q; want %d %s %s", status, e.Type, e.Message,
			h.Get("x-amzn-query-error"), h.Get("x-amzn-RequestId"), wantStatus, wantType, wantQuery)
	}
}

func TestSQSSignatureFailures(t *testing.T) {
	b := brokertest.New(t)
	ctx := sqsCtx(t)
	sqsCreate(t, sqsGuest(t, b), "sig", nil)
	// Through the SDK: a wrong secret, an unknown key.
	_, err := sqsClientFor(t, b, "guest", "not-the-secret").ListQueues(ctx, &sqs.ListQueuesInput{})
	sqsAPIError(t, err, "SignatureDoesNotMatch")
	if s := sqsStatus(t, err); s != 403 {
		t.Fatalf("SignatureDoesNotMatch status %d", s)
	}
	_, err = sqsClientFor(t, b, "AKIAUNKNOWNKEY000000", "x").ListQueues(ctx, &sqs.ListQueuesInput{})
	sqsAPIError(t, err, "InvalidClientTokenId")
	if s := sqsStatus(t, err); s != 403 {
		t.Fatalf("InvalidClientTokenId status %d", s)
	}
	// Raw: no signature, a request signed 20 minutes ago, a tampered body.
	st, h, body := sqsRaw(t, sqsJSONRequest(t, b, "ListQueues", "{}"), "{}", "", "", time.Time{})
	checkJSONError(t, st, h, body, 403, "com.amazon.coral.service#MissingAuthenticationTokenException", "MissingAuthenticationToken;Sender")
	st, h, body = sqsRaw(t, sqsJSONRequest(t, b, "ListQueues", "{}"), "{}", "guest", "guest", time.Now().Add(-20*time.Minute))
	checkJSONError(t, st, h, body, 400, "com.amazon.coral.service#RequestExpired", "RequestExpired;Sender")
	st, _, body = sqsRaw(t, sqsJSONRequest(t, b, "ListQueues", "{}"), "{}", "guest", "guest", time.Now().Add(-5*time.Minute))
	if st != 200 {
		t.Fatalf("a request signed 5 minutes ago (within the 15-minute skew): %d %s", st, body)
	}
	// Signed over another body than the one sent.
	req := sqsJSONRequest(t, b, "ListQueues", `{"QueueNamePrefix":"x"}`)
	sum := sha256.Sum256([]byte("{}"))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "guest", SecretAccessKey: "guest"},
		req, hex.EncodeToString(sum[:]), "sqs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	st, h, body = sqsRaw(t, req, "", "", "", time.Time{})
	checkJSONError(t, st, h, body, 403, "com.amazon.coral.service#SignatureDoesNotMatch", "SignatureDoesNotMatch;Sender")
	// Another service's scope.
	req = sqsJSONRequest(t, b, "ListQueues", "{}")
	sum = sha256.Sum256([]byte("{}"))
	_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "guest", SecretAccessKey: "guest"},
		req, hex.EncodeToString(sum[:]), "sns", "us-east-1", time.Now())
	st, h, body = sqsRaw(t, req, "", "", "", time.Time{})
	checkJSONError(t, st, h, body, 403, "com.amazon.coral.service#SignatureDoesNotMatch", "SignatureDoesNotMatch;Sender")
	// A malformed Authorization header.
	req = sqsJSONRequest(t, b, "ListQueues", "{}")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=guest/20240101/us-east-1/sqs/aws4_request")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	st, h, body = sqsRaw(t, req, "", "", "", time.Time{})
	checkJSONError(t, st, h, body, 400, "com.amazon.coral.service#IncompleteSignatureException", "IncompleteSignature;Sender")
}

func TestSQSPresignedQuery(t *testing.T) {
	b := brokertest.New(t)
	sqsCreate(t, sqsGuest(t, b), "presigned", nil)
	u := b.SQSURL() + "/?Action=GetQueueUrl&QueueName=presigned&Version=2012-11-05"
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "guest", SecretAccessKey: "guest"},
		req, "UNSIGNED-PAYLOAD", "sqs", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(signed, "X-Amz-Signature=") {
		t.Fatalf("not presigned: %s", signed)
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := get(signed)
	if st != 200 || !strings.Contains(body, "<QueueUrl>") || !strings.Contains(body, "/000000000000/presigned</QueueUrl>") {
		t.Fatalf("presigned GetQueueUrl: %d %s", st, body)
	}
	// Tampered: another queue name under the same signature.
	st, body = get(strings.Replace(signed, "QueueName=presigned", "QueueName=other", 1))
	if st != 403 || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("tampered presigned URL: %d %s", st, body)
	}
	// Expired: signed an hour ago for 60 seconds.
	req, _ = http.NewRequest(http.MethodGet, u+"&X-Amz-Expires=60", nil)
	old, _, _ := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "guest", SecretAccessKey: "guest"},
		req, "UNSIGNED-PAYLOAD", "sqs", "us-east-1", time.Now().Add(-time.Hour))
	st, body = get(old)
	if st != 400 || !strings.Contains(body, "<Code>RequestExpired</Code>") {
		t.Fatalf("expired presigned URL: %d %s", st, body)
	}
}

func TestSQSPermissions(t *testing.T) {
	b := brokertest.New(t)
	ctx := sqsCtx(t)
	guest := sqsGuest(t, b)
	url := sqsCreate(t, guest, "perm", nil)
	// A user with no permission at all on the vhost.
	permUser(t, b, "nobody")
	key, err := b.Users.CreateAccessKey("nobody", time.Now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	nobody := sqsClientFor(t, b, key.ID, key.Secret)
	_, err = nobody.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")})
	sqsAPIError(t, err, "AccessDenied")
	if s := sqsStatus(t, err); s != 403 {
		t.Fatalf("AccessDenied status %d", s)
	}
	// A user who may read "perm" but not write or configure it.
	permUser(t, b, "reader", "", "", "^perm$")
	rkey, _ := b.Users.CreateAccessKey("reader", time.Now().Unix())
	reader := sqsClientFor(t, b, rkey.ID, rkey.Secret)
	_, err = reader.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")})
	ae := sqsAPIError(t, err, "AccessDenied")
	if !strings.Contains(ae.ErrorMessage(), "access to queue 'perm' in vhost '/' refused for user 'reader'") {
		t.Fatalf("denial text: %s", ae.ErrorMessage())
	}
	_, err = reader.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("perm2")})
	sqsAPIError(t, err, "AccessDenied")
	_, err = reader.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &url})
	sqsAPIError(t, err, "AccessDenied")
	sqsSend(t, guest, url, "for the reader")
	msgs := sqsReceive(t, reader, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if len(msgs) != 1 {
		t.Fatal("the reader received nothing")
	}
	if _, err := reader.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	// ListQueues shows only what the user has some permission on.
	sqsCreate(t, guest, "hidden", nil)
	list, err := reader.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil || len(list.QueueUrls) != 1 || !strings.HasSuffix(list.QueueUrls[0], "/perm") {
		t.Fatalf("the reader's ListQueues: %v %v", list, err)
	}
	// A deleted key stops working at once.
	if _, err := b.Users.DeleteAccessKey("reader", rkey.ID); err != nil {
		t.Fatal(err)
	}
	_, err = reader.ListQueues(ctx, &sqs.ListQueuesInput{})
	sqsAPIError(t, err, "InvalidClientTokenId")
}

// TestSQSFailedSignaturesAreSlowed: failed signatures count as failed
// logins (auth.Throttle): a peer that keeps signing wrong waits longer
// and longer for its refusals, as on AMQP and STOMP.
func TestSQSFailedSignaturesAreSlowed(t *testing.T) {
	b := brokertest.New(t)
	ctx := sqsCtx(t)
	bad := sqsClientFor(t, b, "guest", "not-the-secret")
	var last time.Duration
	for i := 0; i < 4; i++ {
		start := time.Now()
		_, err := bad.ListQueues(ctx, &sqs.ListQueuesInput{})
		sqsAPIError(t, err, "SignatureDoesNotMatch")
		last = time.Since(start)
	}
	if last < 450*time.Millisecond {
		t.Fatalf("fourth bad signature refused after %v; want it slowed to at least 500ms", last)
	}
	if _, err := sqsGuest(t, b).ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("right secret after failures: %v", err)
	}
}
