package wire

import (
	"reflect"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// allMethods returns a zero value of every generated method struct.
func allMethods() []Method {
	var ms []Method
	for c := 0; c < 256; c++ {
		for m := 0; m < 256; m++ {
			if x := NewMethod(uint16(c), uint16(m)); x != nil {
				ms = append(ms, x)
			}
		}
	}
	return ms
}

// sampleTable holds a value of every Go type a decoded table can contain,
// nested tables and arrays included, so it survives a round trip unchanged.
func sampleTable() message.Table {
	return message.Table{
		"bool":    true,
		"false":   false,
		"int8":    int8(-8),
		"uint8":   uint8(200),
		"int16":   int16(-1600),
		"uint16":  uint16(60000),
		"int32":   int32(-32000000),
		"uint32":  uint32(4000000000),
		"int64":   int64(-1 << 40),
		"float32": float32(1.5),
		"float64": 2.25,
		"decimal": message.Decimal{Scale: 2, Value: -12345},
		"string":  "héllo wörld",
		"empty":   "",
		"bytes":   []byte{0, 1, 2, 0xff},
		"array":   []any{int32(1), "two", []any{true, nil}, message.Table{"x": nil}},
		"time":    time.Unix(1700000000, 0).UTC(),
		"table":   message.Table{"nested": message.Table{"deep": int64(1)}, "n": int32(7)},
		"void":    nil,
	}
}

// fillMethod sets every field of the struct m points to a distinct,
// non-zero value derived from seed.
func fillMethod(m Method, seed int) {
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		n := seed*31 + i + 1
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool((seed>>uint(i%8))&1 == 1)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(n) * 0x0101010101010101) // truncated to the field size
		case reflect.String:
			f.SetString("s" + strconv.Itoa(n) + "-" + v.Type().Field(i).Name)
		case reflect.Map:
			t := sampleTable()
			t["seed"] = int64(seed)
			f.Set(reflect.ValueOf(t))
		default:
			panic("unhandled field kind " + f.Kind().String())
		}
	}
}
