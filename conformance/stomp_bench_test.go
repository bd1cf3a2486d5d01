package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/sluice-mq/sluice/brokertest"
)

// BenchmarkSTOMPSendReceive measures one go-stomp producer and one go-stomp
// consumer on a queue over loopback, 1 KiB bodies. The client library's
// own cost dominates; BenchmarkSTOMPRawSendReceive shows the broker's.
func BenchmarkSTOMPSendReceive(b *testing.B) {
	// go-stomp hands messages to the subscription and takes ACKs to send
	// on one goroutine, so a consumer that acks inline must keep fewer
	// messages in flight than the subscription channel holds.
	for _, mode := range []struct {
		name     string
		ack      stomp.AckMode
		prefetch string
	}{{"auto", stomp.AckAuto, "0"}, {"client-individual", stomp.AckClientIndividual, "10"}} {
		b.Run(mode.name, func(b *testing.B) {
			br := brokertest.New(b)
			prod := stompDial(b, br)
			cons := stompDial(b, br)
			sub, err := cons.Subscribe("/queue/bench", mode.ack, stomp.SubscribeOpt.Header("prefetch-count", mode.prefetch))
			if err != nil {
				b.Fatal(err)
			}
			body := bytes.Repeat([]byte("x"), 1024)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			errc := make(chan error, 1)
			go func() {
				for i := 0; i < b.N; i++ {
					if err := prod.Send("/queue/bench", "text/plain", body); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			for i := 0; i < b.N; i++ {
				m := <-sub.C
				if m.Err != nil {
					b.Fatal(m.Err)
				}
				if mode.ack != stomp.AckAuto {
					if err := cons.Ack(m); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
		})
	}
}

// BenchmarkSTOMPRawSendReceive is the same flow with minimal clients that
// write pre-encoded frames and scan the replies, so the numbers are the
// broker's.
func BenchmarkSTOMPRawSendReceive(b *testing.B) {
	br := brokertest.New(b)
	dial := func() (net.Conn, *bufio.Reader) {
		nc, err := net.Dial("tcp", br.STOMPAddr())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nc.Close() })
		rd := bufio.NewReaderSize(nc, 64<<10)
		if _, err := io.WriteString(nc, "CONNECT\naccept-version:1.2\nhost:/\n\n\x00"); err != nil {
			b.Fatal(err)
		}
		if _, err := rd.ReadBytes(0); err != nil {
			b.Fatal(err)
		}
		return nc, rd
	}
	prod, _ := dial()
	cons, crd := dial()
	if _, err := io.WriteString(cons, "SUBSCRIBE\nid:0\ndestination:/queue/rawbench\nreceipt:r\n\n\x00"); err != nil {
		b.Fatal(err)
	}
	if _, err := crd.ReadBytes(0); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1024)
	send := []byte(fmt.Sprintf("SEND\ndestination:/queue/rawbench\ncontent-type:text/plain\ncontent-length:%d\n\n%s\x00", len(body), body))
	const batch = 64
	sends := bytes.Repeat(send, batch)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		w := bufio.NewWriterSize(prod, 64<<10)
		for i := 0; i < b.N; i += batch {
			n := min(batch, b.N-i)
			_, _ = w.Write(sends[:n*len(send)])
			_ = w.Flush()
		}
	}()
	// Each MESSAGE carries content-length; skip headers, then the body.
	for i := 0; i < b.N; i++ {
		clen := -1
		for {
			line, err := crd.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 1 {
				if clen >= 0 {
					break
				}
				continue // heart-beat or EOL after NUL
			}
			if bytes.HasPrefix(line, []byte("content-length:")) {
				clen, _ = strconv.Atoi(string(bytes.TrimSpace(line[len("content-length:"):])))
			}
		}
		if _, err := crd.Discard(clen + 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
