package sqs

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/auth"
	"github.com/sluice-mq/sluice/broker"
	tlsconfig "github.com/sluice-mq/sluice/tls"
)

// Config holds the adapter's settings; zero values mean the defaults.
type Config struct {
	// Region is the region in queue ARNs (default us-east-1). Requests
	// signed for any region are accepted.
	Region string
	// MaxRequestBytes bounds a request body (default 1 MiB + 64 KiB: a
	// batch of SQS's largest total payload, 1 MiB, with its encoding).
	MaxRequestBytes int64
}

const defaultMaxRequest = 1<<20 + 64<<10

// maxBatchPayload is SQS's bound on the messages of one batch together.
const maxBatchPayload = 1 << 20

// Server serves the SQS API over HTTP.
type Server struct {
	cfg   Config
	b     *broker.Broker
	users auth.Store
	keys  KeyStore
	log   zerolog.Logger

	ctx    context.Context // ends at Shutdown: long polls return
	cancel context.CancelFunc
	httpS  *http.Server

	mu       sync.Mutex
	sessions map[string]*vsession // by vhost + "\x00" + queue
	purges   map[string]time.Time // vhost + "\x00" + queue -> last purge
	moves    moveTasks
	attempts receiveAttempts // FIFO ReceiveRequestAttemptId answers
	lastSeq  atomic.Uint64   // the last FIFO SequenceNumber given
	closed   bool
}

// vsession is the one broker session per queue that holds every message
// SQS clients received from that queue and have not deleted.
type vsession struct {
	s     *broker.Session
	epoch uint64
}

// NewServer returns the adapter for b; users authorizes, keys verifies
// signatures (both are the auth.Registry in the server).
func NewServer(cfg Config, b *broker.Broker, users auth.Store, keys KeyStore, log zerolog.Logger) *Server {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = defaultMaxRequest
	}
	s := &Server{cfg: cfg, b: b, users: users, keys: keys, log: log.With().Str("protocol", "sqs").Logger(),
		sessions: map[string]*vsession{}, purges: map[string]time.Time{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// WriteTimeout leaves room for a 20 s long poll and the fsync after
	// a send; ReadTimeout bounds a slow body (at most MaxRequestBytes).
	s.httpS = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		ErrorLog:    stdlog.New(httpLog{s.log}, "", 0)}
	return s
}

// Serve accepts HTTP connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.httpS.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeTLS accepts HTTPS connections on ln with the TLS manager's
// configuration (certificate reloads included) until Shutdown. net/http
// runs each handshake in its connection's goroutine, bounded by
// ReadHeaderTimeout. Queue URLs given over it are https URLs.
func (s *Server) ServeTLS(ln net.Listener, m *tlsconfig.Manager) error {
	cfg := m.Config().Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return s.Serve(tls.NewListener(ln, cfg))
}

// Shutdown ends long polls, stops serving and returns every message SQS
// clients held in flight to its queue.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	err := s.httpS.Shutdown(ctx)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.moves.mu.Lock() // no task starts after this
	s.moves.mu.Unlock()
	s.moves.wg.Wait() // the cancelled tasks return within one message
	s.mu.Lock()
	sess := s.sessions
	s.sessions = map[string]*vsession{}
	s.mu.Unlock()
	for _, v := range sess {
		v.s.Close()
	}
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// nextSequence is a FIFO message's SequenceNumber: the clock in
// nanoseconds, or one more than the last given when the clock has not
// moved on, as 20 decimal digits: increasing for the broker, and across
// restarts while the clock does not go back.
func (s *Server) nextSequence() string {
	for {
		last := s.lastSeq.Load()
		next := max(last+1, uint64(time.Now().UnixNano()))
		if s.lastSeq.CompareAndSwap(last, next) {
			return fmt.Sprintf("%020d", next)
		}
	}
}

// randomEpoch names a session in receipt handles: random, odd, so never 0.
func randomEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) | 1
}

// httpLog routes net/http's own messages (bad requests, closed
// connections: anyone can cause them) into the log at debug.
type httpLog struct{ log zerolog.Logger }

func (l httpLog) Write(p []byte) (int, error) {
	l.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// nopSink: the SQS sessions only get, never consume.
type nopSink struct{}

func (nopSink) Deliver(broker.Delivery) {}
func (nopSink) Cancelled(string)        {}
func (nopSink) Full() bool              { return false }

// call is one request being served.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	json   bool
	action string
	reqID  string
	user   *auth.User
	in     *input
	start  time.Time
}

const xmlNS = "http://queue.amazonaws.com/doc/2012-11-05/"

// ServeHTTP answers one SQS request in whichever protocol it came.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, w: w, r: r, reqID: newMessageID(), start: time.Now()}
	w.Header().Set("x-amzn-RequestId", c.reqID)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		c.json = true
		act, ok := strings.CutPrefix(target, "AmazonSQS.")
		if !ok {
			c.fail(errorf(errInvalidAction, "The target %s is not an SQS operation (AmazonSQS.<Action>).", truncate(target, 64)))
			return
		}
		c.action = act
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		c.fail(errorf(errInvalidAction, "Method %s is not allowed: SQS requests are POST (or GET for the Query protocol).", r.Method))
		return
	}
	body, err := readBody(w, r, s.cfg.MaxRequestBytes)
	defer putBody(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.fail(errorf(errBatchTooLong, "The request is larger than the %d bytes sluice accepts; SQS's limit for the messages of one request is 1 MiB.", s.cfg.MaxRequestBytes))
			return
		}
		c.fail(errorf(errSerialization, "The request body could not be read."))
		return
	}
	var form url.Values
	if !c.json {
		form = r.URL.Query()
		if r.Method == http.MethodPost {
			bf, perr := url.ParseQuery(string(body))
			if perr != nil {
				c.fail(errorf(errSerialization, "The request body is not a valid form (application/x-www-form-urlencoded)."))
				return
			}
			for k, v := range bf {
				form[k] = append(form[k], v...)
			}
		}
		c.action = form.Get("Action")
		if c.action == "" {
			c.fail(errorf(errMissingParameter, "The request must contain the parameter Action (Query protocol) or an X-Amz-Target header (JSON protocol)."))
			return
		}
	}
	user, aerr := verifySignature(r, body, s.keys, time.Now(), remoteAddr(r))
	if aerr != nil {
		c.fail(aerr)
		return
	}
	c.user = user
	if c.json {
		c.in, aerr = decodeJSON(body)
	} else {
		c.in, aerr = fromForm(c.action, form)
	}
	if aerr != nil {
		c.fail(aerr)
		return
	}
	if c.in.QueueUrl == "" && !c.json {
		// The Query protocol's older form: the request is sent to the
		// queue's URL.
		if _, _, ok := parseQueuePath(r.URL.Path); ok {
			c.in.QueueUrl = r.URL.Path
		}
	}
	h := actions[c.action]
	if h == nil {
		c.fail(errorf(errInvalidAction, "The action %s is not valid for this endpoint.", truncate(c.action, 64)))
		return
	}
	out, aerr := h(c)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	c.reply(out)
}

// readBody reads the request body, at most limit bytes: into a buffer of
// the announced length when there is one (io.ReadAll would grow its
// buffer a few times for a batch of messages).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	src := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n > 0 && n <= limit {
		var buf []byte // n+1: one more, to see the end
		if n < maxPooledBody {
			buf = (*bodyBufs.Get().(*[]byte))[:n+1]
		} else {
			buf = make([]byte, n+1)
		}
		got, err := io.ReadFull(src, buf)
		switch {
		case int64(got) == n && (err == io.ErrUnexpectedEOF || err == io.EOF):
			return buf[:got], nil
		case err != nil:
			return nil, err // a short body too
		}
		// More than announced: net/http does not let that happen, but
		// read on within the limit as io.ReadAll would.
		rest, err := io.ReadAll(src)
		return append(buf, rest...), err
	}
	return io.ReadAll(src)
}

// bodyBufs are request body buffers: nothing decoded from a body keeps a
// reference into it (every decoder copies strings and bytes out), so
// ServeHTTP gives it back when it returns.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, maxPooledBody); return &b }}

const maxPooledBody = 32 << 10

// putBody gives a body read by readBody back to bodyBufs when it came
// from there.
func putBody(b []byte) {
	if cap(b) == maxPooledBody {
		b = b[:cap(b)]
		bodyBufs.Put(&b)
	}
}

func remoteAddr(r *http.Request) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return a
	}
	return nil
}

// replyBufs are buffers for the answers written by hand (jsonout.go);
// one larger than maxPooledReply (a receive of ten large messages) is
// left to the collector rather than kept.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxPooledReply = 256 << 10

// reply writes a successful answer.
func (c *call) reply(out any) {
	if c.json {
		var b []byte
		if a, ok := out.(jsonAppender); ok {
			bp := replyBufs.Get().(*[]byte)
			defer replyBufs.Put(bp)
			b = a.appendJSON((*bp)[:0])
			if cap(b) <= maxPooledReply {
				*bp = b
			}
		} else {
			if out == nil {
				out = struct{}{}
			}
			var err error
			if b, err = json.Marshal(out); err != nil {
				c.fail(errorf(errInternal, "encoding the answer: %v", err))
				return
			}
		}
		h := c.w.Header()
		h.Set("Content-Type", "application/x-amz-json-1.0")
		// A known length: net/http then sends the answer as it is, not
		// in chunks.
		h.Set("Content-Length", strconv.Itoa(len(b)))
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(b)
		return
	}
	type meta struct {
		RequestId string
	}
	start := xml.StartElement{Name: xml.Name{Local: c.action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlNS}}}
	c.w.Header().Set("Content-Type", "text/xml")
	c.w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(c.w, xml.Header)
	enc := xml.NewEncoder(c.w)
	_ = enc.EncodeToken(start)
	if out != nil {
		_ = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: c.action + "Result"}})
	}
	_ = enc.EncodeElement(meta{c.reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	_ = enc.EncodeToken(start.End())
	_ = enc.Flush()
}

// fail writes an error in the request's protocol.
func (c *call) fail(e *apiError) {
	if e.status >= 500 {
		c.s.log.Error().Str("action", c.action).Str("code", e.code).Str("request_id", c.reqID).Msg(e.message)
	} else {
		c.s.log.Debug().Str("action", c.action).Str("code", e.code).Str("request_id", c.reqID).Msg(e.message)
	}
	h := c.w.Header()
	if c.json {
		h.Set("Content-Type", "application/x-amz-json-1.0")
		h.Set("x-amzn-query-error", e.code+";"+e.fault)
		c.w.WriteHeader(e.status)
		b, _ := json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.typ, e.message})
		_, _ = c.w.Write(b)
		return
	}
	h.Set("Content-Type", "text/xml")
	c.w.WriteHeader(e.status)
	type errBody struct {
		Type    string
		Code    string
		Message string
		Detail  string
	}
	type errResp struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     errBody
		RequestId string
	}
	_, _ = io.WriteString(c.w, xml.Header)
	_ = xml.NewEncoder(c.w).Encode(errResp{Xmlns: xmlNS, Error: errBody{Type: e.fault, Code: e.code, Message: e.message}, RequestId: c.reqID})
}
