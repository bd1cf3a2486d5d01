package frame

import "strings"

// Version is a STOMP protocol version. The zero value is 1.0, which is also
// how a connection behaves before CONNECT has been negotiated.
type Version uint8

// Protocol versions, ordered so that a larger value is a newer version.
const (
	V10 Version = iota // STOMP 1.0: no header escaping
	V11                // STOMP 1.1: \\ \n \c escapes
	V12                // STOMP 1.2: adds \r
)

// String returns the version as it appears in the version and accept-version
// headers ("1.0", "1.1", "1.2").
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	case V12:
		return "1.2"
	}
	return "unknown"
}

// ParseVersion parses "1.0", "1.1" or "1.2".
func ParseVersion(s string) (Version, bool) {
	switch s {
	case "1.0":
		return V10, true
	case "1.1":
		return V11, true
	case "1.2":
		return V12, true
	}
	return 0, false
}

// NegotiateVersion picks the highest version that is both in the client's
// accept-version header and in supported. An empty acceptVersion means the
// header was absent, which the spec defines as a 1.0 client. An empty
// supported list means every version this package speaks. Unknown entries
// (such as "2.0") and blanks around commas are ignored, because a client
// offering a version we do not know must still be served with one we do.
// ok is false when nothing fits; the server then answers with an ERROR frame
// carrying a version header that lists what it supports.
func NegotiateVersion(acceptVersion string, supported ...Version) (v Version, ok bool) {
	if acceptVersion == "" {
		acceptVersion = "1.0"
	}
	var offered uint8
	for item := range strings.SplitSeq(acceptVersion, ",") {
		if pv, good := ParseVersion(strings.TrimSpace(item)); good {
			offered |= 1 << pv
		}
	}
	var have uint8 = 1<<V10 | 1<<V11 | 1<<V12
	if len(supported) > 0 {
		have = 0
		for _, sv := range supported {
			if sv <= V12 {
				have |= 1 << sv
			}
		}
	}
	common := offered & have
	for c := V12; ; c-- {
		if common&(1<<c) != 0 {
			return c, true
		}
		if c == V10 {
			return 0, false
		}
	}
}
