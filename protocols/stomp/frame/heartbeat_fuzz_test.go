package frame

import (
	"strings"
	"testing"
)

// FuzzHeaderValues feeds arbitrary text to the parsers of the header
// values that negotiate a session, heart-beat and accept-version, which
// FuzzReadFrame reaches only through a CONNECT frame. A heart-beat that
// parses prints back as the same numbers and negotiates to non-negative
// intervals no longer than its largest number allows (no overflow); a
// negotiated version is one the client offered.
func FuzzHeaderValues(f *testing.F) {
	f.Add("10000,10000", "1.0,1.1,1.2")
	f.Add(" 0 , 5000 ", "1.2")
	f.Add("2147483647,2147483647", "2.0,1.1")
	f.Add("2147483648,0", "")
	f.Add("-1,1", "1.1 , 1.0")
	f.Add(",", ",,")
	f.Fuzz(func(t *testing.T, heartBeat, acceptVersion string) {
		h, err := ParseHeartBeat(heartBeat)
		if err == nil {
			if h.Send < 0 || h.Recv < 0 || h.Send > maxHeartBeat || h.Recv > maxHeartBeat {
				t.Fatalf("%q parsed as %+v", heartBeat, h)
			}
			if back, err := ParseHeartBeat(h.String()); err != nil || back != h {
				t.Fatalf("%q parsed as %+v, printed as %q, parsed back as %+v, %v", heartBeat, h, h.String(), back, err)
			}
			for _, server := range []HeartBeat{{}, {5000, 5000}, {maxHeartBeat, 1}} {
				cs, sc := NegotiateHeartBeat(h, server)
				if cs < 0 || sc < 0 || cs.Milliseconds() > maxHeartBeat || sc.Milliseconds() > maxHeartBeat {
					t.Fatalf("%+v with server %+v: intervals %v, %v", h, server, cs, sc)
				}
			}
		}
		for _, supported := range [][]Version{nil, {V10}, {V11, V12}} {
			v, ok := NegotiateVersion(acceptVersion, supported...)
			if !ok {
				continue
			}
			offered := acceptVersion
			if offered == "" {
				offered = "1.0"
			}
			found := false
			for item := range strings.SplitSeq(offered, ",") {
				if pv, good := ParseVersion(strings.TrimSpace(item)); good && pv == v {
					found = true
				}
			}
			if !found {
				t.Fatalf("accept-version %q negotiated %v, which it does not offer", acceptVersion, v)
			}
		}
	})
}
