package frame

// Command is a STOMP frame command. Known commands are small integers so
// that the reader can classify a frame without allocating a string.
type Command uint8

// Commands. Unknown is what ParseCommand returns for a command line it does
// not recognise; the Reader never returns a frame with it, but a
// *CommandError as soon as the command line cannot be a command.
const (
	Unknown Command = iota

	// Client commands.
	Connect
	Stomp
	Send
	Subscribe
	Unsubscribe
	Ack
	Nack
	Begin
	Commit
	Abort
	Disconnect

	// Server commands.
	Connected
	Message
	Receipt
	Error
)

var commandNames = [...]string{
	Unknown:     "",
	Connect:     "CONNECT",
	Stomp:       "STOMP",
	Send:        "SEND",
	Subscribe:   "SUBSCRIBE",
	Unsubscribe: "UNSUBSCRIBE",
	Ack:         "ACK",
	Nack:        "NACK",
	Begin:       "BEGIN",
	Commit:      "COMMIT",
	Abort:       "ABORT",
	Disconnect:  "DISCONNECT",
	Connected:   "CONNECTED",
	Message:     "MESSAGE",
	Receipt:     "RECEIPT",
	Error:       "ERROR",
}

// String returns the command as written on the wire, or "" for Unknown and
// out-of-range values.
func (c Command) String() string {
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	return ""
}

// ParseCommand maps a command line to its Command, or Unknown. Commands are
// case-sensitive, as in the spec. The switch on string(b) does not allocate.
func ParseCommand(b []byte) Command {
	switch string(b) {
	case "SEND":
		return Send
	case "ACK":
		return Ack
	case "MESSAGE":
		return Message
	case "SUBSCRIBE":
		return Subscribe
	case "UNSUBSCRIBE":
		return Unsubscribe
	case "NACK":
		return Nack
	case "BEGIN":
		return Begin
	case "COMMIT":
		return Commit
	case "ABORT":
		return Abort
	case "CONNECT":
		return Connect
	case "STOMP":
		return Stomp
	case "DISCONNECT":
		return Disconnect
	case "CONNECTED":
		return Connected
	case "RECEIPT":
		return Receipt
	case "ERROR":
		return Error
	}
	return Unknown
}

// escapes reports whether frames with this command have escaped headers in
// version v. CONNECT and CONNECTED never do, so that a 1.0 peer can still
// read them before the version is agreed; STOMP is CONNECT under another
// name and is treated the same way.
func (c Command) escapes(v Version) bool {
	if v == V10 {
		return false
	}
	switch c {
	case Connect, Stomp, Connected:
		return false
	}
	return true
}

// maxCommandLen is the length of the longest command (UNSUBSCRIBE).
const maxCommandLen = len("UNSUBSCRIBE")

// commandPrefix reports whether b, the start of a command line whose LF
// has not arrived, can still become a command: it is a prefix of one, or
// a whole command followed by the CR of a CRLF.
func commandPrefix(b []byte) bool {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return ParseCommand(b[:n-1]) != Unknown
	}
	if len(b) > maxCommandLen {
		return false
	}
	for _, name := range commandNames[1:] {
		if len(b) <= len(name) && name[:len(b)] == string(b) {
			return true
		}
	}
	return false
}
