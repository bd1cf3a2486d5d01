package frame

// Header is one header line of a frame that was read, after unescaping.
// Name and Value alias the Reader's buffer (see Reader.ReadFrame).
type Header struct {
	Name, Value []byte
}

// Frame is a frame returned by Reader.ReadFrame. RawCommand, every Header
// and Body alias the Reader's buffer, and the Frame itself is reused: all of
// it is valid only until the next ReadFrame call. Copy what must outlive
// that (GetString, Clone, or copy/string conversions).
type Frame struct {
	Command    Command
	RawCommand []byte   // command line as received, without EOL
	Headers    []Header // in wire order; repeated names are all kept
	Body       []byte

	lengthPlus1 int // content-length + 1, so the zero Frame has none; set by the reader
}

// Get returns the value of the first header with the given name; per the
// spec, later repetitions are ignored. The result aliases the Reader's
// buffer.
func (f *Frame) Get(name string) (value []byte, ok bool) {
	for i := range f.Headers {
		if string(f.Headers[i].Name) == name {
			return f.Headers[i].Value, true
		}
	}
	return nil, false
}

// GetString is Get returning a copy that is safe to keep.
func (f *Frame) GetString(name string) (value string, ok bool) {
	b, ok := f.Get(name)
	if !ok {
		return "", false
	}
	return string(b), true
}

// Has reports whether the frame has a header with the given name.
func (f *Frame) Has(name string) bool {
	_, ok := f.Get(name)
	return ok
}

// ContentLength returns the value of the first content-length header, which
// the reader has already validated and used to frame the body.
func (f *Frame) ContentLength() (n int, ok bool) {
	return f.lengthPlus1 - 1, f.lengthPlus1 > 0
}

// Clone returns a deep copy that does not alias the Reader's buffer. It costs
// two allocations: one for all the bytes, one for the header slice.
func (f *Frame) Clone() *Frame {
	n := len(f.RawCommand) + len(f.Body)
	for _, h := range f.Headers {
		n += len(h.Name) + len(h.Value)
	}
	buf := make([]byte, 0, n)
	take := func(b []byte) []byte {
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	c := &Frame{Command: f.Command, lengthPlus1: f.lengthPlus1}
	c.RawCommand = take(f.RawCommand)
	if f.Headers != nil {
		c.Headers = make([]Header, len(f.Headers))
		for i, h := range f.Headers {
			c.Headers[i] = Header{Name: take(h.Name), Value: take(h.Value)}
		}
	}
	c.Body = take(f.Body)
	return c
}
