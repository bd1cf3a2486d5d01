package sqs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// input is every request parameter of the actions served, decoded from
// either protocol into one shape: a JSON body decodes into it directly
// (member names as in the SQS API's JSON model; encoding/json matches them
// without regard to case, so CreateQueue's "tags" and TagQueue's "Tags"
// both land in Tags), a Query form through fromForm.
type input struct {
	QueueUrl               string
	QueueName              string
	QueueNamePrefix        string
	QueueOwnerAWSAccountId string

	SourceArn                    string
	DestinationArn               string
	MaxNumberOfMessagesPerSecond *int
	TaskHandle                   string
	NextToken                    string
	MaxResults                   *int

	Attributes map[string]string
	Tags       map[string]string
	TagKeys    []string

	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
	ReceiveRequestAttemptId     string

	entry
	Entries []entry
}

// textBody is a message body as the request carried it, decoded from a
// JSON string or a form value into bytes of its own: they become the
// message's body as they are, with no copy on the way into the store.
type textBody []byte

func (t *textBody) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = textBody(s)
	return nil
}

func (t textBody) MarshalJSON() ([]byte, error) { return json.Marshal(string(t)) }

// entry is one message of SendMessage(Batch), or one receipt handle of
// DeleteMessage(Batch) and ChangeMessageVisibility(Batch).
type entry struct {
	Id                      string
	MessageBody             *textBody
	DelaySeconds            *int
	MessageAttributes       map[string]wireAttr
	MessageSystemAttributes map[string]wireAttr
	MessageDeduplicationId  *string
	MessageGroupId          *string
	ReceiptHandle           *string
	VisibilityTimeout       *int
}

// wireAttr is a MessageAttributeValue as it travels (BinaryValue in base64
// in JSON, decoded by encoding/json).
type wireAttr struct {
	DataType         string
	StringValue      *string  `json:",omitempty"`
	BinaryValue      []byte   `json:",omitempty"`
	StringListValues []string `json:",omitempty"`
	BinaryListValues [][]byte `json:",omitempty"`
}

// decodeJSON decodes a JSON 1.0 request body. An empty body is an empty
// input, as AWS accepts "{}" and nothing alike.
func decodeJSON(body []byte) (*input, *apiError) {
	in := &input{}
	if len(bytes.TrimSpace(body)) == 0 {
		return in, nil
	}
	if decodeJSONFast(body, in) {
		return in, nil
	}
	in = &input{}
	if err := json.Unmarshal(body, in); err != nil {
		return nil, errorf(errSerialization, "The request body could not be read as JSON for this action: %s", truncate(err.Error(), 200))
	}
	return in, nil
}

// fromForm decodes a Query protocol request: scalars by name, lists as
// Name.N, maps as Name.N.Name/Name.N.Value (Key/Value for tags), entries
// as <Action>RequestEntry.N.Member, message attributes as
// MessageAttribute.N.Name and MessageAttribute.N.Value.DataType/
// StringValue/BinaryValue (base64).
func fromForm(action string, f url.Values) (*input, *apiError) {
	in := &input{}
	in.QueueUrl = f.Get("QueueUrl")
	in.QueueName = f.Get("QueueName")
	in.QueueNamePrefix = f.Get("QueueNamePrefix")
	in.QueueOwnerAWSAccountId = f.Get("QueueOwnerAWSAccountId")
	in.SourceArn = f.Get("SourceArn")
	in.DestinationArn = f.Get("DestinationArn")
	in.TaskHandle = f.Get("TaskHandle")
	in.NextToken = f.Get("NextToken")
	in.ReceiveRequestAttemptId = f.Get("ReceiveRequestAttemptId")
	var err *apiError
	ints := []struct {
		name string
		dst  **int
	}{{"MaxResults", &in.MaxResults}, {"MaxNumberOfMessages", &in.MaxNumberOfMessages},
		{"VisibilityTimeout", &in.VisibilityTimeout}, {"WaitTimeSeconds", &in.WaitTimeSeconds},
		{"MaxNumberOfMessagesPerSecond", &in.MaxNumberOfMessagesPerSecond}}
	for _, p := range ints {
		if *p.dst, err = formInt(f, p.name, p.name); err != nil {
			return nil, err
		}
	}
	in.Attributes = formMap(f, "Attribute", "Name", "Value")
	in.Tags = formMap(f, "Tag", "Key", "Value")
	in.TagKeys = formList(f, "TagKey")
	in.AttributeNames = formList(f, "AttributeName")
	in.MessageSystemAttributeNames = formList(f, "MessageSystemAttributeName")
	in.MessageAttributeNames = formList(f, "MessageAttributeName")
	if in.entry, err = formEntry(f, ""); err != nil {
		return nil, err
	}
	prefix := action + "RequestEntry"
	for _, i := range formIndices(f, prefix) {
		e, err := formEntry(f, prefix+"."+i+".")
		if err != nil {
			return nil, err
		}
		in.Entries = append(in.Entries, e)
	}
	return in, nil
}

func formEntry(f url.Values, p string) (entry, *apiError) {
	var e entry
	var err *apiError
	e.Id = f.Get(p + "Id")
	if body := formStr(f, p+"MessageBody"); body != nil {
		b := textBody(*body)
		e.MessageBody = &b
	}
	e.MessageDeduplicationId = formStr(f, p+"MessageDeduplicationId")
	e.MessageGroupId = formStr(f, p+"MessageGroupId")
	e.ReceiptHandle = formStr(f, p+"ReceiptHandle")
	if e.DelaySeconds, err = formInt(f, p+"DelaySeconds", "DelaySeconds"); err != nil {
		return e, err
	}
	if e.VisibilityTimeout, err = formInt(f, p+"VisibilityTimeout", "VisibilityTimeout"); err != nil {
		return e, err
	}
	if e.MessageAttributes, err = formAttrs(f, p+"MessageAttribute"); err != nil {
		return e, err
	}
	if e.MessageSystemAttributes, err = formAttrs(f, p+"MessageSystemAttribute"); err != nil {
		return e, err
	}
	return e, nil
}

func formStr(f url.Values, k string) *string {
	if v, ok := f[k]; ok && len(v) > 0 {
		return &v[0]
	}
	return nil
}

func formInt(f url.Values, k, name string) (*int, *apiError) {
	s := formStr(f, k)
	if s == nil {
		return nil, nil
	}
	n, err := strconv.Atoi(*s)
	if err != nil {
		return nil, errInvalidParam(name, truncate(*s, 32), "must be an integer")
	}
	return &n, nil
}

// formIndices lists the N of every "prefix.N." or "prefix.N" key, in
// numeric order.
func formIndices(f url.Values, prefix string) []string {
	seen := map[string]bool{}
	for k := range f {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		i, _, _ := strings.Cut(rest, ".")
		if _, err := strconv.ParseUint(i, 10, 32); err == nil {
			seen[i] = true
		}
	}
	out := make([]string, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool {
		x, _ := strconv.ParseUint(out[a], 10, 32)
		y, _ := strconv.ParseUint(out[b], 10, 32)
		return x < y
	})
	return out
}

func formList(f url.Values, prefix string) []string {
	var out []string
	for _, i := range formIndices(f, prefix) {
		if v := formStr(f, prefix+"."+i); v != nil {
			out = append(out, *v)
		}
	}
	return out
}

func formMap(f url.Values, prefix, key, value string) map[string]string {
	var out map[string]string
	for _, i := range formIndices(f, prefix) {
		k := formStr(f, prefix+"."+i+"."+key)
		if k == nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[*k] = f.Get(prefix + "." + i + "." + value)
	}
	return out
}

func formAttrs(f url.Values, prefix string) (map[string]wireAttr, *apiError) {
	var out map[string]wireAttr
	for _, i := range formIndices(f, prefix) {
		p := prefix + "." + i + "."
		name := formStr(f, p+"Name")
		if name == nil {
			continue
		}
		a := wireAttr{DataType: f.Get(p + "Value.DataType"), StringValue: formStr(f, p+"Value.StringValue")}
		if b := formStr(f, p+"Value.BinaryValue"); b != nil {
			v, err := base64.StdEncoding.DecodeString(*b)
			if err != nil {
				return nil, errorf(errInvalidParameterValue, "The binary value of message attribute '%s' is not valid base64.", truncate(*name, 256))
			}
			a.BinaryValue = v
		}
		if out == nil {
			out = map[string]wireAttr{}
		}
		out[*name] = a
	}
	return out, nil
}

// --- responses ---

// attrMap is a string map: a JSON object, in XML one element per entry
// with Name and Value (Key and Value for tags), sorted by name.
type attrMap map[string]string

func (m attrMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return marshalPairs(e, start, m, "Name", "Value")
}

type tagMap map[string]string

func (m tagMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return marshalPairs(e, start, m, "Key", "Value")
}

func marshalPairs(e *xml.Encoder, start xml.StartElement, m map[string]string, key, value string) error {
	for _, k := range sortedKeys(m) {
		if err := e.EncodeToken(start); err != nil {
			return err
		}
		if err := e.EncodeElement(k, xml.StartElement{Name: xml.Name{Local: key}}); err != nil {
			return err
		}
		if err := e.EncodeElement(m[k], xml.StartElement{Name: xml.Name{Local: value}}); err != nil {
			return err
		}
		if err := e.EncodeToken(start.End()); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// outAttr is a message attribute in a ReceiveMessage answer.
type outAttr struct {
	StringValue *string `json:",omitempty" xml:",omitempty"`
	BinaryValue []byte  `json:",omitempty" xml:",omitempty"`
	DataType    string
}

// msgAttrMap is a message's attributes: a JSON object of outAttr, in XML
// MessageAttribute elements with Name and Value.
type msgAttrMap map[string]outAttr

func (m msgAttrMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	for _, k := range sortedKeys(m) {
		a := m[k]
		v := struct {
			StringValue *string `xml:",omitempty"`
			BinaryValue string  `xml:",omitempty"`
			DataType    string
		}{StringValue: a.StringValue, DataType: a.DataType}
		if a.BinaryValue != nil {
			v.BinaryValue = base64.StdEncoding.EncodeToString(a.BinaryValue)
		}
		el := struct {
			Name  string
			Value any
		}{k, v}
		if err := e.EncodeElement(el, start); err != nil {
			return err
		}
	}
	return nil
}

// sqsText makes b a string SQS can carry: valid UTF-8 of the characters
// SQS allows in a body (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
// #x10000-#x10FFFF); anything else becomes U+FFFD. A body an AMQP or STOMP
// client published as arbitrary bytes is received over SQS this way, with
// its MD5 computed over what is sent, so the SDKs accept it.
func sqsText(b []byte) string {
	s, _ := sqsTextOrNot(b)
	return s
}

// sqsTextMD5 is sqsText(b) and the MD5 of it, hashed from b when b is
// already text (no copy to hash).
func sqsTextMD5(b []byte) (text, sum string) {
	s, same := sqsTextOrNot(b)
	if same {
		return s, md5Hex(b)
	}
	return s, md5Hex([]byte(s))
}

// sqsTextOrNot is sqsText(b) and whether it is b unchanged.
func sqsTextOrNot(b []byte) (string, bool) {
	if validSQSText(b) {
		return string(b), true
	}
	var s strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || !allowedRune(r) {
			r = utf8.RuneError
		}
		s.WriteRune(r)
		b = b[n:]
	}
	return s.String(), false
}

// validSQSText reports whether b is text SQS takes as it is: UTF-8 of
// #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
// It runs on every body twice (send and receive), so eight octets of
// printable ASCII, the common case, are checked at a time.
func validSQSText[T string | []byte](b T) bool {
	const (
		lows  = 0x0101010101010101
		highs = 0x8080808080808080
		space = 0x20 * lows
	)
	for i := 0; i < len(b); {
		if i+8 <= len(b) {
			w := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
				uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
			// No octet with its high bit set, and none below 0x20 (the
			// subtraction borrows into the high bit of an octet < 0x20;
			// octets >= 0x80 are excluded by the first test).
			if w&highs == 0 && (w-space)&highs == 0 {
				i += 8
				continue
			}
		}
		if c := b[i]; c < utf8.RuneSelf {
			if c < 0x20 && c != 9 && c != 10 && c != 13 {
				return false
			}
			i++
			continue
		}
		r, n := decodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 || !allowedRune(r) {
			return false
		}
		i += n
	}
	return true
}

// decodeRune is utf8.DecodeRune for a string or bytes, without copying.
func decodeRune[T string | []byte](b T) (rune, int) {
	if len(b) > 0 && b[0] < utf8.RuneSelf {
		return rune(b[0]), 1
	}
	// Decode from at most utf8.UTFMax bytes copied to the stack.
	var buf [utf8.UTFMax]byte
	n := copy(buf[:], b)
	return utf8.DecodeRune(buf[:n])
}

func allowedRune(r rune) bool {
	return r == 9 || r == 10 || r == 13 || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
