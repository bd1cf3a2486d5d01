package conformance

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/brokertest"
	sqssrv "github.com/sluice-mq/sluice/protocols/sqs"
)

// sqsStatus is the HTTP status of an SDK error.
func sqsStatus(t testing.TB, err error) int {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	if re.RequestID == "" {
		t.Fatalf("error %v has no request id (x-amzn-RequestId)", err)
	}
	return re.HTTPStatusCode()
}

func TestSQSCreateQueueIdempotentAndConflicting(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "orders", map[string]string{"VisibilityTimeout": "45", "DelaySeconds": "0"})
	if !strings.HasSuffix(url, "/000000000000/orders") || !strings.HasPrefix(url, b.SQSURL()) {
		t.Fatalf("queue URL %s: want %s/000000000000/orders", url, b.SQSURL())
	}
	// The same attributes (or a subset, or none): the same URL.
	for _, attrs := range []map[string]string{{"VisibilityTimeout": "45"}, nil, {"VisibilityTimeout": "45", "DelaySeconds": "0"}} {
		if again := sqsCreate(t, c, "orders", attrs); again != url {
			t.Fatalf("CreateQueue again with %v: %s, want %s", attrs, again, url)
		}
	}
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders"), Attributes: map[string]string{"VisibilityTimeout": "46"}})
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) {
		t.Fatalf("CreateQueue with another VisibilityTimeout: %v, want QueueNameExists", err)
	}
	sqsAPIError(t, err, "QueueAlreadyExists")
	if s := sqsStatus(t, err); s != http.StatusBadRequest {
		t.Fatalf("status %d", s)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 81), "dots.not.allowed", ""} {
		_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(bad)})
		if bad == "" {
			sqsAPIError(t, err, "MissingParameter")
			continue
		}
		sqsAPIError(t, err, "InvalidParameterValue")
	}
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("x"), Attributes: map[string]string{"VisibilityTimeout": "43201"}})
	sqsAPIError(t, err, "InvalidAttributeValue")
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("x"), Attributes: map[string]string{"Colour": "blue"}})
	sqsAPIError(t, err, "InvalidAttributeName")
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("x.fifo")})
	sqsAPIError(t, err, "InvalidParameterValue")
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("x"), Attributes: map[string]string{"FifoQueue": "true"}})
	sqsAPIError(t, err, "InvalidAttributeValue")
	fifo := sqsCreate(t, c, "jobs.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &fifo, AttributeNames: []types.QueueAttributeName{"FifoQueue", "ContentBasedDeduplication"}})
	if err != nil || attrs.Attributes["FifoQueue"] != "true" || attrs.Attributes["ContentBasedDeduplication"] != "true" || len(attrs.Attributes) != 2 {
		t.Fatalf("FIFO attributes %v, %v", attrs, err)
	}
}

func TestSQSQueueDoesNotExist(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	missing := b.SQSURL() + "/000000000000/nope"
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &missing, MessageBody: aws.String("x")})
	var qdne *types.QueueDoesNotExist
	if !errors.As(err, &qdne) {
		t.Fatalf("SendMessage to a missing queue: %v, want QueueDoesNotExist", err)
	}
	sqsAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue")
	if s := sqsStatus(t, err); s != 400 {
		t.Fatalf("status %d, want 400", s)
	}
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	sqsAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue")
	_, err = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &missing})
	sqsAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue")
	// The path decides, whatever host the URL names.
	sqsCreate(t, c, "here", nil)
	elsewhere := "https://sqs.eu-west-1.amazonaws.com/000000000000/here"
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &elsewhere, MessageBody: aws.String("x")}); err != nil {
		t.Fatalf("SendMessage with another host in QueueUrl: %v", err)
	}
	// An account that is no vhost.
	other := b.SQSURL() + "/123456789012/here"
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &other, MessageBody: aws.String("x")})
	sqsAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue")
}

func TestSQSListQueuesPaging(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	for i := 0; i < 5; i++ {
		sqsCreate(t, c, fmt.Sprintf("page-%d", i), nil)
	}
	sqsCreate(t, c, "other", nil)
	all, err := c.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil || len(all.QueueUrls) != 6 || all.NextToken != nil {
		t.Fatalf("ListQueues: %v %v", all, err)
	}
	var got []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := c.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("page-"), MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatalf("ListQueues page %d: %v", pages, err)
		}
		got = append(got, out.QueueUrls...)
		if out.NextToken == nil {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		token = out.NextToken
	}
	if len(got) != 5 {
		t.Fatalf("paged through %d queues: %v", len(got), got)
	}
	for i, u := range got {
		if !strings.HasSuffix(u, fmt.Sprintf("/page-%d", i)) {
			t.Fatalf("page order: %v", got)
		}
	}
	_, err = c.ListQueues(ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(1001)})
	sqsAPIError(t, err, "InvalidParameterValue")
}

func TestSQSDeleteAndPurgeQueue(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "purge-me", nil)
	for i := 0; i < 3; i++ {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url}); err != nil {
		t.Fatalf("PurgeQueue: %v", err)
	}
	_, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
	var busy *types.PurgeQueueInProgress
	if !errors.As(err, &busy) {
		t.Fatalf("second PurgeQueue within 60 s: %v, want PurgeQueueInProgress", err)
	}
	sqsAPIError(t, err, "AWS.SimpleQueueService.PurgeQueueInProgress")
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("receive after purge: %v %v", out, err)
	}
	if _, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &url}); err != nil {
		t.Fatalf("DeleteQueue: %v", err)
	}
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("purge-me")})
	sqsAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue")
}

func TestSQSQueueAttributesAndTags(t *testing.T) {
	b := brokertest.New(t)
	c := sqsGuest(t, b)
	ctx := sqsCtx(t)
	dlq := sqsCreate(t, c, "attrs-dlq", nil)
	dlqArn := "arn:aws:sqs:us-east-1:000000000000:attrs-dlq"
	policy := `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":3}`
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("attrs"), Attributes: map[string]string{
		"DelaySeconds": "2", "MaximumMessageSize": "2048", "MessageRetentionPeriod": "600",
		"ReceiveMessageWaitTimeSeconds": "1", "VisibilityTimeout": "10", "RedrivePolicy": policy,
		"Policy": `{"Version":"2012-10-17"}`,
	}, Tags: map[string]string{"team": "a", "env": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	url := *out.QueueUrl
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("later")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("now"), DelaySeconds: 0}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	a := got.Attributes
	want := map[string]string{"DelaySeconds": "2", "MaximumMessageSize": "2048", "MessageRetentionPeriod": "600",
		"ReceiveMessageWaitTimeSeconds": "1", "VisibilityTimeout": "10", "RedrivePolicy": policy,
		"QueueArn": "arn:aws:sqs:us-east-1:000000000000:attrs", "ApproximateNumberOfMessagesDelayed": "2",
		"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0", "Policy": `{"Version":"2012-10-17"}`}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, a[k], v)
		}
	}
	if a["CreatedTimestamp"] == "" || a["LastModifiedTimestamp"] == "" {
		t.Errorf("timestamps missing: %v", a)
	}
	one, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"VisibilityTimeout"}})
	if err != nil || len(one.Attributes) != 1 || one.Attributes["VisibilityTimeout"] != "10" {
		t.Fatalf("one attribute: %v %v", one, err)
	}
	_, err = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"Bogus"}})
	sqsAPIError(t, err, "InvalidAttributeName")
	tags, err := c.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &url})
	if err != nil || len(tags.Tags) != 2 || tags.Tags["team"] != "a" {
		t.Fatalf("ListQueueTags: %v %v", tags, err)
	}
	src, err := c.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq})
	if err != nil || len(src.QueueUrls) != 1 || src.QueueUrls[0] != url {
		t.Fatalf("ListDeadLetterSourceQueues: %v %v", src, err)
	}
	_, err = c.AddPermission(ctx, &sqs.AddPermissionInput{QueueUrl: &url, Label: aws.String("l"), AWSAccountIds: []string{"1"}, Actions: []string{"*"}})
	ae := sqsAPIError(t, err, "AWS.SimpleQueueService.UnsupportedOperation")
	if !strings.Contains(ae.ErrorMessage(), "permissions") {
		t.Fatalf("AddPermission's error does not name sluice's permission model: %s", ae.ErrorMessage())
	}
	// A dead-letter target that does not exist.
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orphan"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:none","maxReceiveCount":"2"}`}})
	sqsAPIError(t, err, "InvalidAttributeValue")
}

// TestSQSAccountsAreVHosts: a vhost other than "/" is the account
// sqs.AccountID(vhost); an endpoint URL with that account in its path
// creates and lists queues there, and QueueOwnerAWSAccountId finds them.
func TestSQSAccountsAreVHosts(t *testing.T) {
	b := brokertest.New(t)
	if _, _, err := b.Broker.CreateVHost("tenant"); err != nil {
		t.Fatal(err)
	}
	setVHostPerms(t, b, "guest", "tenant")
	acct := sqssrv.AccountID("tenant")
	c := sqsClientFor(t, b, "guest", "guest", func(o *sqs.Options) { o.BaseEndpoint = aws.String(b.SQSURL() + "/" + acct) })
	ctx := sqsCtx(t)
	url := sqsCreate(t, c, "jobs", nil)
	if !strings.HasSuffix(url, "/"+acct+"/jobs") {
		t.Fatalf("queue URL in vhost tenant: %s (account %s)", url, acct)
	}
	if _, ok := b.Broker.VHost("tenant"); !ok {
		t.Fatal("no vhost tenant")
	}
	v, _ := b.Broker.VHost("tenant")
	if _, ok := v.Queue("jobs"); !ok {
		t.Fatal("the queue is not in vhost tenant")
	}
	root := sqsGuest(t, b)
	if list, err := root.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil || len(list.QueueUrls) != 0 {
		t.Fatalf("vhost / lists %v (%v)", list, err)
	}
	got, err := root.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("jobs"), QueueOwnerAWSAccountId: aws.String(acct)})
	if err != nil || !strings.HasSuffix(*got.QueueUrl, "/"+acct+"/jobs") {
		t.Fatalf("GetQueueUrl with the owner account: %v %v", got, err)
	}
	sqsSend(t, root, *got.QueueUrl, "to tenant")
	attrs, err := root.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: got.QueueUrl, AttributeNames: []types.QueueAttributeName{"QueueArn", "ApproximateNumberOfMessages"}})
	if err != nil || attrs.Attributes["QueueArn"] != "arn:aws:sqs:us-east-1:"+acct+":jobs" || attrs.Attributes["ApproximateNumberOfMessages"] != "1" {
		t.Fatalf("attributes: %v %v", attrs, err)
	}
}

func setVHostPerms(t testing.TB, b *brokertest.Broker, user, vhost string) {
	t.Helper()
	if err := b.Users.SetPermission(auth.Permission{User: user, VHost: vhost, Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
}
