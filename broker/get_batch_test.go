package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// publishGrouped publishes "group:body" pairs to queue q.
func publishGrouped(t *testing.T, s *Session, q string, msgs ...string) {
	t.Helper()
	for _, gm := range msgs {
		g, body, _ := strings.Cut(gm, ":")
		m := &message.Message{Body: []byte(body), Properties: message.Properties{Flags: message.FlagHeaders, Headers: message.Table{"x-group-id": g}}}
		if _, err := s.Publish("", q, m, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func bodies(ds []Delivery) string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d.Msg.Body))
	}
	return strings.Join(out, ",")
}

func groupQueue(t *testing.T) (*VHost, *Session) {
	t.Helper()
	b := New(Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "g", Args: message.Table{"x-message-groups": true}}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, discardSink{})
	t.Cleanup(s.Close)
	return v, s
}

// One batch takes several messages of a group, in order, and goes on
// with the group it took last before it starts another (SQS FIFO: "as
// many messages with the same message group ID as possible"); while they
// are in flight no batch gets another message of those groups.
func TestGetBatchGroups(t *testing.T) {
	_, s := groupQueue(t)
	publishGrouped(t, s, "g", "a:a1", "b:b1", "a:a2", "c:c1", "b:b2", "a:a3")
	ds, err := s.GetBatch("g", 4, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(ds); got != "a1,a2,a3,b1" {
		t.Fatalf("batch of 4: %s, want a1,a2,a3,b1", got)
	}
	// a and b are in flight: the next batch gets only c.
	other := s.vh.NewSession(2, discardSink{})
	defer other.Close()
	ds2, _ := other.GetBatch("g", 10, false)
	if got := bodies(ds2); got != "c1" {
		t.Fatalf("second batch: %s, want c1 (a and b are in flight)", got)
	}
	// b2 stays behind b1, in flight with the first batch.
	if ds3, _ := other.GetBatch("g", 10, false); len(ds3) != 0 {
		t.Fatalf("third batch: %s, want nothing", bodies(ds3))
	}
	for _, d := range ds {
		if string(d.Msg.Body) == "b1" {
			if err := s.Ack(d.Tag, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ds4, _ := other.GetBatch("g", 10, false); bodies(ds4) != "b2" {
		t.Fatalf("after b1's ack: %s, want b2", bodies(ds4))
	}
}

// A group with a message in flight from a single get gives a batch none
// of its messages.
func TestGetBatchBusyGroup(t *testing.T) {
	_, s := groupQueue(t)
	publishGrouped(t, s, "g", "a:a1", "a:a2", "b:b1")
	if d, _, ok, _ := s.Get("g", false); !ok || string(d.Msg.Body) != "a1" {
		t.Fatalf("get: %v %q", ok, d.Msg.Body)
	}
	ds, _ := s.GetBatch("g", 10, false)
	if got := bodies(ds); got != "b1" {
		t.Fatalf("batch: %s, want b1", got)
	}
}

// Without groups a batch is the next n messages in order; the wait form
// wakes on a publish and returns what is there.
func TestGetBatchPlainAndWait(t *testing.T) {
	b := New(Config{})
	v, _ := b.VHost("/")
	if _, err := v.DeclareQueue(QueueDecl{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	s := v.NewSession(1, discardSink{})
	defer s.Close()
	publishGrouped(t, s, "q", ":1", ":2", ":3")
	ds, _ := s.GetBatch("q", 2, false)
	if got := bodies(ds); got != "1,2" {
		t.Fatalf("batch: %s", got)
	}
	ds, _ = s.GetBatch("q", 10, true)
	if got := bodies(ds); got != "3" {
		t.Fatalf("batch: %s", got)
	}
	got := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ds, err := s.GetBatchWait(ctx, "q", 10, false)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- bodies(ds)
	}()
	time.Sleep(50 * time.Millisecond)
	publishGrouped(t, s, "q", ":4")
	select {
	case b := <-got:
		if b != "4" {
			t.Fatalf("waiting batch got %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting batch was not woken")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if ds, err := s.GetBatchWait(ctx, "q", 10, false); len(ds) != 0 || err != nil {
		t.Fatalf("empty queue: %s %v", bodies(ds), err)
	}
}

// Concurrent batch getters on a grouped queue: a group's messages are
// only ever held by one getter at a time, and every group's messages are
// received in the order they were published, each once.
func TestGetBatchGroupsConcurrent(t *testing.T) {
	v, s := groupQueue(t)
	const groups, perGroup = 8, 200
	for i := 0; i < perGroup; i++ {
		for g := 0; g < groups; g++ {
			publishGrouped(t, s, "g", fmt.Sprintf("%d:%d", g, i))
		}
	}
	var mu sync.Mutex
	holder := map[string]int{} // group -> getter holding its messages
	next := map[string]int{}   // group -> the next sequence number expected
	received := 0
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sess := v.NewSession(ConnID(10+w), discardSink{})
			defer sess.Close()
			for {
				mu.Lock()
				done := received == groups*perGroup
				mu.Unlock()
				if done {
					return
				}
				ds, err := sess.GetBatch("g", 1+w*3, false)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					g := valueString(d.Msg.Header("x-group-id"))
					if h, ok := holder[g]; ok && h != w {
						t.Errorf("group %s held by getters %d and %d at once", g, h, w)
					}
					holder[g] = w
					var seq int
					fmt.Sscan(string(d.Msg.Body), &seq)
					if seq != next[g] {
						t.Errorf("group %s: got %d, want %d", g, seq, next[g])
					}
					next[g] = seq + 1
					received++
				}
				mu.Unlock()
				// Release in the order received: the group is free again
				// only once all of this getter's messages of it are acked.
				mu.Lock()
				for _, d := range ds {
					delete(holder, valueString(d.Msg.Header("x-group-id")))
				}
				mu.Unlock()
				for _, d := range ds {
					if err := sess.Ack(d.Tag, false); err != nil {
						t.Error(err)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	for g := 0; g < groups; g++ {
		if n := next[fmt.Sprint(g)]; n != perGroup {
			t.Errorf("group %d: %d received", g, n)
		}
	}
}
