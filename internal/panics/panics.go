// Package panics holds the broker's policy for a panic in per-connection
// code, which the adapters apply where they recover one.
//
// A panic that unwinds only adapter code (parsing, encoding, a handler
// bug) is recovered: it is logged with its stack and closes only that
// connection. A panic that started inside the core (package broker) or in
// storage, or in adapter code the core called (a Sink's Deliver runs under
// the queue's lock), may have left a core lock held or the core's state
// half changed: recovering would leave a queue that every later caller
// waits on forever. Such a panic crashes the process instead, after it is
// logged: a crash loses nothing confirmed (the write-ahead log survives
// kill -9) and a supervisor restarts the broker, where a wedged queue would
// need an operator to notice.
package panics

import (
	"bytes"
	"fmt"
	"runtime/debug"

	"github.com/rs/zerolog"
)

// coreFrames are the function-name prefixes of code that may hold core
// locks or be midway through changing core state.
var coreFrames = [][]byte{
	[]byte("github.com/sluice-mq/sluice/broker."),
	[]byte("github.com/sluice-mq/sluice/storage."),
	[]byte("github.com/sluice-mq/sluice/storage/wal."),
}

// InCore reports whether stack (debug.Stack() taken while panicking, in
// the deferred function that recovers) has a core frame between the panic
// and the recovering function.
func InCore(stack []byte) bool {
	// The frames above the recovering function are the ones the panic
	// unwound: they come after "panic(" in the trace, the frames below it
	// (the adapter's serve loop) after that. A core frame anywhere after
	// the panic call, before the stack's end, is enough: the adapters
	// recover at the bottom of their goroutines, below any core call.
	i := bytes.Index(stack, []byte("panic("))
	if i < 0 {
		return false
	}
	for _, line := range bytes.Split(stack[i:], []byte("\n")) {
		for _, f := range coreFrames {
			if bytes.HasPrefix(line, f) {
				return true
			}
		}
	}
	return false
}

// Recovered applies the policy to p, a value recover() returned in a
// deferred function of a connection goroutine. It logs the panic with its
// stack; if the panic came through the core it crashes the process (it
// panics again with p), else it returns and the caller closes that
// connection only.
func Recovered(log *zerolog.Event, p any, what string) {
	stack := debug.Stack()
	if InCore(stack) {
		log.Str("panic", fmt.Sprint(p)).Str("stack", string(stack)).
			Msg(what + " panicked inside the broker's core; stopping the process (no confirmed message is lost)")
		panic(fmt.Sprintf("%v [re-raised: a panic inside the core may leave its locks held]", p))
	}
	log.Str("panic", fmt.Sprint(p)).Str("stack", string(stack)).Msg(what + " panicked; closing this connection only")
}
