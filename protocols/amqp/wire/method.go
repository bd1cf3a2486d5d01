package wire

import "strings"

// Method is one AMQP method's arguments. The generated structs in
// methods_gen.go implement it, along with HasContent() bool.
type Method interface {
	ClassID() uint16
	MethodID() uint16
	// Read decodes the arguments (not the class and method ids).
	Read(*Decoder) error
	// Write encodes the arguments (not the class and method ids).
	Write(*Encoder)
}

// HasContent reports whether m is followed by a content header and body
// (basic.publish, basic.return, basic.deliver, basic.get-ok).
func HasContent(m Method) bool {
	c, ok := m.(interface{ HasContent() bool })
	return ok && c.HasContent()
}

// DecodeMethod decodes a method frame's payload: class id, method id and
// arguments, which must fill the payload exactly. It returns a new struct
// each time; see MethodDecoder to reuse them.
//
// Errors are *Error: NOT_IMPLEMENTED for an unknown class, COMMAND_INVALID
// for an unknown method of a known class, FRAME_ERROR for arguments that do
// not fit the payload, SYNTAX_ERROR for a bad field table.
func DecodeMethod(payload []byte) (Method, error) {
	return decodeMethod(payload, nil, nil, 0)
}

// MethodDecoder decodes methods like DecodeMethod but reuses one struct per
// frequent method (basic.publish, deliver, get-ok, return, ack, nack,
// reject), so the per-connection hot path allocates only the strings and
// tables inside the arguments, and remembers the last few short strings it
// decoded (a publisher's exchange and routing key, a consumer tag), so
// that a string seen again costs no allocation either. One MethodDecoder
// serves one goroutine.
//
// The struct returned for those methods is overwritten by the next Decode
// of the same method: copy it (or the fields needed) before decoding again.
type MethodDecoder struct {
	// MaxDepth limits field table nesting; zero means MaxTableDepth.
	MaxDepth int

	hot  hotMethods
	strs shortstrCache
}

// Decode decodes a method frame's payload; see DecodeMethod.
func (md *MethodDecoder) Decode(payload []byte) (Method, error) {
	return decodeMethod(payload, &md.hot, &md.strs, md.MaxDepth)
}

// shortstrCache holds the short strings decoded last, replaced round-robin.
// Comparing the bytes to a few strings is cheaper than allocating a copy,
// and a connection mostly repeats the same exchange, key and tags.
type shortstrCache struct {
	s    [4]string
	next uint8
}

// get returns b as a string, from the cache when it holds it.
func (c *shortstrCache) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for i := range c.s {
		if c.s[i] == string(b) { // compared without a copy
			return c.s[i]
		}
	}
	s := string(b)
	c.s[c.next%uint8(len(c.s))] = s
	c.next++
	return s
}

func decodeMethod(payload []byte, hot *hotMethods, strs *shortstrCache, maxDepth int) (Method, error) {
	if len(payload) < 4 {
		return nil, errShortPayload
	}
	classID := uint16(payload[0])<<8 | uint16(payload[1])
	methodID := uint16(payload[2])<<8 | uint16(payload[3])
	d := Decoder{MaxDepth: maxDepth, buf: payload, off: 4, strs: strs}
	m, err := decodeArgs(classID, methodID, &d, hot)
	if err == nil && d.Len() != 0 {
		err = errTrailing
	}
	if err != nil {
		if e, ok := err.(*Error); ok && e.ClassID == 0 && e.MethodID == 0 {
			err = methodError(e, classID, methodID)
		}
		return nil, err
	}
	return m, nil
}

// methodError names the method in a decoding error, the way RabbitMQ's
// "cannot decode" errors do.
func methodError(e *Error, classID, methodID uint16) *Error {
	detail := strings.TrimPrefix(e.Text, ReplyName(e.Code)+" - ")
	ne := NewError(e.Code, "cannot decode "+MethodName(classID, methodID)+": "+detail)
	ne.ClassID, ne.MethodID = classID, methodID
	return ne
}

// EncodeMethod appends a method frame's payload (class id, method id,
// arguments) to dst.
func EncodeMethod(dst []byte, m Method) ([]byte, error) {
	e := Encoder{buf: dst}
	e.writeMethod(m)
	return e.buf, e.err
}

func (e *Encoder) writeMethod(m Method) {
	e.WriteShort(m.ClassID())
	e.WriteShort(m.MethodID())
	m.Write(e)
}

// Preencoded is a method encoded once, to be written many times as it is:
// a server's connection.start, the same for every connection. It encodes
// like the method it was made from; it cannot be decoded into.
type Preencoded struct {
	classID, methodID uint16
	args              []byte
}

// Preencode encodes m once.
func Preencode(m Method) (*Preencoded, error) {
	e := Encoder{}
	m.Write(&e)
	if e.err != nil {
		return nil, e.err
	}
	return &Preencoded{classID: m.ClassID(), methodID: m.MethodID(), args: e.buf}, nil
}

// ClassID is the class of the method encoded.
func (p *Preencoded) ClassID() uint16 { return p.classID }

// MethodID is the id of the method encoded.
func (p *Preencoded) MethodID() uint16 { return p.methodID }

// Read refuses: a Preencoded is only written.
func (p *Preencoded) Read(*Decoder) error {
	return NewError(InternalError, "a preencoded "+MethodName(p.classID, p.methodID)+" cannot be decoded into")
}

// Write appends the encoded arguments.
func (p *Preencoded) Write(e *Encoder) { e.buf = append(e.buf, p.args...) }
