package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-mq/sluice/broker"
)

// TestUsersFileIsSealedAndBound: the user database is sealed at rest like
// the definitions, reads back after a restart, and is refused when it was
// swapped for the definitions file (bound to its place).
func TestUsersFileIsSealedAndBound(t *testing.T) {
	dir := t.TempDir()
	k := testKeyring(t, "k1")
	s, _ := openStore(t, dir, k)
	if err := s.SaveDefinitions(broker.Definitions{VHosts: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	if data, err := s.LoadUsers(); data != nil || err != nil {
		t.Fatalf("new data dir: %q %v", data, err)
	}
	secret := []byte(`{"users":[{"name":"alice","password_hash":"c2VjcmV0LWhhc2g="}]}`)
	if err := s.SaveUsers(secret); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := os.ReadFile(filepath.Join(dir, usersFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("alice")) {
		t.Fatal("users file holds the plain text")
	}
	s, _ = openStore(t, dir, k)
	if data, err := s.LoadUsers(); err != nil || !bytes.Equal(data, secret) {
		t.Fatalf("after a restart: %q %v", data, err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, usersFile), mustRead(t, filepath.Join(dir, definitionsFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ = openStore(t, dir, k)
	defer s.Close()
	if _, err := s.LoadUsers(); !errors.Is(err, ErrTampered) {
		t.Fatalf("definitions file read as the users file: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
