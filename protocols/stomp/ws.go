package stomp

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
)

// webSocketSubprotocols are the STOMP subprotocols of RFC 6455's registry,
// newest first: the one picked is the first of these the client offers.
var webSocketSubprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

// WebSocketHandler serves STOMP over WebSocket (RabbitMQ's Web STOMP):
// one STOMP session per WebSocket, one frame per server message, and
// client messages read as a stream so that browser clients such as stompjs
// work whether they send one frame per message, several, or parts.
//
// The Origin check is the library's (Accept answers 403): a request
// without Origin (not from a browser) or whose Origin's host equals its
// Host is accepted, and so is one matching cfg.WebSocketOrigins, whose
// entries are the library's OriginPatterns. "*" is turned into
// InsecureSkipVerify, the library's explicit switch for any origin.
//
// anyPort widens "its own origin" to a page of the same host on any port:
// the Web STOMP listener serves no pages, so the browser code that uses it
// (as RabbitMQ's port 15674) always comes from another port.
func (s *Server) WebSocketHandler(anyPort bool) http.Handler {
	opts := &websocket.AcceptOptions{
		Subprotocols:    webSocketSubprotocols,
		CompressionMode: websocket.CompressionDisabled,
	}
	for _, o := range s.cfg.WebSocketOrigins {
		if o == "*" {
			opts.InsecureSkipVerify = true
		} else if o != "" {
			opts.OriginPatterns = append(opts.OriginPatterns, o)
		}
	}
	sameHost := *opts
	sameHost.InsecureSkipVerify = true
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := opts
		if anyPort && sameHostOrigin(r) {
			o = &sameHost
		}
		wc, err := websocket.Accept(w, r, o)
		if err != nil {
			// Debug: anyone can make these, as often as they like.
			s.log.Debug().Err(err).Str("peer", r.RemoteAddr).Str("origin", r.Header.Get("Origin")).Msg("websocket upgrade refused")
			return // Accept has answered the request
		}
		// A message may carry a whole frame; the frame reader enforces the
		// real bounds and answers with an ERROR frame.
		wc.SetReadLimit(int64(s.cfg.MaxFrameSize) + 64<<10)
		c := newConn(s, newWSLink(wc, r))
		c.ws = true
		c.log = c.log.With().Str("transport", "websocket").Logger()
		if !s.conns.Add(c) {
			_ = wc.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		c.serve()
	})
}

// sameHostOrigin reports whether r's Origin names r's Host, whatever
// the ports (an http or https origin; "null" and other schemes do not).
// Loopback names count as one host: a page from http://localhost:8080 may
// use ws://127.0.0.1:15674, both being this machine.
func sameHostOrigin(r *http.Request) bool {
	u, err := url.Parse(r.Header.Get("Origin"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return strings.EqualFold(u.Hostname(), host) || (loopbackName(u.Hostname()) && loopbackName(host))
}

// loopbackName reports whether a host name is this machine's loopback.
func loopbackName(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
