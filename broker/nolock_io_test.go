package broker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// lockProbe is a Persister kept in memory that checks, in every call that
// stands for I/O (a read, a spill write), that the queue's lock is not held
// by its caller: it waits until it can take the lock itself, which never
// happens within the wait if the caller holds it.
type lockProbe struct {
	journal
	q          atomic.Pointer[Queue]
	mu         sync.Mutex
	msgs       map[uint64]*message.Message
	reads      atomic.Int32
	spills     atomic.Int32
	violations atomic.Int32
}

func (p *lockProbe) LogMessage(id uint64, _ int64, _ []QueueRef, m *message.Message, done func(error)) error {
	p.mu.Lock()
	p.msgs[id] = m
	p.mu.Unlock()
	if done != nil {
		done(nil)
	}
	return nil
}

func (p *lockProbe) LogCopy(id uint64, at int64, targets []QueueRef, m *message.Message, done func(error)) error {
	return p.LogMessage(id, at, targets, m, done)
}

func (p *lockProbe) Spill(id uint64, m *message.Message) error {
	p.mu.Lock()
	p.msgs[id] = m
	p.mu.Unlock()
	return nil
}

// lockFree reports whether the queue's lock can be taken within a second.
func (p *lockProbe) lockFree() bool {
	q := p.q.Load()
	if q == nil {
		return true
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if q.mu.TryLock() {
			q.mu.Unlock()
			return true
		}
	}
	return false
}

func (p *lockProbe) ReadMessage(id uint64) (*message.Message, error) {
	p.reads.Add(1)
	if !p.lockFree() {
		p.violations.Add(1)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.msgs[id]; m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("message %d is not stored", id)
}

func (p *lockProbe) WriteSpills(ids []uint64) {
	p.spills.Add(int32(len(ids)))
	if !p.lockFree() {
		p.violations.Add(1)
	}
}

// TestNoStorageIOUnderTheQueueLock: reading a paged-out message back and
// writing a spilled one happen with the queue's lock released (issue #12:
// inline paged reads and spill appends, which can wait for the log's
// back-pressure, happened under it).
func TestNoStorageIOUnderTheQueueLock(t *testing.T) {
	b := New(Config{ResidentBytes: 1})
	p := &lockProbe{msgs: map[uint64]*message.Message{}}
	b.SetPersister(p)
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Durable: true}); err != nil {
		t.Fatal(err)
	}
	q, _ := v.Queue("q")
	p.q.Store(q)
	s := v.NewSession(1, &recorder{})
	persistent := message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: message.Persistent}
	for i := 0; i < 4; i++ {
		mustPublish(t, s, "", "q", &message.Message{Body: []byte("persistent"), Properties: persistent})
	}
	b.SetMemoryPressure(true)
	for i := 0; i < 4; i++ {
		mustPublish(t, s, "", "q", msg("transient"))
	}
	for i := 0; i < 8; i++ {
		if _, _, ok, err := s.Get("q", true); !ok || err != nil {
			t.Fatalf("get %d: %v %v", i, ok, err)
		}
	}
	if p.reads.Load() == 0 || p.spills.Load() == 0 {
		t.Fatalf("the test exercised nothing: %d reads, %d spills", p.reads.Load(), p.spills.Load())
	}
	if n := p.violations.Load(); n > 0 {
		t.Fatalf("%d storage calls ran under the queue's lock", n)
	}
}

// TestPressureSpillsAreWritten: the backlog paged out when memory pressure
// starts must reach storage at once, not wait for the queue's next
// operation (the spill only registers the body; release writes it).
func TestPressureSpillsAreWritten(t *testing.T) {
	b := New(Config{ResidentBytes: 1})
	p := &lockProbe{msgs: map[uint64]*message.Message{}}
	b.SetPersister(p)
	v, _ := b.VHost("/")
	mustDeclareQueue(t, v, "q", nil)
	s := v.NewSession(1, &recorder{})
	for i := 0; i < 4; i++ {
		mustPublish(t, s, "", "q", msg("transient"))
	}
	b.SetMemoryPressure(true)
	if p.spills.Load() == 0 {
		t.Fatal("the backlog paged out under pressure was never written")
	}
}

// refusing is a lockProbe whose log refuses every message at once, as the
// log does a record larger than a segment.
type refusing struct{ lockProbe }

func (r *refusing) LogMessage(_ uint64, _ int64, _ []QueueRef, _ *message.Message, done func(error)) error {
	err := fmt.Errorf("record too large")
	if done != nil {
		done(err)
	}
	return err
}

func (r *refusing) LogCopy(id uint64, at int64, targets []QueueRef, m *message.Message, done func(error)) error {
	return r.LogMessage(id, at, targets, m, done)
}

// TestRefusedRecordKeepsItsBody: a persistent message the log refused at
// once was nacked but enqueued as if logged, so paging dropped its body and
// it could never be read back (found by the torture test). It now stays in
// the queue with its body, like a transient message.
func TestRefusedRecordKeepsItsBody(t *testing.T) {
	b := New(Config{ResidentBytes: 1})
	p := &refusing{lockProbe{msgs: map[uint64]*message.Message{}}}
	b.SetPersister(p)
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q", Durable: true}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, &recorder{})
	persistent := message.Properties{Flags: message.FlagDeliveryMode, DeliveryMode: message.Persistent}
	for i := 0; i < 3; i++ {
		mustPublish(t, s, "", "q", &message.Message{Body: []byte("too big"), Properties: persistent})
	}
	for i := 0; i < 3; i++ {
		if _, _, ok, err := s.Get("q", true); !ok || err != nil {
			t.Fatalf("get %d: %v %v", i, ok, err)
		}
	}
	q, _ := v.Queue("q")
	if n := q.Memory().Unreadable; n != 0 {
		t.Fatalf("%d refused messages were set aside as unreadable", n)
	}
}
