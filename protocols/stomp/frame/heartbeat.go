package frame

import (
	"strconv"
	"strings"
	"time"
)

// maxHeartBeat bounds each heart-beat number (about 24.8 days) so that the
// milliseconds convert to a time.Duration without overflow on any platform.
const maxHeartBeat = 1<<31 - 1

// HeartBeat is a heart-beat header value, in milliseconds. In CONNECT it is
// cx,cy and in CONNECTED sx,sy: Send is the smallest interval at which the
// sender can guarantee to send heart-beats (0: it cannot), Recv the interval
// at which it would like to receive them (0: it does not want any).
type HeartBeat struct {
	Send, Recv int
}

// ParseHeartBeat parses a heart-beat header value "x,y". An empty value is
// taken to be an absent header, which the spec defines as "0,0". Spaces
// around the numbers are tolerated; anything else that is not two
// non-negative decimal integers is a *SyntaxError.
func ParseHeartBeat(s string) (HeartBeat, error) {
	if s == "" {
		return HeartBeat{}, nil
	}
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return HeartBeat{}, errHeartBeat
	}
	x, ok1 := parseMillis(a)
	y, ok2 := parseMillis(b)
	if !ok1 || !ok2 {
		return HeartBeat{}, errHeartBeat
	}
	return HeartBeat{Send: x, Recv: y}, nil
}

func parseMillis(s string) (int, bool) {
	s = strings.Trim(s, " ")
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > maxHeartBeat {
			return 0, false
		}
	}
	return n, true
}

// String formats h as a header value, "x,y".
func (h HeartBeat) String() string {
	return strconv.Itoa(h.Send) + "," + strconv.Itoa(h.Recv)
}

// NegotiateHeartBeat applies the spec's rule to the client's CONNECT value
// (cx,cy) and the server's CONNECTED value (sx,sy):
//
//   - client to server: none if cx or sy is 0, else every max(cx, sy) ms;
//   - server to client: none if sx or cy is 0, else every max(sx, cy) ms.
//
// For the server, serverToClient is how often it must send (a heart-beat
// when nothing else was sent), and clientToServer how often it should
// expect data; the spec lets it allow some slack before calling the
// connection dead. Zero means no heart-beating in that direction.
func NegotiateHeartBeat(client, server HeartBeat) (clientToServer, serverToClient time.Duration) {
	return interval(client.Send, server.Recv), interval(server.Send, client.Recv)
}

func interval(send, recv int) time.Duration {
	if send <= 0 || recv <= 0 {
		return 0
	}
	return time.Duration(max(send, recv)) * time.Millisecond
}
