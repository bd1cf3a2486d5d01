// Package message is the one message model every protocol maps onto: AMQP
// 0-9-1 basic properties, a headers table and the body bytes.
//
// A Message is immutable once it has been published: the broker shares one
// *Message between every queue it was routed to and every consumer it is
// delivered to, so nobody may change its fields or its Body after Publish.
// What differs per queue (delivery count, position, lease) lives in the
// queue's own record, not here.
package message

// Property presence bits. They are AMQP 0-9-1's basic content-header
// property flags, so the AMQP codec can copy them straight to the wire; other
// protocols set the bit for every property they fill in.
const (
	FlagContentType     uint16 = 0x8000
	FlagContentEncoding uint16 = 0x4000
	FlagHeaders         uint16 = 0x2000
	FlagDeliveryMode    uint16 = 0x1000
	FlagPriority        uint16 = 0x0800
	FlagCorrelationID   uint16 = 0x0400
	FlagReplyTo         uint16 = 0x0200
	FlagExpiration      uint16 = 0x0100
	FlagMessageID       uint16 = 0x0080
	FlagTimestamp       uint16 = 0x0040
	FlagType            uint16 = 0x0020
	FlagUserID          uint16 = 0x0010
	FlagAppID           uint16 = 0x0008
	FlagClusterID       uint16 = 0x0004
)

// DeliveryMode values.
const (
	Transient  uint8 = 1
	Persistent uint8 = 2
)

// Properties are the AMQP basic properties. Flags says which are present, so
// an absent property and an empty one survive a round trip unchanged.
type Properties struct {
	Flags           uint16
	ContentType     string
	ContentEncoding string
	Headers         Table
	DeliveryMode    uint8
	Priority        uint8
	CorrelationID   string
	ReplyTo         string
	Expiration      string
	MessageID       string
	// Timestamp is in whole seconds since the Unix epoch, as on the AMQP
	// wire: 8 bytes where a time.Time takes 24 and a pointer the
	// collector must follow.
	Timestamp int64
	Type      string
	UserID    string
	AppID     string
	ClusterID string
}

// Has reports whether the property with presence bit f is set.
func (p *Properties) Has(f uint16) bool { return p.Flags&f != 0 }

// Message is one published message.
type Message struct {
	// Exchange and RoutingKey are the ones it was published with; a
	// dead-lettered message carries the dead-letter exchange and key.
	Exchange   string
	RoutingKey string
	Properties Properties
	Body       []byte
}

// Persistent reports whether the publisher asked for the message to survive a
// restart (delivery-mode 2).
func (m *Message) Persistent() bool {
	return m.Properties.Flags&FlagDeliveryMode != 0 && m.Properties.DeliveryMode == Persistent
}

// Size is the number of body bytes, the unit of x-max-length-bytes and of
// byte-based prefetch as in RabbitMQ.
func (m *Message) Size() int { return len(m.Body) }

// Header returns the header named key, or nil.
func (m *Message) Header(key string) any {
	if m.Properties.Headers == nil {
		return nil
	}
	return m.Properties.Headers[key]
}
