package sqs

import (
	"fmt"
)

// apiError is an error as SQS returns it: the JSON protocol's __type
// (the shape name, namespaced), the Query protocol's code (sent in JSON
// too, as the x-amzn-query-error header, so that SDKs map both to the same
// typed exception), whether the sender or the receiver is at fault, and the
// HTTP status.
type apiError struct {
	typ     string // JSON __type, namespaced: com.amazonaws.sqs#QueueDoesNotExist
	code    string // Query protocol code: AWS.SimpleQueueService.NonExistentQueue
	status  int
	fault   string // "Sender" or "Receiver"
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// errKind is one of SQS's error shapes.
type errKind struct {
	typ, code string
	status    int
}

const sqsNS = "com.amazonaws.sqs#"
const coralNS = "com.amazon.coral.service#"

// The error shapes of the SQS API (botocore's sqs service-2.json) with the
// Query codes and statuses of the SQS API reference, and the common errors
// every AWS service returns.
var (
	errQueueDoesNotExist      = errKind{sqsNS + "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400}
	errQueueNameExists        = errKind{sqsNS + "QueueNameExists", "QueueAlreadyExists", 400}
	errPurgeInProgress        = errKind{sqsNS + "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 400}
	errMessageNotInflight     = errKind{sqsNS + "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400}
	errReceiptHandleInvalid   = errKind{sqsNS + "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400}
	errBatchIDsNotDistinct    = errKind{sqsNS + "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400}
	errBatchTooLong           = errKind{sqsNS + "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400}
	errEmptyBatch             = errKind{sqsNS + "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400}
	errInvalidBatchEntryID    = errKind{sqsNS + "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400}
	errTooManyEntries         = errKind{sqsNS + "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400}
	errUnsupportedOperation   = errKind{sqsNS + "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400}
	errInvalidAttributeName   = errKind{sqsNS + "InvalidAttributeName", "InvalidAttributeName", 400}
	errInvalidAttributeValue  = errKind{sqsNS + "InvalidAttributeValue", "InvalidAttributeValue", 400}
	errInvalidMessageContents = errKind{sqsNS + "InvalidMessageContents", "InvalidMessageContents", 400}
	errInvalidAddress         = errKind{sqsNS + "InvalidAddress", "InvalidAddress", 404}
	errOverLimit              = errKind{sqsNS + "OverLimit", "OverLimit", 403}
	errResourceNotFound       = errKind{sqsNS + "ResourceNotFoundException", "ResourceNotFoundException", 404}

	errInvalidParameterValue = errKind{coralNS + "InvalidParameterValueException", "InvalidParameterValue", 400}
	errMissingParameter      = errKind{coralNS + "MissingRequiredParameterException", "MissingParameter", 400}
	errInvalidAction         = errKind{coralNS + "UnknownOperationException", "InvalidAction", 400}
	errAccessDenied          = errKind{coralNS + "AccessDeniedException", "AccessDenied", 403}
	errMissingAuthToken      = errKind{coralNS + "MissingAuthenticationTokenException", "MissingAuthenticationToken", 403}
	errIncompleteSignature   = errKind{coralNS + "IncompleteSignatureException", "IncompleteSignature", 400}
	errInvalidClientTokenID  = errKind{coralNS + "InvalidClientTokenId", "InvalidClientTokenId", 403}
	errSignatureDoesNotMatch = errKind{coralNS + "SignatureDoesNotMatch", "SignatureDoesNotMatch", 403}
	errRequestExpired        = errKind{coralNS + "RequestExpired", "RequestExpired", 400}
	errSerialization         = errKind{coralNS + "SerializationException", "MalformedQueryString", 400}
	errRequestTooLarge       = errKind{coralNS + "RequestEntityTooLargeException", "RequestEntityTooLarge", 413}
	errInternal              = errKind{coralNS + "InternalFailure", "InternalFailure", 500}
	errServiceUnavailable    = errKind{coralNS + "ServiceUnavailable", "ServiceUnavailable", 503}
)

// errorf makes an error of kind k; a 5xx is the receiver's fault.
func errorf(k errKind, format string, args ...any) *apiError {
	fault := "Sender"
	if k.status >= 500 {
		fault = "Receiver"
	}
	return &apiError{typ: k.typ, code: k.code, status: k.status, fault: fault, message: fmt.Sprintf(format, args...)}
}

func errNoQueue() *apiError {
	return errorf(errQueueDoesNotExist, "The specified queue does not exist.")
}

func errInvalidParam(name string, value any, reason string) *apiError {
	return errorf(errInvalidParameterValue, "Value %v for parameter %s is invalid. Reason: %s", value, name, reason)
}

func errMissing(name string) *apiError {
	return errorf(errMissingParameter, "The request must contain the parameter %s.", name)
}
