package message

import (
	"fmt"
	"time"
)

// Table is an AMQP field table. Values are one of:
//
//	nil                  void ('V')
//	bool                 't'
//	int8, uint8          'b', 'B'
//	int16, uint16        's', 'u'
//	int32, uint32        'I', 'i'
//	int64                'l' (and 'L' as decoded by RabbitMQ clients)
//	float32, float64     'f', 'd'
//	Decimal              'D'
//	string               'S' (long string)
//	[]byte               'x' (byte array)
//	[]any                'A' (field array, same value types)
//	time.Time            'T' (seconds)
//	Table                'F' (nested table)
//
// Codecs decode into exactly these types and encode from them, so a table
// passes through the broker unchanged.
type Table map[string]any

// Decimal is an AMQP decimal value: Value / 10^Scale.
type Decimal struct {
	Scale uint8
	Value int32
}

// Int returns v as an int64 when it holds any integer type.
func Int(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case int16:
		return int64(n), true
	case uint16:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case uint64:
		if n > 1<<63-1 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// String returns v as a string when it is a string or a byte array.
func String(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	}
	return "", false
}

// TypeName names v's AMQP type the way RabbitMQ does in its error texts
// ("signedint", "longstr", ...).
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "void"
	case bool:
		return "bool"
	case int8:
		return "byte"
	case uint8:
		return "unsignedbyte"
	case int16:
		return "short"
	case uint16:
		return "unsignedshort"
	case int32:
		return "signedint"
	case uint32:
		return "unsignedint"
	case int64, int, uint64:
		return "long"
	case float32:
		return "float"
	case float64:
		return "double"
	case Decimal:
		return "decimal"
	case string:
		return "longstr"
	case []byte:
		return "binary"
	case []any:
		return "array"
	case time.Time:
		return "timestamp"
	case Table:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// Clone returns a deep copy of t, for the broker's rare writes to headers
// (dead-lettering adds x-death) on a message that is otherwise shared.
func (t Table) Clone() Table {
	if t == nil {
		return nil
	}
	c := make(Table, len(t))
	for k, v := range t {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case Table:
		return x.Clone()
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneValue(e)
		}
		return c
	case []byte:
		return append([]byte(nil), x...)
	}
	return v
}
