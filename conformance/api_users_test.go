package conformance

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/sluice-mq/sluice/brokertest"
)

// TestAPIAuth: the management API takes broker users with a management
// tag, answering 401 as RabbitMQ does (header only without credentials,
// not_authorized for a failed login, not_authorised for a user whose tags
// do not allow the endpoint).
func TestAPIAuth(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)

	st, raw := api.as("", "").do("GET", "/api/whoami", "")
	if st != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d %s", st, raw)
	}
	st, raw = api.as("guest", "wrong").do("GET", "/api/whoami", "")
	if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorized" || reason != "Login failed" {
		t.Fatalf("bad password: %d %s", st, raw)
	}
	var me struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	api.getJSON("/api/whoami", &me)
	if me.Name != "guest" || !slices.Equal(me.Tags, []string{"administrator"}) {
		t.Fatalf("whoami: %+v", me)
	}

	api.want(http.StatusCreated, "PUT", "/api/users/plain", `{"password":"pw","tags":""}`)
	st, raw = api.as("plain", "pw").do("GET", "/api/whoami", "")
	if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" || reason != "Not management user" {
		t.Fatalf("user without tags: %d %s", st, raw)
	}
	api.want(http.StatusNoContent, "PUT", "/api/users/plain", `{"password":"pw","tags":["monitoring","management"]}`)
	api.as("plain", "pw").getJSON("/api/whoami", &me)
	if me.Name != "plain" || !slices.Equal(me.Tags, []string{"monitoring", "management"}) {
		t.Fatalf("whoami as plain: %+v", me)
	}
	for _, p := range []string{"/api/users", "/api/permissions", "/api/users/guest", "/api/topic-permissions", "/api/vhosts/%2F"} {
		st, raw = api.as("plain", "pw").do("GET", p, "")
		if kind, reason := apiErr(t, raw); st != 401 || kind != "not_authorised" || reason != "Not administrator user" {
			t.Fatalf("GET %s as a monitoring user: %d %s", p, st, raw)
		}
	}
	st, raw = api.as("plain", "pw").do("PUT", "/api/users/x", `{"password":"x","tags":""}`)
	if st != 401 {
		t.Fatalf("PUT user as a monitoring user: %d %s", st, raw)
	}
	// The older endpoints follow the same rule.
	if st, raw = api.as("plain", "pw").do("GET", "/api/queues", ""); st != 200 {
		t.Fatalf("GET /api/queues as a monitoring user: %d %s", st, raw)
	}
	api.want(http.StatusNoContent, "PUT", "/api/users/plain", `{"password":"pw","tags":"none"}`)
	if st, raw = api.as("plain", "pw").do("GET", "/api/queues", ""); st != 401 {
		t.Fatalf("GET /api/queues as a user without a management tag: %d %s", st, raw)
	}
}

// TestAPIUsersCRUD: users are created, shown, updated and deleted with
// RabbitMQ's status codes, field names and errors.
func TestAPIUsersCRUD(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/users/alice", `{"password":"secret","tags":"management, policymaker"}`)
	api.want(http.StatusNoContent, "PUT", "/api/users/alice", `{"password":"secret2","tags":["management"]}`)
	var u map[string]any
	api.getJSON("/api/users/alice", &u)
	if u["name"] != "alice" || u["hashing_algorithm"] != "rabbit_password_hashing_sha256" ||
		fmt.Sprint(u["tags"]) != "[management]" || fmt.Sprint(u["limits"]) != "map[]" || u["password_hash"] == "" {
		t.Fatalf("user: %v", u)
	}
	var list []map[string]any
	api.getJSON("/api/users", &list)
	var names []string
	for _, e := range list {
		names = append(names, e["name"].(string))
	}
	if !slices.Equal(names, []string{"alice", "guest"}) {
		t.Fatalf("users: %v", names)
	}

	for body, reason := range map[string]string{
		`{"password":"x"}`: "tags_not_present",
		``:                 "tags_not_present",
		`{"password":"x","password_hash":"YWJj","tags":""}`: "both_password_and_password_hash_are_provided",
		`not json`:                            "not_json",
		`[1,2]`:                               "not_json",
		`{"password_hash":"abc!!","tags":""}`: `["not_base64","abc!!"]`,
		`{"password":"x","tags":"","limits":{"bogus":1}}`:            "Unrecognised terms [{<<\"bogus\">>,1}] in user-limits",
		`{"password_hash":"YWJj","hashing_algorithm":"x","tags":""}`: `unknown hashing algorithm "x"`,
	} {
		st, raw := api.do("PUT", "/api/users/bad", body)
		if kind, got := apiErr(t, raw); st != 400 || kind != "bad_request" || got != reason {
			t.Errorf("PUT %s: %d %s, want 400 %q", body, st, raw, reason)
		}
	}
	big := `{"password":"` + strings.Repeat("x", 2<<20) + `","tags":""}`
	if st, raw := api.do("PUT", "/api/users/big", big); st != 400 {
		t.Errorf("a 2 MiB body: %d %s", st, raw)
	}
	if st, _ := api.do("GET", "/api/users/bad", ""); st != 404 {
		t.Fatalf("a refused PUT created the user: %d", st)
	}

	st, raw := api.do("GET", "/api/users/nobody", "")
	if kind, reason := apiErr(t, raw); st != 404 || kind != "Object Not Found" || reason != "Not Found" {
		t.Fatalf("missing user: %d %s", st, raw)
	}
	api.want(http.StatusNotFound, "DELETE", "/api/users/nobody", "")
	api.want(http.StatusNoContent, "DELETE", "/api/users/alice", "")
	api.want(http.StatusNotFound, "GET", "/api/users/alice", "")

	// A user with no password exists but cannot log in with one.
	api.want(http.StatusCreated, "PUT", "/api/users/nopw", `{"tags":"administrator"}`)
	api.getJSON("/api/users/nopw", &u)
	if u["password_hash"] != "" {
		t.Fatalf("passwordless user has a hash: %v", u)
	}
	if st, _ := api.as("nopw", "").do("GET", "/api/whoami", ""); st != 401 {
		t.Fatalf("passwordless user logged in: %d", st)
	}

	// Names travel escaped.
	api.want(http.StatusCreated, "PUT", "/api/users/"+esc("a/b c"), `{"password":"p","tags":""}`)
	api.getJSON("/api/users/"+esc("a/b c"), &u)
	if u["name"] != "a/b c" {
		t.Fatalf("escaped name: %v", u)
	}

	// bulk-delete, users without permissions.
	for _, n := range []string{"b1", "b2", "b3"} {
		api.want(http.StatusCreated, "PUT", "/api/users/"+n, `{"password":"p","tags":""}`)
	}
	api.getJSON("/api/users/without-permissions", &list)
	if len(list) != 5 { // nopw, a/b c, b1, b2, b3
		t.Fatalf("users without permissions: %v", list)
	}
	api.want(http.StatusNoContent, "POST", "/api/users/bulk-delete", `{"users":["b1","b2"]}`)
	st, raw = api.do("POST", "/api/users/bulk-delete", `{}`)
	if _, reason := apiErr(t, raw); st != 400 || reason != "[{key_missing,users}]" {
		t.Fatalf("bulk-delete without users: %d %s", st, raw)
	}
	st, raw = api.do("POST", "/api/users/bulk-delete", `{"users":["b3","nope"]}`)
	if _, reason := apiErr(t, raw); st != 400 || reason != `["no_such_user","nope"]` {
		t.Fatalf("bulk-delete of a missing user: %d %s", st, raw)
	}
	for _, n := range []string{"b1", "b2", "b3"} {
		api.want(http.StatusNotFound, "GET", "/api/users/"+n, "")
	}
	if st, _ := api.do("GET", "/api/users/bulk-delete", ""); st != http.StatusMethodNotAllowed {
		t.Fatalf("GET bulk-delete: %d", st)
	}
}

// TestAPIUserLogsInOverAMQPAndIsClosedWhenDeleted: a user created over the
// API logs in over AMQP once it has permissions, and deleting it closes
// its connection.
func TestAPIUserLogsInOverAMQPAndIsClosedWhenDeleted(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/users/app", `{"password":"app-pw","tags":""}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/app", `{"configure":".*","write":".*","read":".*"}`)
	url := fmt.Sprintf("amqp://app:app-pw@%s/", b.AMQPAddr())
	conn, err := amqp.Dial(url)
	mustOK(t, err)
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	if _, err := amqp.Dial(fmt.Sprintf("amqp://app:wrong@%s/", b.AMQPAddr())); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	sc, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("app", "app-pw"))
	mustOK(t, err)
	sub, err := sc.Subscribe("/queue/app-q", stomp.AckAuto)
	mustOK(t, err)
	api.want(http.StatusNoContent, "DELETE", "/api/users/app", "")
	deadline := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case m, ok := <-sub.C:
			open = ok && m.Err == nil
		case <-deadline:
			t.Fatal("the deleted user's STOMP session is still open")
		}
	}
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp.ConnectionForced {
			t.Fatalf("closed with %v, want 320 CONNECTION_FORCED", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the deleted user's connection is still open")
	}
	if _, err := amqp.Dial(url); err == nil {
		t.Fatal("a deleted user logged in")
	}
}

// TestAPIImportedPasswordHash: a password_hash made the way RabbitMQ makes
// it (rabbit_password_hashing_sha256: base64 of salt + SHA-256(salt +
// password)) logs in over AMQP and over the API.
func TestAPIImportedPasswordHash(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	salt := []byte{0x90, 0x8d, 0xc6, 0x0a}
	sum := sha256.Sum256(append(append([]byte(nil), salt...), "imported-pw"...))
	hash := base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
	api.want(http.StatusCreated, "PUT", "/api/users/imported",
		`{"password_hash":"`+hash+`","hashing_algorithm":"rabbit_password_hashing_sha256","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/imported", `{"configure":".*","write":".*","read":".*"}`)
	var u map[string]any
	api.getJSON("/api/users/imported", &u)
	if u["password_hash"] != hash {
		t.Fatalf("the hash was not kept as given: %v", u)
	}
	conn, err := amqp.Dial(fmt.Sprintf("amqp://imported:imported-pw@%s/", b.AMQPAddr()))
	mustOK(t, err)
	conn.Close()
	api.as("imported", "imported-pw").want(http.StatusOK, "GET", "/api/whoami", "")
	var amqpErr *amqp.Error
	if _, err := amqp.Dial(fmt.Sprintf("amqp://imported:other@%s/", b.AMQPAddr())); err == nil || (errors.As(err, &amqpErr) && amqpErr.Code == 0) {
		t.Fatalf("a wrong password: %v", err)
	}
}

// TestAPIUsersSurviveRestart: users, tags, limits, permissions and topic
// permissions set over the API are there after a restart on the same data.
func TestAPIUsersSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.WithDataDir(dir))
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/users/keep", `{"password":"keep-pw","tags":"monitoring"}`)
	api.want(http.StatusCreated, "PUT", "/api/vhosts/kv", ``)
	api.want(http.StatusCreated, "PUT", "/api/permissions/kv/keep", `{"configure":"^c","write":"^w","read":"^r"}`)
	api.want(http.StatusCreated, "PUT", "/api/topic-permissions/kv/keep", `{"exchange":"amq.topic","write":"^a","read":"^b"}`)
	api.want(http.StatusNoContent, "PUT", "/api/user-limits/keep/max-channels", `{"value":7}`)
	api.want(http.StatusNoContent, "PUT", "/api/vhost-limits/kv/max-queues", `{"value":9}`)
	b.Stop(t)

	b = brokertest.New(t, brokertest.WithDataDir(dir))
	api = newAPI(t, b)
	var u map[string]any
	api.getJSON("/api/users/keep", &u)
	if fmt.Sprint(u["tags"]) != "[monitoring]" || fmt.Sprint(u["limits"]) != "map[max-channels:7]" {
		t.Fatalf("user after restart: %v", u)
	}
	api.as("keep", "keep-pw").want(http.StatusOK, "GET", "/api/whoami", "")
	var p map[string]any
	api.getJSON("/api/permissions/kv/keep", &p)
	if p["configure"] != "^c" || p["write"] != "^w" || p["read"] != "^r" {
		t.Fatalf("permission after restart: %v", p)
	}
	var tp []map[string]any
	api.getJSON("/api/topic-permissions/kv/keep", &tp)
	if len(tp) != 1 || tp[0]["exchange"] != "amq.topic" || tp[0]["write"] != "^a" {
		t.Fatalf("topic permission after restart: %v", tp)
	}
	var vl []map[string]any
	api.getJSON("/api/vhost-limits/kv", &vl)
	if len(vl) != 1 || fmt.Sprint(vl[0]["value"]) != "map[max-queues:9]" {
		t.Fatalf("vhost limits after restart: %v", vl)
	}
	conn, err := amqp.Dial(fmt.Sprintf("amqp://keep:keep-pw@%s/kv", b.AMQPAddr()))
	mustOK(t, err)
	conn.Close()
}
