package conformance

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// RabbitMQ ends every frame it sends with an LF after the NUL (its
// stomp.trailing_lf, on by default), over TCP and in each Web STOMP
// message; clients written against it see those octets (checked with
// RabbitMQ 3.10 on raw sockets). --stomp-trailing-lf=false leaves it out.
func TestStompTrailingLF(t *testing.T) {
	for _, on := range []bool{true, false} {
		b := brokertest.New(t, func(c *server.Config) { c.STOMPTrailingLF = on })
		want := "\x00"
		if on {
			want = "\x00\n"
		}
		nc, err := net.Dial("tcp", b.STOMPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// CONNECTED, a RECEIPT and a MESSAGE, then an ERROR that ends the
		// session: every octet the server sends, until it closes.
		io.WriteString(nc, "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00"+
			"SUBSCRIBE\nid:1\ndestination:/queue/lf\n\n\x00"+
			"SEND\ndestination:/queue/lf\nreceipt:r\n\nhi\x00")
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var all []byte
		buf := make([]byte, 4096)
		for strings.Count(string(all), "\x00") < 3 { // CONNECTED, RECEIPT, MESSAGE
			n, err := nc.Read(buf)
			if err != nil {
				t.Fatalf("trailing LF %v: read: %v after %q", on, err, all)
			}
			all = append(all, buf[:n]...)
		}
		io.WriteString(nc, "CONNECT\naccept-version:1.2\n\n\x00")
		rest, _ := io.ReadAll(nc)
		all = append(all, rest...)
		frames := strings.SplitAfter(string(all), want)
		var commands []string
		for _, f := range frames {
			if f == "" {
				continue
			}
			if !strings.HasSuffix(f, want) || strings.HasPrefix(f, "\n") {
				t.Fatalf("trailing LF %v: frame %q in %q", on, f, all)
			}
			commands = append(commands, f[:strings.IndexByte(f, '\n')])
		}
		if strings.Join(commands, " ") != "CONNECTED RECEIPT MESSAGE ERROR" && strings.Join(commands, " ") != "CONNECTED MESSAGE RECEIPT ERROR" {
			t.Fatalf("trailing LF %v: frames %q", on, commands)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w := wsDialURL(t, ctx, "ws://"+b.Addr("web-stomp").String()+"/ws", nil)
		w.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
		if _, f := w.next(); !strings.HasPrefix(f, "CONNECTED") || !strings.HasSuffix(f, want) {
			t.Fatalf("trailing LF %v: Web STOMP message %q", on, f)
		}
	}
}
