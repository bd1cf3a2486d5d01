package broker

import (
	"sort"
	"strings"
	"sync"
)

// Alarms are the broker's resource alarms (memory, disk). While any is on,
// publishers are held back — AMQP connections get connection.blocked and
// stop being read at their next publish, STOMP connections stop being read
// at their next SEND — and consumers go on draining, as in RabbitMQ.
type Alarms struct {
	mu     sync.Mutex
	on     map[string]bool
	clear  chan struct{} // closed while no alarm is on
	notify []func(reason string)
}

func newAlarms() *Alarms {
	a := &Alarms{on: map[string]bool{}, clear: make(chan struct{})}
	close(a.clear)
	return a
}

// Set turns alarm name on or off.
func (a *Alarms) Set(name string, on bool) {
	a.mu.Lock()
	was := len(a.on) > 0
	if on {
		a.on[name] = true
	} else {
		delete(a.on, name)
	}
	now := len(a.on) > 0
	reason := a.reasonLocked()
	if now && !was {
		a.clear = make(chan struct{})
	} else if !now && was {
		close(a.clear)
	}
	fns := append([]func(string){}, a.notify...)
	a.mu.Unlock()
	for _, fn := range fns {
		fn(reason)
	}
}

func (a *Alarms) reasonLocked() string {
	names := make([]string, 0, len(a.on))
	for n := range a.on {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " & ")
}

// Reason is "" when no alarm is on, else the alarms' names ("memory").
func (a *Alarms) Reason() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reasonLocked()
}

// OnChange registers fn to hear the reason whenever an alarm changes.
func (a *Alarms) OnChange(fn func(reason string)) {
	a.mu.Lock()
	a.notify = append(a.notify, fn)
	a.mu.Unlock()
}

// Wait blocks while an alarm is on, or until done is closed.
func (a *Alarms) Wait(done <-chan struct{}) {
	a.mu.Lock()
	c := a.clear
	a.mu.Unlock()
	select {
	case <-c:
	case <-done:
	}
}
