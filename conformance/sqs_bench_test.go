package conformance

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sluice-mq/sluice/brokertest"
)

// BenchmarkSQSBatches measures the SQS API with aws-sdk-go-v2 on one
// machine: producers sending SendMessageBatch of 10 x 1 KiB (durable:
// each answer waits for its fsync), then consumers draining with
// ReceiveMessage(10) + DeleteMessageBatch. b.N is the number of batches
// sent. go test -run '^$' -bench SQSBatches -benchtime 2000x ./conformance
func BenchmarkSQSBatches(b *testing.B) {
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			br := brokertest.New(b)
			c := sqsGuest(b, br)
			url := sqsCreate(b, c, "bench", nil)
			body := strings.Repeat("x", 1024)
			entries := make([]types.SendMessageBatchRequestEntry, 10)
			for i := range entries {
				entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: &body}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
						if err != nil || len(out.Failed) > 0 {
							b.Errorf("SendMessageBatch: %v", err)
							return
						}
					}
				}()
			}
			wg.Wait()
			sendRate := float64(b.N*10) / time.Since(start).Seconds()
			start = time.Now()
			var received atomic.Int64
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
						if err != nil {
							b.Errorf("ReceiveMessage: %v", err)
							return
						}
						if len(out.Messages) == 0 {
							return
						}
						del := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
						for i, m := range out.Messages {
							del[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
						}
						if _, err := c.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: del}); err != nil {
							b.Errorf("DeleteMessageBatch: %v", err)
							return
						}
						received.Add(int64(len(out.Messages)))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if received.Load() != int64(b.N*10) {
				b.Fatalf("received %d of %d", received.Load(), b.N*10)
			}
			b.ReportMetric(sendRate, "sent/s")
			b.ReportMetric(float64(b.N*10)/time.Since(start).Seconds(), "received+deleted/s")
		})
	}
}
