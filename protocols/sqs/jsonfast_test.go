package sqs

import (
	"encoding/json"
	"reflect"
	"testing"
)

// jsonFastSeeds are bodies as the SDKs send them, and some near misses.
var jsonFastSeeds = []string{
	`{"QueueUrl":"http://127.0.0.1:9324/000000000000/q","Entries":[{"Id":"0","MessageBody":"x\"y\\z\n\u00e9\u003c"},{"Id":"1","MessageBody":"é€😀","MessageGroupId":"g","MessageDeduplicationId":"d","DelaySeconds":0}]}`,
	`{"QueueUrl":"/000000000000/q","MaxNumberOfMessages":10,"WaitTimeSeconds":20,"VisibilityTimeout":-0,"AttributeNames":["All"],"MessageSystemAttributeNames":[],"MessageAttributeNames":["All","a.*"]}`,
	`{"QueueUrl":"q","Entries":[{"Id":"a","ReceiptHandle":"AQAB","VisibilityTimeout":30}]}`,
	`{"MessageBody":"b","MessageAttributes":{"n":{"DataType":"Number","StringValue":"1e5"},"b":{"DataType":"Binary","BinaryValue":"AAEC"},"e":{"DataType":"Binary","BinaryValue":""}},"MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"String","StringValue":"t"}}}`,
	`{"QueueName":"q.fifo","Attributes":{"FifoQueue":"true","a":"1","a":"2"},"tags":{"k":"v"}}`,
	` { "queueurl" : "q" , "ENTRIES" : [ ] } `,
	`{"QueueUrl":"q","QueueUrl":"r"}`,
	`{"QueueUrl":null}`,
	`{"MaxResults":1.5}`,
	`{"MaxResults":01}`,
	`{"MaxResults":1e3}`,
	`{"Unknown":1}`,
	`{"MessageBody":"\ud83d\ude00"}`,
	`{"MessageBody":"\ud83d"}`,
	`{"MessageBody":"a` + "\xff" + `"}`,
	`{"QueueUrl":"q"} x`,
	`{"QueueUrl":"q",}`,
	`[1,2`,
	`{"Entries":[{"Id":"a"},]}`,
	`{"MessageAttributes":{"b":{"DataType":"Binary","BinaryValue":"!!"}}}`,
	`{"MessageAttributes":{"l":{"DataType":"String","StringListValues":["a"]}}}`,
	`{"VisibilityTimeout":5,"Entries":[{"VisibilityTimeout":6}]}`,
	`{"MaxNumberOfMessages":999999999999999999}`,
	`{"MaxNumberOfMessages":9999999999999999999}`,
}

// FuzzJSONFast: whatever decodeJSONFast decodes, encoding/json decodes
// without an error into the same input.
func FuzzJSONFast(f *testing.F) {
	for _, s := range jsonFastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast input
		if !decodeJSONFast(body, &fast) {
			return
		}
		var ref input
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("decodeJSONFast took %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\nfast     %+v\nencoding %+v", body, fast, ref)
		}
	})
}

// TestJSONFastTakesSDKBodies: the bodies of the hot actions as the SDKs
// send them take the fast path (else it would be for nothing).
func TestJSONFastTakesSDKBodies(t *testing.T) {
	for _, s := range jsonFastSeeds[:6] {
		var in input
		if !decodeJSONFast([]byte(s), &in) {
			t.Errorf("not decoded: %s", s)
		}
	}
}
