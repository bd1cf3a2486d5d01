// Package frame reads and writes STOMP 1.0, 1.1 and 1.2 frames for a
// server, within fixed bounds and without per-frame allocation.
//
// # Format
//
// A frame is a command line, header lines "name:value", a blank line, the
// body and a NUL octet. Lines end in LF or CRLF; CRLF is accepted in every
// version because 1.0 and 1.1 clients send it in practice. Bare EOLs between
// frames are heart-beats: the Reader skips them, counts them and can call a
// function so the session sees liveness while it waits. A header value is
// split from its name at the first colon, so values may contain colons.
// Repeated headers are all kept in order and Frame.Get returns the first,
// as the spec requires.
//
// Header escaping depends on the version: 1.2 decodes \\ \n \c \r, 1.1 the
// same without \r, 1.0 none. CONNECT, STOMP and CONNECTED frames are never
// escaped, so a client can connect before the version is agreed; hence
// Reader.SetVersion is called after CONNECTED has been sent. An undefined
// escape is a fatal error in 1.1 and 1.2.
//
// If content-length is present (the first one counts) the body is exactly
// that many octets, which may include NUL, and must be followed by NUL;
// otherwise the body runs to the first NUL. The Writer and Encoder write
// content-length themselves (by default for every non-empty body) so binary
// bodies survive.
//
// # Bounds
//
// Limits caps the frame size (default 4 MiB, from the first command octet
// through the NUL), the header count (1000), one line (64 KiB) and the body
// (at most the frame size). A declared content-length over the limit is
// rejected before any space is reserved for it, and a body without
// content-length is rejected as soon as it runs past the limit, so a
// connection's buffer never grows beyond MaxFrameSize whatever the peer
// sends. Crossing a limit gives a *LimitError that names the limit; a
// command line that is not a STOMP command gives a *CommandError as soon
// as the octets read so far cannot begin one (so noise, a TLS ClientHello
// or an HTTP request is refused at once, not when a LF or NUL arrives);
// other malformed input gives a *SyntaxError. Their messages are fit for
// the message header of the ERROR frame the server sends before closing,
// and they are sticky, because the stream cannot be resynchronised.
// SetLimits changes the limits between frames, so a server can hold a
// connection to small frames until it has authenticated.
//
// # Aliasing
//
// The Reader parses in place in a single buffer that grows to hold a large
// frame and shrinks back once frames are small again. The *Frame returned
// by ReadFrame, its RawCommand, header names and values and Body all point
// into that buffer and are valid only until the next ReadFrame: copy what
// must outlive it (Frame.GetString, Frame.Clone, string(b)). Headers are
// unescaped in place, which is possible because decoding only shortens.
// This keeps reading a typical SEND free of allocations.
package frame
