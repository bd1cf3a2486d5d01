package auth

import (
	"fmt"
	"slices"
)

// Batch is a set of changes to the user database made as one (a
// definitions import): either all of them are saved and take effect, or
// none does.
type Batch struct {
	// Users are created or replaced. A user's Limits nil keeps the
	// limits it had (an empty, non-nil map clears them); its access keys
	// are always kept.
	Users []UserRecord
	// Permissions and TopicPermissions are set after the users, so they
	// may name users of the same batch.
	Permissions      []Permission
	TopicPermissions []TopicPermission
	// VHostLimits replaces the named vhosts' limits; an empty map clears
	// them.
	VHostLimits map[string]map[string]int64
}

// Apply makes b's changes with one save. Every hash is checked and every
// pattern compiled before anything changes; a permission for a user that
// is neither in the batch nor in the registry fails with ErrNoUser.
func (r *Registry) Apply(b Batch) error {
	users := make([]UserRecord, 0, len(b.Users))
	for _, u := range b.Users {
		if u.Name == "" {
			return fmt.Errorf("user name must not be empty")
		}
		if err := CheckHash(u.HashingAlgorithm, u.PasswordHash); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
		if u.HashingAlgorithm == "" {
			u.HashingAlgorithm = HashSHA256
		}
		users = append(users, cloneUser(&u))
	}
	grants := make([]*grant, 0, len(b.Permissions))
	for _, p := range b.Permissions {
		g := &grant{p: p}
		var err error
		if g.configure, err = compile(p.Configure); err == nil {
			if g.write, err = compile(p.Write); err == nil {
				g.read, err = compile(p.Read)
			}
		}
		if err != nil {
			return err
		}
		grants = append(grants, g)
	}
	topics := make([]*topicGrant, 0, len(b.TopicPermissions))
	for _, p := range b.TopicPermissions {
		g := &topicGrant{p: p}
		var err error
		if g.write, err = compile(expandTopic(p.Write, p.User, p.VHost)); err == nil {
			g.read, err = compile(expandTopic(p.Read, p.User, p.VHost))
		}
		if err != nil {
			return err
		}
		topics = append(topics, g)
	}
	return r.change(func(st *state) (Change, error) {
		for i := range users {
			u := users[i]
			if old, ok := st.users[u.Name]; ok {
				if u.Limits == nil {
					u.Limits = cloneLimits(old.Limits)
				}
				u.AccessKeys = slices.Clone(old.AccessKeys)
			}
			if len(u.Limits) == 0 {
				u.Limits = nil
			}
			st.users[u.Name] = &u
		}
		for _, g := range grants {
			if _, ok := st.users[g.p.User]; !ok {
				return Change{}, fmt.Errorf("%w: %q", ErrNoUser, g.p.User)
			}
			st.perms[userVHost{g.p.User, g.p.VHost}] = g
		}
		for _, g := range topics {
			if _, ok := st.users[g.p.User]; !ok {
				return Change{}, fmt.Errorf("%w: %q", ErrNoUser, g.p.User)
			}
			k := userVHost{g.p.User, g.p.VHost}
			gs := slices.DeleteFunc(slices.Clone(st.topics[k]), func(o *topicGrant) bool { return o.p.Exchange == g.p.Exchange })
			st.topics[k] = append(gs, g)
		}
		for v, l := range b.VHostLimits {
			if len(l) == 0 {
				delete(st.vhostLimits, v)
			} else {
				st.vhostLimits[v] = cloneLimits(l)
			}
		}
		return Change{}, nil
	})
}
