package definitions

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/broker/message"
)

// Arguments travel as JSON in the document and as AMQP field tables in
// the broker. The mapping is RabbitMQ's (rabbit_misc:to_amqp_table and
// amqp_table): a whole number is a long, any other number a double, a
// string a long string, an object a table, a list an array, null void.

// maxDepth bounds the nesting of argument values, so that a hostile
// document cannot make the conversion (or the broker's table code)
// recurse without end.
const maxDepth = 32

// TableFromJSON turns a JSON object decoded with UseNumber into an AMQP
// table.
func TableFromJSON(m map[string]any) (message.Table, error) {
	v, err := amqpValue(m, 0)
	if err != nil {
		return nil, err
	}
	return v.(message.Table), nil
}

func amqpValue(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s is out of range", x)
		}
		return f, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		return x, nil
	case map[string]any:
		t := make(message.Table, len(x))
		for k, e := range x {
			c, err := amqpValue(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			t[k] = c
		}
		return t, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := amqpValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}

// TableToJSON turns an AMQP table into JSON values as RabbitMQ shows
// them: byte arrays as strings (base64 when they are not UTF-8, which
// JSON cannot carry), timestamps as seconds, decimals as numbers.
func TableToJSON(t message.Table) map[string]any {
	out := make(map[string]any, len(t))
	for k, v := range t {
		out[k] = jsonValue(v)
	}
	return out
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case message.Table:
		return TableToJSON(x)
	case map[string]any:
		return TableToJSON(message.Table(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		return x.Unix()
	case message.Decimal:
		return float64(x.Value) / math.Pow10(int(x.Scale))
	case float32:
		return float64(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil // JSON has no such numbers
		}
		return x
	}
	if n, ok := message.Int(v); ok {
		return n
	}
	return v
}

// plainJSON turns json.Numbers in a decoded object into int64 (whole
// numbers) or float64, the values a policy definition holds.
func plainJSON(m map[string]any) (map[string]any, error) {
	v, err := amqpValue(m, 0)
	if err != nil {
		return nil, err
	}
	return map[string]any(v.(message.Table)), nil
}
