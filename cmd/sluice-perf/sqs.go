package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// sqsDriver runs a load over the SQS API (AWS JSON 1.0, SigV4): producers
// send SendMessageBatch requests of cfg.Batch entries, consumers loop over
// ReceiveMessage(MaxNumberOfMessages 10, a long poll of cfg.SQSWait) and
// DeleteMessageBatch of what they received. Each producer and each
// consumer is a goroutine with its own sqsClient: with --client
// aws-sdk-go-v2 (the default) the SDK, whose HTTP transport keeps a
// connection alive for each of them; with --client fast sluice-perf's own
// (fastsqs.go), one connection each. Queue setup and teardown always use
// the SDK.
//
// The queues get names of their own for each run (like a STOMP run
// without AMQP): SQS has no way to empty a queue at once (PurgeQueue is
// allowed once a minute and may take that long), and a fresh queue is
// empty. Teardown deletes them.
type sqsDriver struct {
	r      *runner
	client *sqs.Client // setup, teardown and the SDK's sqsClient
	urls   []string    // by queue

	cancel context.CancelFunc // consumers
	wg     sync.WaitGroup

	// FIFO runs: the last sequence number seen per (producer, group),
	// to check the order within each message group.
	orderMu sync.Mutex
	last    map[[2]int]uint64
}

// sqsBodyHeaderLen is the hex form of the 16-byte header: an SQS body is
// text (XML characters), so the binary header travels as hex.
const sqsBodyHeaderLen = 2 * bodyHeaderLen

// sqsMaxBody is the largest body an SQS run sends: goaws's default
// MaximumMessageSize (SQS's old 256 KiB limit), which every SQS service
// accepts.
const sqsMaxBody = 256 << 10

func newSQSDriver(r *runner) *sqsDriver {
	c := r.cfg
	// One idle connection kept for every producer and consumer (and the
	// setup), so that no request pays for a new TCP connection; no
	// compression (bodies of random hex and filler, on loopback).
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.Producers + c.Consumers + 8,
		MaxIdleConnsPerHost: c.Producers + c.Consumers + 8,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSClientConfig:     c.tlsConf,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	cfg := aws.Config{
		Region:      c.SQSRegion,
		Credentials: credentials.NewStaticCredentialsProvider(c.SQSKey, c.SQSSecret, ""),
		// No retries: a retried send whose first attempt was stored
		// would be a duplicate the accounting reports, and a failed
		// call should fail the run, not hide in its numbers.
		Retryer:    func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: &http.Client{Transport: ownBody{tr}},
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(c.SQSEndpoint) })
	return &sqsDriver{r: r, client: client, last: map[[2]int]uint64{}}
}

// ownBody works around a client-side race of aws-sdk-go-v2
// (aws/aws-sdk-go-v2#1825, #2737), as the conformance tests do: smithy
// closes the request body as soon as the response headers arrive, and
// when that beats net/http's write loop (a server on the same machine
// answers that fast) the loop closes the connection under the response
// being read ("deserialization failed ... use of closed network
// connection" with status 200). Handing the transport its own copy of the
// body avoids it.
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

// sqsQueueName is queue q's name: run-unique, ".fifo" for a FIFO run.
func sqsQueueName(prefix string, q int, fifo bool) string {
	n := fmt.Sprintf("%s-%d", prefix, q)
	if fifo {
		n += ".fifo"
	}
	return n
}

func (d *sqsDriver) setup(ctx context.Context) error {
	c := d.r.cfg
	prefix := runUniquePrefix(c.Prefix)
	d.urls = make([]string, c.Queues)
	for q := range d.urls {
		in := &sqs.CreateQueueInput{QueueName: aws.String(sqsQueueName(prefix, q, c.FIFO))}
		if c.FIFO {
			in.Attributes = map[string]string{"FifoQueue": "true"}
		}
		out, err := d.client.CreateQueue(ctx, in)
		if err != nil {
			return fmt.Errorf("CreateQueue %s: %w", *in.QueueName, err)
		}
		d.urls[q] = *out.QueueUrl
	}
	return nil
}

func (d *sqsDriver) teardown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, u := range d.urls {
		if _, err := d.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sqsBody writes the header of message seq of producer p, sent at ts,
// into body as hex.
func sqsBody(body []byte, p int, seq uint64, ts int64) {
	var h [bodyHeaderLen]byte
	encodeHeader(h[:], p, seq, ts)
	hex.Encode(body[:sqsBodyHeaderLen], h[:])
}

// sqsHeader reads what sqsBody wrote, as the binary header.
func sqsHeader(body string) ([]byte, bool) {
	if len(body) < sqsBodyHeaderLen {
		return nil, false
	}
	h := make([]byte, bodyHeaderLen)
	if _, err := hex.Decode(h, []byte(body[:sqsBodyHeaderLen])); err != nil {
		return nil, false
	}
	return h, true
}

// sqsEntry is one message of a SendMessageBatch.
type sqsEntry struct {
	body         []byte
	group, dedup string // FIFO only
}

// sqsMessage is one message a ReceiveMessage returned.
type sqsMessage struct {
	body, handle string
}

// sqsClient is what a producer or a consumer calls. Each goroutine has its
// own; a failed entry or a failed call is an error (no retries).
type sqsClient interface {
	// sendBatch sends entries (Ids "0", "1", ...) and returns how many the
	// answer lists as sent; an entry listed as failed is an error.
	sendBatch(ctx context.Context, url string, entries []sqsEntry) (sent int, err error)
	receive(ctx context.Context, url string, wait int) ([]sqsMessage, error)
	// deleteBatch deletes by receipt handle; a failed entry is an error.
	deleteBatch(ctx context.Context, url string, handles []string) error
	close()
}

// newClient returns a client for one producer or consumer.
func (d *sqsDriver) newClient() (sqsClient, error) {
	if d.r.cfg.Client == "fast" {
		return dialFastSQS(d.r.cfg)
	}
	return newSDKClient(d.client), nil
}

func (d *sqsDriver) produce(ctx context.Context, p int) error {
	r := d.r
	c := r.cfg
	cl, err := d.newClient()
	if err != nil {
		return err
	}
	defer cl.close()
	entries := make([]sqsEntry, c.Batch)
	for i := range entries {
		body := make([]byte, c.Size)
		for j := sqsBodyHeaderLen; j < len(body); j++ {
			body[j] = 'x'
		}
		entries[i].body = body
	}
	groups := make([]string, c.Groups)
	for g := range groups {
		groups[g] = fmt.Sprintf("p%d-g%d", p, g)
	}
	rec := r.newConfirmRec()
	pace := newPacer(c.Rate/float64(c.Producers*c.Batch), float64(p)/float64(c.Producers))
	// validate makes every producer send to one queue (producers >=
	// queues), so that a batch is one queue's.
	q := r.rt.target(p, 0)
	var seq uint64
	for {
		if !pace.wait(r.stopPub) {
			break
		}
		n := 0
		for n < c.Batch && r.claim(ctx) {
			s := seq + uint64(n)
			e := &entries[n]
			sqsBody(e.body, p, s, r.now())
			if c.FIFO {
				e.group = groups[sqsGroup(c, s)]
				e.dedup = fmt.Sprintf("p%d-%d", p, s)
			}
			n++
		}
		if n == 0 {
			break
		}
		start := r.now()
		sent, err := cl.sendBatch(ctx, d.urls[q], entries[:n])
		if err != nil {
			return fmt.Errorf("SendMessageBatch: %w", err)
		}
		lenient := c.EmptyBatchAnswer && sent == 0
		if !lenient && sent != n {
			return fmt.Errorf("SendMessageBatch: %d of %d entries in the answer", sent, n)
		}
		if start >= r.warmupNS {
			rec.mu.Lock()
			rec.total.record(time.Duration(r.now() - start))
			rec.mu.Unlock()
		}
		seq += uint64(n)
		r.sentPer[p].Store(seq)
		r.sent.Add(int64(n))
		r.confirmed.Add(int64(n))
	}
	return nil
}

// sqsGroup is the message group (of cfg.Groups per producer) of a
// producer's message seq in a FIFO run: its batches take the groups in
// turn, batch k (sequence numbers from k*Batch) in group k % Groups.
func sqsGroup(c config, seq uint64) int { return int(seq/uint64(c.Batch)) % c.Groups }

func (d *sqsDriver) startConsumers(ctx context.Context) error {
	c := d.r.cfg
	ctx, d.cancel = context.WithCancel(context.Background())
	for i := 0; i < c.Consumers; i++ {
		for _, q := range consumerQueues(i, c.Consumers, c.Queues) {
			d.wg.Add(1)
			go d.consume(ctx, q, d.r.newLatRec())
		}
	}
	return nil
}

// consume receives from queue q until ctx ends: each message is counted
// before its batch is deleted, so that in a FIFO queue (where no later
// message of a group is handed out while an earlier one is in flight) the
// order of counting is the order of the group.
func (d *sqsDriver) consume(ctx context.Context, q int, rec *latRec) {
	defer d.wg.Done()
	r := d.r
	cl, err := d.newClient()
	if err != nil {
		r.fail("consumer of queue %d: %v", q, err)
		return
	}
	defer cl.close()
	handles := make([]string, 0, 10)
	for ctx.Err() == nil {
		msgs, err := cl.receive(ctx, d.urls[q], r.cfg.SQSWait)
		if err != nil {
			if ctx.Err() == nil {
				r.fail("ReceiveMessage from queue %d: %v", q, err)
			}
			return
		}
		if len(msgs) == 0 {
			continue
		}
		handles = handles[:0]
		for _, m := range msgs {
			d.account(q, m.body, rec)
			handles = append(handles, m.handle)
		}
		if err := cl.deleteBatch(ctx, d.urls[q], handles); err != nil {
			if ctx.Err() == nil {
				r.fail("DeleteMessageBatch on queue %d: %v", q, err)
			}
			return
		}
	}
}

// account counts one received body; in a FIFO run it also checks that
// the message comes after every one of its group counted before.
func (d *sqsDriver) account(q int, body string, rec *latRec) {
	r := d.r
	h, ok := sqsHeader(body)
	if !ok {
		r.consumed.Add(1)
		r.tr.bogus.Add(1)
		return
	}
	r.onMessage(q, h, rec)
	if !r.cfg.FIFO {
		return
	}
	p, seq, _, _ := decodeHeader(h)
	key := [2]int{p, sqsGroup(r.cfg, seq)}
	d.orderMu.Lock()
	last, seen := d.last[key]
	if seen && seq < last {
		d.orderMu.Unlock()
		r.fail("FIFO order: queue %d producer %d message %d came after %d of its group", q, p, seq, last)
		return
	}
	d.last[key] = seq
	d.orderMu.Unlock()
}

func (d *sqsDriver) stopConsumers() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
}

func (d *sqsDriver) idle(ctx context.Context, n int) (func(), error) {
	return nil, errors.New("the SQS mode has no idle-connection run")
}

// sdkClient is aws-sdk-go-v2's SQS client behind sqsClient; one
// sqs.Client serves every goroutine.
type sdkClient struct {
	c   *sqs.Client
	ids []string // "0".."9"
	se  []types.SendMessageBatchRequestEntry
	de  []types.DeleteMessageBatchRequestEntry
}

func newSDKClient(c *sqs.Client) *sdkClient {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return &sdkClient{c: c, ids: ids}
}

func (s *sdkClient) close() {}

func (s *sdkClient) sendBatch(ctx context.Context, url string, entries []sqsEntry) (int, error) {
	s.se = s.se[:0]
	for i, e := range entries {
		ent := types.SendMessageBatchRequestEntry{Id: &s.ids[i], MessageBody: aws.String(string(e.body))}
		if e.group != "" {
			ent.MessageGroupId = aws.String(e.group)
			ent.MessageDeduplicationId = aws.String(e.dedup)
		}
		s.se = append(s.se, ent)
	}
	out, err := s.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: s.se})
	if err != nil {
		return 0, err
	}
	if len(out.Failed) > 0 {
		f := out.Failed[0]
		return len(out.Successful), fmt.Errorf("%d of %d entries failed; first %s: %s", len(out.Failed), len(entries), aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return len(out.Successful), nil
}

func (s *sdkClient) receive(ctx context.Context, url string, wait int) ([]sqsMessage, error) {
	out, err := s.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: int32(wait)})
	if err != nil {
		return nil, err
	}
	msgs := make([]sqsMessage, len(out.Messages))
	for i, m := range out.Messages {
		msgs[i] = sqsMessage{body: aws.ToString(m.Body), handle: aws.ToString(m.ReceiptHandle)}
	}
	return msgs, nil
}

func (s *sdkClient) deleteBatch(ctx context.Context, url string, handles []string) error {
	s.de = s.de[:0]
	for i := range handles {
		s.de = append(s.de, types.DeleteMessageBatchRequestEntry{Id: &s.ids[i], ReceiptHandle: &handles[i]})
	}
	out, err := s.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: s.de})
	if err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("%d of %d entries failed (%s)", len(out.Failed), len(handles), aws.ToString(out.Failed[0].Code))
	}
	return nil
}
