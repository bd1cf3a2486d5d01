package sqs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/sluice-mq/sluice/auth"
)

// AWS Signature Version 4, verified as AWS defines it
// (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html): the
// canonical request (method, URI, sorted query, signed headers, payload
// hash), the string to sign over the credential scope, and the signing key
// derived from the secret by date, region, service and "aws4_request".
// Both forms: the Authorization header and the presigned query string.
// The service must be "sqs"; any region is accepted (a local broker has
// no regions); the request time must be within maxSkew of ours.

const (
	sigAlgorithm     = "AWS4-HMAC-SHA256"
	sigService       = "sqs"
	sigTerminator    = "aws4_request"
	amzDateFormat    = "20060102T150405Z"
	maxSkew          = 15 * time.Minute
	maxPresignExpiry = 7 * 24 * 60 * 60 // seconds, as AWS
	unsignedPayload  = "UNSIGNED-PAYLOAD"
)

// KeyStore finds the user and secret of an access key id
// (auth.Registry.AccessKeySecret).
type KeyStore interface {
	AccessKeySecret(id string, remote net.Addr) (*auth.User, string, error)
	// FailedLogin slows a peer whose signatures keep failing, as failed
	// logins on the other protocols (auth.Throttle); LoginSucceeded
	// forgets its failures.
	FailedLogin(remote net.Addr) error
	LoginSucceeded(remote net.Addr)
	// RecordAttempt counts one authentication attempt (auth.Attempts).
	RecordAttempt(protocol string, ok bool)
}

// sigInput is a parsed signature: from the Authorization header or from a
// presigned URL's query.
type sigInput struct {
	presigned     bool
	accessKey     string
	date, region  string // scope
	service, term string
	signedHeaders []string
	signature     string
	amzDate       string
	expires       int64 // presigned: seconds (0: none given, the clock skew applies)
}

// parseAuthorization parses an "AWS4-HMAC-SHA256 Credential=...,
// SignedHeaders=..., Signature=..." header.
func parseAuthorization(h string) (sigInput, *apiError) {
	var in sigInput
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != sigAlgorithm {
		return in, errorf(errIncompleteSignature, "Authorization header requires the %s algorithm: sluice verifies AWS Signature Version 4 only. Authorization=%s", sigAlgorithm, alg)
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return in, errorf(errIncompleteSignature, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters of the form key=value; got '%s'.", truncate(part, 64))
		}
		switch k {
		case "Credential":
			cred, haveCred = v, true
		case "SignedHeaders":
			signed, haveSigned = v, true
		case "Signature":
			sig, haveSig = v, true
		}
	}
	for _, m := range []struct {
		name string
		ok   bool
	}{{"Credential", haveCred}, {"Signature", haveSig}, {"SignedHeaders", haveSigned}} {
		if !m.ok {
			return in, errorf(errIncompleteSignature, "Authorization header requires '%s' parameter. Authorization=%s", m.name, truncate(h, 256))
		}
	}
	if err := in.setCredential(cred); err != nil {
		return in, err
	}
	in.signedHeaders = strings.Split(signed, ";")
	in.signature = sig
	return in, nil
}

func (in *sigInput) setCredential(cred string) *apiError {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return errorf(errIncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", truncate(cred, 256))
	}
	in.accessKey, in.date, in.region, in.service, in.term = parts[0], parts[1], parts[2], parts[3], parts[4]
	return nil
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func parsePresigned(q url.Values) (sigInput, *apiError) {
	in := sigInput{presigned: true}
	if alg := q.Get("X-Amz-Algorithm"); alg != sigAlgorithm {
		return in, errorf(errIncompleteSignature, "X-Amz-Algorithm must be %s, got '%s'.", sigAlgorithm, truncate(alg, 64))
	}
	for _, k := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if q.Get(k) == "" {
			return in, errorf(errIncompleteSignature, "A presigned request requires the query parameter %s.", k)
		}
	}
	if err := in.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return in, err
	}
	in.amzDate = q.Get("X-Amz-Date")
	in.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	in.signature = q.Get("X-Amz-Signature")
	if q.Get("X-Amz-Expires") == "" {
		return in, nil // valid within the clock skew, as a signed header
	}
	exp, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || exp < 1 || exp > maxPresignExpiry {
		return in, errorf(errIncompleteSignature, "X-Amz-Expires must be a number of seconds from 1 to %d, got '%s'.", maxPresignExpiry, truncate(q.Get("X-Amz-Expires"), 32))
	}
	in.expires = exp
	return in, nil
}

// verifySignature checks r's signature over body and returns its user.
func verifySignature(r *http.Request, body []byte, keys KeyStore, now time.Time, remote net.Addr) (*auth.User, *apiError) {
	var in sigInput
	var err *apiError
	switch {
	case r.Header.Get("Authorization") != "":
		in, err = parseAuthorization(r.Header.Get("Authorization"))
		if err == nil {
			in.amzDate = r.Header.Get("X-Amz-Date")
			if in.amzDate == "" {
				if d := r.Header.Get("Date"); d != "" {
					if t, perr := http.ParseTime(d); perr == nil {
						in.amzDate = t.UTC().Format(amzDateFormat)
					} else {
						return nil, errorf(errIncompleteSignature, "Date header '%s' is not a valid HTTP date.", truncate(d, 64))
					}
				}
			}
			if in.amzDate == "" {
				return nil, errorf(errIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", truncate(r.Header.Get("Authorization"), 256))
			}
		}
	case r.URL.RawQuery != "": // a presigned URL, perhaps (parsed only then)
		query := r.URL.Query()
		if query.Get("X-Amz-Algorithm") == "" && query.Get("X-Amz-Signature") == "" {
			return nil, errorf(errMissingAuthToken, "Request is missing Authentication Token")
		}
		in, err = parsePresigned(query)
	default:
		return nil, errorf(errMissingAuthToken, "Request is missing Authentication Token")
	}
	if err != nil {
		return nil, err
	}
	t, perr := time.Parse(amzDateFormat, in.amzDate)
	if perr != nil {
		return nil, errorf(errIncompleteSignature, "X-Amz-Date must be in the ISO 8601 basic format yyyyMMdd'T'HHmmss'Z', got '%s'.", truncate(in.amzDate, 64))
	}
	if in.date != in.amzDate[:8] {
		return nil, errorf(errSignatureDoesNotMatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", truncate(in.date, 16), in.amzDate[:8], in.amzDate)
	}
	if in.service != sigService {
		return nil, errorf(errSignatureDoesNotMatch, "Credential should be scoped to correct service: '%s'.", sigService)
	}
	if in.term != sigTerminator {
		return nil, errorf(errSignatureDoesNotMatch, "Credential should be scoped with a valid terminator: '%s', not '%s'.", sigTerminator, truncate(in.term, 32))
	}
	if in.presigned && in.expires > 0 {
		if now.After(t.Add(time.Duration(in.expires) * time.Second)) {
			return nil, errorf(errRequestExpired, "Request has expired: signed at %s for %d seconds; it is now %s.", in.amzDate, in.expires, now.UTC().Format(amzDateFormat))
		}
		if t.After(now.Add(maxSkew)) {
			return nil, errorf(errRequestExpired, "Request is not yet valid: signed at %s, more than 15 minutes after now (%s).", in.amzDate, now.UTC().Format(amzDateFormat))
		}
	} else if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return nil, errorf(errRequestExpired, "Signature expired: %s is now earlier than %s (%s - 15 min.) or later than %s (%s + 15 min.)",
			in.amzDate, now.Add(-maxSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat),
			now.Add(maxSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	if !containsFold(in.signedHeaders, "host") {
		return nil, errorf(errSignatureDoesNotMatch, "'Host' must be a signed header.")
	}
	user, secret, kerr := keys.AccessKeySecret(in.accessKey, remote)
	if kerr != nil {
		keys.RecordAttempt(auth.ProtocolSQS, false)
		keys.FailedLogin(remote)
		return nil, errorf(errInvalidClientTokenID, "The security token included in the request is invalid.")
	}
	bodyHash := sha256Hex(body)
	var payloads []string
	switch h := r.Header.Get("X-Amz-Content-Sha256"); {
	case h == unsignedPayload:
		payloads = []string{unsignedPayload}
	case h != "" && !strings.EqualFold(h, bodyHash):
		return nil, errorf(errSignatureDoesNotMatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	case in.presigned:
		payloads = []string{bodyHash, unsignedPayload}
	default:
		payloads = []string{bodyHash}
	}
	key := signingKeys.get(in.accessKey, secret, in.date, in.region)
	scope := in.date + "/" + in.region + "/" + sigService + "/" + sigTerminator
	// AWS collapses runs of spaces in header values (the Go SDK does just
	// that); botocore collapses any whitespace. They differ only for a
	// value with other whitespace inside (a tab), and then both are tried.
	headerForms := []string{canonicalHeaders(r, in.signedHeaders, false)}
	if otherSpace(r, in.signedHeaders) {
		if alt := canonicalHeaders(r, in.signedHeaders, true); alt != headerForms[0] {
			headerForms = append(headerForms, alt)
		}
	}
	signed := strings.Join(in.signedHeaders, ";")
	cq := canonicalQuery(r.URL.RawQuery, in.presigned)
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	// Non-S3 services sign the path URI-encoded once more (the SDKs do);
	// a client that signs it as sent is accepted too.
	for _, uri := range []string{escapeURI(path, false), path} {
		for _, headers := range headerForms {
			for _, payload := range payloads {
				creq := r.Method + "\n" + uri + "\n" + cq + "\n" + headers + "\n" + signed + "\n" + payload
				sts := sigAlgorithm + "\n" + in.amzDate + "\n" + scope + "\n" + sha256Hex([]byte(creq))
				want := hex.EncodeToString(hmacSHA256(key, []byte(sts)))
				if hmac.Equal([]byte(want), []byte(strings.ToLower(in.signature))) {
					keys.RecordAttempt(auth.ProtocolSQS, true)
					keys.LoginSucceeded(remote)
					return user, nil
				}
			}
		}
	}
	keys.RecordAttempt(auth.ProtocolSQS, false)
	keys.FailedLogin(remote)
	return nil, errorf(errSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

// keyCache keeps derived signing keys: deriving one is four HMACs, and
// an access key signs with the same key all day in one region. An entry
// is found by key id, date and region and used only while the secret is
// the one it was derived from (a key deleted and made again has a new
// secret). Bounded: when full it starts again empty.
type keyCache struct {
	mu sync.Mutex
	m  map[keyScope]cachedKey
}

type keyScope struct{ id, date, region string }

type cachedKey struct {
	secret string
	key    []byte
}

const maxCachedKeys = 4096

var signingKeys = keyCache{m: map[keyScope]cachedKey{}}

func (c *keyCache) get(id, secret, date, region string) []byte {
	sc := keyScope{id, date, region}
	c.mu.Lock()
	e, ok := c.m[sc]
	c.mu.Unlock()
	if ok && e.secret == secret {
		return e.key
	}
	k := signingKey(secret, date, region)
	c.mu.Lock()
	if len(c.m) >= maxCachedKeys {
		clear(c.m)
	}
	c.m[sc] = cachedKey{secret, k}
	c.mu.Unlock()
	return k
}

func signingKey(secret, date, region string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(sigService))
	return hmacSHA256(k, []byte(sigTerminator))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// canonicalHeaders is "name:value\n" for each signed header in the order
// given (SignedHeaders is sorted by the signer), values trimmed with runs
// of spaces collapsed (of any whitespace with allSpace), several values
// joined by commas.
func canonicalHeaders(r *http.Request, names []string, allSpace bool) string {
	var b strings.Builder
	for _, n := range names {
		n = strings.ToLower(n)
		var vals []string
		switch n {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			vals = r.Header.Values(n)
		}
		b.WriteString(n)
		b.WriteByte(':')
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			if allSpace {
				b.WriteString(strings.Join(strings.Fields(v), " "))
			} else {
				// Then, as the Go SDK, any whitespace at the ends.
				b.WriteString(strings.TrimSpace(collapseSpaces(v)))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// otherSpace reports whether a signed header's value has whitespace other
// than spaces, where the two canonical forms of canonicalHeaders differ
// (with spaces only, splitting on whitespace is collapsing and trimming).
func otherSpace(r *http.Request, names []string) bool {
	notSpace := func(c rune) bool { return c != ' ' && unicode.IsSpace(c) }
	for _, n := range names {
		vals := r.Header.Values(n)
		if strings.EqualFold(n, "host") {
			vals = []string{r.Host}
		}
		for _, v := range vals {
			if strings.IndexFunc(v, notSpace) >= 0 {
				return true
			}
		}
	}
	return false
}

// collapseSpaces trims spaces at both ends and turns runs of spaces into
// one, as AWS's canonical header values.
func collapseSpaces(v string) string {
	v = strings.Trim(v, " ")
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// canonicalQuery sorts the query's parameters by name, then value, each
// URI-encoded as AWS does; a presigned request's own signature is left out.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var params []kv
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue // such a request cannot have been signed as sent
		}
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		params = append(params, kv{escapeURI(k, true), escapeURI(v, true)})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// escapeURI percent-encodes every byte but the unreserved characters
// (A-Z a-z 0-9 - _ . ~), and '/' unless encodeSlash.
func escapeURI(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
