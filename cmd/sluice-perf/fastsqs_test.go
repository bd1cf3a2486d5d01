package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestFastSQSSignature: the fast client's Authorization header is the one
// aws-sdk-go-v2's own signer computes for the same request.
func TestFastSQSSignature(t *testing.T) {
	body := []byte(`{"QueueUrl":"http://127.0.0.1:9324/000000000000/q","MaxNumberOfMessages":10}`)
	now := time.Date(2026, 12, 4, 19, 30, 5, 0, time.UTC)
	s := sigV4Signer{key: "AKID", secret: "secret", region: "eu-west-1"}
	got := s.authorization(now, "127.0.0.1:9324", "AmazonSQS.ReceiveMessage", body)

	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
	sum := sha256.Sum256(body)
	// The SDK signs every header it is given; give it just ours.
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"},
		req, hex.EncodeToString(sum[:]), "sqs", "eu-west-1", now); err != nil {
		t.Fatal(err)
	}
	if want := req.Header.Get("Authorization"); got != want {
		t.Fatalf("fast client signs\n%s\nthe SDK\n%s", got, want)
	}
	// The signing key is cached per day; a new day gets a new one.
	next := s.authorization(now.Add(24*time.Hour), "127.0.0.1:9324", "AmazonSQS.ReceiveMessage", body)
	if next == got || !strings.Contains(next, "/20261205/eu-west-1/sqs/aws4_request") {
		t.Fatalf("next day: %s", next)
	}
}

func TestJSONScan(t *testing.T) {
	in := `{"Successful":[{"Id":"0","MD5OfMessageBody":"ab\"c","n":1.5e3,"x":[{"y":"]}"}]},{"Id":"1"}],` +
		` "Failed" : [ ] , "t":true,"u":null,"s":"\u00e9\ud83d\ude00\n\/"}`
	var ids []string
	var s string
	err := scanObject([]byte(in), func(key string, v []byte) {
		switch key {
		case "Successful":
			if err := scanArray(v, func(e []byte) {
				if err := scanObject(e, func(k string, v []byte) {
					if k == "Id" {
						id, _ := jsonString(v)
						ids = append(ids, id)
					}
				}); err != nil {
					t.Error(err)
				}
			}); err != nil {
				t.Error(err)
			}
		case "Failed":
			if err := scanArray(v, func([]byte) { t.Error("an element in []") }); err != nil {
				t.Error(err)
			}
		case "s":
			s, _ = jsonString(v)
		}
	})
	if err != nil || strings.Join(ids, ",") != "0,1" || s != "é😀\n/" {
		t.Fatalf("err %v ids %v s %q", err, ids, s)
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"x}`, `[1]`, `{"a":[1,2}`} {
		if err := scanObject([]byte(bad), func(string, []byte) {}); err == nil {
			t.Errorf("%q read as an object", bad)
		}
	}
}

// TestAppendJSONStr: what the fast client writes reads back as the same
// string through encoding/json.
func TestAppendJSONStr(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"uote\\back", "ctl\x00\x01\t\n\r\x1f", "é😀</>&"} {
		var got string
		if err := json.Unmarshal(appendJSONStr(nil, s), &got); err != nil || got != s {
			t.Errorf("%q came back as %q (%v)", s, got, err)
		}
		if back, err := jsonString(appendJSONStr(nil, []byte(s))); err != nil || back != s {
			t.Errorf("%q: jsonString gave %q (%v)", s, back, err)
		}
	}
}

// FuzzJSONScan: the fast client's reader never panics, and on what
// encoding/json reads as an object of string members it finds the same
// members with the same values.
func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"Messages":[{"Body":"x\u00e9","MD5OfBody":"1"}]}`, `{"a":[1,{"b":"]"}],"c":null}`, `{"s":"\ud83d\ude00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := map[string]string{}
		err := scanObject(data, func(k string, v []byte) {
			_ = scanArray(v, func([]byte) {})
			if s, err := jsonString(v); err == nil {
				got[k] = s
			}
		})
		var want map[string]string
		if json.Unmarshal(data, &want) != nil {
			return
		}
		if err != nil {
			t.Fatalf("encoding/json reads %q, scanObject: %v", data, err)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%q: member %q is %q, encoding/json %q", data, k, got[k], v)
			}
		}
	})
}
