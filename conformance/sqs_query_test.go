package conformance

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
)

// The Query protocol (form-encoded Action=..., XML answers), as the SDKs
// before the switch to JSON send it, signed with the SDK's SigV4 signer.
// Debian's aws CLI and boto3 here (botocore 1.43) speak JSON, so the
// Query protocol is tested with real form requests.

// sqsQuery posts form to path as a signed Query request.
func sqsQuery(t testing.TB, b *brokertest.Broker, path string, form url.Values) (int, http.Header, string) {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, b.SQSURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return sqsRaw(t, req, body, "guest", "guest", time.Now())
}

type queryError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Error   struct {
		Type, Code, Message string
	}
	RequestId string
}

type queryMessage struct {
	MessageId, ReceiptHandle, MD5OfBody, Body, MD5OfMessageAttributes string
	Attribute                                                         []struct{ Name, Value string }
	MessageAttribute                                                  []struct {
		Name  string
		Value struct{ StringValue, BinaryValue, DataType string }
	}
}

func TestSQSQueryProtocol(t *testing.T) {
	b := brokertest.New(t)
	st, h, body := sqsQuery(t, b, "/", url.Values{"Action": {"CreateQueue"}, "QueueName": {"q1"}, "Version": {"2012-11-05"},
		"Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"20"}, "Tag.1.Key": {"k"}, "Tag.1.Value": {"v"}})
	var created struct {
		XMLName xml.Name                   `xml:"CreateQueueResponse"`
		Result  struct{ QueueUrl string }  `xml:"CreateQueueResult"`
		Meta    struct{ RequestId string } `xml:"ResponseMetadata"`
	}
	if st != 200 || xml.Unmarshal([]byte(body), &created) != nil || created.Meta.RequestId == "" || h.Get("x-amzn-RequestId") != created.Meta.RequestId {
		t.Fatalf("CreateQueue: %d %s", st, body)
	}
	qurl := created.Result.QueueUrl
	if !strings.HasSuffix(qurl, "/000000000000/q1") {
		t.Fatalf("QueueUrl %s", qurl)
	}
	// The same attributes over JSON agree: the queue is one.
	c := sqsGuest(t, b)
	attrs, err := c.GetQueueAttributes(sqsCtx(t), &sqs.GetQueueAttributesInput{QueueUrl: &qurl, AttributeNames: []types.QueueAttributeName{"VisibilityTimeout"}})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "20" {
		t.Fatalf("attributes over JSON: %v %v", attrs, err)
	}
	// Send with attributes; the same attributes sent over JSON give the
	// same MD5OfMessageAttributes.
	msgBody := "<xml & body> ü"
	st, _, body = sqsQuery(t, b, "/", url.Values{"Action": {"SendMessage"}, "QueueUrl": {qurl}, "MessageBody": {msgBody},
		"MessageAttribute.1.Name": {"color"}, "MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"blue"},
		"MessageAttribute.2.Name": {"size"}, "MessageAttribute.2.Value.DataType": {"Number"}, "MessageAttribute.2.Value.StringValue": {"7"},
		"MessageAttribute.3.Name": {"raw"}, "MessageAttribute.3.Value.DataType": {"Binary"}, "MessageAttribute.3.Value.BinaryValue": {"AAEC"}})
	var sent struct {
		Result struct{ MD5OfMessageBody, MD5OfMessageAttributes, MessageId string } `xml:"SendMessageResult"`
	}
	if st != 200 || xml.Unmarshal([]byte(body), &sent) != nil {
		t.Fatalf("SendMessage: %d %s", st, body)
	}
	sum := md5.Sum([]byte(msgBody))
	if sent.Result.MD5OfMessageBody != hex.EncodeToString(sum[:]) || sent.Result.MessageId == "" {
		t.Fatalf("SendMessage result %+v", sent.Result)
	}
	viaJSON, err := c.SendMessage(sqsCtx(t), &sqs.SendMessageInput{QueueUrl: &qurl, MessageBody: aws.String("other"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"color": {DataType: aws.String("String"), StringValue: aws.String("blue")},
			"size":  {DataType: aws.String("Number"), StringValue: aws.String("7")},
			"raw":   {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		}})
	if err != nil || *viaJSON.MD5OfMessageAttributes != sent.Result.MD5OfMessageAttributes {
		t.Fatalf("MD5OfMessageAttributes over JSON %v, over Query %s (%v)", viaJSON, sent.Result.MD5OfMessageAttributes, err)
	}
	st, _, body = sqsQuery(t, b, "/", url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {qurl}, "MaxNumberOfMessages": {"1"},
		"AttributeName.1": {"All"}, "MessageAttributeName.1": {"All"}})
	var got struct {
		Result struct{ Message []queryMessage } `xml:"ReceiveMessageResult"`
	}
	if st != 200 || xml.Unmarshal([]byte(body), &got) != nil || len(got.Result.Message) != 1 {
		t.Fatalf("ReceiveMessage: %d %s", st, body)
	}
	m := got.Result.Message[0]
	if m.Body != msgBody || m.MessageId != sent.Result.MessageId || m.MD5OfBody != sent.Result.MD5OfMessageBody ||
		m.MD5OfMessageAttributes != sent.Result.MD5OfMessageAttributes || len(m.MessageAttribute) != 3 {
		t.Fatalf("received %+v", m)
	}
	for _, a := range m.MessageAttribute {
		if a.Name == "raw" && (a.Value.BinaryValue != "AAEC" || a.Value.DataType != "Binary") {
			t.Fatalf("binary attribute %+v", a)
		}
	}
	found := false
	for _, a := range m.Attribute {
		found = found || a.Name == "ApproximateReceiveCount" && a.Value == "1"
	}
	if !found {
		t.Fatalf("system attributes %+v", m.Attribute)
	}
	// The older form: posted to the queue's own URL, no QueueUrl.
	u, _ := url.Parse(qurl)
	st, _, body = sqsQuery(t, b, u.Path, url.Values{"Action": {"DeleteMessage"}, "ReceiptHandle": {m.ReceiptHandle}})
	if st != 200 || !strings.Contains(body, "<DeleteMessageResponse") {
		t.Fatalf("DeleteMessage at the queue URL: %d %s", st, body)
	}
	// A batch with one bad entry.
	st, _, body = sqsQuery(t, b, "/", url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {qurl},
		"SendMessageBatchRequestEntry.1.Id": {"a"}, "SendMessageBatchRequestEntry.1.MessageBody": {"one"},
		"SendMessageBatchRequestEntry.2.Id": {"b"}, "SendMessageBatchRequestEntry.2.MessageBody": {"two"}, "SendMessageBatchRequestEntry.2.DelaySeconds": {"1000"}})
	var batch struct {
		Result struct {
			Ok  []struct{ Id, MessageId string }         `xml:"SendMessageBatchResultEntry"`
			Bad []struct{ Id, Code, SenderFault string } `xml:"BatchResultErrorEntry"`
		} `xml:"SendMessageBatchResult"`
	}
	if st != 200 || xml.Unmarshal([]byte(body), &batch) != nil || len(batch.Result.Ok) != 1 || len(batch.Result.Bad) != 1 ||
		batch.Result.Bad[0].Code != "InvalidParameterValue" || batch.Result.Bad[0].SenderFault != "true" {
		t.Fatalf("SendMessageBatch: %d %s", st, body)
	}
	// Batch delete and visibility change in form encoding.
	st, _, body = sqsQuery(t, b, "/", url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {qurl}, "MaxNumberOfMessages": {"10"}})
	got.Result.Message = nil
	if st != 200 || xml.Unmarshal([]byte(body), &got) != nil || len(got.Result.Message) < 2 {
		t.Fatalf("ReceiveMessage: %d %s", st, body)
	}
	ms := got.Result.Message
	st, _, body = sqsQuery(t, b, "/", url.Values{"Action": {"ChangeMessageVisibilityBatch"}, "QueueUrl": {qurl},
		"ChangeMessageVisibilityBatchRequestEntry.1.Id": {"v1"}, "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle": {ms[0].ReceiptHandle},
		"ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout": {"100"}})
	if st != 200 || !strings.Contains(body, "<ChangeMessageVisibilityBatchResultEntry><Id>v1</Id></ChangeMessageVisibilityBatchResultEntry>") {
		t.Fatalf("ChangeMessageVisibilityBatch: %d %s", st, body)
	}
	form := url.Values{"Action": {"DeleteMessageBatch"}, "QueueUrl": {qurl}}
	for i, m := range ms {
		form.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.Id", i+1), fmt.Sprintf("d%d", i))
		form.Set(fmt.Sprintf("DeleteMessageBatchRequestEntry.%d.ReceiptHandle", i+1), m.ReceiptHandle)
	}
	st, _, body = sqsQuery(t, b, "/", form)
	if st != 200 || strings.Count(body, "<DeleteMessageBatchResultEntry>") != len(ms) || strings.Contains(body, "BatchResultErrorEntry") {
		t.Fatalf("DeleteMessageBatch: %d %s", st, body)
	}
	st, _, body = sqsQuery(t, b, "/", url.Values{"Action": {"GetQueueAttributes"}, "QueueUrl": {qurl}, "AttributeName.1": {"ApproximateNumberOfMessagesNotVisible"}})
	if st != 200 || !strings.Contains(body, "<Attribute><Name>ApproximateNumberOfMessagesNotVisible</Name><Value>0</Value></Attribute>") {
		t.Fatalf("GetQueueAttributes: %d %s", st, body)
	}
	// Errors as ErrorResponse XML.
	for _, tc := range []struct {
		form   url.Values
		status int
		code   string
	}{
		{url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"missing"}}, 400, "AWS.SimpleQueueService.NonExistentQueue"},
		{url.Values{"Action": {"Frobnicate"}}, 400, "InvalidAction"},
		{url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {qurl}, "MaxNumberOfMessages": {"ten"}}, 400, "InvalidParameterValue"},
		{url.Values{"Action": {"DeleteMessage"}, "QueueUrl": {qurl}, "ReceiptHandle": {"bogus"}}, 400, "ReceiptHandleIsInvalid"},
		{url.Values{"Action": {"CreateQueue"}, "QueueName": {"q1"}, "Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"21"}}, 400, "QueueAlreadyExists"},
	} {
		st, h, body := sqsQuery(t, b, "/", tc.form)
		var e queryError
		if err := xml.Unmarshal([]byte(body), &e); err != nil || st != tc.status || e.Error.Code != tc.code || e.Error.Type != "Sender" ||
			e.RequestId == "" || e.RequestId != h.Get("x-amzn-RequestId") {
			t.Fatalf("%v: %d %s; want %d %s", tc.form, st, body, tc.status, tc.code)
		}
	}
	// An oversized request gets an SQS error, not a dropped connection.
	big := url.Values{"Action": {"SendMessage"}, "QueueUrl": {qurl}, "MessageBody": {strings.Repeat("x", 3<<20)}}
	st, _, body = sqsQuery(t, b, "/", big)
	if st != 400 || !strings.Contains(body, "<Code>AWS.SimpleQueueService.BatchRequestTooLong</Code>") {
		t.Fatalf("a 3 MiB request: %d %.300s", st, body)
	}
}

// TestSQSAWSCLI drives the broker with the first aws CLI on PATH: Debian's
// 2.9 (Query protocol, scripts/test-tools.sh installs it) on a fresh
// machine, or a newer one (botocore speaks JSON for SQS since 1.31).
func TestSQSAWSCLI(t *testing.T) {
	aws := requireTool(t, "aws")
	b := brokertest.New(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(aws, append([]string{"--endpoint-url", b.SQSURL(), "--region", "us-east-1", "--output", "json", "sqs"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=guest", "AWS_SECRET_ACCESS_KEY=guest", "AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws sqs %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run("create-queue", "--queue-name", "cli")
	if !strings.Contains(out, "/000000000000/cli") {
		t.Fatalf("create-queue: %s", out)
	}
	qurl := b.SQSURL() + "/000000000000/cli"
	run("send-message", "--queue-url", qurl, "--message-body", "from the cli",
		"--message-attributes", `{"a":{"DataType":"String","StringValue":"b"}}`)
	out = run("receive-message", "--queue-url", qurl, "--message-attribute-names", "All", "--attribute-names", "All")
	if !strings.Contains(out, `"Body": "from the cli"`) || !strings.Contains(out, `"StringValue": "b"`) {
		t.Fatalf("receive-message: %s", out)
	}
	out = run("get-queue-attributes", "--queue-url", qurl, "--attribute-names", "ApproximateNumberOfMessagesNotVisible")
	if !strings.Contains(out, `"ApproximateNumberOfMessagesNotVisible": "1"`) {
		t.Fatalf("get-queue-attributes: %s", out)
	}
	cmd := exec.Command(aws, "--endpoint-url", b.SQSURL(), "--region", "us-east-1", "sqs", "get-queue-url", "--queue-name", "missing")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=guest", "AWS_SECRET_ACCESS_KEY=guest", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1")
	eout, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(eout), "AWS.SimpleQueueService.NonExistentQueue") {
		t.Fatalf("get-queue-url of a missing queue: %v %s", err, eout)
	}
}
