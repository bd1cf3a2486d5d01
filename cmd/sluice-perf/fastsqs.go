package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// fastSQS is sluice-perf's own SQS client (--client fast), for the same
// reason as the fast AMQP client: aws-sdk-go-v2 spends about as much CPU
// per message as the broker (some 130 µs, most of it in its middleware
// stack, reflection-driven JSON and allocation), so on a 2-core machine an
// SDK-driven run measures the SDK. This client does what the SDK does on
// the wire and no less: AWS JSON 1.0 requests on one keep-alive HTTP/1.1
// connection, each signed with SigV4 over the SHA-256 of its payload (the
// signing key cached per day, as the SDK does), and the answers checked as
// the SDK checks them: the status, every entry's MD5OfMessageBody against
// the body sent, every received message's MD5OfBody against its body. It
// writes each request with one write and reads answers with
// net/http.ReadResponse (which takes both a Content-Length and a chunked
// answer, as goaws sends).
type fastSQS struct {
	nc     net.Conn
	br     *bufio.Reader
	host   string // the Host header and the signed host
	signer sigV4Signer

	req  []byte // the request being written
	body []byte // its JSON payload
	resp []byte // the last answer's body
	ids  []string
}

// dialFastSQS connects one client to c's endpoint.
func dialFastSQS(c config) (*fastSQS, error) {
	u, err := url.Parse(c.SQSEndpoint)
	if err != nil {
		return nil, err
	}
	hostport := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			hostport += ":443"
		} else {
			hostport += ":80"
		}
	}
	tc := c.tlsConf
	if u.Scheme != "https" {
		tc = nil
	}
	nc, err := dialSocket(hostport, tc)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return &fastSQS{
		nc: nc, br: bufio.NewReaderSize(nc, 64<<10), host: u.Host, ids: ids,
		signer: sigV4Signer{key: c.SQSKey, secret: c.SQSSecret, region: c.SQSRegion},
	}, nil
}

func (f *fastSQS) close() { f.nc.Close() }

// call sends f.body as action and reads the answer into f.resp. An answer
// other than 200 is an error carrying SQS's error type and message.
func (f *fastSQS) call(ctx context.Context, action string) error {
	target := "AmazonSQS." + action
	now := time.Now().UTC()
	auth := f.signer.authorization(now, f.host, target, f.body)
	f.req = append(f.req[:0], "POST / HTTP/1.1\r\nHost: "...)
	f.req = append(f.req, f.host...)
	f.req = append(f.req, "\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: "...)
	f.req = append(f.req, target...)
	f.req = append(f.req, "\r\nX-Amz-Date: "...)
	f.req = now.AppendFormat(f.req, amzDateFormat)
	f.req = append(f.req, "\r\nAuthorization: "...)
	f.req = append(f.req, auth...)
	f.req = append(f.req, "\r\nContent-Length: "...)
	f.req = strconv.AppendInt(f.req, int64(len(f.body)), 10)
	f.req = append(f.req, "\r\n\r\n"...)
	f.req = append(f.req, f.body...)

	// A cancelled run ends a long poll by closing the socket under it.
	stop := context.AfterFunc(ctx, func() { f.nc.SetDeadline(time.Now()) })
	defer stop()
	if _, err := f.nc.Write(f.req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(f.br, nil)
	if err != nil {
		return err
	}
	f.resp, err = readAllInto(f.resp[:0], resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.Close {
		return errors.New("the server closed the connection")
	}
	if resp.StatusCode != http.StatusOK {
		var typ, msg string
		scanObject(f.resp, func(key string, v []byte) {
			switch key {
			case "__type":
				typ, _ = jsonString(v)
			case "message", "Message":
				msg, _ = jsonString(v)
			}
		})
		return fmt.Errorf("%s: %d %s: %s", action, resp.StatusCode, typ, msg)
	}
	return nil
}

// readAllInto appends what r has to buf.
func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (f *fastSQS) sendBatch(ctx context.Context, queueURL string, entries []sqsEntry) (int, error) {
	b := append(f.body[:0], `{"QueueUrl":`...)
	b = appendJSONStr(b, queueURL)
	b = append(b, `,"Entries":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Id":`...)
		b = appendJSONStr(b, f.ids[i])
		b = append(b, `,"MessageBody":`...)
		b = appendJSONStr(b, e.body)
		if e.group != "" {
			b = append(b, `,"MessageGroupId":`...)
			b = appendJSONStr(b, e.group)
			b = append(b, `,"MessageDeduplicationId":`...)
			b = appendJSONStr(b, e.dedup)
		}
		b = append(b, '}')
	}
	f.body = append(b, "]}"...)
	if err := f.call(ctx, "SendMessageBatch"); err != nil {
		return 0, err
	}
	sent := 0
	var failure, inner error
	err := scanObject(f.resp, func(key string, v []byte) {
		switch key {
		case "Successful":
			inner = errors.Join(inner, scanArray(v, func(ev []byte) {
				var id, sum string
				inner = errors.Join(inner, scanObject(ev, func(k string, v []byte) {
					switch k {
					case "Id":
						id, _ = jsonString(v)
					case "MD5OfMessageBody":
						sum, _ = jsonString(v)
					}
				}))
				i, err := strconv.Atoi(id)
				switch {
				case err != nil || i < 0 || i >= len(entries):
					failure = fmt.Errorf("an answer for entry %q, which was not sent", id)
				case sum != md5Hex(entries[i].body):
					// The SDK fails the call on this mismatch.
					failure = fmt.Errorf("entry %s: MD5OfMessageBody %q is not the MD5 of the body sent", id, sum)
				default:
					sent++
				}
			}))
		case "Failed":
			inner = errors.Join(inner, scanArray(v, func(ev []byte) {
				var code, msg string
				inner = errors.Join(inner, scanObject(ev, func(k string, v []byte) {
					switch k {
					case "Code":
						code, _ = jsonString(v)
					case "Message":
						msg, _ = jsonString(v)
					}
				}))
				if failure == nil {
					failure = fmt.Errorf("an entry failed: %s: %s", code, msg)
				}
			}))
		}
	})
	if err = errors.Join(err, inner); err != nil {
		return 0, fmt.Errorf("SendMessageBatch answer: %w", err)
	}
	return sent, failure
}

func (f *fastSQS) receive(ctx context.Context, queueURL string, wait int) ([]sqsMessage, error) {
	b := append(f.body[:0], `{"QueueUrl":`...)
	b = appendJSONStr(b, queueURL)
	b = append(b, `,"MaxNumberOfMessages":10,"WaitTimeSeconds":`...)
	b = strconv.AppendInt(b, int64(wait), 10)
	f.body = append(b, '}')
	if err := f.call(ctx, "ReceiveMessage"); err != nil {
		return nil, err
	}
	var msgs []sqsMessage
	var failure, inner error
	err := scanObject(f.resp, func(key string, v []byte) {
		if key != "Messages" {
			return
		}
		inner = errors.Join(inner, scanArray(v, func(mv []byte) {
			var m sqsMessage
			var sum string
			inner = errors.Join(inner, scanObject(mv, func(k string, v []byte) {
				switch k {
				case "Body":
					m.body, _ = jsonString(v)
				case "ReceiptHandle":
					m.handle, _ = jsonString(v)
				case "MD5OfBody":
					sum, _ = jsonString(v)
				}
			}))
			if sum != md5Hex(m.body) && failure == nil {
				failure = fmt.Errorf("MD5OfBody %q is not the MD5 of the body received", sum)
			}
			msgs = append(msgs, m)
		}))
	})
	if err = errors.Join(err, inner); err != nil {
		return nil, fmt.Errorf("ReceiveMessage answer: %w", err)
	}
	return msgs, failure
}

func (f *fastSQS) deleteBatch(ctx context.Context, queueURL string, handles []string) error {
	b := append(f.body[:0], `{"QueueUrl":`...)
	b = appendJSONStr(b, queueURL)
	b = append(b, `,"Entries":[`...)
	for i, h := range handles {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Id":`...)
		b = appendJSONStr(b, f.ids[i])
		b = append(b, `,"ReceiptHandle":`...)
		b = appendJSONStr(b, h)
		b = append(b, '}')
	}
	f.body = append(b, "]}"...)
	if err := f.call(ctx, "DeleteMessageBatch"); err != nil {
		return err
	}
	ok, failed := 0, ""
	var inner error
	err := scanObject(f.resp, func(key string, v []byte) {
		switch key {
		case "Successful":
			inner = errors.Join(inner, scanArray(v, func([]byte) { ok++ }))
		case "Failed":
			inner = errors.Join(inner, scanArray(v, func(ev []byte) {
				inner = errors.Join(inner, scanObject(ev, func(k string, v []byte) {
					if k == "Code" && failed == "" {
						failed, _ = jsonString(v)
					}
				}))
				if failed == "" {
					failed = "(no code)"
				}
			}))
		}
	})
	err = errors.Join(err, inner)
	switch {
	case err != nil:
		return fmt.Errorf("DeleteMessageBatch answer: %w", err)
	case failed != "":
		return fmt.Errorf("%d of %d entries deleted; a failure: %s", ok, len(handles), failed)
	}
	return nil
}

func md5Hex[T string | []byte](b T) string {
	sum := md5.Sum([]byte(b))
	return hex.EncodeToString(sum[:])
}

// amzDateFormat is SigV4's X-Amz-Date.
const amzDateFormat = "20060102T150405Z"

// sigV4Signer signs AWS JSON requests to SQS with Signature Version 4
// (the header form) as aws-sdk-go-v2 signs them: the canonical request
// over the POST to "/", the signed headers content-length, content-type,
// host, x-amz-date and x-amz-target, and the payload's SHA-256.
type sigV4Signer struct {
	key, secret, region string
	day                 string // the date of signingKey
	signingKey          []byte
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// authorization is the Authorization header of a request to host with
// X-Amz-Target target and payload body, signed at now (UTC).
func (s *sigV4Signer) authorization(now time.Time, host, target string, body []byte) string {
	day := now.Format("20060102")
	if day != s.day {
		k := hmacSHA256([]byte("AWS4"+s.secret), day)
		k = hmacSHA256(k, s.region)
		k = hmacSHA256(k, "sqs")
		s.signingKey, s.day = hmacSHA256(k, "aws4_request"), day
	}
	amzDate := now.Format(amzDateFormat)
	payload := sha256.Sum256(body)
	canonical := "POST\n/\n\n" +
		"content-length:" + strconv.Itoa(len(body)) + "\n" +
		"content-type:application/x-amz-json-1.0\n" +
		"host:" + host + "\n" +
		"x-amz-date:" + amzDate + "\n" +
		"x-amz-target:" + target + "\n\n" +
		"content-length;content-type;host;x-amz-date;x-amz-target\n" +
		hex.EncodeToString(payload[:])
	scope := day + "/" + s.region + "/sqs/aws4_request"
	creq := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	sig := hmacSHA256(s.signingKey, sts)
	return "AWS4-HMAC-SHA256 Credential=" + s.key + "/" + scope +
		", SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, Signature=" + hex.EncodeToString(sig)
}
