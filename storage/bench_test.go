package storage

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// BenchmarkPersistentPublish logs 1 KiB persistent messages from 16
// concurrent publishers, each waiting for its fsync (group commit), with
// and without AES-256-GCM sealing: the difference is what encryption at
// rest costs on persistent throughput.
func BenchmarkPersistentPublish(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		b.Run(fmt.Sprintf("sealed=%v", sealed), func(b *testing.B) {
			var k *Keyring
			if sealed {
				k = testKeyring(b, "k1")
			}
			s, _, err := Open(Options{Dir: b.TempDir(), Keyring: k, SegmentSize: 64 << 20, Logger: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			m := &message.Message{Properties: message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: 2},
				Body: make([]byte, 1024)}
			refs := []broker.QueueRef{{VHost: "/", Queue: "q"}}
			const publishers = 16
			var wg sync.WaitGroup
			var next sync.Mutex
			id := uint64(0)
			b.SetBytes(1024)
			b.ResetTimer()
			for p := 0; p < publishers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					done := make(chan error, 1)
					for {
						next.Lock()
						if id >= uint64(b.N) {
							next.Unlock()
							return
						}
						id++
						my := id
						next.Unlock()
						s.LogMessage(my, 1, refs, m, func(err error) { done <- err })
						if err := <-done; err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
