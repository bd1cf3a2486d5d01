package conformance

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-stomp/stomp/v3"
	"github.com/sluice-mq/sluice/brokertest"
	"github.com/sluice-mq/sluice/server"
)

type wsClient struct {
	t   *testing.T
	c   *websocket.Conn
	ctx context.Context
}

func wsDial(t *testing.T, b *brokertest.Broker, subprotocols ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws://"+b.HTTPAddr()+"/ws", &websocket.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c, ctx: ctx}
}

// wsDialURL opens STOMP over WebSocket at url (ws:// or wss://, through
// client when not nil) offering v12.stomp.
func wsDialURL(t *testing.T, ctx context.Context, url string, client *http.Client) *wsClient {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		t.Fatalf("websocket dial %s: %v", url, err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c, ctx: ctx}
}

// connectGuest sends CONNECT as guest and wants CONNECTED.
func (w *wsClient) connectGuest() {
	w.t.Helper()
	w.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
	if _, f := w.next(); !strings.HasPrefix(f, "CONNECTED") {
		w.t.Fatalf("CONNECT: %q", f)
	}
}

func (w *wsClient) send(s string) {
	w.t.Helper()
	if err := w.c.Write(w.ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatalf("websocket write: %v", err)
	}
}

// next reads one message that is not a heart-beat.
func (w *wsClient) next() (websocket.MessageType, string) {
	w.t.Helper()
	for {
		typ, b, err := w.c.Read(w.ctx)
		if err != nil {
			w.t.Fatalf("websocket read: %v", err)
		}
		if string(b) == "\n" {
			continue
		}
		return typ, string(b)
	}
}

// TestStompWebSocketListener: STOMP over WebSocket on RabbitMQ's Web
// STOMP port of its own (15674 by default), at /ws as there; nothing else
// is served on it.
func TestStompWebSocketListener(t *testing.T) {
	b := brokertest.New(t)
	addr := b.Addr("web-stomp").String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := wsDialURL(t, ctx, "ws://"+addr+"/ws", nil)
	w.connectGuest()
	w.send("SUBSCRIBE\nid:0\ndestination:/queue/web-stomp-port\n\n\x00SEND\ndestination:/queue/web-stomp-port\n\nhello\x00")
	if _, f := w.next(); !strings.HasPrefix(f, "MESSAGE") || !strings.HasSuffix(f, "hello\x00\n") {
		t.Fatalf("message: %q", f)
	}
	for _, path := range []string{"/api/overview", "/", "/healthz"} {
		resp, err := http.Get("http://" + addr + path)
		mustOK(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s on the Web STOMP listener: %d, want 404", path, resp.StatusCode)
		}
	}
	// Its pages come from elsewhere: a page of the same host on any port
	// may use it, a page of another host or an opaque origin may not.
	host, _, _ := strings.Cut(addr, ":")
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"http://" + host + ":8080", http.StatusSwitchingProtocols},
		{"http://localhost:8080", http.StatusSwitchingProtocols}, // loopback names are one host
		{"http://[::1]:8080", http.StatusSwitchingProtocols},
		{"https://" + host, http.StatusSwitchingProtocols},
		{"", http.StatusSwitchingProtocols},
		{"https://evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"file://" + host, http.StatusForbidden},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Subprotocols: []string{"v12.stomp"}, HTTPHeader: h})
		got := http.StatusSwitchingProtocols
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			got = resp.StatusCode
		} else {
			c.CloseNow()
		}
		if got != tc.want {
			t.Errorf("Web STOMP listener, Origin %q: %d, want %d", tc.origin, got, tc.want)
		}
	}
	// On the HTTP listener /ws stays with its own origin.
	if _, got := wsDialOrigin(t, b, "http://"+host+":8080"); got != http.StatusForbidden {
		t.Errorf("HTTP listener's /ws, another port's page: %d, want 403", got)
	}
	if server.Defaults().WebSTOMPAddr != ":15674" {
		t.Fatalf("default Web STOMP address %q, want RabbitMQ's :15674", server.Defaults().WebSTOMPAddr)
	}
}

func TestStompWebSocket(t *testing.T) {
	b := brokertest.New(t)
	w := wsDial(t, b, "v10.stomp", "v11.stomp", "v12.stomp")
	if w.c.Subprotocol() != "v12.stomp" {
		t.Fatalf("subprotocol %q", w.c.Subprotocol())
	}
	w.send("CONNECT\naccept-version:1.1,1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\x00")
	_, msg := w.next()
	if !strings.HasPrefix(msg, "CONNECTED\n") || !strings.Contains(msg, "version:1.2\n") {
		t.Fatalf("got %q", msg)
	}
	// Several frames in one message.
	w.send("SUBSCRIBE\nid:sub-0\ndestination:/queue/ws\n\n\x00SEND\ndestination:/queue/ws\ncontent-type:text/plain\n\nhello from ws\x00")
	typ, msg := w.next()
	if typ != websocket.MessageText || !strings.HasPrefix(msg, "MESSAGE\n") || !strings.HasSuffix(msg, "\n\nhello from ws\x00\n") ||
		!strings.Contains(msg, "subscription:sub-0\n") || !strings.Contains(msg, "destination:/queue/ws\n") {
		t.Fatalf("got %v %q", typ, msg)
	}
	// A frame split over messages, and a heart-beat message between frames.
	w.send("SEND\ndestination:/que")
	w.send("ue/ws\n\npart")
	w.send("ial\x00")
	w.send("\n")
	_, msg = w.next()
	if !strings.HasSuffix(msg, "\n\npartial\x00\n") {
		t.Fatalf("got %q", msg)
	}
	// A body that is not UTF-8 travels in a binary message.
	w.send("SEND\ndestination:/queue/ws\ncontent-length:2\n\n\xff\x00\x00")
	typ, msg = w.next()
	if typ != websocket.MessageBinary || !strings.HasSuffix(msg, "\n\n\xff\x00\x00\n") {
		t.Fatalf("got %v %q", typ, msg)
	}
	// Messages from a TCP client reach the WebSocket one.
	c := stompDial(t, b)
	_ = c.Send("/queue/ws", "text/plain", []byte("from tcp"))
	if _, msg = w.next(); !strings.HasSuffix(msg, "\n\nfrom tcp\x00\n") {
		t.Fatalf("got %q", msg)
	}
	w.send("DISCONNECT\nreceipt:bye\n\n\x00")
	if _, msg = w.next(); !strings.HasPrefix(msg, "RECEIPT\nreceipt-id:bye\n") {
		t.Fatalf("got %q", msg)
	}
}

func TestStompWebSocketHeartbeatsAndErrors(t *testing.T) {
	b := brokertest.New(t)
	w := wsDial(t, b, "v12.stomp")
	w.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,1000\n\n\x00")
	if _, msg := w.next(); !strings.Contains(msg, "heart-beat:1000,0") {
		t.Fatalf("got %q", msg)
	}
	// The server's heart-beats arrive as "\n" messages.
	typ, data, err := w.c.Read(w.ctx)
	if err != nil || string(data) != "\n" || typ != websocket.MessageText {
		t.Fatalf("heart-beat: %v %q %v", typ, data, err)
	}
	w.send("FOO\n\n\x00")
	_, msg := w.next()
	if !strings.HasPrefix(msg, "ERROR\n") || !strings.Contains(msg, "message:Bad command") {
		t.Fatalf("got %q", msg)
	}
	if _, _, err := w.c.Read(w.ctx); err == nil {
		t.Fatal("connection still open after ERROR")
	}
	// Other sessions are unaffected.
	c := stompDial(t, b)
	if err := c.Send("/queue/x", "", nil, stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
}

func TestStompWebSocketNoSubprotocol(t *testing.T) {
	b := brokertest.New(t)
	w := wsDial(t, b)
	w.send("CONNECT\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
	if _, msg := w.next(); !strings.HasPrefix(msg, "CONNECTED\n") || !strings.Contains(msg, "version:1.0") {
		t.Fatalf("got %q", msg)
	}
}
