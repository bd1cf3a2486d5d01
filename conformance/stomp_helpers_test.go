package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/sluice-mq/sluice/brokertest"
)

// stompDial connects go-stomp to the broker's STOMP listener as guest on
// the default vhost. go-stomp sends the dialled host name as the host
// header, which RabbitMQ (and sluice) take as the vhost, hence Host("/").
func stompDial(t testing.TB, b *brokertest.Broker, opts ...func(*stomp.Conn) error) *stomp.Conn {
	t.Helper()
	opts = append([]func(*stomp.Conn) error{stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("guest", "guest")}, opts...)
	c, err := stomp.Dial("tcp", b.STOMPAddr(), opts...)
	if err != nil {
		t.Fatalf("stomp dial: %v", err)
	}
	t.Cleanup(func() { c.MustDisconnect() })
	return c
}

// recv waits for one message on sub.
func recv(t testing.TB, sub *stomp.Subscription) *stomp.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C:
		if !ok {
			t.Fatalf("subscription %s closed", sub.Id())
		}
		if m.Err != nil {
			t.Fatalf("subscription %s: %v", sub.Id(), m.Err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("no message on %s", sub.Destination())
	}
	return nil
}

// expectNone checks nothing arrives on sub for a moment.
func expectNone(t testing.TB, sub *stomp.Subscription, d time.Duration) {
	t.Helper()
	select {
	case m := <-sub.C:
		if m != nil && m.Err == nil {
			t.Fatalf("unexpected message %q on %s", m.Body, sub.Destination())
		}
	case <-time.After(d):
	}
}

// rawFrame is a frame read by the raw client.
type rawFrame struct {
	command string
	headers map[string]string // first of repeated headers
	order   []string
	body    []byte
}

// rawConn is a bare STOMP client on a socket, for tests that need to
// send what real clients will not.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func rawDial(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) write(s string) {
	r.t.Helper()
	_ = r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// writeErr writes and returns the error, for peers that may be gone.
func (r *rawConn) writeErr(s []byte) error {
	_ = r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := r.nc.Write(s)
	return err
}

// connect sends CONNECT with extra header lines and expects CONNECTED.
func (r *rawConn) connect(extra ...string) *rawFrame {
	r.t.Helper()
	h := "accept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n"
	for _, e := range extra {
		h += e + "\n"
	}
	r.write("CONNECT\n" + h + "\n\x00")
	f := r.read()
	if f.command != "CONNECTED" {
		r.t.Fatalf("expected CONNECTED, got %s %v %q", f.command, f.headers, f.body)
	}
	return f
}

// read reads the next frame, skipping heart-beats.
func (r *rawConn) read() *rawFrame {
	r.t.Helper()
	f, err := r.readErr(5 * time.Second)
	if err != nil {
		r.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (r *rawConn) readErr(timeout time.Duration) (*rawFrame, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(timeout))
	var line string
	var err error
	for {
		line, err = r.br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			break
		}
	}
	f := &rawFrame{command: line, headers: map[string]string{}}
	for {
		line, err = r.br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		if _, dup := f.headers[k]; !dup {
			f.headers[k] = v
			f.order = append(f.order, k)
		}
	}
	if cl, ok := f.headers["content-length"]; ok {
		n, err := strconv.Atoi(cl)
		if err != nil {
			return nil, err
		}
		f.body = make([]byte, n+1)
		if _, err := io.ReadFull(r.br, f.body); err != nil {
			return nil, err
		}
		if f.body[n] != 0 {
			return nil, fmt.Errorf("no NUL after body")
		}
		f.body = f.body[:n]
		return f, nil
	}
	body, err := r.br.ReadBytes(0)
	if err != nil {
		return nil, err
	}
	f.body = bytes.TrimSuffix(body, []byte{0})
	return f, nil
}

// expectError reads frames until an ERROR and checks that its message
// header contains want, then that the server closes the connection.
func (r *rawConn) expectError(want string) *rawFrame {
	r.t.Helper()
	f := r.nextError(want)
	r.expectClosed()
	return f
}

// expectRefusal reads up to an ERROR whose message contains want, as
// expectError, and then checks that the connection goes on, as RabbitMQ's
// does after refusing one frame: a SEND with a receipt gets its RECEIPT.
func (r *rawConn) expectRefusal(want string) *rawFrame {
	r.t.Helper()
	f := r.nextError(want)
	r.write("SEND\ndestination:/queue/after-refusal\nreceipt:after-refusal\n\nstill here\x00")
	for {
		g, err := r.readErr(5 * time.Second)
		if err != nil {
			r.t.Fatalf("after ERROR %q the connection did not go on: %v", want, err)
		}
		if g.command == "RECEIPT" && g.headers["receipt-id"] == "after-refusal" {
			return f
		}
		if g.command == "ERROR" {
			r.t.Fatalf("after ERROR %q another ERROR: %v %q", want, g.headers, g.body)
		}
	}
}

// nextError reads frames until an ERROR and checks that its message
// header contains want.
func (r *rawConn) nextError(want string) *rawFrame {
	r.t.Helper()
	for {
		f, err := r.readErr(5 * time.Second)
		if err != nil {
			r.t.Fatalf("expected ERROR containing %q, got %v", want, err)
		}
		if f.command != "ERROR" {
			continue
		}
		if !strings.Contains(f.headers["message"], want) {
			r.t.Fatalf("ERROR message %q (body %q), want it to contain %q", f.headers["message"], f.body, want)
		}
		return f
	}
}

// expectClosed checks the server closes the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := r.br.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			r.t.Fatal("server did not close the connection")
		}
		return
	}
}
