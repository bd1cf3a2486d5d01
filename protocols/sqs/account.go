package sqs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
)

// Account ids: SQS queue URLs and ARNs carry a 12-digit AWS account id;
// here an account is a vhost. The default vhost "/" is 000000000000 (what
// SDK users of local emulators expect); any other vhost's id is derived
// from its name: the first 8 bytes of SHA-256("sluice-vhost:" + name), big
// endian, modulo 10^12, as 12 decimal digits (0 is moved to 1 so that it
// never collides with "/"). It is stable across restarts and machines and
// needs no configuration; GetQueueUrl and CreateQueue return it.

const defaultAccount = "000000000000"

// AccountID is the account id of a vhost.
func AccountID(vhost string) string {
	if vhost == "/" {
		return defaultAccount
	}
	h := sha256.Sum256([]byte("sluice-vhost:" + vhost))
	n := binary.BigEndian.Uint64(h[:8]) % 1_000_000_000_000
	if n == 0 {
		n = 1
	}
	return fmt.Sprintf("%012d", n)
}

// parseQueuePath splits a queue URL's path, /ACCOUNT/QUEUE, into its
// account and (unescaped) queue name. The host is not looked at: SDKs
// build queue URLs with hosts of their own (sqs.us-east-1.amazonaws.com,
// localhost), and the path decides.
func parseQueuePath(path string) (account, queue string, ok bool) {
	path = strings.TrimPrefix(path, "/")
	account, queue, ok = strings.Cut(path, "/")
	if !ok || account == "" || queue == "" || strings.Contains(queue, "/") {
		return "", "", false
	}
	return account, queue, true
}

// parseQueueURL reads the account and queue of a QueueUrl parameter.
func parseQueueURL(s string) (account, queue string, ok bool) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", false
	}
	return parseQueuePath(u.Path)
}

// queueURL is the URL of queue in account, on the host the request came
// to.
func queueURL(scheme, host, account, queue string) string {
	return scheme + "://" + host + "/" + account + "/" + url.PathEscape(queue)
}
