"""Drives a broker with stomp.py (Debian's python3-stomp) over STOMP 1.0,
1.1 and 1.2 the way applications do, and prints what it observed, one line
per observation, with the run's token replaced by <T>.
conformance/client_scripts_test.go compares the lines with those RabbitMQ
3.10 printed (stomp_client.rabbitmq.txt).

Headers that name a session or a moment (message-id, session, server,
timestamp, ack ids) are left out, and so are the receipt and transaction
headers a SEND's copy carries into the message (RabbitMQ copies them, and
sluice since eb5a261; the recording was made without them), with id, ack
and subscription, which RabbitMQ then writes twice.

usage: stomp_client.py HOST PORT TOKEN
"""
import queue
import re
import sys
import time

import stomp

host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
VARYING = {"message-id", "session", "server", "timestamp", "ack"}


def say(*parts):
    line = " ".join(str(p) for p in parts)
    line = re.sub(r"amq\.gen-[A-Za-z0-9_-]+", "amq.gen-<name>", line.replace(token, "<T>"))
    print(line, flush=True)


class Frames(stomp.ConnectionListener):
    def __init__(self):
        self.q = queue.Queue()

    def on_connected(self, f):
        self.q.put(("CONNECTED", f))

    def on_message(self, f):
        self.q.put(("MESSAGE", f))

    def on_error(self, f):
        self.q.put(("ERROR", f))

    def on_receipt(self, f):
        self.q.put(("RECEIPT", f))

    def on_disconnected(self):
        self.q.put(("DISCONNECTED", None))

    def next(self, timeout=5.0):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return ("NOTHING", None)


def shown(kind, f, drop=()):
    if f is None:
        return kind
    skip = set(VARYING) | set(drop)
    if kind == "MESSAGE":
        skip |= {"receipt", "transaction"}
    hs = sorted((k, v) for k, v in f.headers.items() if k not in skip)
    body = f.body if isinstance(f.body, str) else f.body.decode("utf-8", "replace")
    return "%s %s %r" % (kind, hs, body[:60])


def expect(frames, label, n=1, drop=(), timeout=5.0):
    got = []
    for _ in range(n):
        kind, f = frames.next(timeout)
        got.append((kind, f))
        say(label, shown(kind, f, drop))
    return got


def connect(version, heartbeats=(0, 0), login="guest", passcode="guest"):
    cls = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
    kw = {} if version == "1.0" else {"heartbeats": heartbeats, "vhost": "/"}
    c = cls([(host, port)], **kw)
    frames = Frames()
    c.set_listener("frames", frames)
    c.connect(login, passcode, wait=False)
    return c, frames


for version in ("1.0", "1.1", "1.2"):
    v = version.replace(".", "")
    c, frames = connect(version)
    expect(frames, version + " connect:", drop=("heart-beat",) if version == "1.0" else ())
    q = "/queue/%s-%s" % (token, v)
    c.send(q, "body " + version, headers={"persistent": "true", "colour": "blue", "content-type": "text/plain"},
           receipt="sent")
    expect(frames, version + " send:")
    ack = "auto" if version == "1.0" else "client-individual"
    c.subscribe(q, ack=ack, **({"id": "s1"} if version != "1.0" else {"id": None}))
    got = expect(frames, version + " subscribe:")
    kind, f = got[0]
    if version == "1.1":
        c.nack(f.headers["message-id"], "s1")
        kind, f = expect(frames, version + " after nack:")[0]
        c.ack(f.headers["message-id"], "s1")
    elif version == "1.2":
        c.nack(f.headers["ack"])
        kind, f = frames.next()
        say(version, "after nack:", shown(kind, f))
        c.ack(f.headers["ack"])
    c.send("/nonsense/" + token, "x", receipt="bad")
    expect(frames, version + " unknown destination:")
    kind, _ = frames.next(0.5)
    say(version, "after the error:", kind)
    c.disconnect()
    time.sleep(0.1)

# ---- transactions, topics, exchanges, temporary reply queues over 1.2
c, frames = connect("1.2")
frames.next()
q = "/queue/%s-tx" % token
c.subscribe(q, id="tx", ack="auto")
c.begin("t1")
c.send(q, "aborted", transaction="t1")
c.abort("t1")
c.begin("t2")
c.send(q, "committed", transaction="t2", headers={"n": "2"})
kind, _ = frames.next(0.3)
say("before commit:", kind)
c.commit("t2", receipt="commit")
got = sorted(shown(*frames.next()) for _ in range(2))
for g in got:
    say("commit:", g)
c.unsubscribe("tx")

t = "/topic/%s.news" % token
c.subscribe(t, id="t-a", ack="auto")
c.subscribe("/topic/%s.*" % token, id="t-b", ack="auto")
c.send(t, "to every subscriber", receipt="topic")
got = sorted(shown(*frames.next()) for _ in range(3))
for g in got:
    say("topic:", g)
c.unsubscribe("t-a")
c.unsubscribe("t-b")

c.subscribe("/exchange/amq.topic/%s.a.*" % token, id="ex", ack="auto", receipt="subscribed")
expect(frames, "exchange subscribe:")
c.send("/exchange/amq.topic/%s.a.b" % token, "through amq.topic")
c.send("/exchange/amq.topic/%s.b.b" % token, "not bound")
expect(frames, "exchange:")
kind, _ = frames.next(0.3)
say("exchange, nothing more:", kind)
c.unsubscribe("ex")

c.send("/queue/%s-made" % token, "first", receipt="made")
frames.next()
c.subscribe("/amq/queue/%s-made" % token, id="amq", ack="auto")
expect(frames, "amq/queue:")
c.unsubscribe("amq")

c.subscribe("/temp-queue/replies", id="cli", ack="auto")
expect(frames, "subscribe to a temp-queue:")
server = "/queue/%s-rpc" % token
c.subscribe(server, id="srv", ack="auto", receipt="srv")
expect(frames, "rpc subscribe:")
c.send(server, "question", headers={"reply-to": "/temp-queue/replies"})
kind, f = frames.next()
reply_to = f.headers.get("reply-to", "")
say("request:", f.body, "reply-to starts with /reply-queue/amq.gen-", reply_to.startswith("/reply-queue/amq.gen-"))
c.send(reply_to, "answer")
kind, f = frames.next()
say("reply:", shown(kind, f))
c.disconnect()

# ---- heart-beats as negotiated, and a refused login
c, frames = connect("1.2", heartbeats=(2000, 3000))
kind, f = frames.next()
say("heart-beat asked 2000,3000: got", f.headers.get("heart-beat"))
c.disconnect()
c, frames = connect("1.2", passcode="wrong")
expect(frames, "wrong passcode:")
# What follows differs on purpose: sluice closes the connection, as STOMP
# asks after an ERROR; RabbitMQ 3.10 leaves it open.
say("done")
