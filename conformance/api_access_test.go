package conformance

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

// TestAPIDefaultUser: --default-user/--default-pass make the first
// administrator instead of guest, and it manages the broker over the API.
func TestAPIDefaultUser(t *testing.T) {
	b := brokertest.New(t, func(c *server.Config) { c.DefaultUser, c.DefaultPass = "root", "root-pw" })
	api := newAPI(t, b).as("root", "root-pw")
	var me struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	api.getJSON("/api/whoami", &me)
	if me.Name != "root" || len(me.Tags) != 1 || me.Tags[0] != "administrator" {
		t.Fatalf("whoami: %+v", me)
	}
	if st, _ := api.as("guest", "guest").do("GET", "/api/whoami", ""); st != http.StatusUnauthorized {
		t.Fatalf("guest exists beside the default user: %d", st)
	}
	var perm map[string]any
	api.getJSON("/api/permissions/%2F/root", &perm)
	if perm["configure"] != ".*" {
		t.Fatalf("the default user's permission on /: %v", perm)
	}
	api.want(http.StatusCreated, "PUT", "/api/users/second", `{"password":"p","tags":"administrator"}`)
}

// nonLoopbackIPv4 returns an address of this machine that is not
// loopback, or "".
func nonLoopbackIPv4() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	return ""
}

// TestAPIGuestLoopbackOnly: guest logs in to the API from loopback only,
// as RabbitMQ's loopback_users; another administrator logs in from
// anywhere.
func TestAPIGuestLoopbackOnly(t *testing.T) {
	ip := nonLoopbackIPv4()
	if ip == "" {
		t.Skip("this machine has no non-loopback IPv4 address to connect from")
	}
	b := brokertest.New(t, func(c *server.Config) { c.HTTPAddr = "0.0.0.0:0" })
	_, port, _ := net.SplitHostPort(b.HTTPAddr())
	local := newAPI(t, b)
	local.base = "http://127.0.0.1:" + port
	remote := newAPI(t, b)
	remote.base = "http://" + net.JoinHostPort(ip, port)
	local.want(http.StatusOK, "GET", "/api/whoami", "")
	st, raw := remote.do("GET", "/api/whoami", "")
	if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorized" || reason != "Login failed" {
		t.Fatalf("guest from %s: %d %s", ip, st, raw)
	}
	local.want(http.StatusCreated, "PUT", "/api/users/ops", `{"password":"ops-pw","tags":"administrator"}`)
	remote.as("ops", "ops-pw").want(http.StatusOK, "GET", "/api/users", "")
}

// TestAPIOverHTTPS: the HTTPS listener serves the same API with the same
// authentication.
func TestAPIOverHTTPS(t *testing.T) {
	p := newTLSPKI(t)
	b := brokertest.New(t, withTLS(p, "none"))
	api := newAPI(t, b)
	api.base = "https://" + b.Addr("https").String()
	tr := &http.Transport{TLSClientConfig: p.clientTLS(nil)}
	defer tr.CloseIdleConnections()
	api.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	api.want(http.StatusCreated, "PUT", "/api/users/tls-user", `{"password":"p","tags":"management"}`)
	api.as("tls-user", "p").want(http.StatusOK, "GET", "/api/whoami", "")
	if st, _ := api.as("tls-user", "p").do("GET", "/api/users", ""); st != http.StatusUnauthorized {
		t.Fatalf("a management user listing users over HTTPS: %d", st)
	}
	if st, _ := api.as("guest", "nope").do("GET", "/api/whoami", ""); st != http.StatusUnauthorized {
		t.Fatalf("a wrong password over HTTPS: %d", st)
	}
}

// TestAPIMethodsAndUnknownPaths: a known path with a method it lacks is
// 405, an unknown API path RabbitMQ's JSON 404, vhost "/" included.
func TestAPIMethodsAndUnknownPaths(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/users/x"}, {"POST", "/api/vhosts/%2F"}, {"POST", "/api/permissions/%2F/guest"},
		{"DELETE", "/api/users"}, {"PUT", "/api/whoami"},
	} {
		if st, raw := api.do(c.method, c.path, ""); st != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d %s, want 405", c.method, c.path, st, raw)
		}
	}
	for _, p := range []string{"/api/nothing-here", "/api/vhosts/%2F/nothing", "/api/users/a/b/c"} {
		st, raw := api.do("GET", p, "")
		if kind, _ := apiErr(t, raw); st != 404 || kind != "Object Not Found" {
			t.Errorf("GET %s: %d %s", p, st, raw)
		}
	}
}
