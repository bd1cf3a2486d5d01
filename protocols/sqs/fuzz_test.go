package sqs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// FuzzQueryForm: any form decodes to an input or an SQS error, for every
// action's entry prefix, and never panics.
func FuzzQueryForm(f *testing.F) {
	f.Add("Action=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=n&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Binary&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue=AAE=")
	f.Add("Action=CreateQueue&QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=5&Tag.1.Key=k&Tag.1.Value=v")
	f.Add("Action=ReceiveMessage&MaxNumberOfMessages=99999999999999999999&AttributeName.1=All&MessageAttributeName.2=x")
	f.Add("Attribute.18446744073709551616.Name=a&Attribute.-1.Name=b&Attribute.1.Name=c&DelaySeconds=x")
	f.Fuzz(func(t *testing.T, s string) {
		form, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		for _, action := range []string{form.Get("Action"), "SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"} {
			in, aerr := fromForm(action, form)
			if (in == nil) == (aerr == nil) {
				t.Fatalf("fromForm: input %v and error %v", in, aerr)
			}
			if in != nil {
				checkDecoded(in)
			}
		}
	})
}

// FuzzJSONInput: any body decodes to an input or an SQS error.
func FuzzJSONInput(f *testing.F) {
	f.Add([]byte(`{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"a","MessageBody":"x","MessageAttributes":{"n":{"DataType":"Number","StringValue":"1e5"}}}]}`))
	f.Add([]byte(`{"MessageAttributes":{"b":{"DataType":"Binary","BinaryValue":"AAEC"}},"MessageBody":"x","DelaySeconds":5}`))
	f.Add([]byte(`{"tags":{"a":"b"},"Attributes":{"RedrivePolicy":"{\"maxReceiveCount\":\"3\"}"}}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, aerr := decodeJSON(body)
		if (in == nil) == (aerr == nil) {
			t.Fatalf("decodeJSON: input %v and error %v", in, aerr)
		}
		if in != nil {
			checkDecoded(in)
		}
	})
}

// checkDecoded runs the validations every decoded input goes through.
func checkDecoded(in *input) {
	_ = checkBatch(in.Entries)
	for _, e := range append(in.Entries, in.entry) {
		_, _ = checkAttributes(e.MessageAttributes)
		if e.ReceiptHandle != nil {
			_, _ = parseReceipt(*e.ReceiptHandle)
		}
	}
	args := map[string]any{}
	_ = applyAttributes(args, in.Attributes, strings.HasSuffix(in.QueueName, ".fifo"), func(string, string) *apiError { return nil })
	for _, v := range in.Attributes {
		_, _, _, _ = parseRedrive(v)
	}
}

// FuzzAuthorizationHeader: any Authorization header (and date) is parsed
// to a signature or refused with an SQS error, never accepted unsigned.
func FuzzAuthorizationHeader(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=guest/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc", "20240101T000000Z")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=, Signature=", "")
	f.Add("AWS4-HMAC-SHA256 Credential==,,,=", "x")
	f.Add("AWS AKID:sig", "20240101T000000Z")
	f.Fuzz(func(t *testing.T, h, date string) {
		if in, err := parseAuthorization(h); err == nil && len(strings.Split(in.accessKey+"/"+in.date+"/"+in.region+"/"+in.service+"/"+in.term, "/")) != 5 {
			t.Fatalf("parsed a credential without 5 parts: %+v", in)
		}
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader("{}"))
		req.Header.Set("Authorization", h)
		req.Header.Set("X-Amz-Date", date)
		if user, err := verifySignature(req, []byte("{}"), fixedKeys{}, time.Now(), nil); err == nil || user != nil {
			t.Fatalf("an unsigned request was accepted with Authorization %q", h)
		}
	})
}

// FuzzReceiptHandle: a handle parses only to what encodes back to it.
func FuzzReceiptHandle(f *testing.F) {
	f.Add(receipt{epoch: 7, tag: 1, recvAt: 1, queue: "q"}.String())
	f.Add("AQAAAAAAAAAHAAAAAAAAAAEAAAAAAAAAAXE")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := parseReceipt(s)
		if !ok {
			return
		}
		if again, ok2 := parseReceipt(r.String()); !ok2 || again != r {
			t.Fatalf("handle %q parsed to %+v, which encodes to %q", s, r, r.String())
		}
	})
}

// fixedKeys knows one key, "fuzz" with secret "secret", as user guest.
type fixedKeys struct{}

func (fixedKeys) AccessKeySecret(id string, _ net.Addr) (*auth.User, string, error) {
	if id == "fuzz" {
		return &auth.User{Name: "guest"}, "secret", nil
	}
	return nil, "", auth.ErrRefused
}

func (fixedKeys) FailedLogin(net.Addr) error { return auth.ErrRefused }
func (fixedKeys) LoginSucceeded(net.Addr)    {}
func (fixedKeys) RecordAttempt(string, bool) {}

// FuzzHandler: signed requests of any action and body, in either
// protocol, against a real broker, get an answer with a request id and
// never panic.
func FuzzHandler(f *testing.F) {
	f.Add("SendMessage", []byte(`{"QueueUrl":"http://h/000000000000/q","MessageBody":"x"}`), true)
	f.Add("ReceiveMessage", []byte(`{"QueueUrl":"/000000000000/q","MaxNumberOfMessages":10,"WaitTimeSeconds":20,"AttributeNames":["All"],"MessageAttributeNames":["All"]}`), true)
	f.Add("SendMessageBatch", []byte("QueueUrl=/000000000000/q&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=b"), false)
	f.Add("CreateQueue", []byte(`{"QueueName":"f.fifo","Attributes":{"FifoQueue":"true","ContentBasedDeduplication":"true"}}`), true)
	f.Add("DeleteMessage", []byte(`{"QueueUrl":"/000000000000/q","ReceiptHandle":"AQAAAAAAAAAHAAAAAAAAAAEAAAAAAAAAAXE"}`), true)
	b := broker.New(broker.Config{Logger: zerolog.Nop()})
	users := auth.DefaultStore()
	s := NewServer(Config{}, b, users, fixedKeys{}, zerolog.Nop())
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "q", Durable: true, Args: map[string]any{"x-visibility-timeout": int64(1)}}); err != nil {
		f.Fatal(err)
	}
	signer := v4.NewSigner()
	f.Fuzz(func(t *testing.T, action string, body []byte, jsonProto bool) {
		var req *http.Request
		if jsonProto {
			req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", bytes.NewReader(body))
			req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		} else {
			body = append([]byte("Action="+url.QueryEscape(action)+"&"), body...)
			req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.RemoteAddr = "127.0.0.1:5000"
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "fuzz", SecretAccessKey: "secret"},
			req, hex.EncodeToString(sum[:]), "sqs", "us-east-1", time.Now()); err != nil {
			t.Skip()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req.WithContext(ctx))
		if w.Header().Get("x-amzn-RequestId") == "" || w.Code == 0 {
			t.Fatalf("%s: answer %d without a request id", action, w.Code)
		}
		if w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), "Signature") {
			t.Fatalf("%s: a request signed by the SDK's signer was refused: %s", action, w.Body.String())
		}
	})
}
