package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
)

// apiClient drives a broker's management API over its real HTTP listener.
type apiClient struct {
	t          testing.TB
	base       string
	user, pass string
	client     *http.Client // nil: a plain client
}

func newAPI(t testing.TB, b *brokertest.Broker) *apiClient {
	return &apiClient{t: t, base: "http://" + b.HTTPAddr(), user: "guest", pass: "guest"}
}

// as is the same client logging in as another user.
func (c *apiClient) as(user, pass string) *apiClient {
	d := *c
	d.user, d.pass = user, pass
	return &d
}

// do sends a request; path segments that are names must be escaped by
// the caller (esc). It returns the status and the raw body.
func (c *apiClient) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	cl := c.client
	if cl == nil {
		cl = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// want sends a request and fails the test unless the status is status.
func (c *apiClient) want(status int, method, path, body string) []byte {
	c.t.Helper()
	got, raw := c.do(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s %s as %s: status %d, want %d; body %s", method, path, body, c.user, got, status, raw)
	}
	return raw
}

// getJSON GETs path (200 expected) and decodes it into v.
func (c *apiClient) getJSON(path string, v any) {
	c.t.Helper()
	raw := c.want(http.StatusOK, "GET", path, "")
	if err := json.Unmarshal(raw, v); err != nil {
		c.t.Fatalf("GET %s: %v in %s", path, err, raw)
	}
}

// apiErr decodes RabbitMQ's error body.
func apiErr(t testing.TB, raw []byte) (kind, reason string) {
	t.Helper()
	var e struct {
		Error  string `json:"error"`
		Reason any    `json:"reason"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	r, _ := e.Reason.(string)
	if r == "" && e.Reason != nil {
		b, _ := json.Marshal(e.Reason)
		r = string(b)
	}
	return e.Error, r
}

func esc(name string) string { return url.PathEscape(name) }
