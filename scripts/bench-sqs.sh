#!/bin/sh
# Placeholder until the SQS benchmark lands (issue #15); see below.
echo "bench-sqs: not yet written" >&2
exit 1
