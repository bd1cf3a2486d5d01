package amqp

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/broker/message"
	"github.com/sluice-mq/sluice/protocols/amqp/wire"
)

// FuzzParseSASL feeds arbitrary connection.start-ok mechanisms and
// responses to the SASL parser, which reads what an unauthenticated peer
// sends: an AMQP error (access-refused or command-invalid), never a
// panic, and a response of n bytes allocates a bounded amount. A PLAIN or
// AMQPLAIN response built from a user and password gives them back.
func FuzzParseSASL(f *testing.F) {
	f.Add("PLAIN", "\x00guest\x00guest", "", "")
	f.Add("PLAIN", "authz\x00user\x00pa\x00ss", "", "")
	f.Add("PLAIN", "no-nul", "", "")
	f.Add("AMQPLAIN", "", "guest", "guest")
	f.Add("AMQPLAIN", "\x05LOGINS\x00\x00\x00\x05guest", "", "")
	f.Add("AMQPLAIN", "\x05LOGINF\xff\xff\xff\xff", "", "")
	f.Add("EXTERNAL", "", "", "")
	f.Fuzz(func(t *testing.T, mechanism, response, user, pass string) {
		if len(response) > 128<<10 {
			return // more than a frame_max
		}
		var err error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err = parseSASL(mechanism, response)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > uint64(len(response))*64+256<<10 {
			t.Fatalf("%s response of %d bytes allocated %d bytes", mechanism, len(response), got)
		}
		if err != nil {
			var e *wire.Error
			if !errors.As(err, &e) || (e.Code != wire.AccessRefused && e.Code != wire.CommandInvalid) {
				t.Fatalf("%s: error %T %v, want access-refused or command-invalid", mechanism, err, err)
			}
		}

		// Responses a client builds from user and pass.
		if !strings.Contains(user, "\x00") {
			u, p, err := parseSASL("PLAIN", "\x00"+user+"\x00"+pass)
			if err != nil || u != user || p != pass {
				t.Fatalf("PLAIN %q %q: got %q %q, %v", user, pass, u, p, err)
			}
		}
		if len(user) < 256 && len(pass) < 1<<20 {
			tab, err := wire.EncodeTable(nil, message.Table{"LOGIN": user, "PASSWORD": pass})
			if err != nil {
				t.Fatal(err)
			}
			u, p, err := parseSASL("AMQPLAIN", string(tab[4:])) // without the table's length
			if err != nil || u != user || p != pass {
				t.Fatalf("AMQPLAIN %q %q: got %q %q, %v", user, pass, u, p, err)
			}
		}
	})
}
