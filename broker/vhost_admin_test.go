package broker

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
)

// defsJournal is a journal that also keeps the last definitions saved.
type defsJournal struct {
	journal
	dmu   sync.Mutex
	saves int
	last  Definitions
}

func (j *defsJournal) SaveDefinitions(d Definitions) error {
	j.dmu.Lock()
	j.saves++
	j.last = d
	j.dmu.Unlock()
	return nil
}

func (j *defsJournal) lastDefs() (Definitions, int) {
	j.dmu.Lock()
	defer j.dmu.Unlock()
	return j.last, j.saves
}

// TestDeleteVHostRemovesEverything: deleting a vhost deletes its queues
// (their persistent messages settled in storage, their consumers
// cancelled), exchanges and bindings, leaves other vhosts alone and saves
// definitions without it.
func TestDeleteVHostRemovesEverything(t *testing.T) {
	b := New(Config{})
	j := &defsJournal{}
	b.SetPersister(j)
	v, created, err := b.CreateVHost("doomed")
	if err != nil || !created {
		t.Fatalf("CreateVHost: created %v, %v", created, err)
	}
	if d, _ := j.lastDefs(); !slices.Contains(d.VHosts, "doomed") {
		t.Fatalf("CreateVHost did not save the vhost: %v", d.VHosts)
	}
	if _, again, _ := b.CreateVHost("doomed"); again {
		t.Fatal("CreateVHost of an existing vhost reports created")
	}
	keep, _ := b.VHost("/")
	if _, err := keep.DeclareQueue(QueueDecl{Name: "kept", Durable: true}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"q1", "q2"} {
		if _, err := v.DeclareQueue(QueueDecl{Name: q, Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "x", Type: ExchangeTopic, Durable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeclareExchange(ExchangeDecl{Name: "dx", Type: ExchangeDelayed, Durable: true,
		Args: message.Table{"x-delayed-type": "direct"}}); err != nil {
		t.Fatal(err)
	}
	if err := v.Bind(BindSpec{Source: "x", Destination: "q1", Key: "#"}); err != nil {
		t.Fatal(err)
	}
	persistent := message.Properties{Flags: message.FlagDeliveryMode | message.FlagHeaders, DeliveryMode: message.Persistent,
		Headers: message.Table{"x-delay": int32(60000)}}
	s := v.NewSession(1, &recorder{})
	for i := 0; i < 3; i++ {
		mustPublish(t, s, "x", "k", &message.Message{Body: []byte("m"), Properties: persistent})
	}
	mustPublish(t, s, "dx", "k", &message.Message{Body: []byte("held"), Properties: persistent})
	j.sync()
	sink := &recorder{}
	cs := v.NewSession(2, sink)
	if _, err := cs.Consume("q2", ConsumeSpec{Tag: "c1"}); err != nil {
		t.Fatal(err)
	}

	found, err := b.DeleteVHost("doomed")
	if !found || err != nil {
		t.Fatalf("DeleteVHost: found %v, %v", found, err)
	}
	if _, ok := b.VHost("doomed"); ok {
		t.Fatal("the vhost is still there")
	}
	if slices.Contains(b.VHosts(), "doomed") {
		t.Fatal("VHosts still lists it")
	}
	if len(v.Queues()) != 0 {
		t.Fatalf("queues left: %d", len(v.Queues()))
	}
	if _, ok := v.Exchange("x"); ok {
		t.Fatal("exchange x left")
	}
	d, _ := j.lastDefs()
	if slices.Contains(d.VHosts, "doomed") {
		t.Fatalf("saved definitions still hold the vhost: %v", d.VHosts)
	}
	for _, q := range d.Queues {
		if q.VHost == "doomed" {
			t.Fatalf("saved definitions still hold queue %s", q.Name)
		}
	}
	if len(d.Queues) != 1 || d.Queues[0].Name != "kept" {
		t.Fatalf("the other vhost's queue was not kept: %+v", d.Queues)
	}
	settled := 0
	for _, e := range j.log() {
		if strings.HasPrefix(e, "settled ") {
			settled++
		}
	}
	// Three messages in q1, one held by the delayed exchange.
	if settled != 4 {
		t.Fatalf("settled %d messages in storage, want 4; log %v", settled, j.log())
	}
	sink.mu.Lock()
	cancelled := slices.Clone(sink.cancelled)
	sink.mu.Unlock()
	if !slices.Equal(cancelled, []string{"c1"}) {
		t.Fatalf("consumer not cancelled: %v", cancelled)
	}
	if found, _ := b.DeleteVHost("doomed"); found {
		t.Fatal("deleting it twice found it")
	}
	if _, ok := keep.Queue("kept"); !ok {
		t.Fatal("a queue of another vhost went too")
	}
}
