package conformance

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// opensslClient runs `openssl s_client` against addr with args, writes
// hello, and waits until its output holds want (or it exits). It
// returns stdout and stderr: -brief prints the protocol, suite and
// verification there.
func opensslClient(t *testing.T, addr, hello, want string, args ...string) (string, string) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		// Debian's openssl package; the project's scripts install no
		// TLS tooling, and Go's own client covers the same cases above.
		t.Skip("openssl not installed (apt-get install openssl): the non-Go TLS client checks need it")
	}
	cmd := exec.Command(path, append([]string{"s_client", "-connect", addr, "-brief", "-ign_eof"}, args...)...)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	mustOK(t, err)
	mustOK(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	_, _ = io.WriteString(stdin, hello)
	deadline := time.After(10 * time.Second)
	for !strings.Contains(stdout.String(), want) {
		select {
		case <-done:
			return stdout.String(), stderr.String()
		case <-deadline:
			t.Fatalf("openssl s_client: no %q within 10s\nstdout: %q\nstderr: %s", want, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return stdout.String(), stderr.String()
}

// TestTLSOpenSSLClient: a client that is not Go's crypto/tls (OpenSSL)
// gets through each TLS listener, with and without a client certificate,
// and sees what a Go client sees.
func TestTLSOpenSSLClient(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "require"))
	mutual := []string{"-CAfile", p.CA.CAFile(), "-verify_return_error", "-servername", "localhost",
		"-cert", p.Guest.CertFile, "-key", p.Guest.KeyFile}

	// AMQPS: connection.start offers EXTERNAL to a client with a certificate.
	out, info := opensslClient(t, b.Addr("amqps").String(), wire.ProtocolHeader, "EXTERNAL", mutual...)
	if !strings.Contains(out, "PLAIN AMQPLAIN EXTERNAL") {
		t.Fatalf("AMQPS over OpenSSL: connection.start %q", out)
	}
	if !strings.Contains(info, "Protocol version: TLSv1.3") || !strings.Contains(info, "Verification: OK") {
		t.Fatalf("AMQPS over OpenSSL: %s", info)
	}

	// STOMP over TLS 1.2 with an ECDHE suite: a CONNECT without login is
	// the certificate's user.
	out, info = opensslClient(t, b.Addr("stomps").String(), "CONNECT\naccept-version:1.2\nhost:/\n\n\x00", "CONNECTED",
		append([]string{"-tls1_2"}, mutual...)...)
	if !strings.HasPrefix(out, "CONNECTED") || !strings.Contains(info, "Protocol version: TLSv1.2") ||
		!strings.Contains(info, "Ciphersuite: ECDHE-ECDSA-") {
		t.Fatalf("STOMPS over OpenSSL TLS 1.2:\n%s\n%s", out, info)
	}

	// HTTPS.
	out, _ = opensslClient(t, b.Addr("https").String(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", `"ok"`, mutual...)
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("HTTPS over OpenSSL: %q", out)
	}

	// Without a certificate the handshake is refused (require).
	out, info = opensslClient(t, b.Addr("stomps").String(), "CONNECT\naccept-version:1.2\nhost:/\n\n\x00", "CONNECTED",
		"-CAfile", p.CA.CAFile(), "-servername", "localhost")
	if strings.Contains(out, "CONNECTED") || !strings.Contains(info, "certificate required") {
		t.Fatalf("OpenSSL without a certificate:\n%s\n%s", out, info)
	}
}
