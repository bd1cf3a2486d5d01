package conformance

import (
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/brokertest"
)

// stompAs connects the raw client as user (password "pw-" + user) and
// returns the first frame the server answers CONNECT with.
func stompAs(t *testing.T, b *brokertest.Broker, user, pass string) (*rawConn, *rawFrame) {
	t.Helper()
	r := rawDial(t, b.STOMPAddr())
	r.write("CONNECT\naccept-version:1.2\nhost:/\nlogin:" + user + "\npasscode:" + pass + "\n\n\x00")
	return r, r.read()
}

// wantStompRefusal checks an ERROR frame as RabbitMQ's plugin sends it
// when its channel is refused, then that the session ends.
func wantStompRefusal(t *testing.T, r *rawConn, body string) {
	t.Helper()
	f := r.expectError("access_refused")
	if f.headers["message"] != "access_refused" || string(f.body) != body {
		t.Fatalf("ERROR message %q body %q, want access_refused %q", f.headers["message"], f.body, body)
	}
}

// TestPermSTOMPRules: each STOMP frame is checked as the AMQP operations
// RabbitMQ's plugin runs for it: allowed with the permission, refused
// without it.
func TestPermSTOMPRules(t *testing.T) {
	b := brokertest.New(t)
	guest := amqpChan(t, amqpDial(t, b))
	_, err := guest.QueueDeclare("existing", true, false, false, false, nil) // as /queue declares it
	must(t, err, "queue.declare")
	permUser(t, b, "alice")
	must(t, b.Users.SetTopicPermission(auth.TopicPermission{User: "alice", VHost: "/", Exchange: "amq.topic",
		Write: `^alice\.`, Read: `^alice\.`}), "topic permission")

	cases := []struct {
		name              string
		conf, write, read string
		frame             string
		refusal           string // "" allowed: the frame's RECEIPT comes
	}{
		{"SEND /queue declares: configure", "^$", ".*", ".*", "SEND\ndestination:/queue/q1\nreceipt:r\n\nm\x00",
			refusedText("queue", "q1", "alice")},
		{"SEND /queue publishes: write on amq.default", "^q1$", "^q", ".*", "SEND\ndestination:/queue/q1\nreceipt:r\n\nm\x00",
			refusedText("exchange", "amq.default", "alice")},
		{"SEND /queue allowed", "^q1$", `^amq\.default$`, "", "SEND\ndestination:/queue/q1\nreceipt:r\n\nm\x00", ""},
		{"SEND /amq/queue: write on amq.default", "", "^$", "", "SEND\ndestination:/amq/queue/existing\nreceipt:r\n\nm\x00",
			refusedText("exchange", "amq.default", "alice")},
		{"SEND /exchange: write on it", "", `^amq\.direct$`, "", "SEND\ndestination:/exchange/amq.direct/k\nreceipt:r\n\nm\x00", ""},
		{"SEND /topic: topic write on the key", "", ".*", "", "SEND\ndestination:/topic/bob.x\nreceipt:r\n\nm\x00",
			"ACCESS_REFUSED - access to topic 'bob.x' in exchange 'amq.topic' in vhost '/' refused for user 'alice'"},
		{"SEND /topic allowed", "", ".*", "", "SEND\ndestination:/topic/alice.x\nreceipt:r\n\nm\x00", ""},
		{"SUBSCRIBE /queue: read", "^existing$", "", "^$", "SUBSCRIBE\nid:1\ndestination:/queue/existing\nreceipt:r\n\n\x00",
			refusedText("queue", "existing", "alice")},
		{"SUBSCRIBE /queue allowed", "^existing$", "", "^existing$", "SUBSCRIBE\nid:1\ndestination:/queue/existing\nreceipt:r\n\n\x00", ""},
		{"SUBSCRIBE /amq/queue: read", "", "", "^existing$", "SUBSCRIBE\nid:1\ndestination:/amq/queue/existing\nreceipt:r\n\n\x00", ""},
		{"SUBSCRIBE /topic declares: configure", "^$", ".*", ".*", "SUBSCRIBE\nid:1\ndestination:/topic/alice.x\nx-queue-name:sub1\nreceipt:r\n\n\x00",
			refusedText("queue", "sub1", "alice")},
		{"SUBSCRIBE /topic binds: read on amq.topic", "^sub", "^sub", "^sub", "SUBSCRIBE\nid:1\ndestination:/topic/alice.x\nx-queue-name:sub1\nreceipt:r\n\n\x00",
			refusedText("exchange", "amq.topic", "alice")},
		// The plugin checks the key itself (check_subscription_access),
		// before it declares, consumes or binds: its refusal has no
		// ACCESS_REFUSED prefix, and comes before a missing configure.
		{"SUBSCRIBE /topic: topic read on the key", ".*", ".*", ".*", "SUBSCRIBE\nid:1\ndestination:/topic/bob.x\nreceipt:r\n\n\x00",
			"access to topic 'bob.x' in exchange 'amq.topic' in vhost '/' refused for user 'alice'"},
		{"SUBSCRIBE /topic: the key before configure", "^$", ".*", ".*", "SUBSCRIBE\nid:1\ndestination:/topic/bob.x\nx-queue-name:sub1\nreceipt:r\n\n\x00",
			"access to topic 'bob.x' in exchange 'amq.topic' in vhost '/' refused for user 'alice'"},
		// The plugin consumes before it binds: read on the queue is asked
		// before read on the exchange.
		{"SUBSCRIBE /topic consumes before it binds", ".*", ".*", "^other$", "SUBSCRIBE\nid:1\ndestination:/topic/alice.x\nx-queue-name:sub1\nreceipt:r\n\n\x00",
			refusedText("queue", "sub1", "alice")},
		{"SUBSCRIBE /exchange consumes before it binds", ".*", ".*", "^other$", "SUBSCRIBE\nid:1\ndestination:/exchange/amq.direct/k\nx-queue-name:sub1\nreceipt:r\n\n\x00",
			refusedText("queue", "sub1", "alice")},
		{"SUBSCRIBE /topic allowed", "^sub", "^sub", `^sub|^amq\.topic$`, "SUBSCRIBE\nid:1\ndestination:/topic/alice.x\nx-queue-name:sub1\nreceipt:r\n\n\x00", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setPerms(t, b, "alice", c.conf, c.write, c.read)
			r, f := stompAs(t, b, "alice", "pw-alice")
			if f.command != "CONNECTED" {
				t.Fatalf("CONNECT: %s %v %q", f.command, f.headers, f.body)
			}
			r.write(c.frame)
			if c.refusal == "" {
				if f := r.read(); f.command != "RECEIPT" {
					t.Fatalf("allowed: got %s %v %q", f.command, f.headers, f.body)
				}
				return
			}
			wantStompRefusal(t, r, c.refusal)
		})
	}
}

// TestPermSTOMPConnect: CONNECT without access to the vhost, with a wrong
// passcode, and the vhost's connection limit, in the plugin's words.
func TestPermSTOMPConnect(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice")
	r, f := stompAs(t, b, "alice", "pw-alice")
	if f.command != "ERROR" || f.headers["message"] != "Bad CONNECT" || string(f.body) != "Virtual host '/' access denied" {
		t.Fatalf("no vhost access: %s %v %q", f.command, f.headers, f.body)
	}
	r.expectClosed()
	setPerms(t, b, "alice", "", "", "")
	r, f = stompAs(t, b, "alice", "wrong")
	if f.command != "ERROR" || f.headers["message"] != "Bad CONNECT" || string(f.body) != "Access refused for user 'alice'\n" {
		t.Fatalf("wrong passcode: %s %v %q", f.command, f.headers, f.body)
	}
	r.expectClosed()
	must(t, b.Users.SetVHostLimit("/", auth.LimitMaxConnections, 1, false), "vhost limit")
	stompAs(t, b, "alice", "pw-alice")
	_, f = stompAs(t, b, "alice", "pw-alice")
	if f.command != "ERROR" || string(f.body) != "Connection refused: vhost connection limit reached" {
		t.Fatalf("vhost limit: %s %v %q", f.command, f.headers, f.body)
	}
}

// TestPermSTOMPDeletedUserAndRevoke: a revoked permission refuses the
// next SEND of a live session (go-stomp); deleting the user ends its
// sessions with an ERROR naming the reason.
func TestPermSTOMPDeletedUserAndRevoke(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", ".*", ".*")
	c, err := stomp.Dial("tcp", b.STOMPAddr(), stomp.ConnOpt.Host("/"), stomp.ConnOpt.Login("alice", "pw-alice"))
	must(t, err, "go-stomp CONNECT")
	must(t, c.Send("/queue/q", "text/plain", []byte("1"), stomp.SendOpt.Receipt), "allowed SEND")
	setPerms(t, b, "alice", ".*", "^$", ".*")
	err = c.Send("/queue/q", "text/plain", []byte("2"), stomp.SendOpt.Receipt)
	if err == nil || !strings.Contains(err.Error(), "access_refused") {
		t.Fatalf("SEND after revoke: %v", err)
	}

	setPerms(t, b, "alice", ".*", ".*", ".*")
	r, f := stompAs(t, b, "alice", "pw-alice")
	if f.command != "CONNECTED" {
		t.Fatalf("CONNECT: %s %q", f.command, f.body)
	}
	must(t, b.Users.DeleteUser("alice"), "delete user")
	f = r.read()
	if f.command != "ERROR" || f.headers["message"] != "user 'alice' is deleted" {
		t.Fatalf("deleted user: %s %v %q", f.command, f.headers, f.body)
	}
	r.expectClosed()
}

// TestPermSTOMPWebSocket: the same checks over STOMP on /ws.
func TestPermSTOMPWebSocket(t *testing.T) {
	b := brokertest.New(t)
	permUser(t, b, "alice", ".*", "^$", ".*")
	w := wsDial(t, b, "v12.stomp")
	w.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:alice\npasscode:pw-alice\n\n\x00")
	if _, f := w.next(); !strings.HasPrefix(f, "CONNECTED\n") {
		t.Fatalf("CONNECT: %q", f)
	}
	w.send("SEND\ndestination:/exchange/amq.direct/k\n\nm\x00")
	_, f := w.next()
	if !strings.HasPrefix(f, "ERROR\n") || !strings.Contains(f, "message:access_refused\n") ||
		!strings.Contains(f, "\n\n"+refusedText("exchange", "amq.direct", "alice")+"\x00") {
		t.Fatalf("refused SEND over WebSocket: %q", f)
	}
}
