package stomp

import (
	"net/http"

	"github.com/coder/websocket"
)

// webSocketSubprotocols are the STOMP subprotocols of RFC 6455's registry,
// newest first: the one picked is the first of these the client offers.
var webSocketSubprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

// WebSocketHandler serves STOMP over WebSocket (RabbitMQ's Web STOMP):
// one STOMP session per WebSocket, one frame per server message, and
// client messages read as a stream so that browser clients such as stompjs
// work whether they send one frame per message, several, or parts.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:    webSocketSubprotocols,
			OriginPatterns:  s.cfg.WebSocketOrigins,
			CompressionMode: websocket.CompressionDisabled,
		})
		if err != nil {
			s.log.Debug().Err(err).Str("peer", r.RemoteAddr).Msg("websocket upgrade refused")
			return // Accept has answered the request
		}
		// A message may carry a whole frame; the frame reader enforces the
		// real bounds and answers with an ERROR frame.
		wc.SetReadLimit(int64(s.cfg.MaxFrameSize) + 64<<10)
		c := newConn(s, newWSLink(wc, r))
		c.log = c.log.With().Str("transport", "websocket").Logger()
		if !s.conns.Add(c) {
			_ = wc.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		c.serve()
	})
}
