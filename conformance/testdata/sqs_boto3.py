"""Drives sluice's SQS endpoint with Debian's boto3 (Query protocol).

Run by conformance/sqs_debian_clients_test.go with the endpoint as argv[1].
Prints one line per step; any failure raises, and the test fails on a
non-zero exit. botocore checks MD5OfMessageBody and MD5OfMessageAttributes
itself and raises when they are wrong.
"""
import sys

import boto3
import botocore

endpoint = sys.argv[1]
sqs = boto3.client(
    "sqs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="guest",
    aws_secret_access_key="guest",
    config=botocore.config.Config(retries={"max_attempts": 1}),
)

url = sqs.create_queue(QueueName="boto3-std", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
assert url.endswith("/000000000000/boto3-std"), url
print("create_queue", url)

r = sqs.send_message(
    QueueUrl=url,
    MessageBody="héllo from boto3",
    MessageAttributes={
        "s": {"DataType": "String", "StringValue": "text"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    },
)
assert "MessageId" in r and "MD5OfMessageAttributes" in r, r
print("send_message", r["MessageId"])

batch = sqs.send_message_batch(
    QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"}]
)
assert len(batch.get("Successful", [])) == 2 and not batch.get("Failed"), batch
print("send_message_batch", len(batch["Successful"]))

try:
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}])
    raise AssertionError("duplicate batch ids accepted")
except sqs.exceptions.BatchEntryIdsNotDistinct:
    print("send_message_batch duplicate ids refused")

got = []
for _ in range(10):
    m = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"], AttributeNames=["All"]
    ).get("Messages", [])
    got.extend(m)
    if len(got) >= 3:
        break
bodies = sorted(m["Body"] for m in got)
assert bodies == sorted(["héllo from boto3", "one", "two"]), bodies
first = [m for m in got if m["Body"] == "héllo from boto3"][0]
assert first["MessageAttributes"]["n"] == {"StringValue": "42", "DataType": "Number.int"}, first["MessageAttributes"]
assert first["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01\xff", first["MessageAttributes"]
assert first["Attributes"]["ApproximateReceiveCount"] == "1", first["Attributes"]
print("receive_message", len(got))

d = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
assert len(d.get("Successful", [])) == 3, d
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
assert a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0", a
assert a["VisibilityTimeout"] == "5", a
print("delete_message_batch and get_queue_attributes")

fifo = sqs.create_queue(QueueName="boto3.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
for i in range(3):
    sqs.send_message(QueueUrl=fifo, MessageBody="m%d" % i, MessageGroupId="g")
sqs.send_message(QueueUrl=fifo, MessageBody="m0", MessageGroupId="g")  # a duplicate by content
seen = []
for _ in range(10):
    ms = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
    for m in ms:
        seen.append(m["Body"])
        assert m["Attributes"]["MessageGroupId"] == "g", m["Attributes"]
        sqs.delete_message(QueueUrl=fifo, ReceiptHandle=m["ReceiptHandle"])
    if len(seen) >= 3:
        break
assert seen == ["m0", "m1", "m2"], seen
print("fifo order and de-duplication", seen)

try:
    sqs.get_queue_url(QueueName="no-such-queue")
    raise AssertionError("a missing queue was found")
except sqs.exceptions.QueueDoesNotExist:
    print("get_queue_url QueueDoesNotExist")

bad = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="guest",
                   aws_secret_access_key="wrong", config=botocore.config.Config(retries={"max_attempts": 1}))
try:
    bad.list_queues()
    raise AssertionError("a wrong secret was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response
    print("SignatureDoesNotMatch")

sqs.delete_queue(QueueUrl=url)
sqs.delete_queue(QueueUrl=fifo)
print("ok")
