package stomp

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// FuzzFrameHeaders takes the frames a peer sends (parsed by the frame
// codec, whose own target is frame.FuzzReadFrame) through what the
// adapter makes of their headers: the message a SEND becomes
// (buildMessage), the queue arguments of a SUBSCRIBE (queueArgs) and the
// destination (parseDestination). Never a panic; the body and the user
// headers arrive unchanged (the first of repeated ones); mapping a frame
// allocates a bounded amount; a frame that passes the short-string checks
// (checkSendHeaders, destination.checkNames) makes no AMQP short string
// longer than 255 bytes.
func FuzzFrameHeaders(f *testing.F) {
	f.Add([]byte("SEND\ndestination:/queue/a\ncontent-type:text/plain\npersistent:true\npriority:5\n"+
		"correlation-id:c1\nreply-to:/temp-queue/r\nexpiration:60000\nx-custom:v\nx-custom:second\n\nhello\x00"), uint8(2))
	f.Add([]byte("SEND\ndestination:/exchange/amq.topic/a.b%2Fc\nmessage-id:m\ntimestamp:1700000000\ntype:t\n"+
		"user-id:guest\napp-id:app\ncontent-encoding:gzip\ncontent-length:3\n\nabc\x00"), uint8(1))
	f.Add([]byte("SUBSCRIBE\nid:0\ndestination:/topic/x.*\nx-message-ttl:1000\nx-max-length:10\nx-queue-type:quorum\n"+
		"x-single-active-consumer:true\nx-dead-letter-exchange:dlx\nx-max-priority:nine\n\n\x00"), uint8(2))
	f.Add([]byte("SEND\ndestination: /amq/queue/q\npriority: 300\npersistent:  true\n\n\x00"), uint8(0))
	f.Add([]byte("SEND\ndestination:/reply-queue/amq.gen-x/y\nheader\\cwith\\ncolon:v\\\\\n\n\x00"), uint8(2))
	f.Add([]byte("SEND\ndestination:/exchange/"+strings.Repeat("x", 255)+"/"+strings.Repeat("k", 256)+
		"\ncontent-type: "+strings.Repeat("t", 255)+"\n"+strings.Repeat("h", 256)+":v\n\n\x00"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, version uint8) {
		v := frame.Version(version % 3)
		r := frame.NewReader(bytes.NewReader(data), frame.Limits{MaxFrameSize: 16 << 10, MaxHeaders: 64, MaxHeaderLine: 2048, MaxBody: 8 << 10})
		r.SetVersion(v)
		var in interner
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				return
			}
			var msg *message.Message
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			msg = buildMessage(fr, v == frame.V10, &in)
			_, _ = queueArgs(fr)
			if d, ok := fr.GetString(hDestination); ok {
				if d, err := parseDestination(d); err == nil && d.checkNames() == nil {
					if ex, key := d.routing(); len(ex) > maxShortString || len(key) > maxShortString {
						t.Fatalf("destination passed with exchange %d bytes, key %d bytes", len(ex), len(key))
					}
				}
			}
			if checkSendHeaders(fr, v == frame.V10) == nil {
				checkShortStrings(t, msg)
			}
			runtime.ReadMemStats(&after)
			if got, size := after.TotalAlloc-before.TotalAlloc, frameSize(fr); got > uint64(size)*64+64<<10 {
				t.Fatalf("mapping a frame of %d bytes allocated %d bytes", size, got)
			}
			if !bytes.Equal(msg.Body, fr.Body) {
				t.Fatalf("body %q became %q", fr.Body, msg.Body)
			}
			seen := map[string]bool{}
			for _, h := range fr.Headers {
				name := string(h.Name)
				if controlHeader(h.Name) || propertyHeader(h.Name) || seen[name] {
					continue
				}
				seen[name] = true
				want := string(trimValue(h.Value, v == frame.V10))
				if got, ok := msg.Properties.Headers[name].(string); !ok || got != want {
					t.Fatalf("header %q: %q became %#v", name, want, msg.Properties.Headers[name])
				}
			}
			if len(msg.Properties.Headers) != len(seen) {
				t.Fatalf("%d user headers became %d: %v", len(seen), len(msg.Properties.Headers), msg.Properties.Headers)
			}
		}
	})
}

// checkShortStrings fails t if a property or header table key of m is
// longer than an AMQP short string.
func checkShortStrings(t *testing.T, m *message.Message) {
	t.Helper()
	p := &m.Properties
	for name, s := range map[string]string{hContentType: p.ContentType, hContentEncoding: p.ContentEncoding,
		hCorrelationID: p.CorrelationID, hReplyTo: p.ReplyTo, hExpiration: p.Expiration, hAMQPMessageID: p.MessageID,
		hType: p.Type, hUserID: p.UserID, hAppID: p.AppID} {
		if len(s) > maxShortString {
			t.Fatalf("%s of %d bytes passed the checks", name, len(s))
		}
	}
	for k := range p.Headers {
		if len(k) > maxShortString {
			t.Fatalf("header name of %d bytes passed the checks", len(k))
		}
	}
}

func frameSize(f *frame.Frame) int {
	n := len(f.Body) + 16
	for _, h := range f.Headers {
		n += len(h.Name) + len(h.Value) + 2
	}
	return n
}
