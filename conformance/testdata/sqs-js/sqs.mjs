// Drives sluice's SQS endpoint with the AWS SDK for JavaScript v3, which
// speaks AWS JSON 1.0. Run by conformance/sqs_js_test.go with the endpoint
// as its argument; prints "ok" last, throws (exit 1) on any failure. The
// SDK checks MD5OfMessageBody and MD5OfMessageAttributes itself.
import assert from "node:assert/strict";
import {
  SQSClient, CreateQueueCommand, SendMessageCommand, SendMessageBatchCommand, ReceiveMessageCommand,
  DeleteMessageBatchCommand, GetQueueAttributesCommand, ChangeMessageVisibilityCommand, GetQueueUrlCommand,
  ListQueuesCommand, DeleteQueueCommand, QueueDoesNotExist,
} from "@aws-sdk/client-sqs";

const endpoint = process.argv[2];
const client = (secret) => new SQSClient({
  endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "guest", secretAccessKey: secret },
});
const sqs = client("guest");

const { QueueUrl: url } = await sqs.send(new CreateQueueCommand({ QueueName: "js-std", Attributes: { VisibilityTimeout: "300" } }));
assert.match(url, /\/000000000000\/js-std$/);
console.log("CreateQueue", url);

const sent = await sqs.send(new SendMessageCommand({
  QueueUrl: url, MessageBody: "from javascript ✓",
  MessageAttributes: {
    s: { DataType: "String", StringValue: "text" },
    n: { DataType: "Number.float", StringValue: "1.5" },
    b: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 255]) },
  },
}));
assert.ok(sent.MessageId && sent.MD5OfMessageAttributes);
const batch = await sqs.send(new SendMessageBatchCommand({
  QueueUrl: url, Entries: [{ Id: "a", MessageBody: "one" }, { Id: "b", MessageBody: "two", DelaySeconds: 0 }],
}));
assert.equal(batch.Successful.length, 2);
assert.ok(!batch.Failed || batch.Failed.length === 0);
console.log("SendMessage and SendMessageBatch");

let got = [];
for (let i = 0; i < 10 && got.length < 3; i++) {
  const r = await sqs.send(new ReceiveMessageCommand({
    QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
    MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"],
  }));
  got = got.concat(r.Messages ?? []);
}
assert.deepEqual(got.map((m) => m.Body).sort(), ["from javascript ✓", "one", "two"].sort());
const first = got.find((m) => m.Body === "from javascript ✓");
assert.equal(first.MessageAttributes.n.StringValue, "1.5");
assert.equal(first.MessageAttributes.n.DataType, "Number.float");
assert.deepEqual([...first.MessageAttributes.b.BinaryValue], [0, 1, 255]);
assert.equal(first.Attributes.ApproximateReceiveCount, "1");
console.log("ReceiveMessage", got.length);

// Give one back at once; it is visible again.
await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }));
const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 2, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }));
assert.equal(again.Messages?.[0]?.Body, "from javascript ✓");
assert.equal(again.Messages[0].Attributes.ApproximateReceiveCount, "2");
console.log("ChangeMessageVisibility 0");

const rest = got.filter((m) => m !== first).concat(again.Messages);
const del = await sqs.send(new DeleteMessageBatchCommand({
  QueueUrl: url, Entries: rest.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
}));
assert.equal(del.Successful.length, 3);
const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }))).Attributes;
assert.equal(attrs.ApproximateNumberOfMessages, "0");
assert.equal(attrs.ApproximateNumberOfMessagesNotVisible, "0");
console.log("DeleteMessageBatch, GetQueueAttributes");

const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: "js-" }));
assert.deepEqual(listed.QueueUrls, [url]);

await assert.rejects(sqs.send(new GetQueueUrlCommand({ QueueName: "no-such-queue" })), (e) => e instanceof QueueDoesNotExist);
await assert.rejects(client("wrong").send(new ListQueuesCommand({})), (e) => e.name === "SignatureDoesNotMatch");
console.log("QueueDoesNotExist, SignatureDoesNotMatch");

await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
console.log("ok");
