package frame_test

import (
	"fmt"
	"strings"

	"github.com/sluice-mq/sluice/protocols/stomp/frame"
)

// A server session: read CONNECT as 1.0, negotiate, answer CONNECTED, then
// switch both directions to the agreed version.
func Example() {
	in := strings.NewReader("CONNECT\naccept-version:1.1,1.2\nheart-beat:10000,0\n\n\x00" +
		"\n" + // a heart-beat
		"SEND\ndestination:/queue/a\\cb\ncontent-length:3\n\na\x00b\x00")
	var out strings.Builder
	r := frame.NewReader(in, frame.Limits{})
	w := frame.NewWriter(&out)

	f, _ := r.ReadFrame()
	accept, _ := f.GetString("accept-version")
	v, ok := frame.NegotiateVersion(accept)
	hbText, _ := f.GetString("heart-beat")
	hb, err := frame.ParseHeartBeat(hbText)
	if !ok || err != nil {
		return // the real session sends ERROR here
	}
	server := frame.HeartBeat{Send: 5000, Recv: 5000}
	expect, send := frame.NegotiateHeartBeat(hb, server)
	w.WriteFrame(frame.Connected, []frame.Field{{Name: "version", Value: v.String()}, {Name: "heart-beat", Value: server.String()}}, nil)
	w.Flush()
	r.SetVersion(v)
	w.SetVersion(v)

	f, _ = r.ReadFrame()
	dest, _ := f.Get("destination")
	fmt.Printf("%v %v expect=%v send=%v\n", v, f.Command, expect, send)
	fmt.Printf("%s %q heart-beats=%d\n", dest, f.Body, r.Heartbeats())
	fmt.Printf("%q\n", out.String())
	// Output:
	// 1.2 SEND expect=10s send=0s
	// /queue/a:b "a\x00b" heart-beats=1
	// "CONNECTED\nversion:1.2\nheart-beat:5000,5000\n\n\x00"
}
