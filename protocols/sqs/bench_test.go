package sqs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
)

// The adapter's own cost per request, without a network or a log: the
// handler is called with signed JSON requests against a broker without
// storage (so no fsync). go test -run '^$' -bench . -benchmem ./protocols/sqs
//
// Besides ns/op each reports cpu-ns/op, the process's CPU time (user and
// system, every goroutine) per operation: on a machine shared with other
// work the wall time says more about the neighbours than about the code.

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPerOp starts the clock of a benchmark's CPU time; the function it
// returns reports it per operation.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

type benchServer struct {
	s      *Server
	signer *v4.Signer
}

func newBenchServer(b *testing.B) *benchServer {
	br := broker.New(broker.Config{Logger: zerolog.Nop()})
	s := NewServer(Config{}, br, auth.DefaultStore(), fixedKeys{}, zerolog.Nop())
	v, _ := br.VHost("/")
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "q", Durable: true}); err != nil {
		b.Fatal(err)
	}
	return &benchServer{s: s, signer: v4.NewSigner()}
}

// request is a signed JSON request of action with body.
func (bs *benchServer) request(b *testing.B, action string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.RemoteAddr = "127.0.0.1:5000"
	sum := sha256.Sum256(body)
	if err := bs.signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "fuzz", SecretAccessKey: "secret"},
		req, hex.EncodeToString(sum[:]), "sqs", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	return req
}

// serve answers req again with a fresh body reader (a signed request is
// valid for 15 minutes) and returns the answer.
func (bs *benchServer) serve(b *testing.B, req *http.Request, body []byte) *httptest.ResponseRecorder {
	r := req.Clone(context.Background())
	r.Body = http.NoBody
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	w := httptest.NewRecorder()
	bs.s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("%d %s", w.Code, w.Body.String())
	}
	return w
}

func batchBody(n, size int) []byte {
	type e struct{ Id, MessageBody string }
	in := struct {
		QueueUrl string
		Entries  []e
	}{QueueUrl: "http://127.0.0.1:9324/000000000000/q"}
	for i := 0; i < n; i++ {
		in.Entries = append(in.Entries, e{fmt.Sprint(i), strings.Repeat("x", size)})
	}
	body, _ := json.Marshal(in)
	return body
}

// BenchmarkSendMessageBatch is one SendMessageBatch of 10 x 1 KiB.
func BenchmarkSendMessageBatch(b *testing.B) {
	bs := newBenchServer(b)
	body := batchBody(10, 1024)
	req := bs.request(b, "SendMessageBatch", body)
	b.ReportAllocs()
	b.ResetTimer()
	done := cpuPerOp(b)
	for i := 0; i < b.N; i++ {
		bs.serve(b, req, body)
	}
	b.StopTimer()
	done()
	v, _ := bs.s.b.VHost("/")
	_, _ = v.PurgeQueue("q", 0)
}

// BenchmarkReceiveDelete is one ReceiveMessage(10) and one
// DeleteMessageBatch of what it got (10 x 1 KiB); the client's signing of
// the DeleteMessageBatch (its handles are new) is in the time.
func BenchmarkReceiveDelete(b *testing.B) {
	bs := newBenchServer(b)
	send := batchBody(10, 1024)
	sreq := bs.request(b, "SendMessageBatch", send)
	for i := 0; i < b.N; i++ {
		bs.serve(b, sreq, send)
	}
	recv := []byte(`{"QueueUrl":"http://127.0.0.1:9324/000000000000/q","MaxNumberOfMessages":10}`)
	rreq := bs.request(b, "ReceiveMessage", recv)
	type del struct{ Id, ReceiptHandle string }
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuPerOp(b)()
	for i := 0; i < b.N; i++ {
		w := bs.serve(b, rreq, recv)
		var out struct {
			Messages []struct{ ReceiptHandle string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Messages) != 10 {
			b.Fatalf("received %d: %v", len(out.Messages), err)
		}
		in := struct {
			QueueUrl string
			Entries  []del
		}{QueueUrl: "http://127.0.0.1:9324/000000000000/q"}
		for j, m := range out.Messages {
			in.Entries = append(in.Entries, del{fmt.Sprint(j), m.ReceiptHandle})
		}
		body, _ := json.Marshal(in)
		bs.serve(b, bs.request(b, "DeleteMessageBatch", body), body)
	}
}
