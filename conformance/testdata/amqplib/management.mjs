// amqplib against sluice, the way applications and amqplib-based test
// suites use RabbitMQ's management API beside it: create a vhost, find a
// channel's prefetch_count, close a connection with a reason, delete the
// vhost. Run by conformance/amqplib_test.go with the AMQP host:port and
// the HTTP base URL; prints "ok" last, exits non-zero on any failure.
import assert from "node:assert/strict";
import amqp from "amqplib";

const [amqpAddr, httpBase] = process.argv.slice(2);
const api = (method, path, body, headers = {}) => fetch(httpBase + path, {
  method, body,
  headers: { Authorization: "Basic " + Buffer.from("guest:guest").toString("base64"), "Content-Type": "application/json", ...headers },
});

let r = await api("PUT", "/api/vhosts/amqplib", "{}");
assert.equal(r.status, 201);
const conn = await amqp.connect(`amqp://guest:guest@${amqpAddr}/amqplib`, { clientProperties: { connection_name: "amqplib-conn" } });
const ch = await conn.createChannel();
await ch.prefetch(7);
await ch.assertQueue("work", { durable: true });
await ch.consume("work", () => {});

// The channel list is what amqplib's prefetch tests read.
let chans = [];
for (let i = 0; i < 50 && !chans.some((c) => c.prefetch_count === 7); i++) {
  chans = await (await api("GET", "/api/vhosts/amqplib/channels")).json();
  await new Promise((res) => setTimeout(res, 100));
}
const mine = chans.find((c) => c.prefetch_count === 7);
assert.ok(mine, JSON.stringify(chans));
assert.equal(mine.consumer_count, 1);
assert.equal(mine.vhost, "amqplib");

const conns = await (await api("GET", "/api/connections")).json();
const c = conns.find((c) => c.client_properties.connection_name === "amqplib-conn");
assert.ok(c, JSON.stringify(conns.map((c) => c.name)));
assert.equal(c.user_provided_name, "amqplib-conn");
assert.equal(c.vhost, "amqplib");

const closed = new Promise((res) => conn.on("close", (e) => res(e && e.message)));
conn.on("error", () => {});
r = await api("DELETE", "/api/connections/" + encodeURIComponent(c.name), undefined, { "X-Reason": "maintenance window" });
assert.equal(r.status, 204);
const why = await closed;
assert.match(why, /320 \(CONNECTION-FORCED\).*CONNECTION_FORCED - maintenance window/);

r = await api("DELETE", "/api/vhosts/amqplib");
assert.equal(r.status, 204);
r = await api("GET", "/api/vhosts/amqplib");
assert.equal(r.status, 404);
console.log("ok");
