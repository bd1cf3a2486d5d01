package broker

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// argNames are the arguments the broker reads, so that generated tables
// mostly hit them rather than names it ignores.
var argNames = append([]string{"x-queue-mode", "x-cache-size", "x-cache-ttl", "x-match", "x-unknown"}, equivalentArgs...)

// tableFrom builds a table from fuzz bytes: per entry one byte picks the
// name (an argument name, or a name taken from the input), one the value's
// type, then the value's bytes. Every type a codec can decode occurs,
// nested tables and arrays included.
func tableFrom(data []byte, depth int) (message.Table, []byte) {
	return tableOf(data, depth, argNames)
}

// tableOf is tableFrom with names to pick from.
func tableOf(data []byte, depth int, names []string) (message.Table, []byte) {
	t := message.Table{}
	for len(data) >= 2 && len(t) < 16 {
		var name string
		if i := int(data[0]); i < len(names) {
			name = names[i]
			data = data[1:]
		} else {
			n := min(int(data[0])-len(names), len(data)-1)
			name, data = string(data[1:1+n]), data[1+n:]
		}
		var v any
		v, data = valueOf(data, depth, names)
		t[name] = v
	}
	return t, data
}

func valueOf(data []byte, depth int, names []string) (any, []byte) {
	if len(data) == 0 {
		return nil, data
	}
	kind, data := data[0], data[1:]
	word := func(n int) uint64 {
		var x uint64
		for i := 0; i < n && len(data) > 0; i++ {
			x = x<<8 | uint64(data[0])
			data = data[1:]
		}
		return x
	}
	switch kind % 17 {
	case 0:
		return nil, data
	case 1:
		return word(1)&1 == 1, data
	case 2:
		return int8(word(1)), data
	case 3:
		return uint8(word(1)), data
	case 4:
		return int16(word(2)), data
	case 5:
		return uint16(word(2)), data
	case 6:
		return int32(word(4)), data
	case 7:
		return uint32(word(4)), data
	case 8:
		return int64(word(8)), data
	case 9:
		return word(8), data // uint64: not on the AMQP wire, but a Table may hold it
	case 10:
		return math.Float32frombits(uint32(word(4))), data
	case 11:
		return math.Float64frombits(word(8)), data
	case 12:
		return message.Decimal{Scale: uint8(word(1)), Value: int32(word(4))}, data
	case 13, 14:
		n := min(int(word(1)), len(data))
		s := data[:n]
		data = data[n:]
		if kind%17 == 13 {
			return string(s), data
		}
		return []byte(s), data
	case 15:
		return time.Unix(int64(word(8)), 0).UTC(), data
	default:
		if depth > 3 {
			return nil, data
		}
		if word(1)&1 == 0 {
			return tableOf(data, depth+1, names)
		}
		var a []any
		for i := 0; i < 4 && len(data) > 0; i++ {
			var v any
			v, data = valueOf(data, depth+1, names)
			a = append(a, v)
		}
		return a, data
	}
}

// FuzzQueueArgs declares queues with arbitrary arguments (as AMQP
// queue.declare or STOMP SUBSCRIBE headers bring them) and binds headers
// exchanges with them: parseQueueArgs and parseXMatch give a config or a
// PRECONDITION_FAILED, never a panic; arguments that parse are
// equivalent to themselves on a redeclare; a headers binding matches or
// not without panicking on any header values.
func FuzzQueueArgs(f *testing.F) {
	f.Add([]byte{0, 13, 4, 'l', 'a', 'z', 'y'})
	f.Add([]byte{5, 6, 0, 0, 0x27, 0x10, 6, 8, 0, 0, 0, 0, 0, 0, 0, 5, 8, 13, 3, 'd', 'l', 'x'})
	f.Add([]byte{3, 13, 3, 'a', 'n', 'y', 40, 'k', 13, 1, 'v'})
	f.Add([]byte{20, 16, 1, 6, 13, 1, 'x', 11, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		args, rest := tableFrom(data, 0)
		cfg, err := parseQueueArgs("q", "/", args)
		var e *Error
		if err != nil {
			if !errors.As(err, &e) || e.Code != CodePreconditionFailed {
				t.Fatalf("%v: %T %v, want PRECONDITION_FAILED", args, err, err)
			}
		} else {
			if err := argsEquivalent("queue", "q", "/", args, args, equivalentArgs); err != nil {
				t.Fatalf("%v is not equivalent to itself: %v", args, err)
			}
			if cfg.maxLength < -1 || cfg.maxLengthBytes < -1 || cfg.deliveryLimit < -1 || cfg.cacheSize < 0 || cfg.maxMsgSize < 0 {
				t.Fatalf("%v parsed as %+v", args, cfg)
			}
		}
		mode, err := parseXMatch(args)
		if err != nil {
			if !errors.As(err, &e) || e.Code != CodePreconditionFailed {
				t.Fatalf("x-match %v: %T %v", args["x-match"], err, err)
			}
			return
		}
		headers, _ := tableFrom(rest, 0)
		_ = headersMatches(mode, args, headers)
	})
}
