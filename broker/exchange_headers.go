package broker

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// headersMatch is a headers-exchange binding's x-match rule.
type headersMatch uint8

const (
	matchAll headersMatch = iota
	matchAny
	matchAllWithX
	matchAnyWithX
)

func parseXMatch(args message.Table) (headersMatch, error) {
	v, ok := args["x-match"]
	if !ok {
		return matchAll, nil
	}
	s, _ := message.String(v)
	switch s {
	case "all":
		return matchAll, nil
	case "any":
		return matchAny, nil
	case "all-with-x":
		return matchAllWithX, nil
	case "any-with-x":
		return matchAnyWithX, nil
	}
	return 0, errorf(CodePreconditionFailed, "Invalid x-match field value <<\"%s\">>; expected all, any, all-with-x, or any-with-x", valueString(v))
}

// headersRouter checks every binding's arguments against the message
// headers. Headers exchanges are rarely large; a linear scan is what RabbitMQ
// does too.
type headersRouter struct{ all []*binding }

func (r *headersRouter) add(b *binding)    { r.all = append(r.all, b) }
func (r *headersRouter) remove(b *binding) { r.all = removeBinding(r.all, b) }
func (r *headersRouter) route(_ string, headers message.Table, rs *routeState) {
	for _, b := range r.all {
		if headersMatches(b.match, b.args, headers) {
			rs.add(b)
		}
	}
}

// headersMatches applies one binding. Binding arguments whose names start
// with "x-" take part only in the -with-x modes; x-match never does. A void
// binding value matches any value of a present header.
func headersMatches(mode headersMatch, args, headers message.Table) bool {
	withX := mode == matchAllWithX || mode == matchAnyWithX
	all := mode == matchAll || mode == matchAllWithX
	for k, want := range args {
		if k == "x-match" || (!withX && strings.HasPrefix(k, "x-")) {
			continue
		}
		got, present := headers[k]
		ok := present && (want == nil || valuesEqual(want, got))
		if all && !ok {
			return false
		}
		if !all && ok {
			return true
		}
	}
	if all {
		return true
	}
	return false
}

// valuesEqual compares two field-table values by meaning: integers of any
// width compare by value, as do strings and byte arrays.
func valuesEqual(a, b any) bool {
	if ai, ok := message.Int(a); ok {
		bi, ok := message.Int(b)
		return ok && ai == bi
	}
	if as, ok := message.String(a); ok {
		bs, ok := message.String(b)
		return ok && as == bs
	}
	switch x := a.(type) {
	case float32:
		return floatEqual(float64(x), b)
	case float64:
		return floatEqual(x, b)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return reflect.DeepEqual(a, b)
}

func floatEqual(x float64, b any) bool {
	switch y := b.(type) {
	case float32:
		return x == float64(y)
	case float64:
		return x == y || (math.IsNaN(x) && math.IsNaN(y))
	}
	return false
}

// valueString renders a value the way RabbitMQ's error texts quote them.
func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return fmt.Sprint(x.Unix())
	case message.Table:
		return canonicalArgs(x)
	}
	return fmt.Sprint(v)
}
