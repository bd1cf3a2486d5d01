"""Drives a broker with kombu and py-amqp (Debian's python3-kombu and
python3-amqp, Celery's transport) the way applications do, and prints what
it observed, one line per observation, with the run's token replaced by
<T>. conformance/client_scripts_test.go compares the lines with those
RabbitMQ 3.10 printed (kombu_client.rabbitmq.txt).

usage: kombu_client.py HOST PORT TOKEN
"""
import sys
import time

import amqp
from kombu import Connection, Exchange, Queue, Producer, Consumer

host, port, tok = sys.argv[1], sys.argv[2], sys.argv[3]


def say(*a):
    print(" ".join(str(x) for x in a).replace(tok, "<T>"), flush=True)


with Connection("amqp://guest:guest@%s:%s//" % (host, port), heartbeat=10) as c:
    q = c.SimpleQueue(tok + "-simple")
    q.put({"hello": "world", "n": 1}, headers={"h": "v"}, priority=3)
    m = q.get(block=True, timeout=2)
    say("simple", m.payload, m.headers, m.properties.get("priority"), m.content_type, m.delivery_info.get("routing_key"))
    m.ack()
    q.close()
    ex = Exchange(tok + "-ex", type="topic", durable=True)
    qq = Queue(tok + "-tq", exchange=ex, routing_key="a.*", queue_arguments={"x-max-priority": 10}, message_ttl=30, expires=60)
    got = []
    with Consumer(c, [qq], callbacks=[lambda body, msg: (got.append((body, msg.delivery_info["routing_key"], msg.properties.get("priority"))), msg.ack())], prefetch_count=5):
        p = Producer(c, exchange=ex)
        for i, rk in enumerate(["a.b", "b.c", "a.c"]):
            p.publish({"i": i}, routing_key=rk, declare=[qq], retry=True, priority=i, serializer="json")
        end = time.time() + 2
        while len(got) < 2 and time.time() < end:
            try: c.drain_events(timeout=0.5)
            except Exception: pass
    say("consumed", got)
    ch = c.channel()
    say("declare passive", ch.queue_declare(tok + "-tq", passive=True))
    try:
        ch.queue_declare(tok + "-tq", arguments={"x-max-priority": 5})
    except Exception as e:
        say("redeclare", type(e).__name__, e)
    ch = c.channel()
    ch.queue_delete(tok + "-tq"); ch.exchange_delete(tok + "-ex")
# py-amqp directly: confirms and basic.return
conn = amqp.Connection("%s:%s" % (host, port), confirm_publish=True); conn.connect()
say("server caps", sorted(k for k, v in conn.server_capabilities.items() if v))
ch = conn.channel()
try:
    ch.basic_publish(amqp.Message("x"), exchange="", routing_key=tok + "-nobody", mandatory=True)
    say("mandatory publish returned normally")
except Exception as e:
    say("mandatory", type(e).__name__, e)
ch = conn.channel()
try:
    ch.basic_publish(amqp.Message("x"), exchange=tok + "-nope", routing_key="k")
except Exception as e:
    say("missing exchange", type(e).__name__, e)
conn.close()
say("done")
