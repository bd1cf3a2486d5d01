package sqs

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/message"
)

// Queue attributes are queue arguments, so that one queue means the same
// over AMQP, STOMP and SQS:
//
//	VisibilityTimeout (s)          x-visibility-timeout (ms); 0 is x-sqs-visibility-timeout 0
//	DelaySeconds                   x-delivery-delay (ms), always set, so that per-message DelaySeconds (x-delay) is honoured
//	MessageRetentionPeriod (s)     x-message-ttl (ms)
//	MaximumMessageSize             x-max-message-size
//	RedrivePolicy                  x-dead-letter-exchange "" + x-dead-letter-routing-key DLQ + x-delivery-limit maxReceiveCount-1
//	                               + x-dead-letter-expired false (retention deletes)
//	FifoQueue                      x-message-groups + x-message-deduplication
//	ContentBasedDeduplication      x-content-deduplication
//	DeduplicationScope             x-deduplication-scope "queue" or "message-group"
//	ReceiveMessageWaitTimeSeconds  x-sqs-receive-wait-time-seconds (this adapter's own)
//	Policy, RedriveAllowPolicy, FifoThroughputLimit,
//	KmsMasterKeyId, KmsDataKeyReusePeriodSeconds, SqsManagedSseEnabled
//	                               x-sqs-<name>, kept and returned as given
//	CreatedTimestamp               x-sqs-created (unix seconds)
//	LastModifiedTimestamp          x-sqs-modified (unix seconds; else CreatedTimestamp)
//	tags                           x-sqs-tags (a table)
//
// x-delivery-limit counts returns: a message whose lease ran out for the
// maxReceiveCount-th time has been received maxReceiveCount times and
// leaves for the dead-letter queue instead of being received again.

const (
	argVisibility  = "x-visibility-timeout"
	argSQSVis      = "x-sqs-visibility-timeout"
	argDelay       = "x-delivery-delay"
	argTTL         = "x-message-ttl"
	argMaxSize     = "x-max-message-size"
	argDLX         = "x-dead-letter-exchange"
	argDLRK        = "x-dead-letter-routing-key"
	argLimit       = "x-delivery-limit"
	argGroups      = "x-message-groups"
	argDedup       = "x-message-deduplication"
	argContent     = "x-content-deduplication"
	argScope       = "x-deduplication-scope"
	argExpiredDL   = "x-dead-letter-expired"
	argWait        = "x-sqs-receive-wait-time-seconds"
	argCreated     = "x-sqs-created"
	argModified    = "x-sqs-modified"
	argTags        = "x-sqs-tags"
	argRedriveJSON = "x-sqs-redrive-policy"

	defaultVisibility = 30
	defaultRetention  = 345600
	defaultMaxSize    = 1 << 20
	maxVisibility     = 43200
)

// verbatimAttrs are kept as given, in x-sqs-<lowercased name>.
var verbatimAttrs = []string{"Policy", "RedriveAllowPolicy", "FifoThroughputLimit",
	"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"}

func verbatimArg(name string) string { return "x-sqs-" + strings.ToLower(name) }

// readOnlyAttrs are the attributes GetQueueAttributes computes.
var readOnlyAttrs = []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}

var settableAttrs = append([]string{"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
	"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope"}, verbatimAttrs...)

func knownAttr(name string) bool {
	for _, l := range [][]string{readOnlyAttrs, settableAttrs} {
		for _, n := range l {
			if n == name {
				return true
			}
		}
	}
	return false
}

// validQueueName applies SQS's rule: 1 to 80 characters, alphanumeric,
// hyphens and underscores, and a FIFO queue's name ends in ".fifo".
func validQueueName(name string) bool {
	base := strings.TrimSuffix(name, ".fifo")
	if len(name) == 0 || len(name) > 80 || base == "" {
		return false
	}
	for _, c := range base {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func badAttr(name, why string) *apiError {
	return errorf(errInvalidAttributeValue, "Invalid value for the parameter %s. Reason: %s", name, why)
}

func attrInt(name, v string, lo, hi int64) (int64, *apiError) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badAttr(name, "must be an integer from "+strconv.FormatInt(lo, 10)+" to "+strconv.FormatInt(hi, 10)+".")
	}
	return n, nil
}

func attrBool(name, v string) (bool, *apiError) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badAttr(name, "must be true or false.")
}

// redrivePolicy is RedrivePolicy's JSON; maxReceiveCount comes as a number
// or as a string, both of which SQS accepts.
type redrivePolicy struct {
	DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
	MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
}

// parseRedrive returns the dead-letter queue's ARN parts and the receive
// count.
func parseRedrive(v string) (account, queue string, count int64, err *apiError) {
	var p redrivePolicy
	if json.Unmarshal([]byte(v), &p) != nil {
		return "", "", 0, badAttr("RedrivePolicy", "Invalid value for the parameter RedrivePolicy: not a JSON object.")
	}
	parts := strings.Split(p.DeadLetterTargetArn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[5] == "" {
		return "", "", 0, badAttr("RedrivePolicy", "Dead-letter target ARN is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE).")
	}
	raw := strings.Trim(string(p.MaxReceiveCount), `"`)
	n, perr := strconv.ParseInt(raw, 10, 64)
	if perr != nil || n < 1 || n > 1000 {
		return "", "", 0, badAttr("RedrivePolicy", "maxReceiveCount must be an integer from 1 to 1000.")
	}
	return parts[4], parts[5], n, nil
}

// applyAttributes sets the queue arguments for attrs onto args. fifo is
// whether the queue is a FIFO queue; dlqExists says whether a
// dead-letter target exists.
func applyAttributes(args message.Table, attrs map[string]string, fifo bool, dlqOK func(account, queue string) *apiError) *apiError {
	for _, name := range sortedKeys(attrs) {
		v := attrs[name]
		switch name {
		case "VisibilityTimeout":
			n, err := attrInt(name, v, 0, maxVisibility)
			if err != nil {
				return err
			}
			if n == 0 {
				delete(args, argVisibility)
				args[argSQSVis] = int64(0)
			} else {
				delete(args, argSQSVis)
				args[argVisibility] = n * 1000
			}
		case "DelaySeconds":
			n, err := attrInt(name, v, 0, 900)
			if err != nil {
				return err
			}
			args[argDelay] = n * 1000
		case "MessageRetentionPeriod":
			n, err := attrInt(name, v, 60, 1209600)
			if err != nil {
				return err
			}
			args[argTTL] = n * 1000
		case "MaximumMessageSize":
			n, err := attrInt(name, v, 1024, 1<<20)
			if err != nil {
				return err
			}
			args[argMaxSize] = n
		case "ReceiveMessageWaitTimeSeconds":
			n, err := attrInt(name, v, 0, 20)
			if err != nil {
				return err
			}
			args[argWait] = n
		case "RedrivePolicy":
			if v == "" {
				delete(args, argDLX)
				delete(args, argDLRK)
				delete(args, argLimit)
				delete(args, argRedriveJSON)
				delete(args, argExpiredDL)
				continue
			}
			acct, dlq, count, err := parseRedrive(v)
			if err != nil {
				return err
			}
			if err := dlqOK(acct, dlq); err != nil {
				return err
			}
			if strings.HasSuffix(dlq, ".fifo") != fifo {
				return badAttr(name, "Dead-letter queue must be the same type of queue (FIFO or standard) as the source.")
			}
			args[argDLX] = ""
			args[argDLRK] = dlq
			args[argLimit] = count - 1
			args[argRedriveJSON] = v
			// Past the retention period a message is deleted, not
			// dead-lettered.
			args[argExpiredDL] = false
		case "FifoQueue":
			b, err := attrBool(name, v)
			if err != nil {
				return err
			}
			if b != fifo {
				return badAttr(name, "The name of a FIFO queue must end with the .fifo suffix, and only FIFO queues may have that suffix.")
			}
		case "ContentBasedDeduplication":
			b, err := attrBool(name, v)
			if err != nil {
				return err
			}
			if b && !fifo {
				return errorf(errInvalidAttributeName, "Unknown Attribute ContentBasedDeduplication.")
			}
			if fifo {
				args[argContent] = b
			}
		case "DeduplicationScope", "FifoThroughputLimit":
			if !fifo {
				return errorf(errInvalidAttributeName, "Unknown Attribute %s.", name)
			}
			switch {
			case name == "DeduplicationScope" && v == "queue":
				args[argScope] = "queue"
			case name == "DeduplicationScope" && v == "messageGroup":
				args[argScope] = "message-group"
			case name == "DeduplicationScope":
				return badAttr(name, "must be queue or messageGroup.")
			case v != "perQueue" && v != "perMessageGroupId":
				return badAttr(name, "must be perQueue or perMessageGroupId.")
			default:
				// A throughput hint: kept and returned, no effect.
				args[verbatimArg(name)] = v
			}
		case "SqsManagedSseEnabled":
			if _, err := attrBool(name, v); err != nil {
				return err
			}
			args[verbatimArg(name)] = strings.ToLower(v)
		case "Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds":
			args[verbatimArg(name)] = v
		default:
			if knownAttr(name) {
				return errorf(errInvalidAttributeName, "Attribute %s is read-only.", name)
			}
			return errorf(errInvalidAttributeName, "Unknown Attribute %s.", name)
		}
	}
	return nil
}

// newQueueArgs are the arguments of a new SQS queue with SQS's defaults
// and then attrs.
func newQueueArgs(name string, attrs map[string]string, created int64, tags map[string]string, dlqOK func(string, string) *apiError) (message.Table, *apiError) {
	fifo := strings.HasSuffix(name, ".fifo")
	if fifo && !strings.EqualFold(attrs["FifoQueue"], "true") {
		return nil, errInvalidParam("QueueName", name, "The name of a FIFO queue must end with .fifo and the queue must be created with the FifoQueue attribute set to true.")
	}
	args := message.Table{
		argVisibility: int64(defaultVisibility * 1000),
		argDelay:      int64(0),
		argTTL:        int64(defaultRetention * 1000),
		argMaxSize:    int64(defaultMaxSize),
		argCreated:    created,
	}
	if fifo {
		args[argGroups] = true
		args[argDedup] = true
		args[argContent] = false
	}
	if err := applyAttributes(args, attrs, fifo, dlqOK); err != nil {
		return nil, err
	}
	if len(tags) > 0 {
		t := message.Table{}
		for k, v := range tags {
			t[k] = v
		}
		args[argTags] = t
	}
	return args, nil
}

func argInt(args message.Table, k string) (int64, bool) {
	return message.Int(args[k])
}

// queueSettings are what the adapter needs of a queue's arguments on
// every receive and send.
type queueSettings struct {
	visibility int64 // seconds
	leased     bool  // the core leases deliveries itself (x-visibility-timeout)
	wait       int64 // default WaitTimeSeconds
	fifo       bool
	content    bool
	byGroup    bool // de-duplication per message group
	delayed    bool // x-delivery-delay is set: per-message delays are honoured
}

func settingsOf(args message.Table) queueSettings {
	s := queueSettings{visibility: defaultVisibility}
	if ms, ok := argInt(args, argVisibility); ok && ms > 0 {
		s.visibility, s.leased = (ms+999)/1000, true
	} else if n, ok := argInt(args, argSQSVis); ok {
		s.visibility = n
	}
	s.wait, _ = argInt(args, argWait)
	s.fifo, _ = args[argGroups].(bool)
	s.content, _ = args[argContent].(bool)
	scope, _ := message.String(args[argScope])
	s.byGroup = scope == "message-group"
	_, s.delayed = args[argDelay]
	return s
}

// attributesOf computes every attribute of q.
func attributesOf(q *broker.Queue, arn string) map[string]string {
	args := q.Arguments()
	st := q.Stats()
	set := settingsOf(args)
	a := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(st.Ready),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(st.Unacked),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(st.Delayed),
		"QueueArn":                              arn,
		"VisibilityTimeout":                     strconv.FormatInt(set.visibility, 10),
		"ReceiveMessageWaitTimeSeconds":         strconv.FormatInt(set.wait, 10),
		"MaximumMessageSize":                    strconv.Itoa(defaultMaxSize),
		"DelaySeconds":                          "0",
		"SqsManagedSseEnabled":                  "false",
	}
	created, ok := argInt(args, argCreated)
	if ok {
		a["CreatedTimestamp"] = strconv.FormatInt(created, 10)
		a["LastModifiedTimestamp"] = strconv.FormatInt(created, 10)
	}
	if modified, ok := argInt(args, argModified); ok {
		a["LastModifiedTimestamp"] = strconv.FormatInt(modified, 10)
	}
	if n, ok := argInt(args, argMaxSize); ok {
		a["MaximumMessageSize"] = strconv.FormatInt(n, 10)
	}
	if n, ok := argInt(args, argDelay); ok {
		a["DelaySeconds"] = strconv.FormatInt(n/1000, 10)
	}
	if n, ok := argInt(args, argTTL); ok {
		a["MessageRetentionPeriod"] = strconv.FormatInt(n/1000, 10)
	}
	dlx, hasDLX := message.String(args[argDLX])
	if dlq, ok := message.String(args[argDLRK]); ok && hasDLX && dlx == "" {
		if limit, ok := argInt(args, argLimit); ok {
			dlqArn := arnPrefix(arn) + dlq
			b, _ := json.Marshal(struct {
				DeadLetterTargetArn string `json:"deadLetterTargetArn"`
				MaxReceiveCount     int64  `json:"maxReceiveCount"`
			}{dlqArn, limit + 1})
			a["RedrivePolicy"] = string(b)
		}
	}
	if set.fifo {
		a["FifoQueue"] = "true"
		a["ContentBasedDeduplication"] = strconv.FormatBool(set.content)
		a["DeduplicationScope"] = "queue"
		if set.byGroup {
			a["DeduplicationScope"] = "messageGroup"
		}
		a["FifoThroughputLimit"] = "perQueue"
	}
	for _, n := range verbatimAttrs {
		if v, ok := message.String(args[verbatimArg(n)]); ok {
			a[n] = v
		}
	}
	return a
}

// arnPrefix is "arn:aws:sqs:REGION:ACCOUNT:" of an ARN.
func arnPrefix(arn string) string {
	i := strings.LastIndexByte(arn, ':')
	return arn[:i+1]
}

// sameAttribute compares a CreateQueue attribute with the existing
// queue's, as values (numbers as numbers, booleans without case, a
// redrive policy by target and count).
func sameAttribute(name, want, have string) bool {
	switch name {
	case "RedrivePolicy":
		a1, q1, c1, e1 := parseRedrive(want)
		a2, q2, c2, e2 := parseRedrive(have)
		return e1 == nil && e2 == nil && a1 == a2 && q1 == q2 && c1 == c2
	case "FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled":
		return strings.EqualFold(want, have)
	}
	if n1, err := strconv.ParseInt(strings.TrimSpace(want), 10, 64); err == nil {
		n2, err := strconv.ParseInt(have, 10, 64)
		return err == nil && n1 == n2
	}
	return want == have
}

// tagsOf returns the queue's tags.
func tagsOf(args message.Table) map[string]string {
	t, _ := args[argTags].(message.Table)
	out := map[string]string{}
	for k, v := range t {
		if s, ok := message.String(v); ok {
			out[k] = s
		}
	}
	return out
}
