package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sluice-mq/sluice/brokertest"
)

// Access keys (the key pairs that sign SQS requests) through the
// management API and sluicectl: a key made there signs requests on the
// SQS listener with aws-sdk-go-v2, stops working once deleted, and its
// secret is shown once, never in a GET.

type newKey struct {
	User   string `json:"user"`
	ID     string `json:"access_key_id"`
	Secret string `json:"secret_access_key"`
	Create int64  `json:"created"`
}

// noSecretIn fails the test when any GET the API offers about users shows
// secret (or a field named after secrets).
func noSecretIn(t *testing.T, api *apiClient, secret string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		raw := api.want(http.StatusOK, "GET", p, "")
		if strings.Contains(string(raw), secret) || strings.Contains(string(raw), "secret") {
			t.Fatalf("GET %s shows a secret: %s", p, raw)
		}
	}
}

func TestAPIAccessKeys(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	ctx := sqsCtx(t)
	permUser(t, b, "app", ".*", ".*", ".*")

	// Create: 201, the secret this once, not to be cached.
	req, _ := http.NewRequest("POST", api.base+"/api/users/app/access-keys", nil)
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var k newKey
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || k.User != "app" || len(k.ID) != 20 || len(k.Secret) != 40 ||
		time.Since(time.Unix(k.Create, 0)) > time.Minute {
		t.Fatalf("POST access-keys: %d %+v", resp.StatusCode, k)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/users/app/access-keys/"+k.ID {
		t.Fatalf("Location %q", loc)
	}

	// The key signs SQS requests as app.
	app := sqsClientFor(t, b, k.ID, k.Secret)
	url := sqsCreate(t, app, "by-app", nil)
	if _, err := app.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("hi")}); err != nil {
		t.Fatal(err)
	}

	// Listed without the secret; GET /api/users and /api/users/app do not
	// show it either.
	var list []map[string]any
	api.getJSON("/api/users/app/access-keys", &list)
	if len(list) != 1 || list[0]["access_key_id"] != k.ID || list[0]["user"] != "app" || list[0]["created"] != float64(k.Create) {
		t.Fatalf("list: %v", list)
	}
	if _, has := list[0]["secret_access_key"]; has {
		t.Fatalf("the list shows the secret: %v", list)
	}
	noSecretIn(t, api, k.Secret, "/api/users", "/api/users/app", "/api/users/app/access-keys",
		"/api/users/without-permissions", "/api/whoami")

	// Changing the user's password keeps its keys.
	api.want(http.StatusNoContent, "PUT", "/api/users/app", `{"password":"new","tags":""}`)
	if _, err := app.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("the key after a user PUT: %v", err)
	}

	// Delete: 204, and the key is refused from the next request on.
	api.want(http.StatusNoContent, "DELETE", "/api/users/app/access-keys/"+k.ID, "")
	_, err = app.ListQueues(ctx, &sqs.ListQueuesInput{})
	sqsAPIError(t, err, "InvalidClientTokenId")
	api.getJSON("/api/users/app/access-keys", &list)
	if len(list) != 0 {
		t.Fatalf("list after delete: %v", list)
	}

	// Missing key, missing user: RabbitMQ's 404.
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/api/users/app/access-keys/" + k.ID},
		{"DELETE", "/api/users/nobody/access-keys/" + k.ID},
		{"GET", "/api/users/nobody/access-keys"},
		{"POST", "/api/users/nobody/access-keys"},
	} {
		raw := api.want(http.StatusNotFound, c.method, c.path, "")
		if kind, reason := apiErr(t, raw); kind != "Object Not Found" || reason != "Not Found" {
			t.Fatalf("%s %s: %s", c.method, c.path, raw)
		}
	}
	// Other verbs: 405 with the ones there are.
	if st, _ := api.do("PUT", "/api/users/app/access-keys", ""); st != http.StatusMethodNotAllowed {
		t.Fatalf("PUT access-keys: %d", st)
	}

	// At most 10 keys a user.
	for i := 0; i < 10; i++ {
		api.want(http.StatusCreated, "POST", "/api/users/app/access-keys", "")
	}
	raw := api.want(http.StatusBadRequest, "POST", "/api/users/app/access-keys", "")
	if _, reason := apiErr(t, raw); reason != "access_key_limit_exceeded" {
		t.Fatalf("the 11th key: %s", raw)
	}
}

// TestAPIAccessKeysWho: administrators manage anyone's keys; a user with
// a management tag its own only; a user without one none.
func TestAPIAccessKeysWho(t *testing.T) {
	b := brokertest.New(t)
	api := newAPI(t, b)
	api.want(http.StatusCreated, "PUT", "/api/users/mgr", `{"password":"pw-mgr","tags":"management"}`)
	api.want(http.StatusCreated, "PUT", "/api/users/plain", `{"password":"pw-plain","tags":""}`)
	api.want(http.StatusCreated, "PUT", "/api/permissions/%2F/mgr", `{"configure":".*","write":".*","read":".*"}`)
	mgr, plain := api.as("mgr", "pw-mgr"), api.as("plain", "pw-plain")

	// Its own: create, use, list, delete.
	var k newKey
	if err := json.Unmarshal(mgr.want(http.StatusCreated, "POST", "/api/users/mgr/access-keys", ""), &k); err != nil {
		t.Fatal(err)
	}
	if _, err := sqsClientFor(t, b, k.ID, k.Secret).ListQueues(sqsCtx(t), &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("mgr's own key: %v", err)
	}
	var list []map[string]any
	mgr.getJSON("/api/users/mgr/access-keys", &list)
	if len(list) != 1 || list[0]["access_key_id"] != k.ID {
		t.Fatalf("mgr's list: %v", list)
	}
	noSecretIn(t, mgr, k.Secret, "/api/users/mgr/access-keys", "/api/whoami")

	// Someone else's, existing or not: 401, as RabbitMQ's for an object
	// the user may not see.
	var gk newKey
	if err := json.Unmarshal(api.want(http.StatusCreated, "POST", "/api/users/plain/access-keys", ""), &gk); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/users/plain/access-keys"},
		{"POST", "/api/users/plain/access-keys"},
		{"DELETE", "/api/users/plain/access-keys/" + gk.ID},
		{"GET", "/api/users/guest/access-keys"},
		{"POST", "/api/users/nobody/access-keys"},
	} {
		raw := mgr.want(http.StatusUnauthorized, c.method, c.path, "")
		if kind, reason := apiErr(t, raw); kind != "not_authorised" || reason != "User not authorised to access object" {
			t.Fatalf("mgr %s %s: %s", c.method, c.path, raw)
		}
	}
	// Nor the user listing, which would show the keys' users.
	mgr.want(http.StatusUnauthorized, "GET", "/api/users", "")
	api.getJSON("/api/users/plain/access-keys", &list)
	if len(list) != 1 {
		t.Fatalf("plain's key went: %v", list)
	}

	// Without a management tag, not even its own (an administrator makes
	// them).
	for _, m := range []string{"GET", "POST"} {
		raw := plain.want(http.StatusUnauthorized, m, "/api/users/plain/access-keys", "")
		if _, reason := apiErr(t, raw); reason != "Not management user" {
			t.Fatalf("plain %s: %s", m, raw)
		}
	}

	mgr.want(http.StatusNoContent, "DELETE", "/api/users/mgr/access-keys/"+k.ID, "")
	_, err := sqsClientFor(t, b, k.ID, k.Secret).ListQueues(sqsCtx(t), &sqs.ListQueuesInput{})
	sqsAPIError(t, err, "InvalidClientTokenId")
}

// TestSluicectlAccessKeys runs the built sluicectl: add_access_key prints
// a pair that signs SQS requests, list_access_keys never the secret,
// delete_access_key stops it; exit codes for what is missing.
func TestSluicectlAccessKeys(t *testing.T) {
	bin := buildSluicectl(t)
	b := brokertest.New(t)
	ctx := sqsCtx(t)
	env := []string{"SLUICE_URL=http://" + b.HTTPAddr(), "SLUICE_USERNAME=guest", "SLUICE_PASSWORD=guest"}
	run := func(env []string, want int, args ...string) string {
		t.Helper()
		out, errOut, code := ctlRun(t, bin, env, args...)
		if code != want {
			t.Fatalf("sluicectl %v: exit %d, want %d; stdout %s stderr %s", args, code, want, out, errOut)
		}
		return out
	}
	run(env, 0, "add_user", "app", "pw-app")
	run(env, 0, "set_permissions", "app", ".*", ".*", ".*")

	// -q: the id and the secret, tab-separated, alone.
	out := run(env, 0, "-q", "add_access_key", "app")
	id, secret, ok := strings.Cut(strings.TrimSuffix(out, "\n"), "\t")
	if !ok || len(id) != 20 || len(secret) != 40 || strings.Contains(secret, "\n") {
		t.Fatalf("add_access_key -q: %q", out)
	}
	app := sqsClientFor(t, b, id, secret)
	if _, err := app.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("the key sluicectl made: %v", err)
	}
	// Without -q, the informational line first.
	out = run(env, 0, "add_access_key", "app")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || lines[0] != `Adding access key for user "app" ...` || strings.Count(lines[1], "\t") != 1 {
		t.Fatalf("add_access_key: %q", out)
	}
	id2, _, _ := strings.Cut(lines[1], "\t")
	// JSON.
	var jk map[string]any
	if err := json.Unmarshal([]byte(run(env, 0, "--formatter", "json", "add_access_key", "app")), &jk); err != nil {
		t.Fatal(err)
	}
	id3, _ := jk["access_key_id"].(string)
	secret3, _ := jk["secret_access_key"].(string)
	if jk["user"] != "app" || len(id3) != 20 || len(secret3) != 40 {
		t.Fatalf("add_access_key --formatter json: %v", jk)
	}
	if _, err := sqsClientFor(t, b, id3, secret3).ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("the JSON key: %v", err)
	}

	// list_access_keys: ids and dates, no secret.
	out = run(env, 0, "list_access_keys", "app")
	if strings.Contains(out, secret) || strings.Contains(out, secret3) || !strings.Contains(out, "access_key_id\tcreated\n") {
		t.Fatalf("list_access_keys: %q", out)
	}
	out = run(env, 0, "-q", "list_access_keys", "app")
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], id+"\t") || !strings.HasPrefix(rows[1], id2+"\t") || !strings.HasPrefix(rows[2], id3+"\t") {
		t.Fatalf("list_access_keys -q: %q", out)
	}
	if _, err := time.Parse(time.RFC3339, strings.Split(rows[0], "\t")[1]); err != nil {
		t.Fatalf("created: %q", rows[0])
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(run(env, 0, "--formatter", "json", "list_access_keys", "app")), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("list_access_keys json: %v %v", listed, err)
	}
	// list_users does not show them either.
	if out := run(env, 0, "--formatter", "json", "list_users"); strings.Contains(out, secret) {
		t.Fatalf("list_users: %s", out)
	}

	// delete_access_key: the key is refused from then on; the others stay.
	run(env, 0, "delete_access_key", "app", id)
	_, err := app.ListQueues(ctx, &sqs.ListQueuesInput{})
	sqsAPIError(t, err, "InvalidClientTokenId")
	if _, err := sqsClientFor(t, b, id3, secret3).ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("another key after the delete: %v", err)
	}

	// Missing key: 1; missing user: 67; bad usage: 64.
	if _, errOut, code := ctlRun(t, bin, env, "delete_access_key", "app", id); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("deleting a deleted key: exit %d %s", code, errOut)
	}
	run(env, 67, "delete_access_key", "nobody", id)
	run(env, 67, "add_access_key", "nobody")
	run(env, 67, "list_access_keys", "nobody")
	run(env, 64, "add_access_key")
	run(env, 64, "delete_access_key", "app")

	// A management user manages its own keys, not another's (77).
	run(env, 0, "set_user_tags", "app", "management")
	self := []string{"SLUICE_URL=http://" + b.HTTPAddr(), "SLUICE_USERNAME=app", "SLUICE_PASSWORD=pw-app"}
	out = run(self, 0, "-q", "add_access_key", "app")
	sid, ssecret, _ := strings.Cut(strings.TrimSuffix(out, "\n"), "\t")
	if _, err := sqsClientFor(t, b, sid, ssecret).ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("the self-made key: %v", err)
	}
	run(self, 0, "delete_access_key", "app", sid)
	run(self, 1, "delete_access_key", "app", sid)
	run(self, 77, "add_access_key", "guest")
	run(self, 77, "list_access_keys", "guest")
}
