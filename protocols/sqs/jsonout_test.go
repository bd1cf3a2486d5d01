package sqs

import (
	"encoding/json"
	"testing"
)

var jsonOutStrings = []string{"", "plain", `q"u\o<t>e&s`, "\x00\x01\b\f\n\r\t\x1f\x7f", "é€😀", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x82", "\ud7ff\ue000\ufffd"}

// TestJSONOutMatchesEncodingJSON: the hand-written answers are byte for
// byte what encoding/json writes for the same values.
func TestJSONOutMatchesEncodingJSON(t *testing.T) {
	s := func(v string) *string { return &v }
	var outs []jsonAppender
	for _, str := range jsonOutStrings {
		so := sendOut{MD5OfMessageBody: str, MessageId: str}
		full := sendOut{MD5OfMessageBody: str, MD5OfMessageAttributes: "a" + str, MD5OfMessageSystemAttributes: str + "b", MessageId: str, SequenceNumber: "1" + str}
		outs = append(outs, so, full,
			sendBatchOut{Successful: []sendBatchEntry{{Id: str, sendOut: so}, {Id: "2", sendOut: full}}, Failed: []batchError{{Id: str, SenderFault: true, Code: str, Message: str}, {Id: "x", Code: "c"}}},
			deleteBatchOut{Successful: []idEntry{{str}, {"b"}}, Failed: []batchError{}},
			receiveOut{Messages: []messageOut{{MessageId: str, ReceiptHandle: str, MD5OfBody: str, Body: str}, {
				MessageId: "m", ReceiptHandle: "r", MD5OfBody: "d", Body: str,
				Attributes:             attrMap{"b": str, "a": "1", str: "k"},
				MD5OfMessageAttributes: str,
				MessageAttributes: msgAttrMap{"s": {StringValue: s(str), DataType: "String"}, "e": {StringValue: s(""), DataType: "String.x"},
					"bin": {BinaryValue: []byte(str + "\x00\xff"), DataType: "Binary"}, "eb": {BinaryValue: []byte{}, DataType: "Binary"}, str: {DataType: str}},
			}}})
	}
	outs = append(outs, sendBatchOut{}, deleteBatchOut{}, receiveOut{}, receiveOut{Messages: []messageOut{}}, sendBatchOut{Successful: []sendBatchEntry{}, Failed: []batchError{}})
	for _, o := range outs {
		want, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("%T:\n got  %s\n want %s", o, got, want)
		}
	}
}

// FuzzJSONString: appendJSONString writes any string as encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, s := range jsonOutStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q:\n got  %s\n want %s", s, got, want)
		}
	})
}
