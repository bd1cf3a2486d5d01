// Drives a broker's Web STOMP endpoint with stomp.js (@stomp/stompjs, the
// STOMP client of web pages) the way a page does, and prints what it
// observed, one line per observation, with the run's token replaced by <T>.
// conformance/client_scripts_test.go compares the lines with those RabbitMQ 3.10's
// rabbitmq_web_stomp printed (stompjs_client.rabbitmq.txt).
//
// Headers that name a session or a moment (message-id, session, server,
// ack ids) are left out, and so are the receipt and transaction headers
// RabbitMQ copies from a SEND into the message.
//
// usage: node stompjs_client.mjs ws://HOST:PORT/ws TOKEN
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

Object.assign(globalThis, { WebSocket });
const [url, token] = process.argv.slice(2);
const VARYING = new Set(['message-id', 'session', 'server', 'ack']);

function say(...parts) {
  const line = parts.map(String).join(' ').replaceAll(token, '<T>').replace(/amq\.gen-[A-Za-z0-9_-]+/g, 'amq.gen-<name>');
  console.log(line);
}

function shown(kind, f) {
  const skip = new Set(VARYING);
  if (kind === 'MESSAGE') { skip.add('receipt'); skip.add('transaction'); }
  const hs = Object.entries(f.headers).filter(([k]) => !skip.has(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${kind} ${JSON.stringify(hs)} ${JSON.stringify(f.body.slice(0, 60))}`;
}

// frames collects what the client is given, in order, for next() to take.
class Frames {
  constructor() { this.items = []; this.waiters = []; }
  put(kind, f) {
    const w = this.waiters.shift();
    if (w) w([kind, f]); else this.items.push([kind, f]);
  }
  next(ms = 5000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => {
      const w = (x) => { clearTimeout(timer); resolve(x); };
      const timer = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); resolve(['NOTHING', null]); }, ms);
      this.waiters.push(w);
    });
  }
}

function connect(frames, { login = 'guest', passcode = 'guest', heartbeat = 0 } = {}) {
  const client = new Client({
    brokerURL: url,
    connectHeaders: { login, passcode, host: '/' },
    heartbeatIncoming: heartbeat,
    heartbeatOutgoing: heartbeat,
    reconnectDelay: 0,
    debug: () => {},
  });
  client.onConnect = (f) => frames.put('CONNECTED', f);
  client.onStompError = (f) => frames.put('ERROR', f);
  client.onWebSocketClose = () => frames.put('CLOSED', { headers: {}, body: '' });
  client.activate();
  return client;
}

function receipt(client, frames, id) {
  client.watchForReceipt(id, (f) => frames.put('RECEIPT', f));
}

const frames = new Frames();
let client = connect(frames);
let [kind, f] = await frames.next();
say('connect:', shown(kind, f));

// ---- a queue, client-individual acks, nack, custom headers, receipts
const q = `/queue/${token}-q`;
const got = new Frames();
const sub = client.subscribe(q, (m) => got.put('MESSAGE', m), { ack: 'client-individual', id: 'q1' });
receipt(client, frames, 'sent');
client.publish({ destination: q, body: 'hello from a page', headers: { receipt: 'sent', colour: 'blue', 'content-type': 'text/plain', persistent: 'true' } });
[kind, f] = await frames.next();
say('publish:', shown(kind, f));
[kind, f] = await got.next();
say('delivered:', shown(kind, f));
f.nack();
[kind, f] = await got.next();
say('after nack:', shown(kind, f));
f.ack();
[kind, f] = await got.next(300);
say('after ack:', kind);

sub.unsubscribe();

// ---- a frame the broker refuses, and the session goes on
client.publish({ destination: `/nonsense/${token}`, body: 'x' });
[kind, f] = await frames.next();
say('unknown destination:', shown(kind, f));
[kind, f] = await frames.next(500);
say('after the error:', kind);

// ---- transactions
const txq = `/queue/${token}-tx`;
const txGot = new Frames();
client.subscribe(txq, (m) => txGot.put('MESSAGE', m), { id: 'tx' });
let tx = client.begin();
client.publish({ destination: txq, body: 'aborted', headers: { transaction: tx.id } });
tx.abort();
tx = client.begin();
client.publish({ destination: txq, body: 'committed', headers: { transaction: tx.id } });
[kind, f] = await txGot.next(300);
say('before commit:', kind);
tx.commit();
[kind, f] = await txGot.next();
say('commit:', shown(kind, f));

// ---- topics: every subscriber gets a copy
const topicGot = new Frames();
client.subscribe(`/topic/${token}.news`, (m) => topicGot.put('MESSAGE', m), { id: 't-a' });
client.subscribe(`/topic/${token}.*`, (m) => topicGot.put('MESSAGE', m), { id: 't-b' });
receipt(client, frames, 'topic');
client.publish({ destination: `/topic/${token}.news`, body: 'to every subscriber', headers: { receipt: 'topic' } });
const copies = [];
for (let i = 0; i < 2; i++) {
  [kind, f] = await topicGot.next();
  copies.push(shown(kind, f));
}
for (const c of copies.sort()) say('topic:', c);
[kind, f] = await frames.next();
say('topic:', shown(kind, f));

// ---- request and reply through a temp-queue
const rpc = `/queue/${token}-rpc`;
const reqs = new Frames();
client.subscribe(rpc, (m) => reqs.put('MESSAGE', m), { id: 'srv' });
const replies = new Frames();
client.onUnhandledMessage = (m) => replies.put('MESSAGE', m);
client.publish({ destination: rpc, body: 'question', headers: { 'reply-to': '/temp-queue/answers' } });
[kind, f] = await reqs.next();
const replyTo = f.headers['reply-to'] || '';
say('request:', f.body, 'reply-to starts with /reply-queue/amq.gen-', replyTo.startsWith('/reply-queue/amq.gen-'));
client.publish({ destination: replyTo, body: 'answer' });
[kind, f] = await replies.next();
say('reply:', shown(kind, f));

await client.deactivate();

// ---- heart-beats as negotiated, and a refused login
const hbFrames = new Frames();
client = connect(hbFrames, { heartbeat: 4000 });
[kind, f] = await hbFrames.next();
say('heart-beat asked 4000,4000: got', f.headers['heart-beat']);
await client.deactivate();
const badFrames = new Frames();
client = connect(badFrames, { passcode: 'wrong' });
[kind, f] = await badFrames.next();
say('wrong passcode:', shown(kind, f));
await client.deactivate();
say('done');

// ---- with "binary": a binary body with NUL octets, which stomp.js sends
// in a binary WebSocket message with content-length. RabbitMQ 3.10 closes
// the WebSocket on a binary message; later versions read it as text, as
// sluice does, so this part is not in the recorded transcript.
if (process.argv[4] === 'binary') {
  const binFrames = new Frames();
  client = connect(binFrames);
  await binFrames.next();
  const binGot = new Frames();
  const bq = `/queue/${token}-bin`;
  client.subscribe(bq, (m) => binGot.put('MESSAGE', m), { id: 'bin' });
  client.publish({ destination: bq, binaryBody: new Uint8Array([0, 1, 2, 0, 255]), headers: { 'content-type': 'application/octet-stream' } });
  [kind, f] = await binGot.next();
  if (f) say('binary:', JSON.stringify(Array.from(f.binaryBody)), 'content-length', f.headers['content-length'], 'content-type', f.headers['content-type']);
  else say('binary:', kind);
  await client.deactivate();
}
process.exit(0);
