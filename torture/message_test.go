package torture

import (
	"bytes"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// key255 is the 255-byte routing key t.plain2 is bound to on t.direct.
var key255 = strings.Repeat("k", 200) + strings.Repeat("0123456789", 5) + "abcde"

// body is message id's body: bytes derived from the id, so that damage
// anywhere in it shows.
func body(id int64, size int) []byte {
	b := make([]byte, size)
	x := uint64(id)*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// prop255 is a 255-byte short string for property p of message id.
func prop255(id int64, p string) string {
	s := fmt.Sprintf("%s-%d-", p, id)
	return s + strings.Repeat(string(rune('a'+len(p)%26)), 255-len(s))
}

func bigHeaderValue(id int64, i int) any {
	switch i % 4 {
	case 0:
		return int64(id)*1000 + int64(i)
	case 1:
		return fmt.Sprintf("v%d-%d", id, i)
	case 2:
		return amqp.Table{"n": int32(i), "s": fmt.Sprintf("%d", id)}
	default:
		return []any{int32(i), fmt.Sprintf("a%d", id)}
	}
}

func bigString(id int64, n int) string {
	b := body(id+7, n)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b)
}

// bodySize draws a body size: mostly small, some larger than a 64 KiB
// segment.
func bodySize(rng *rand.Rand) int {
	switch p := rng.Intn(100); {
	case p < 65:
		return rng.Intn(512)
	case p < 88:
		return 512 + rng.Intn(8<<10)
	case p < 98:
		return 8<<10 + rng.Intn(40<<10)
	default:
		return 64<<10 + rng.Intn(256<<10)
	}
}

// amqpPublishing builds g's publishing (g.id set).
func amqpPublishing(g *msg) amqp.Publishing {
	p := amqp.Publishing{Headers: amqp.Table{"t-id": strconv.FormatInt(g.id, 10)}, Body: body(g.id, g.size),
		MessageId: "m" + strconv.FormatInt(g.id, 10)}
	if g.persistent {
		p.DeliveryMode = amqp.Persistent
	}
	if g.longProps {
		p.MessageId = prop255(g.id, "mid")
		p.CorrelationId = prop255(g.id, "cid")
		p.ReplyTo = prop255(g.id, "reply")
		p.Type = prop255(g.id, "type")
		p.AppId = prop255(g.id, "app")
		p.ContentType = prop255(g.id, "ct")
		p.ContentEncoding = prop255(g.id, "ce")
	}
	for i := 0; i < g.bigHeaders; i++ {
		p.Headers[fmt.Sprintf("h%03d", i)] = bigHeaderValue(g.id, i)
	}
	if g.bigStr > 0 {
		p.Headers["h-long"] = bigString(g.id, g.bigStr)
	}
	if g.dedupID != "" {
		p.Headers["x-deduplication-header"] = g.dedupID
	}
	if g.xDelay {
		p.Headers["x-delay"] = int64(g.delay / time.Millisecond)
	}
	if g.expiration > 0 {
		p.Expiration = strconv.FormatInt(int64(g.expiration/time.Millisecond), 10)
	}
	return p
}

// checkDelivery compares what a delivery carries with what was published;
// it returns a description of the damage, or "".
func checkDelivery(g *msg, loc string, d *amqp.Delivery, dead bool) string {
	var bad []string
	if len(d.Body) != g.size {
		bad = append(bad, fmt.Sprintf("body is %d bytes, published %d", len(d.Body), g.size))
	} else if !bytes.Equal(d.Body, body(g.id, g.size)) {
		bad = append(bad, "body bytes differ")
	}
	if g.viaStomp {
		return strings.Join(bad, "; ")
	}
	if !dead {
		wantX, wantKey := g.exchange, g.key
		if d.Exchange != wantX || d.RoutingKey != wantKey {
			bad = append(bad, fmt.Sprintf("exchange/key %q/%.30q (%d bytes), published %q/%.30q (%d bytes)",
				d.Exchange, d.RoutingKey, len(d.RoutingKey), wantX, wantKey, len(wantKey)))
		}
	}
	if g.persistent != (d.DeliveryMode == amqp.Persistent) {
		bad = append(bad, fmt.Sprintf("delivery mode %d", d.DeliveryMode))
	}
	if g.longProps {
		for _, pc := range []struct{ name, got string }{{"mid", d.MessageId}, {"cid", d.CorrelationId}, {"reply", d.ReplyTo},
			{"type", d.Type}, {"app", d.AppId}, {"ct", d.ContentType}, {"ce", d.ContentEncoding}} {
			if want := prop255(g.id, pc.name); pc.got != want {
				bad = append(bad, fmt.Sprintf("property %s is %d bytes %.40q, published 255 bytes", pc.name, len(pc.got), pc.got))
			}
		}
	} else if d.MessageId != "m"+strconv.FormatInt(g.id, 10) {
		bad = append(bad, fmt.Sprintf("message-id %.40q", d.MessageId))
	}
	for i := 0; i < g.bigHeaders; i++ {
		k := fmt.Sprintf("h%03d", i)
		if got, want := fmt.Sprint(d.Headers[k]), fmt.Sprint(bigHeaderValue(g.id, i)); got != want {
			bad = append(bad, fmt.Sprintf("header %s is %.40s, published %.40s", k, got, want))
			break
		}
	}
	if g.bigStr > 0 {
		if s, _ := d.Headers["h-long"].(string); s != bigString(g.id, g.bigStr) {
			bad = append(bad, fmt.Sprintf("header h-long is %d bytes, published %d", len(s), g.bigStr))
		}
	}
	if g.dedupID != "" && fmt.Sprint(d.Headers["x-deduplication-header"]) != g.dedupID {
		bad = append(bad, "x-deduplication-header differs")
	}
	return strings.Join(bad, "; ")
}
