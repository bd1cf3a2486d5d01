package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/storage"
	"github.com/sluice-mq/sluice/storage/wal"
)

func (c *Config) syncMode() (wal.SyncMode, error) {
	if c.Sync == "" || c.Sync == "always" {
		return wal.SyncAlways, nil
	}
	d, err := time.ParseDuration(c.Sync)
	if err != nil || d <= 0 {
		return wal.SyncAlways, fmt.Errorf("sync must be 'always' or a positive interval such as 10ms, not %q", c.Sync)
	}
	return wal.SyncInterval(d), nil
}

// keyring loads the encryption keys from the keyring file or, failing
// that, from SLUICE_ENCRYPTION_KEYS. The key material never goes near the
// data directory.
func (s *Server) keyring() (*storage.Keyring, error) {
	var k *storage.Keyring
	var err error
	switch {
	case s.cfg.EncryptionKeyring != "":
		abs, _ := filepath.Abs(s.cfg.EncryptionKeyring)
		dir, _ := filepath.Abs(s.cfg.DataDir)
		if strings.HasPrefix(abs, dir+string(filepath.Separator)) {
			return nil, fmt.Errorf("encryption keyring %s must not live inside the data directory %s", abs, dir)
		}
		k, err = storage.LoadKeyring(s.cfg.EncryptionKeyring)
	case os.Getenv("SLUICE_ENCRYPTION_KEYS") != "":
		text := strings.ReplaceAll(os.Getenv("SLUICE_ENCRYPTION_KEYS"), ";", "\n")
		k, err = storage.ParseKeyring(strings.NewReader(text))
		if err != nil {
			err = fmt.Errorf("SLUICE_ENCRYPTION_KEYS: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	if k == nil {
		if s.cfg.RequireEncryption {
			return nil, fmt.Errorf("require-encryption is set but no keyring is configured (--encryption-keyring FILE or SLUICE_ENCRYPTION_KEYS)")
		}
		s.log.Warn().Msg("encryption at rest is OFF: no keyring configured (--encryption-keyring FILE or SLUICE_ENCRYPTION_KEYS)")
	} else {
		s.log.Info().Str("key", k.Current()).Msg("encryption at rest is on (AES-256-GCM)")
	}
	return k, nil
}

// openStorage opens the store, restores the broker from it and attaches it.
func (s *Server) openStorage() error {
	keys, err := s.keyring()
	if err != nil {
		return err
	}
	mode, err := s.cfg.syncMode()
	if err != nil {
		return err
	}
	st, rec, err := storage.Open(storage.Options{Dir: s.cfg.DataDir, Keyring: keys, Sync: mode,
		SegmentSize: int64(s.cfg.SegmentSize), AcceptUnsealed: s.cfg.EncryptionAcceptUnsealed, Logger: s.log})
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if t := rec.Log.TornTail; t != nil {
		s.log.Warn().Str("file", t.File).Int64("offset", t.Offset).Str("reason", t.Reason).Msg("storage: torn tail of the log cut off (a write interrupted by a crash)")
	}
	for _, d := range rec.Log.Damaged {
		s.log.Error().Str("file", d.File).Int64("offset", d.Offset).Int64("length", d.Length).Str("reason", d.Reason).
			Msg("storage: DAMAGE in the middle of the log; the records there are lost, the rest was recovered")
	}
	s.Broker.SetPersister(st)
	if err := s.Broker.Restore(rec.Definitions, rec.Messages); err != nil {
		st.Close()
		return err
	}
	s.Broker.RestoreDedup(rec.Dedup)
	if err := s.openUsers(st); err != nil {
		st.Close()
		return err
	}
	s.store = st
	s.log.Info().Int("messages", rec.MessageCount).Int("queues", len(rec.Definitions.Queues)).Msg("storage recovered")
	return nil
}

// Store is the durable store (nil before New finished).
func (s *Server) Store() *storage.Store { return s.store }

// ReloadKeyring re-reads the encryption keyring (SIGHUP): put a new key
// first to rotate; keep old keys listed while data sealed under them lives.
func (s *Server) ReloadKeyring() error {
	if s.store == nil {
		return nil
	}
	k, err := s.keyring()
	if err != nil {
		return err
	}
	return s.store.SetKeyring(k)
}

// openUsers loads the user database and makes every later change to it
// durable; a data directory with no users gets its first one:
// --default-user, or RabbitMQ's guest/guest. A loaded database is saved
// once again, so that one read unsealed (--encryption-accept-unsealed) is
// sealed from now on.
func (s *Server) openUsers(st *storage.Store) error {
	data, err := st.LoadUsers()
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if data != nil {
		if err := s.Users.Load(data); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
	}
	s.Users.SetSaver(st.SaveUsers)
	if data != nil {
		return s.Users.Resave()
	}
	if s.cfg.Definitions != "" {
		// A new node with a definitions file gets its users from the file
		// (loadDefinitionsAtStart), as RabbitMQ seeds no default user then.
		return nil
	}
	if err := s.Users.Bootstrap(s.cfg.DefaultUser, s.cfg.DefaultPass); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	name := s.cfg.DefaultUser
	if name == "" {
		name = "guest"
	}
	s.log.Info().Str("user", name).Msg("no users yet: created the default administrator")
	return nil
}
