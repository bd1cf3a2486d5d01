package main

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

type fakeRunning struct{ errs chan error }

func (f fakeRunning) Err() <-chan error    { return f.errs }
func (f fakeRunning) ReloadKeyring() error { return nil }
func (f fakeRunning) ReloadTLS() error     { return nil }

// TestListenerFailureExitsNonZero: a broker that stopped because a
// listener failed exited with status 0, as if asked to stop (seen in the
// torture test when accept ran out of file descriptors).
func TestListenerFailureExitsNonZero(t *testing.T) {
	f := fakeRunning{errs: make(chan error, 1)}
	f.errs <- errors.New("amqp: accept: broken")
	if code := waitForStop(f, zerolog.Nop(), make(chan os.Signal), make(chan os.Signal)); code != 1 {
		t.Errorf("listener failure: exit status %d, want 1", code)
	}
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	hup := make(chan os.Signal, 1)
	hup <- syscall.SIGHUP
	if code := waitForStop(fakeRunning{errs: make(chan error)}, zerolog.Nop(), sigs, hup); code != 0 {
		t.Errorf("SIGTERM: exit status %d, want 0", code)
	}
}
