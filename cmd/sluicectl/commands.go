package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The commands, each a few API calls. Names and argument order are
// rabbitmqctl's; so are the informational lines ("Adding user ...").

type apiUser struct {
	Name             string           `json:"name"`
	PasswordHash     string           `json:"password_hash"`
	HashingAlgorithm string           `json:"hashing_algorithm"`
	Tags             []string         `json:"tags"`
	Limits           map[string]int64 `json:"limits"`
}

type apiPermission struct {
	User      string `json:"user"`
	VHost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

type apiTopicPermission struct {
	User     string `json:"user"`
	VHost    string `json:"vhost"`
	Exchange string `json:"exchange"`
	Write    string `json:"write"`
	Read     string `json:"read"`
}

func (c *ctl) dispatch(cmd string, a []string) error {
	switch cmd {
	case "add_user":
		return c.addUser(a)
	case "delete_user":
		return c.deleteUser(a)
	case "change_password":
		return c.changePassword(a)
	case "clear_password":
		return c.clearPassword(a)
	case "set_user_tags":
		return c.setUserTags(a)
	case "list_users":
		return c.listUsers(a)
	case "add_vhost":
		return c.addVHost(a)
	case "delete_vhost":
		return c.deleteVHost(a)
	case "list_vhosts":
		return c.listVHosts(a)
	case "set_permissions":
		return c.setPermissions(a)
	case "clear_permissions":
		return c.clearPermissions(a)
	case "list_permissions":
		return c.listPermissions(a)
	case "list_user_permissions":
		return c.listUserPermissions(a)
	case "set_topic_permissions":
		return c.setTopicPermissions(a)
	case "clear_topic_permissions":
		return c.clearTopicPermissions(a)
	case "list_topic_permissions":
		return c.listTopicPermissions(a)
	case "list_user_topic_permissions":
		return c.listUserTopicPermissions(a)
	case "set_vhost_limits":
		return c.setVHostLimits(a)
	case "clear_vhost_limits":
		return c.clearVHostLimits(a)
	case "list_vhost_limits":
		return c.listVHostLimits(a)
	case "set_user_limits":
		return c.setUserLimits(a)
	case "clear_user_limits":
		return c.clearUserLimits(a)
	case "list_user_limits":
		return c.listUserLimits(a)
	case "add_access_key":
		return c.addAccessKey(a)
	case "list_access_keys":
		return c.listAccessKeys(a)
	case "delete_access_key":
		return c.deleteAccessKey(a)
	case "set_policy", "set_operator_policy":
		return c.setPolicy(a, cmd == "set_operator_policy")
	case "clear_policy", "clear_operator_policy":
		return c.clearPolicy(a, cmd == "clear_operator_policy")
	case "list_policies", "list_operator_policies":
		return c.listPolicies(a, cmd == "list_operator_policies")
	case "export_definitions":
		return c.exportDefinitions(a)
	case "import_definitions":
		return c.importDefinitions(a)
	case "help":
		return fail(exitUsage, "help")
	}
	return fail(exitUsage, "unknown command %q", cmd)
}

// --- users ---

func (c *ctl) lookupUser(name string) (apiUser, error) {
	var u apiUser
	st, err := c.get("/api/users/"+esc(name), &u)
	if err == nil && st == http.StatusNotFound {
		err = noUser(name)
	} else if err == nil && st != http.StatusOK {
		err = fail(exitError, "GET user %q: status %d", name, st)
	}
	return u, err
}

func (c *ctl) addUser(a []string) error {
	if err := need(a, 2, 2, "add_user NAME PASSWORD"); err != nil {
		return err
	}
	c.info("Adding user %q ...", a[0])
	st, _, err := c.call("GET", "/api/users/"+esc(a[0]), nil)
	if err != nil {
		return err
	}
	if st == http.StatusOK {
		return fail(exitError, "User %q already exists", a[0])
	}
	_, _, err = c.expect("PUT", "/api/users/"+esc(a[0]), map[string]any{"password": a[1], "tags": ""}, http.StatusCreated, http.StatusNoContent)
	return err
}

func (c *ctl) deleteUser(a []string) error {
	if err := need(a, 1, 1, "delete_user NAME"); err != nil {
		return err
	}
	c.info("Deleting user %q ...", a[0])
	_, st, err := c.expect("DELETE", "/api/users/"+esc(a[0]), nil, http.StatusNoContent)
	if st == http.StatusNotFound {
		return noUser(a[0])
	}
	return err
}

// putUser replaces a user keeping what the change leaves alone.
func (c *ctl) putUser(u apiUser, password *string) error {
	body := map[string]any{"tags": u.Tags}
	if password != nil {
		body["password"] = *password
	} else if u.PasswordHash != "" {
		body["password_hash"], body["hashing_algorithm"] = u.PasswordHash, u.HashingAlgorithm
	}
	_, _, err := c.expect("PUT", "/api/users/"+esc(u.Name), body, http.StatusCreated, http.StatusNoContent)
	return err
}

func (c *ctl) changePassword(a []string) error {
	if err := need(a, 2, 2, "change_password NAME PASSWORD"); err != nil {
		return err
	}
	c.info("Changing password for user %q ...", a[0])
	u, err := c.lookupUser(a[0])
	if err != nil {
		return err
	}
	return c.putUser(u, &a[1])
}

func (c *ctl) clearPassword(a []string) error {
	if err := need(a, 1, 1, "clear_password NAME"); err != nil {
		return err
	}
	c.info("Clearing password for user %q ...", a[0])
	u, err := c.lookupUser(a[0])
	if err != nil {
		return err
	}
	u.PasswordHash = ""
	return c.putUser(u, nil)
}

func (c *ctl) setUserTags(a []string) error {
	if err := need(a, 1, -1, "set_user_tags NAME [TAG ...]"); err != nil {
		return err
	}
	c.info("Setting tags for user %q to [%s] ...", a[0], strings.Join(a[1:], ", "))
	u, err := c.lookupUser(a[0])
	if err != nil {
		return err
	}
	u.Tags = append([]string{}, a[1:]...)
	return c.putUser(u, nil)
}

func (c *ctl) listUsers(a []string) error {
	if err := need(a, 0, 0, "list_users"); err != nil {
		return err
	}
	var users []apiUser
	if _, err := c.get("/api/users", &users); err != nil {
		return err
	}
	c.info("Listing users ...")
	rows := make([][]any, 0, len(users))
	for _, u := range users {
		rows = append(rows, []any{u.Name, nonNil(u.Tags)})
	}
	return c.table([]string{"user", "tags"}, rows)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// --- vhosts ---

func (c *ctl) addVHost(a []string) error {
	if err := need(a, 1, 1, "add_vhost NAME [--description TEXT]"); err != nil {
		return err
	}
	c.info("Adding vhost %q ...", a[0])
	var body map[string]any
	if c.desc != "" {
		body = map[string]any{"description": c.desc}
	}
	_, _, err := c.expect("PUT", "/api/vhosts/"+esc(a[0]), body, http.StatusCreated, http.StatusNoContent)
	return err
}

func (c *ctl) deleteVHost(a []string) error {
	if err := need(a, 1, 1, "delete_vhost NAME"); err != nil {
		return err
	}
	c.info("Deleting vhost %q ...", a[0])
	_, st, err := c.expect("DELETE", "/api/vhosts/"+esc(a[0]), nil, http.StatusNoContent)
	if st == http.StatusNotFound {
		return noVHost(a[0])
	}
	return err
}

func (c *ctl) listVHosts(a []string) error {
	if err := need(a, 0, 0, "list_vhosts"); err != nil {
		return err
	}
	var vhosts []struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Tags        []string `json:"tags"`
	}
	if _, err := c.get("/api/vhosts?disable_stats=true", &vhosts); err != nil {
		return err
	}
	c.info("Listing vhosts ...")
	rows := make([][]any, 0, len(vhosts))
	for _, v := range vhosts {
		rows = append(rows, []any{v.Name})
	}
	return c.table([]string{"name"}, rows)
}

// vhostExists tells a missing vhost from a missing user after a 400
// vhost_or_user_not_found.
func (c *ctl) whichMissing(user string) error {
	if _, err := c.lookupUser(user); err != nil {
		return err
	}
	return noVHost(c.vhost)
}

// --- permissions ---

func (c *ctl) setPermissions(a []string) error {
	if err := need(a, 4, 4, "set_permissions [-p VHOST] USER CONF WRITE READ"); err != nil {
		return err
	}
	c.info("Setting permissions for user %q in vhost %q ...", a[0], c.vhost)
	raw, st, err := c.expect("PUT", "/api/permissions/"+esc(c.vhost)+"/"+esc(a[0]),
		map[string]string{"configure": a[1], "write": a[2], "read": a[3]}, http.StatusCreated, http.StatusNoContent)
	if st == http.StatusBadRequest && reason(raw) == "vhost_or_user_not_found" {
		return c.whichMissing(a[0])
	}
	return err
}

func (c *ctl) clearPermissions(a []string) error {
	if err := need(a, 1, 1, "clear_permissions [-p VHOST] USER"); err != nil {
		return err
	}
	c.info("Clearing permissions for user %q in vhost %q ...", a[0], c.vhost)
	_, st, err := c.expect("DELETE", "/api/permissions/"+esc(c.vhost)+"/"+esc(a[0]), nil, http.StatusNoContent)
	if st == http.StatusNotFound {
		_, err = c.lookupUser(a[0]) // none to clear is fine; a missing user is not
	}
	return err
}

func (c *ctl) listPermissions(a []string) error {
	if err := need(a, 0, 0, "list_permissions [-p VHOST]"); err != nil {
		return err
	}
	var perms []apiPermission
	st, err := c.get("/api/vhosts/"+esc(c.vhost)+"/permissions", &perms)
	if err == nil && st == http.StatusNotFound {
		err = noVHost(c.vhost)
	}
	if err != nil {
		return err
	}
	c.info("Listing permissions for vhost %q ...", c.vhost)
	rows := make([][]any, 0, len(perms))
	for _, p := range perms {
		rows = append(rows, []any{p.User, p.Configure, p.Write, p.Read})
	}
	return c.table([]string{"user", "configure", "write", "read"}, rows)
}

func (c *ctl) listUserPermissions(a []string) error {
	if err := need(a, 1, 1, "list_user_permissions USER"); err != nil {
		return err
	}
	var perms []apiPermission
	st, err := c.get("/api/users/"+esc(a[0])+"/permissions", &perms)
	if err == nil && st == http.StatusNotFound {
		err = noUser(a[0])
	}
	if err != nil {
		return err
	}
	c.info("Listing permissions for user %q ...", a[0])
	rows := make([][]any, 0, len(perms))
	for _, p := range perms {
		rows = append(rows, []any{p.VHost, p.Configure, p.Write, p.Read})
	}
	return c.table([]string{"vhost", "configure", "write", "read"}, rows)
}

func (c *ctl) setTopicPermissions(a []string) error {
	if err := need(a, 4, 4, "set_topic_permissions [-p VHOST] USER EXCHANGE WRITE READ"); err != nil {
		return err
	}
	c.info("Setting topic permissions on %q for user %q in vhost %q ...", a[1], a[0], c.vhost)
	raw, st, err := c.expect("PUT", "/api/topic-permissions/"+esc(c.vhost)+"/"+esc(a[0]),
		map[string]string{"exchange": a[1], "write": a[2], "read": a[3]}, http.StatusCreated, http.StatusNoContent)
	if st == http.StatusBadRequest && reason(raw) == "vhost_or_user_not_found" {
		return c.whichMissing(a[0])
	}
	return err
}

func (c *ctl) clearTopicPermissions(a []string) error {
	if err := need(a, 1, 2, "clear_topic_permissions [-p VHOST] USER [EXCHANGE]"); err != nil {
		return err
	}
	path := "/api/topic-permissions/" + esc(c.vhost) + "/" + esc(a[0])
	if len(a) == 2 {
		c.info("Clearing topic permissions on %q for user %q in vhost %q ...", a[1], a[0], c.vhost)
		path += "/" + esc(a[1])
	} else {
		c.info("Clearing topic permissions for user %q in vhost %q ...", a[0], c.vhost)
	}
	_, st, err := c.expect("DELETE", path, nil, http.StatusNoContent)
	if st == http.StatusNotFound {
		_, err = c.lookupUser(a[0])
	}
	return err
}

func (c *ctl) topicRows(perms []apiTopicPermission, first func(apiTopicPermission) string) [][]any {
	rows := make([][]any, 0, len(perms))
	for _, p := range perms {
		rows = append(rows, []any{first(p), p.Exchange, p.Write, p.Read})
	}
	return rows
}

func (c *ctl) listTopicPermissions(a []string) error {
	if err := need(a, 0, 0, "list_topic_permissions [-p VHOST]"); err != nil {
		return err
	}
	var perms []apiTopicPermission
	st, err := c.get("/api/vhosts/"+esc(c.vhost)+"/topic-permissions", &perms)
	if err == nil && st == http.StatusNotFound {
		err = noVHost(c.vhost)
	}
	if err != nil {
		return err
	}
	c.info("Listing topic permissions for vhost %q ...", c.vhost)
	return c.table([]string{"user", "exchange", "write", "read"},
		c.topicRows(perms, func(p apiTopicPermission) string { return p.User }))
}

func (c *ctl) listUserTopicPermissions(a []string) error {
	if err := need(a, 1, 1, "list_user_topic_permissions USER"); err != nil {
		return err
	}
	var perms []apiTopicPermission
	st, err := c.get("/api/users/"+esc(a[0])+"/topic-permissions", &perms)
	if err == nil && st == http.StatusNotFound {
		err = noUser(a[0])
	}
	if err != nil {
		return err
	}
	c.info("Listing topic permissions for user %q ...", a[0])
	return c.table([]string{"vhost", "exchange", "write", "read"},
		c.topicRows(perms, func(p apiTopicPermission) string { return p.VHost }))
}

// --- limits ---

// parseLimits reads a rabbitmqctl limits definition: a JSON object of
// integers.
func parseLimits(def string) (map[string]int64, error) {
	var m map[string]int64
	if err := json.Unmarshal([]byte(def), &m); err != nil {
		return nil, fail(exitUsage, "limits must be a JSON object of integers, such as '{\"max-connections\": 10}': %v", err)
	}
	return m, nil
}

type limitsEntry struct {
	VHost string           `json:"vhost"`
	User  string           `json:"user"`
	Value map[string]int64 `json:"value"`
}

func (c *ctl) vhostLimits() (map[string]int64, error) {
	var list []limitsEntry
	st, err := c.get("/api/vhost-limits/"+esc(c.vhost), &list)
	if err == nil && st == http.StatusNotFound {
		err = noVHost(c.vhost)
	}
	if err != nil || len(list) == 0 {
		return map[string]int64{}, err
	}
	return list[0].Value, nil
}

// setVHostLimits replaces the vhost's limits with the definition, as
// rabbitmqctl set_vhost_limits does.
func (c *ctl) setVHostLimits(a []string) error {
	if err := need(a, 1, 1, "set_vhost_limits [-p VHOST] JSON"); err != nil {
		return err
	}
	want, err := parseLimits(a[0])
	if err != nil {
		return err
	}
	c.info("Applying limits to vhost %q: %s ...", c.vhost, a[0])
	have, err := c.vhostLimits()
	if err != nil {
		return err
	}
	base := "/api/vhost-limits/" + esc(c.vhost) + "/"
	for _, name := range sortedKeys(want) {
		if _, _, err := c.expect("PUT", base+esc(name), map[string]int64{"value": want[name]}, http.StatusNoContent); err != nil {
			return err
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			if _, _, err := c.expect("DELETE", base+esc(name), nil, http.StatusNoContent); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *ctl) clearVHostLimits(a []string) error {
	if err := need(a, 0, 0, "clear_vhost_limits [-p VHOST]"); err != nil {
		return err
	}
	c.info("Clearing limits of vhost %q ...", c.vhost)
	have, err := c.vhostLimits()
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(have) {
		if _, _, err := c.expect("DELETE", "/api/vhost-limits/"+esc(c.vhost)+"/"+esc(name), nil, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

func (c *ctl) listVHostLimits(a []string) error {
	if err := need(a, 0, 0, "list_vhost_limits [-p VHOST]"); err != nil {
		return err
	}
	have, err := c.vhostLimits()
	if err != nil {
		return err
	}
	c.info("Listing limits of vhost %q ...", c.vhost)
	rows := [][]any{}
	for _, name := range sortedKeys(have) {
		rows = append(rows, []any{name, have[name]})
	}
	return c.table([]string{"limit", "value"}, rows)
}

// setUserLimits replaces the user's limits with the definition.
func (c *ctl) setUserLimits(a []string) error {
	if err := need(a, 2, 2, "set_user_limits USER JSON"); err != nil {
		return err
	}
	want, err := parseLimits(a[1])
	if err != nil {
		return err
	}
	c.info("Setting user limits to %s for user %q ...", a[1], a[0])
	u, err := c.lookupUser(a[0])
	if err != nil {
		return err
	}
	base := "/api/user-limits/" + esc(a[0]) + "/"
	for _, name := range sortedKeys(want) {
		if _, _, err := c.expect("PUT", base+esc(name), map[string]int64{"value": want[name]}, http.StatusNoContent); err != nil {
			return err
		}
	}
	for name := range u.Limits {
		if _, ok := want[name]; !ok {
			if _, _, err := c.expect("DELETE", base+esc(name), nil, http.StatusNoContent); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *ctl) clearUserLimits(a []string) error {
	if err := need(a, 2, 2, "clear_user_limits USER NAME|all"); err != nil {
		return err
	}
	c.info("Clearing %q limit for user %q ...", a[1], a[0])
	u, err := c.lookupUser(a[0])
	if err != nil {
		return err
	}
	names := []string{a[1]}
	if a[1] == "all" {
		names = sortedKeys(u.Limits)
	}
	for _, name := range names {
		if _, _, err := c.expect("DELETE", "/api/user-limits/"+esc(a[0])+"/"+esc(name), nil, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

func (c *ctl) listUserLimits(a []string) error {
	if err := need(a, 0, 1, "list_user_limits [USER]"); err != nil {
		return err
	}
	var list []limitsEntry
	path := "/api/user-limits"
	if len(a) == 1 {
		path += "/" + esc(a[0])
	}
	st, err := c.get(path, &list)
	if err == nil && st == http.StatusNotFound {
		err = noUser(a[0])
	}
	if err != nil {
		return err
	}
	c.info("Listing user limits ...")
	rows := [][]any{}
	for _, e := range list {
		for _, name := range sortedKeys(e.Value) {
			rows = append(rows, []any{e.User, name, e.Value[name]})
		}
	}
	return c.table([]string{"user", "limit", "value"}, rows)
}

// --- access keys (SQS) ---

type apiAccessKey struct {
	User            string `json:"user"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	Created         int64  `json:"created"`
}

func createdAt(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// addAccessKey creates a key pair and prints its id and secret, the only
// time the broker shows the secret: tab-separated on one line, or a JSON
// object with --formatter json.
func (c *ctl) addAccessKey(a []string) error {
	if err := need(a, 1, 1, "add_access_key USER"); err != nil {
		return err
	}
	c.info("Adding access key for user %q ...", a[0])
	raw, st, err := c.expect("POST", "/api/users/"+esc(a[0])+"/access-keys", nil, http.StatusCreated)
	if st == http.StatusNotFound {
		return noUser(a[0])
	}
	if err != nil {
		return err
	}
	var k apiAccessKey
	if err := json.Unmarshal(raw, &k); err != nil || k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return fail(exitError, "POST access key: unexpected answer %s", raw)
	}
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"user": k.User, "access_key_id": k.AccessKeyID,
			"secret_access_key": k.SecretAccessKey, "created": createdAt(k.Created)})
	}
	_, err = fmt.Fprintf(c.out, "%s\t%s\n", k.AccessKeyID, k.SecretAccessKey)
	return err
}

func (c *ctl) accessKeys(user string) ([]apiAccessKey, error) {
	var keys []apiAccessKey
	st, err := c.get("/api/users/"+esc(user)+"/access-keys", &keys)
	if err == nil && st == http.StatusNotFound {
		err = noUser(user)
	} else if err == nil && st != http.StatusOK {
		err = fail(exitError, "GET access keys of %q: status %d", user, st)
	}
	return keys, err
}

func (c *ctl) listAccessKeys(a []string) error {
	if err := need(a, 1, 1, "list_access_keys USER"); err != nil {
		return err
	}
	keys, err := c.accessKeys(a[0])
	if err != nil {
		return err
	}
	c.info("Listing access keys for user %q ...", a[0])
	rows := make([][]any, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []any{k.AccessKeyID, createdAt(k.Created)})
	}
	return c.table([]string{"access_key_id", "created"}, rows)
}

func (c *ctl) deleteAccessKey(a []string) error {
	if err := need(a, 2, 2, "delete_access_key USER ACCESS_KEY_ID"); err != nil {
		return err
	}
	c.info("Deleting access key %q of user %q ...", a[1], a[0])
	_, st, err := c.expect("DELETE", "/api/users/"+esc(a[0])+"/access-keys/"+esc(a[1]), nil, http.StatusNoContent)
	if st == http.StatusNotFound {
		// No such user (67), or a user without that key (1).
		if _, err := c.accessKeys(a[0]); err != nil {
			return err
		}
		return fail(exitError, "Access key %q of user %q does not exist", a[1], a[0])
	}
	return err
}
