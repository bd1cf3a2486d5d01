// Package wire is the AMQP 0-9-1 codec of the broker: it turns bytes from a
// client into frames, methods, content headers and field tables, and back.
//
// What it does:
//
//   - FrameReader splits a byte stream into frames, checking the frame-end
//     octet and the negotiated frame-max; ReadProtocolHeader checks the
//     8-byte "AMQP\x00\x00\x09\x01" greeting.
//   - DecodeMethod and MethodDecoder turn a method frame's payload into one
//     of the generated method structs (methods_gen.go, one per method of the
//     spec including RabbitMQ's extensions); each struct encodes itself too.
//   - DecodeContentHeader and EncodeContentHeader map the basic content
//     header onto message.Properties; DecodeTable and EncodeTable map field
//     tables onto message.Table with exactly the Go types that type
//     documents, so headers pass through the broker unchanged.
//   - FrameWriter buffers outgoing frames and splits content bodies so no
//     frame exceeds the peer's frame-max.
//   - Every decoding failure is an *Error carrying the reply code and the
//     RabbitMQ-style reply text the connection should close with.
//
// What it does not do: it keeps no connection or channel state. It does not
// negotiate, authenticate, check that frames arrive in a legal order, match
// a content header with its method, reassemble bodies, send heartbeats on a
// timer or validate argument values (queue name syntax, reserved fields).
// That is the connection layer's job; this package only guarantees that what
// it hands over is well-formed.
//
// Hostile input: every length read from the wire is checked against the
// bytes actually present before anything is allocated, tables and arrays
// nest at most MaxTableDepth deep, and FrameReader grows its buffer only as
// data arrives, so a peer cannot make the codec allocate much more than it
// has sent.
package wire

//go:generate go run ./internal/gen -o methods_gen.go
