"""Drives a broker with pika (Debian's python3-pika) the way applications
do, and prints what it observed, one line per observation, with the run's
token replaced by <T>. conformance/client_scripts_test.go compares the
lines with those RabbitMQ 3.10 printed (pika_client.rabbitmq.txt).

usage: pika_client.py HOST PORT TOKEN
"""
import datetime
import decimal
import sys
import time

import pika

host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def say(*parts):
    line = " ".join(str(p) for p in parts)
    print(line.replace(token, "<T>"), flush=True)


def name(n):
    return token + "-" + n


def params(**kw):
    kw.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    return pika.ConnectionParameters(host=host, port=port, **kw)


def _exclusive(ch, q):
    try:
        ch.queue_declare(q, passive=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        raise pika.exceptions.ChannelClosedByBroker(e.reply_code, e.reply_text.replace(q, "<server-named>"))


def wait_for(cond, seconds=5.0):
    """Serves the connection until cond holds or the time is up."""
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        conn.process_data_events(0.05)


def get_within(ch, q, auto_ack=True, seconds=5.0):
    """basic.get until a message comes (dead letters take a moment)."""
    deadline = time.time() + seconds
    while True:
        got = ch.basic_get(q, auto_ack=auto_ack)
        if got[0] is not None or time.time() > deadline:
            return got
        time.sleep(0.02)


def failure(what, fn):
    try:
        fn()
        say(what, "no error")
    except Exception as e:  # the exception's type and text are what clients see
        say(what, type(e).__name__, e)


conn = pika.BlockingConnection(params(heartbeat=30))
caps = conn._impl.server_properties.get("capabilities", {})
say("capabilities", sorted(k for k, v in caps.items() if v))
say("tuned channel_max", conn._impl.params.channel_max, "frame_max", conn._impl.params.frame_max,
    "heartbeat", conn._impl.params.heartbeat)

# ---- properties and every header type pika writes survive a round trip
ch = conn.channel()
ch.confirm_delivery()
q = ch.queue_declare(name("props"), durable=True).method.queue
props = pika.BasicProperties(
    content_type="application/json", content_encoding="utf-8", delivery_mode=2, priority=3,
    correlation_id="cid", reply_to="rt", expiration="60000", message_id="mid", timestamp=1700000000,
    type="ty", user_id="guest", app_id="app",
    headers={"int": 1, "neg": -5, "big": 2 ** 40, "bool": True, "str": "s", "bytes": b"\x00\x01",
             "list": [1, "a", [2]], "table": {"n": {"x": 1}}, "none": None,
             "time": datetime.datetime(2020, 1, 2, 3, 4, 5), "dec": decimal.Decimal("1.25")})
ch.basic_publish("", q, b"hello", props, mandatory=True)
m, p, body = ch.basic_get(q)
say("get message_count", m.message_count, "redelivered", m.redelivered, "exchange", repr(m.exchange),
    "routing_key", m.routing_key, "body", body)
for k in ("content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
          "expiration", "message_id", "timestamp", "type", "user_id", "app_id"):
    say("  property", k, repr(getattr(p, k)))
for k in sorted(p.headers):
    say("  header", k, repr(p.headers[k]))
ch.basic_nack(m.delivery_tag, requeue=True)
m, p, body = ch.basic_get(q, auto_ack=True)
say("after nack: redelivered", m.redelivered, "body", body)
say("get on empty queue", ch.basic_get(q))
ch.queue_delete(q)

# ---- errors the broker answers by closing the channel
failure("publish to a missing exchange", lambda: ch.basic_publish(name("nope"), "k", b"x"))
say("channel open after that", ch.is_open)
ch = conn.channel()
ch.confirm_delivery()
failure("mandatory publish nobody takes", lambda: ch.basic_publish("", name("nobody"), b"x", mandatory=True))
say("channel open after that", ch.is_open)
failure("passive declare of a missing queue", lambda: ch.queue_declare(name("missing"), passive=True))
ch = conn.channel()
ch.queue_declare(name("args"), arguments={"x-max-length": 10})
failure("redeclare with other arguments",
        lambda: ch.queue_declare(name("args"), arguments={"x-max-length": 20}))
ch = conn.channel()
ch.queue_delete(name("args"))
failure("declare a queue named amq.*", lambda: ch.queue_declare("amq." + name("q")))
ch = conn.channel()
failure("ack an unknown delivery tag", lambda: (ch.basic_ack(99), ch.queue_declare("", exclusive=True)))
ch = conn.channel()

# ---- server-named and exclusive queues
q = ch.queue_declare("", exclusive=True).method.queue
say("server-named queue starts with amq.gen-", q.startswith("amq.gen-"), "length", len(q))
other = pika.BlockingConnection(params())
och = other.channel()
failure("declare another connection's exclusive queue",
        lambda: _exclusive(och, q))
other.close()

# ---- prefetch: a consumer with prefetch 2 holds two unacked deliveries
src = ch.queue_declare(name("work")).method.queue
for i in range(5):
    ch.basic_publish("", src, str(i).encode())
ch.basic_qos(prefetch_count=2)
held = []
ch.basic_consume(src, lambda c, m, p, b: held.append((m.delivery_tag, b.decode())))
wait_for(lambda: len(held) >= 2)
conn.process_data_events(0.3)  # a third would come now, if prefetch let it
say("deliveries before any ack", [b for _, b in held])
ch.basic_ack(held[-1][0], multiple=True)
wait_for(lambda: len(held) >= 4)
say("after acking both", [b for _, b in held])
ch.close()
ch = conn.channel()
m, p, body = ch.basic_get(src)
say("unacked requeued on channel close: body", body, "redelivered", m.redelivered, "message_count", m.message_count)
ch.queue_delete(src)

# ---- the broker cancels a consumer whose queue is deleted
ch = conn.channel()
q = ch.queue_declare(name("cancel")).method.queue
cancelled = []
ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.NAME))
ch.basic_consume(q, lambda *a: None)
conn.channel().queue_delete(q)
wait_for(lambda: cancelled)
say("consumer cancel notification", cancelled)

# ---- topic exchange, exchange-to-exchange binding, priority queue
ch = conn.channel()
ch.exchange_declare(name("topic"), "topic")
ch.exchange_declare(name("fan"), "fanout")
ch.exchange_bind(name("fan"), name("topic"), "a.#")
q = ch.queue_declare(name("bound")).method.queue
ch.queue_bind(q, name("fan"))
for rk in ("a.b.c", "b.a", "a", "ab.c"):
    ch.basic_publish(name("topic"), rk, rk.encode())
got = []
while True:
    m, p, body = ch.basic_get(q, auto_ack=True)
    if m is None:
        break
    got.append((body.decode(), m.exchange.replace(token, "<T>"), m.routing_key))
say("routed through topic a.# and a fanout", got)
ch.queue_delete(q)
ch.exchange_delete(name("topic"))
ch.exchange_delete(name("fan"))
q = ch.queue_declare(name("prio"), arguments={"x-max-priority": 5}).method.queue
for prio in (1, 5, 3, None, 9):
    ch.basic_publish("", q, str(prio).encode(), pika.BasicProperties(priority=prio))
order = []
while True:
    m, p, body = ch.basic_get(q, auto_ack=True)
    if m is None:
        break
    order.append(body.decode())
say("priority order", order)
ch.queue_delete(q)

# ---- dead-lettering: x-death as pika reads it
ch.exchange_declare(name("dlx"), "fanout")
dead = ch.queue_declare(name("dead")).method.queue
ch.queue_bind(dead, name("dlx"))
src = ch.queue_declare(name("src"), arguments={"x-dead-letter-exchange": name("dlx"), "x-message-ttl": 50}).method.queue
src2 = ch.queue_declare(name("src2"), arguments={"x-dead-letter-exchange": name("dlx")}).method.queue
ch.basic_publish("", src, b"expires", pika.BasicProperties(headers={"h": 1}))
ch.basic_publish("", src2, b"rejected", pika.BasicProperties(expiration="60000"))
m, p, body = get_within(ch, dead)
m2, p2, body2 = get_within(ch, src2, auto_ack=False)
ch.basic_reject(m2.delivery_tag, requeue=False)
m3, p3, body3 = get_within(ch, dead)
for (m, p, body) in ((m, p, body), (m3, p3, body3)):
    say("dead letter", body, "routing_key", m.routing_key, "expiration", repr(p.expiration))
    for k in sorted(p.headers):
        v = p.headers[k]
        if k == "x-death":
            for d in v:
                say("  x-death", sorted((kk, vv) for kk, vv in d.items() if kk != "time"),
                    "time", type(d.get("time")).__name__)
        else:
            say("  header", k, repr(v))
ch.queue_delete(src)
ch.queue_delete(src2)
ch.queue_delete(dead)
ch.exchange_delete(name("dlx"))

# ---- transactions
ch = conn.channel()
q = ch.queue_declare(name("tx")).method.queue
ch.tx_select()
ch.basic_publish("", q, b"rolled back")
ch.tx_rollback()
ch.basic_publish("", q, b"committed")
say("before commit message_count", conn.channel().queue_declare(q, passive=True).method.message_count)
ch.tx_commit()
say("after commit message_count", conn.channel().queue_declare(q, passive=True).method.message_count)
ch.queue_delete(q)
conn.close()

# ---- a connection error (503) ends the connection, not just the channel
conn = pika.BlockingConnection(params())
failure("exchange of an unknown type", lambda: conn.channel().exchange_declare(name("ex"), "no-such-type"))
say("connection open after that", conn.is_open)

# ---- connections the broker refuses
failure("wrong password", lambda: pika.BlockingConnection(params(credentials=pika.PlainCredentials("guest", "bad"))))
failure("missing vhost", lambda: pika.BlockingConnection(params(virtual_host=name("vhost"))))
say("done")
