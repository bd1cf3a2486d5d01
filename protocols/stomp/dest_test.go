package stomp

import (
	"crypto/md5"
	"encoding/base64"
	"testing"
)

func TestStompParseDestination(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    destination
		err     string // title of the ERROR, "" for none
		content string
	}{
		{in: "/queue/a", want: destination{kind: destQueue, name: "a"}},
		{in: "bare", want: destination{kind: destQueue, name: "bare"}},
		{in: "a%2Fb", want: destination{kind: destQueue, name: "a/b"}},
		{in: "/queue/a%2Fb", want: destination{kind: destQueue, name: "a/b"}},
		{in: "/queue/a.b-c_d:e", want: destination{kind: destQueue, name: "a.b-c_d:e"}},
		{in: "/topic/x.*.#", want: destination{kind: destTopic, name: "x.*.#"}},
		{in: "/exchange/ex", want: destination{kind: destExchange, name: "ex"}},
		{in: "/exchange/ex/key", want: destination{kind: destExchange, name: "ex", pattern: "key", hasPattern: true}},
		{in: "/exchange/ex/", want: destination{kind: destExchange, name: "ex", pattern: "", hasPattern: true}},
		{in: "/exchange/e%2Fx/k%2Fy", want: destination{kind: destExchange, name: "e/x", pattern: "k/y", hasPattern: true}},
		{in: "/amq/queue/q", want: destination{kind: destAmqQueue, name: "q"}},
		{in: "/temp-queue/t", want: destination{kind: destTempQueue, name: "t"}},
		{in: "/reply-queue/amq.gen-x", want: destination{kind: destReplyQueue, name: "amq.gen-x"}},
		{in: "/reply-queue/a/b", want: destination{kind: destReplyQueue, name: "a/b"}},

		{in: "/queue", err: "Invalid destination", content: "'' is not a valid queue destination\n"},
		{in: "/queue/", err: "Invalid destination", content: "'/' is not a valid queue destination\n"},
		{in: "/queue/a/b", err: "Invalid destination", content: "'/a/b' is not a valid queue destination\n"},
		{in: "/topic/", err: "Invalid destination"},
		{in: "/exchange", err: "Invalid destination"},
		{in: "/exchange//k", err: "Invalid destination"},
		{in: "/exchange/a/b/c", err: "Invalid destination"},
		{in: "/amq/queue", err: "Invalid destination"},
		{in: "/amq/queue/a/b", err: "Invalid destination"},
		{in: "/reply-queue/", err: "Invalid destination"},
		{in: "/reply-queue", err: "Unknown destination"},
		{in: "/amq/other/x", err: "Unknown destination"},
		{in: "/nowhere/x", err: "Unknown destination"},
		{in: "rel/ative", err: "Unknown destination"},
		{in: "", want: destination{kind: destQueue, name: ""}},
	} {
		got, err := parseDestination(tc.in)
		if tc.err != "" {
			de, ok := err.(*destError)
			if !ok {
				t.Errorf("%q: got %+v, %v; want error %s", tc.in, got, err, tc.err)
				continue
			}
			if de.title() != tc.err || (tc.content != "" && de.Error() != tc.content) {
				t.Errorf("%q: error %s %q, want %s %q", tc.in, de.title(), de.Error(), tc.err, tc.content)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestStompRouting(t *testing.T) {
	for _, tc := range []struct{ in, exchange, key string }{
		{"/queue/q", "", "q"},
		{"/amq/queue/q", "", "q"},
		{"/reply-queue/r", "", "r"},
		{"/topic/a.b", "amq.topic", "a.b"},
		{"/exchange/x", "x", ""},
		{"/exchange/x/k", "x", "k"},
	} {
		d, err := parseDestination(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if x, k := d.routing(); x != tc.exchange || k != tc.key {
			t.Errorf("%s: routes to %q %q, want %q %q", tc.in, x, k, tc.exchange, tc.key)
		}
	}
}

func TestStompAppendDestination(t *testing.T) {
	for _, tc := range []struct{ exchange, key, want string }{
		{"", "q", "/queue/q"},
		{"", "a/b%c", "/queue/a%2Fb%25c"},
		{"amq.topic", "x.y", "/topic/x.y"},
		{"logs", "", "/exchange/logs"},
		{"logs", "err", "/exchange/logs/err"},
		{"l/s", "k/y", "/exchange/l%2Fs/k%2Fy"},
		{"", "caf\xc3\xa9\x01\x7f", "/queue/caf%C3%A9%01\x7f"},
	} {
		if got := string(appendDestination(nil, tc.exchange, tc.key)); got != tc.want {
			t.Errorf("%q %q: %q, want %q", tc.exchange, tc.key, got, tc.want)
		}
	}
}

func TestStompSubscriptionQueueName(t *testing.T) {
	// term_to_binary({"durable.key","dsub"}), written out by hand.
	term := append([]byte{131, 104, 2, 107, 0, 11}, "durable.key"...)
	term = append(term, 107, 0, 4)
	term = append(term, "dsub"...)
	sum := md5.Sum(term)
	want := "stomp-subscription-" + base64.RawURLEncoding.EncodeToString(sum[:])
	if got := subscriptionQueueName("durable.key", "dsub"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// {[], "id"}: an empty list is NIL_EXT.
	term = []byte{131, 104, 2, 106, 107, 0, 2, 'i', 'd'}
	sum = md5.Sum(term)
	want = "stomp-subscription-" + base64.RawURLEncoding.EncodeToString(sum[:])
	if got := subscriptionQueueName("", "id"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if subscriptionQueueName("a", "b") == subscriptionQueueName("b", "a") {
		t.Fatal("name and id are not kept apart")
	}
}

func TestStompIsDestPrefixed(t *testing.T) {
	for in, want := range map[string]bool{
		"/queue/a": true, "/topic/a": true, "/exchange/x": true, "/amq/queue/q": true,
		"/reply-queue/r": true, "amq.gen-x": false, "/temp-queue/t": false, "": false,
	} {
		if got := isDestPrefixed(in); got != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}
