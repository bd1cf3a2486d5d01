package wire

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

func TestTableRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   message.Table
	}{
		{"all types", sampleTable()},
		{"nil", nil},
		{"one", message.Table{"k": "v"}},
		{"extremes", message.Table{
			"minint64": int64(math.MinInt64), "maxuint32": uint32(math.MaxUint32), "nan": math.NaN(),
			"inf": float32(math.Inf(-1)), "negzero": math.Copysign(0, -1),
			"epoch": time.Unix(0, 0).UTC(), "before": time.Unix(-86400, 0).UTC(),
			"bigkey" + string(bytes.Repeat([]byte{'k'}, 249)): int8(1),
			"": "empty key", "utf8 ключ": []any{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EncodeTable(nil, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeTable(p)
			if err != nil {
				t.Fatal(err)
			}
			// Encoding is deterministic, so compare bytes (NaN != NaN).
			p2, err := EncodeTable(nil, got)
			if err != nil || !bytes.Equal(p, p2) {
				t.Fatalf("re-encoding differs: %v\n% x\n% x", err, p, p2)
			}
			if tt.name == "all types" && !reflect.DeepEqual(got, tt.in) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.in)
			}
			for i := 0; i < len(p); i++ {
				if _, err := DecodeTable(p[:i]); err == nil {
					t.Fatalf("prefix %d/%d decoded", i, len(p))
				}
			}
		})
	}
}

// TestTableWire pins the type octet and layout of every type, in the
// RabbitMQ / amqp091-go conventions.
func TestTableWire(t *testing.T) {
	tests := []struct {
		v    any
		wire []byte
		back any // decoded value when it differs from v
	}{
		{true, []byte{'t', 1}, nil},
		{false, []byte{'t', 0}, nil},
		{int8(-2), []byte{'b', 0xfe}, nil},
		{uint8(254), []byte{'B', 0xfe}, nil},
		{int16(-2), []byte{'s', 0xff, 0xfe}, nil},
		{uint16(65534), []byte{'u', 0xff, 0xfe}, nil},
		{int32(-2), []byte{'I', 0xff, 0xff, 0xff, 0xfe}, nil},
		{uint32(1), []byte{'i', 0, 0, 0, 1}, nil},
		{int64(-2), []byte{'l', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, nil},
		{int(5), []byte{'l', 0, 0, 0, 0, 0, 0, 0, 5}, int64(5)},
		{uint64(6), []byte{'l', 0, 0, 0, 0, 0, 0, 0, 6}, int64(6)},
		{float32(1), []byte{'f', 0x3f, 0x80, 0, 0}, nil},
		{float64(1), []byte{'d', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, nil},
		{message.Decimal{Scale: 3, Value: -1}, []byte{'D', 3, 0xff, 0xff, 0xff, 0xff}, nil},
		{"ab", []byte{'S', 0, 0, 0, 2, 'a', 'b'}, nil},
		{[]byte("ab"), []byte{'x', 0, 0, 0, 2, 'a', 'b'}, nil},
		{[]any{int8(1), nil}, []byte{'A', 0, 0, 0, 3, 'b', 1, 'V'}, nil},
		{time.Unix(258, 0).UTC(), []byte{'T', 0, 0, 0, 0, 0, 0, 1, 2}, nil},
		{message.Table{"a": nil}, []byte{'F', 0, 0, 0, 3, 1, 'a', 'V'}, nil},
		{map[string]any{"a": nil}, []byte{'F', 0, 0, 0, 3, 1, 'a', 'V'}, message.Table{"a": nil}},
		{nil, []byte{'V'}, nil},
	}
	for _, tt := range tests {
		want := append([]byte{0, 0, 0, byte(2 + len(tt.wire)), 1, 'k'}, tt.wire...)
		p, err := EncodeTable(nil, message.Table{"k": tt.v})
		if err != nil || !bytes.Equal(p, want) {
			t.Errorf("%T %v: % x, %v; want % x", tt.v, tt.v, p, err, want)
			continue
		}
		got, err := DecodeTable(p)
		back := tt.back
		if back == nil {
			back = tt.v
		}
		if err != nil || !reflect.DeepEqual(got["k"], back) {
			t.Errorf("%T %v: decoded %#v, %v", tt.v, tt.v, got["k"], err)
		}
	}
	// 'L' (unsigned 64-bit) decodes to int64 with the same bits.
	got, err := DecodeTable([]byte{0, 0, 0, 11, 1, 'k', 'L', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err != nil || got["k"] != int64(-1) {
		t.Fatalf("L: %#v %v", got, err)
	}
}

func TestTableSortedKeys(t *testing.T) {
	tab := message.Table{"b": int8(1), "a": int8(2), "c": message.Table{"z": nil, "y": nil}}
	first, _ := EncodeTable(nil, tab)
	for i := 0; i < 20; i++ {
		p, _ := EncodeTable(nil, tab)
		if !bytes.Equal(p, first) {
			t.Fatal("encoding not deterministic")
		}
	}
	want := []byte{0, 0, 0, 21, 1, 'a', 'b', 2, 1, 'b', 'b', 1, 1, 'c', 'F', 0, 0, 0, 6, 1, 'y', 'V', 1, 'z', 'V'}
	if !bytes.Equal(first, want) {
		t.Fatalf("% x\n% x", first, want)
	}
}

// nested returns a table nesting depth levels deep: the top table plus
// depth-1 alternating arrays and tables inside it.
func nested(depth int) message.Table {
	var v any = int8(1)
	for level := depth; level >= 2; level-- {
		if level%2 == 0 {
			v = []any{v}
		} else {
			v = message.Table{"t": v}
		}
	}
	return message.Table{"v": v}
}

func TestTableDepth(t *testing.T) {
	ok, _ := EncodeTable(nil, nested(MaxTableDepth))
	if _, err := DecodeTable(ok); err != nil {
		t.Fatalf("depth %d: %v", MaxTableDepth, err)
	}
	deep, err := EncodeTable(nil, nested(MaxTableDepth+1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeTable(deep)
	var e *Error
	if !errors.As(err, &e) || e.Code != SyntaxError {
		t.Fatalf("depth %d: %v", MaxTableDepth+1, err)
	}
	d := Decoder{MaxDepth: 40}
	d.Reset(deep)
	if _, err := d.ReadTable(); err != nil {
		t.Fatalf("MaxDepth 40: %v", err)
	}
	d = Decoder{MaxDepth: 2}
	d.Reset(ok)
	if _, err := d.ReadTable(); err == nil {
		t.Fatal("MaxDepth 2 accepted deep table")
	}
	// A method's table obeys MethodDecoder.MaxDepth.
	p, _ := EncodeMethod(nil, &QueueDeclare{Arguments: nested(3)})
	md := MethodDecoder{MaxDepth: 2}
	if _, err := md.Decode(p); err == nil {
		t.Fatal("MethodDecoder ignored MaxDepth")
	}
	md.MaxDepth = 3
	if _, err := md.Decode(p); err != nil {
		t.Fatal(err)
	}
}

func TestTableDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		code uint16
	}{
		{"length past end", []byte{0, 0, 0, 9, 1, 'k', 'V'}, FrameError},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 1, 'k', 'V'}, FrameError},
		{"key past table", []byte{0, 0, 0, 2, 5, 'k', 'V'}, FrameError},
		{"value past table", []byte{0, 0, 0, 3, 1, 'k', 'I', 0, 0, 0, 0}, FrameError},
		{"missing value", []byte{0, 0, 0, 2, 1, 'k'}, FrameError},
		{"unknown type", []byte{0, 0, 0, 3, 1, 'k', 'Z'}, SyntaxError},
		{"string past end", []byte{0, 0, 0, 7, 1, 'k', 'S', 0xff, 0, 0, 0}, FrameError},
		{"bytes past end", []byte{0, 0, 0, 7, 1, 'k', 'x', 0, 0, 0, 1}, FrameError},
		{"array past end", []byte{0, 0, 0, 7, 1, 'k', 'A', 0x7f, 0, 0, 0}, FrameError},
		{"nested past end", []byte{0, 0, 0, 7, 1, 'k', 'F', 0, 0, 0, 1}, FrameError},
		{"array elem past array", []byte{0, 0, 0, 9, 1, 'k', 'A', 0, 0, 0, 1, 'b', 1}, FrameError},
		{"trailing", []byte{0, 0, 0, 0, 0}, FrameError},
	}
	for _, tt := range tests {
		_, err := DecodeTable(tt.p)
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code {
			t.Errorf("%s: %v, want code %d", tt.name, err, tt.code)
		}
	}
}

func TestTableEncodeErrors(t *testing.T) {
	cyclic := message.Table{}
	cyclic["self"] = cyclic
	arr := []any{nil}
	arr[0] = arr
	tests := []struct {
		name string
		t    message.Table
	}{
		{"unsupported type", message.Table{"k": struct{}{}}},
		{"uint64 overflow", message.Table{"k": uint64(math.MaxUint64)}},
		{"long key", message.Table{string(make([]byte, 256)): nil}},
		{"cyclic table", cyclic},
		{"cyclic array", message.Table{"a": arr}},
		{"nested unsupported", message.Table{"a": []any{complex(1, 2)}}},
	}
	for _, tt := range tests {
		if _, err := EncodeTable(nil, tt.t); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	// The Encoder's key stack is left clean after an error.
	var e Encoder
	e.WriteTable(message.Table{"k": struct{}{}, "j": message.Table{"x": 1}})
	if e.Err() == nil || len(e.keys) != 0 {
		t.Fatalf("err %v, keys %v", e.Err(), e.keys)
	}
}

// TestHostileTableAllocation checks that lengths lying about the data do not
// cause allocations beyond what the input can justify.
func TestHostileTableAllocation(t *testing.T) {
	inputs := [][]byte{
		{0xff, 0xff, 0xff, 0xff},
		{0, 0, 0, 9, 1, 'k', 'S', 0xff, 0xff, 0xff, 0xff},
		{0, 0, 0, 9, 1, 'k', 'x', 0xff, 0xff, 0xff, 0xff},
		{0, 0, 0, 9, 1, 'k', 'A', 0xff, 0xff, 0xff, 0xff},
	}
	for _, p := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < 100; i++ {
			DecodeTable(p)
		}
		runtime.ReadMemStats(&after)
		if perRun := (after.TotalAlloc - before.TotalAlloc) / 100; perRun > 1024 {
			t.Errorf("% x: %d bytes allocated per decode", p, perRun)
		}
	}
}

func TestTableAllocsNoValues(t *testing.T) {
	// An absent or empty table allocates nothing.
	p := []byte{0, 0, 0, 0}
	if n := testing.AllocsPerRun(100, func() { DecodeTable(p) }); n != 0 {
		t.Fatalf("%v allocs for an empty table", n)
	}
	var e Encoder
	tab := message.Table{"b": int32(1), "a": "x", "c": message.Table{"d": true}}
	e.WriteTable(tab)
	if n := testing.AllocsPerRun(100, func() { e.Reset(); e.WriteTable(tab) }); n != 0 {
		t.Fatalf("%v allocs encoding a table with a warm encoder", n)
	}
}
