package auth

import (
	"errors"
	"testing"
)

// FuzzPermissionPatterns sets arbitrary configure/write/read patterns
// and checks arbitrary names against them: no panic; a pattern Go cannot
// compile is refused with ErrBadPattern and leaves the old permission in
// place; "" matches only the empty name; ".*" matches every name; a
// refusal carries RabbitMQ's text.
func FuzzPermissionPatterns(f *testing.F) {
	for _, s := range [][2]string{
		{".*", "orders"}, {"", ""}, {"", "x"}, {"^$", ""}, {"^amq\\.gen-", "amq.gen-abc"},
		{"^{username}\\.", "alice.x"}, {"(a", "a"}, {"(?=x)", "x"}, {"\\1", "aa"}, {"^q$", "q\n"},
		{"[[:alpha:]]+", "é"}, {"a{1001}", "a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		r := NewRegistry()
		if _, err := r.PutUser(UserRecord{Name: "u"}); err != nil {
			t.Fatal(err)
		}
		if err := r.SetPermission(Permission{User: "u", VHost: "/", Configure: ".*", Write: "", Read: ".*"}); err != nil {
			t.Fatal(err)
		}
		err := r.SetPermission(Permission{User: "u", VHost: "/", Configure: pattern, Write: pattern, Read: ".*"})
		if err != nil && !errors.Is(err, ErrBadPattern) {
			t.Fatalf("SetPermission(%q): %v", pattern, err)
		}
		if err != nil {
			// Refused: the old permission stands.
			if p, _ := r.Permission("u", "/"); p.Configure != ".*" {
				t.Fatalf("a refused pattern replaced the permission: %+v", p)
			}
			pattern = ".*"
		}
		a := Access{Store: r, User: "u", VHost: "/"}
		for _, kind := range []Kind{Queue, Exchange} {
			_ = a.Configure(kind, name)
			_ = a.Passive(kind, name)
			if err := a.Read(name); kind == Queue && err != nil {
				t.Fatalf(".* refused %q: %v", name, err)
			}
		}
		cerr := a.Configure(Queue, name)
		if pattern == "" && (cerr == nil) != (name == "") {
			t.Fatalf(`"" as a pattern: name %q allowed=%v`, name, cerr == nil)
		}
		var d *Denied
		if cerr != nil && (!errors.As(cerr, &d) || d.Text != "access to queue '"+name+"' in vhost '/' refused for user 'u'") {
			t.Fatalf("refusal %v", cerr)
		}
		_ = r.SetTopicPermission(TopicPermission{User: "u", VHost: "/", Exchange: "t", Write: pattern, Read: pattern})
		_ = a.TopicWrite("t", name)
		_ = a.TopicRead("t", name)
	})
}
