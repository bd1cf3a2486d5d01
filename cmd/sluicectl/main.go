// Command sluicectl administers a running sluice broker over its HTTP
// management API: users, passwords and tags, vhosts, permissions, topic
// permissions, limits, the users' SQS access keys and definitions, with rabbitmqctl's
// verbs and argument order (sluicectl add_user NAME PASS, sluicectl
// set_permissions -p VHOST USER CONF WRITE READ).
//
// The broker is reached at --url (SLUICE_URL, default
// http://localhost:15672) as --username/--password (SLUICE_USERNAME or
// SLUICE_USER, SLUICE_PASSWORD; default guest/guest), an administrator (or,
// for its own access keys, any user with a management tag).
//
// Lists are tab-separated rows under a header line, as rabbitmqctl prints
// them; --quiet (-q) leaves out the "Listing ..." line and the header,
// --formatter json prints a JSON array instead.
//
// Exit codes: 0 done; 1 the broker refused or failed the request; 64 bad
// usage; 67 the user or vhost does not exist (rabbitmqctl's EX_NOUSER); 69
// the broker cannot be reached; 77 the credentials were refused or the
// user may not do this (401).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// Exit codes, from sysexits.h as rabbitmqctl uses them.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 64
	exitNoUser      = 67
	exitUnavailable = 69
	exitNoPerm      = 77
)

// failure is an error with its exit code.
type failure struct {
	code int
	msg  string
}

func (f *failure) Error() string { return f.msg }

func fail(code int, format string, a ...any) error {
	return &failure{code: code, msg: fmt.Sprintf(format, a...)}
}

// ctl is one invocation: where the broker is, who we are, how to print.
type ctl struct {
	base       string
	user, pass string
	vhost      string
	desc       string // add_vhost --description
	priority   string // set_policy --priority
	applyTo    string // set_policy --apply-to
	quiet      bool
	json       bool
	out        io.Writer
	http       *http.Client
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	c := &ctl{base: envOr("http://localhost:15672", "SLUICE_URL"), user: envOr("guest", "SLUICE_USERNAME", "SLUICE_USER"),
		pass: envOr("guest", "SLUICE_PASSWORD"), vhost: "/", out: stdout, http: &http.Client{Timeout: 30 * time.Second}}
	pos, err := c.parseFlags(args)
	if err == nil && len(pos) == 0 {
		err = fail(exitUsage, "no command given")
	}
	if err == nil {
		err = c.dispatch(pos[0], pos[1:])
	}
	if err == nil {
		return exitOK
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{code: exitError, msg: err.Error()}
	}
	fmt.Fprintf(stderr, "Error:\n%s\n", f.msg)
	if f.code == exitUsage {
		fmt.Fprint(stderr, usage)
	}
	return f.code
}

func envOr(def string, names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return def
}

const usage = `
Usage: sluicectl [--url URL] [--username USER] [--password PASS] [-q] [--formatter json] COMMAND [ARGS]

Users:        add_user NAME PASS | delete_user NAME | change_password NAME PASS | clear_password NAME
              set_user_tags NAME [TAG ...] | list_users
Vhosts:       add_vhost NAME [--description TEXT] | delete_vhost NAME | list_vhosts
Permissions:  set_permissions [-p VHOST] USER CONF WRITE READ | clear_permissions [-p VHOST] USER
              list_permissions [-p VHOST] | list_user_permissions USER
Topic perms:  set_topic_permissions [-p VHOST] USER EXCHANGE WRITE READ
              clear_topic_permissions [-p VHOST] USER [EXCHANGE]
              list_topic_permissions [-p VHOST] | list_user_topic_permissions USER
Limits:       set_vhost_limits [-p VHOST] JSON | clear_vhost_limits [-p VHOST] | list_vhost_limits [-p VHOST]
              set_user_limits USER JSON | clear_user_limits USER NAME|all | list_user_limits [USER]
SQS keys:     add_access_key USER (prints ID<TAB>SECRET; the secret is shown only then)
              list_access_keys USER | delete_access_key USER ACCESS_KEY_ID
Policies:     set_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION
              clear_policy [-p VHOST] NAME | list_policies [-p VHOST]
              set_operator_policy, clear_operator_policy, list_operator_policies (the same arguments)
Definitions:  export_definitions PATH | import_definitions PATH (RabbitMQ's JSON; PATH - is stdout/stdin)

Environment: SLUICE_URL, SLUICE_USERNAME (or SLUICE_USER), SLUICE_PASSWORD.
`

// parseFlags takes the options wherever they are and returns the rest.
func (c *ctl) parseFlags(args []string) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fail(exitUsage, "option %s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "url":
			c.base, err = value()
		case "username", "u":
			c.user, err = value()
		case "password":
			c.pass, err = value()
		case "p", "vhost":
			c.vhost, err = value()
		case "q", "quiet", "s", "silent":
			c.quiet = true
		case "formatter":
			var f string
			if f, err = value(); err == nil {
				switch f {
				case "json":
					c.json = true
				case "table", "tsv":
					c.json = false
				default:
					err = fail(exitUsage, "unknown formatter %q (json, table)", f)
				}
			}
		case "description":
			c.desc, err = value()
		case "priority":
			c.priority, err = value()
		case "apply-to":
			c.applyTo, err = value()
		case "h", "help":
			return nil, fail(exitUsage, "help")
		default:
			err = fail(exitUsage, "unknown option %s", a)
		}
		if err != nil {
			return nil, err
		}
	}
	c.base = strings.TrimRight(c.base, "/")
	return pos, nil
}

// --- HTTP ---

// call sends a request to the API; the path's names must be escaped (esc).
// It returns the status and body; a 401 and a failure to connect are
// errors with their exit codes, other statuses are the caller's.
func (c *ctl) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, fail(exitUsage, "bad --url %q: %v", c.base, err)
	}
	req.SetBasicAuth(c.user, c.pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fail(exitUnavailable, "cannot reach the broker at %s: %v", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fail(exitUnavailable, "reading the broker's answer: %v", err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return 0, nil, fail(exitNoPerm, "%s %s refused for user %q: %s", method, path, c.user, reason(raw))
	}
	return resp.StatusCode, raw, nil
}

// reason is the reason of RabbitMQ's error body, or the body.
func reason(raw []byte) string {
	var e struct {
		Error  string `json:"error"`
		Reason any    `json:"reason"`
	}
	if json.Unmarshal(raw, &e) == nil && (e.Error != "" || e.Reason != nil) {
		if s, ok := e.Reason.(string); ok {
			return s
		}
		b, _ := json.Marshal(e.Reason)
		return string(b)
	}
	if len(raw) == 0 {
		return "(no details)"
	}
	return strings.TrimSpace(string(raw))
}

// expect checks a call's status against the ones that mean success.
func (c *ctl) expect(method, path string, body any, ok ...int) ([]byte, int, error) {
	st, raw, err := c.call(method, path, body)
	if err != nil {
		return nil, 0, err
	}
	for _, s := range ok {
		if st == s {
			return raw, st, nil
		}
	}
	return raw, st, fail(exitError, "%s %s: %d %s", method, path, st, reason(raw))
}

func (c *ctl) get(path string, v any) (int, error) {
	st, raw, err := c.call("GET", path, nil)
	if err != nil {
		return 0, err
	}
	if st != http.StatusOK {
		return st, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return st, fail(exitError, "GET %s: unexpected answer: %v", path, err)
	}
	return st, nil
}

func esc(name string) string { return url.PathEscape(name) }

func (c *ctl) info(format string, a ...any) {
	if !c.quiet && !c.json {
		fmt.Fprintf(c.out, format+"\n", a...)
	}
}

// table prints rows under columns: tab-separated, or a JSON array of
// objects with the column names as keys.
func (c *ctl) table(columns []string, rows [][]any) error {
	if c.json {
		out := make([]map[string]any, 0, len(rows))
		for _, r := range rows {
			m := map[string]any{}
			for i, col := range columns {
				m[col] = r[i]
			}
			out = append(out, m)
		}
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if !c.quiet {
		fmt.Fprintln(c.out, strings.Join(columns, "\t"))
	}
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, v := range r {
			switch v := v.(type) {
			case []string:
				cells[i] = "[" + strings.Join(v, ", ") + "]"
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Fprintln(c.out, strings.Join(cells, "\t"))
	}
	return nil
}

func need(args []string, min, max int, form string) error {
	if len(args) < min || (max >= 0 && len(args) > max) {
		return fail(exitUsage, "usage: sluicectl %s", form)
	}
	return nil
}

func noUser(name string) error  { return fail(exitNoUser, "User %q does not exist", name) }
func noVHost(name string) error { return fail(exitNoUser, "Virtual host %q does not exist", name) }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
