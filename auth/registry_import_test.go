package auth

import (
	"errors"
	"net"
	"testing"
)

func TestApplyBatch(t *testing.T) {
	r := NewRegistry()
	addUser(t, r, "old", "old-pw")
	key, err := r.CreateAccessKey("old", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetUserLimit("old", LimitMaxChannels, 3, false); err != nil {
		t.Fatal(err)
	}
	hash, _ := HashPassword(HashSHA512, "new-pw")
	err = r.Apply(Batch{
		Users: []UserRecord{
			{Name: "new", PasswordHash: hash, HashingAlgorithm: HashSHA512, Tags: []string{"management"}, Limits: map[string]int64{LimitMaxConnections: 2}},
			{Name: "old", PasswordHash: hash, HashingAlgorithm: HashSHA512},
		},
		Permissions:      []Permission{{User: "new", VHost: "v", Configure: ".*", Write: "^w", Read: ""}},
		TopicPermissions: []TopicPermission{{User: "new", VHost: "v", Exchange: "amq.topic", Write: "^{username}\\.", Read: ".*"}},
		VHostLimits:      map[string]map[string]int64{"v": {LimitMaxQueues: 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate("new", "new-pw", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatalf("imported user cannot log in: %v", err)
	}
	old, _ := r.User("old")
	if len(old.AccessKeys) != 1 || old.AccessKeys[0].ID != key.ID || old.Limits[LimitMaxChannels] != 3 {
		t.Fatalf("a replaced user keeps its access keys and (when the batch gives none) its limits: %+v", old)
	}
	if n, ok := r.VHostLimit("v", LimitMaxQueues); !ok || n != 5 {
		t.Fatalf("vhost limit: %d %v", n, ok)
	}
	if err := r.AuthorizeTopic("new", "v", "amq.topic", "new.x", Write); err != nil {
		t.Fatalf("topic permission with {username}: %v", err)
	}
	if err := r.Apply(Batch{VHostLimits: map[string]map[string]int64{"v": {}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.VHostLimit("v", LimitMaxQueues); ok {
		t.Fatal("an empty limits map clears the vhost's limits")
	}
}

// TestApplyBatchAllOrNothing: a bad pattern, a permission for a user that
// does not exist or a failed save leaves the registry as it was.
func TestApplyBatchAllOrNothing(t *testing.T) {
	r := NewRegistry()
	hash, _ := HashPassword("", "pw")
	bad := []Batch{
		{Users: []UserRecord{{Name: "a", PasswordHash: hash}}, Permissions: []Permission{{User: "a", VHost: "/", Configure: "(", Write: "", Read: ""}}},
		{Users: []UserRecord{{Name: "a", PasswordHash: hash}}, Permissions: []Permission{{User: "nobody", VHost: "/"}}},
		{Users: []UserRecord{{Name: "a", PasswordHash: "not base64!"}}},
		{Users: []UserRecord{{Name: "a", PasswordHash: hash, HashingAlgorithm: "rabbit_password_hashing_rot13"}}},
	}
	for i, b := range bad {
		if err := r.Apply(b); err == nil {
			t.Fatalf("batch %d: applied", i)
		}
		if _, ok := r.User("a"); ok {
			t.Fatalf("batch %d: user created although the batch failed", i)
		}
	}
	if err := r.Apply(bad[1]); !errors.Is(err, ErrNoUser) {
		t.Fatalf("unknown user: %v", err)
	}
	r.SetSaver(func([]byte) error { return errors.New("disk full") })
	if err := r.Apply(Batch{Users: []UserRecord{{Name: "a", PasswordHash: hash}}}); err == nil {
		t.Fatal("failed save reported no error")
	}
	if _, ok := r.User("a"); ok {
		t.Fatal("user created although the save failed")
	}
}
