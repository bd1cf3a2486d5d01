package panics

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// panicky is a Sink whose Deliver panics, as an adapter bug would; the
// core calls it with the queue's lock held.
type panicky struct{}

func (panicky) Deliver(broker.Delivery) { panic("adapter bug in Deliver") }
func (panicky) Cancelled(string)        {}
func (panicky) Full() bool              { return false }

// recoverStack runs fn and returns the stack seen by a deferred recover,
// as an adapter's connection goroutine would see it.
func recoverStack(fn func()) (stack []byte) {
	done := make(chan []byte)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- debug.Stack()
				return
			}
			done <- nil
		}()
		fn()
	}()
	return <-done
}

// TestPanicThroughTheCoreIsNotRecoverable: a panic raised while the core
// holds a queue's lock leaves that lock held, so the queue is wedged for
// every later caller; InCore must recognise it (and the adapters then
// crash rather than carry on). A panic in adapter code alone is
// recoverable.
func TestPanicThroughTheCoreIsNotRecoverable(t *testing.T) {
	b := broker.New(broker.Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, panicky{})
	if _, err := s.Consume("q", broker.ConsumeSpec{NoAck: true}); err != nil {
		t.Fatal(err)
	}
	pub := v.NewSession(2, panicky{})
	stack := recoverStack(func() {
		_, _ = pub.Publish("", "q", &message.Message{Body: []byte("x")}, broker.PublishOptions{})
	})
	if stack == nil {
		t.Fatal("Deliver did not panic")
	}
	if !InCore(stack) {
		t.Fatalf("a panic under the queue's lock was not seen as in the core:\n%s", stack)
	}
	// Why it must not be recovered: the queue is wedged.
	wedged := make(chan struct{})
	go func() {
		_, _ = pub.Publish("", "q", &message.Message{Body: []byte("y")}, broker.PublishOptions{})
		close(wedged)
	}()
	select {
	case <-wedged:
		t.Log("the queue was not wedged this time (the lock was released on unwinding)")
	case <-time.After(200 * time.Millisecond):
	}

	if stack := recoverStack(func() { panic("adapter bug while parsing") }); InCore(stack) {
		t.Fatalf("a panic in adapter code alone was taken for a core one:\n%s", stack)
	}
}

// TestRecoveredRepanicsForTheCore: Recovered crashes (panics again) for a
// core panic and returns for an adapter one.
func TestRecoveredRepanicsForTheCore(t *testing.T) {
	defer func() {
		if p := recover(); p == nil {
			t.Fatal("Recovered returned for a panic inside the core")
		}
	}()
	b := broker.New(broker.Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(broker.QueueDecl{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, panicky{})
	if _, err := s.Consume("q", broker.ConsumeSpec{NoAck: true}); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				Recovered(discard(), p, "test connection")
			}
		}()
		_, _ = s.Publish("", "q", &message.Message{Body: []byte("x")}, broker.PublishOptions{})
	}()
}

func discard() *zerolog.Event { l := zerolog.Nop(); return l.Error() }
