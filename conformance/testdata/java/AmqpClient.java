// Drives a broker with RabbitMQ's Java client (Debian's
// librabbitmq-client-java) the way applications do, and prints what it
// observed, one line per observation, with the run's token replaced by <T>.
// conformance/client_scripts_test.go compares the lines with those RabbitMQ
// 3.10 printed (AmqpClient.rabbitmq.txt).
//
// usage: java -cp amqp-client.jar:slf4j-api.jar:slf4j-nop.jar AmqpClient.java HOST PORT TOKEN
import com.rabbitmq.client.*;
import java.util.*;
import java.util.concurrent.*;

public class AmqpClient {
    static String tok;
    static void say(Object... parts) {
        StringBuilder b = new StringBuilder();
        for (Object p : parts) { if (b.length() > 0) b.append(' '); b.append(String.valueOf(p)); }
        System.out.println(b.toString().replace(tok, "<T>").replaceAll("amq\\.gen-[A-Za-z0-9_-]+", "amq.gen-<name>"));
    }
    interface Op { void run() throws Exception; }
    static void fail(String what, Op op) {
        try { op.run(); say(what, "no error"); }
        catch (Exception e) {
            Throwable c = e; while (c.getCause() != null && !(c instanceof ShutdownSignalException)) c = c.getCause();
            if (c instanceof ShutdownSignalException) {
                ShutdownSignalException s = (ShutdownSignalException) c;
                Object r = s.getReason();
                if (r instanceof AMQP.Channel.Close) { AMQP.Channel.Close cl = (AMQP.Channel.Close) r; say(what, "channel.close", cl.getReplyCode(), cl.getReplyText(), cl.getClassId(), cl.getMethodId()); }
                else if (r instanceof AMQP.Connection.Close) { AMQP.Connection.Close cl = (AMQP.Connection.Close) r; say(what, "connection.close", cl.getReplyCode(), cl.getReplyText(), cl.getClassId(), cl.getMethodId()); }
                else say(what, "shutdown", r);
            } else say(what, c.getClass().getSimpleName(), c.getMessage());
        }
    }
    @SuppressWarnings("unchecked")
    public static void main(String[] a) throws Exception {
        String host = a[0];
        int port = Integer.parseInt(a[1]);
        tok = a[2];
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(host); f.setPort(port);
        f.setAutomaticRecoveryEnabled(false);
        Connection c = f.newConnection();
        Map<String, Object> sp = c.getServerProperties();
        say("server props keys", new TreeSet<>(sp.keySet()));
        say("capabilities", new TreeMap<>((Map<String,Object>) sp.get("capabilities")));
        say("channelMax", c.getChannelMax(), "frameMax", c.getFrameMax(), "heartbeat", c.getHeartbeat());
        Channel ch = c.createChannel();
        String q = tok + "-q";
        AMQP.Queue.DeclareOk ok = ch.queueDeclare(q, true, false, false, null);
        say("declare", ok.getQueue().equals(q), ok.getMessageCount(), ok.getConsumerCount());
        Map<String, Object> h = new HashMap<>();
        h.put("int", 1); h.put("long", 1L << 40); h.put("str", "s"); h.put("bool", true); h.put("double", 1.5d); h.put("float", 2.5f);
        h.put("bytes", new byte[]{0, 1}); h.put("list", Arrays.asList(1, "a")); h.put("date", new Date(1700000000000L));
        h.put("map", Collections.singletonMap("k", "v")); h.put("null", null); h.put("short", (short) 7); h.put("byte", (byte) 8);
        h.put("dec", new java.math.BigDecimal("1.25"));
        AMQP.BasicProperties p = new AMQP.BasicProperties.Builder().contentType("text/plain").deliveryMode(2).priority(4)
            .headers(h).correlationId("c").replyTo("r").expiration("60000").messageId("m").timestamp(new Date(1700000000000L))
            .type("t").userId("guest").appId("app").clusterId("cl").build();
        ch.confirmSelect();
        ch.basicPublish("", q, true, p, "hello".getBytes());
        ch.waitForConfirmsOrDie(5000);
        GetResponse g = ch.basicGet(q, false);
        say("get", new String(g.getBody()), g.getMessageCount(), g.getEnvelope().isRedeliver(), g.getEnvelope().getRoutingKey());
        AMQP.BasicProperties gp = g.getProps();
        say(" props", gp.getContentType(), gp.getDeliveryMode(), gp.getPriority(), gp.getCorrelationId(), gp.getReplyTo(), gp.getExpiration(), gp.getMessageId(), gp.getTimestamp().getTime(), gp.getType(), gp.getUserId(), gp.getAppId(), gp.getClusterId());
        for (Map.Entry<String, Object> e : new TreeMap<>(gp.getHeaders()).entrySet()) {
            Object v = e.getValue();
            String s = v instanceof byte[] ? Arrays.toString((byte[]) v) : String.valueOf(v);
            say(" header", e.getKey(), v == null ? "null" : v.getClass().getSimpleName(), s);
        }
        ch.basicReject(g.getEnvelope().getDeliveryTag(), true);
        g = ch.basicGet(q, true);
        say("after reject requeue", g.getEnvelope().isRedeliver());
        say("purge", ch.queuePurge(q).getMessageCount());
        // consumer with prefetch and server-side cancel
        ch.basicQos(1);
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        String tag = ch.basicConsume(q, false, "ctag-" + tok, new DefaultConsumer(ch) {
            public void handleConsumeOk(String t) { events.add("consume-ok " + t); }
            public void handleCancel(String t) { events.add("cancel " + t); }
            public void handleCancelOk(String t) { events.add("cancel-ok " + t); }
            public void handleDelivery(String t, Envelope e, AMQP.BasicProperties pr, byte[] body) { events.add("delivery " + t + " " + new String(body) + " " + e.getDeliveryTag()); }
        });
        for (int i = 0; i < 3; i++) ch.basicPublish("", q, null, ("m" + i).getBytes());
        Thread.sleep(300);
        List<String> ev = new ArrayList<>(); events.drainTo(ev); say("events", ev);
        ch.basicAck(1, false);
        Thread.sleep(300);
        ev.clear(); events.drainTo(ev); say("events after ack", ev);
        Channel ch2 = c.createChannel();
        ch2.queueDelete(q);
        Thread.sleep(300);
        ev.clear(); events.drainTo(ev); say("events after delete", ev);
        // errors
        fail("passive missing", () -> c.createChannel().queueDeclarePassive(tok + "-missing"));
        fail("exchange missing publish", () -> { Channel x = c.createChannel(); x.confirmSelect(); x.basicPublish(tok + "-nope", "", null, new byte[0]); x.waitForConfirmsOrDie(3000); });
        fail("bind missing", () -> c.createChannel().queueBind(tok + "-none", "amq.direct", "k"));
        fail("exchange type change", () -> { Channel x = c.createChannel(); x.exchangeDeclare(tok + "-e", "direct"); x.exchangeDeclare(tok + "-e", "topic"); });
        c.createChannel().exchangeDelete(tok + "-e");
        fail("qos global then consume", () -> { Channel x = c.createChannel(); x.basicQos(0, 5, true); x.close(); });
        fail("double ack", () -> { Channel x = c.createChannel(); String qq = x.queueDeclare().getQueue(); x.basicPublish("", qq, null, "x".getBytes()); GetResponse r = x.basicGet(qq, false); x.basicAck(r.getEnvelope().getDeliveryTag(), false); x.basicAck(r.getEnvelope().getDeliveryTag(), false); x.queueDeclarePassive(qq); });
        fail("amq.rabbitmq.reply-to", () -> { Channel x = c.createChannel(); BlockingQueue<String> got = new LinkedBlockingQueue<>();
            x.basicConsume("amq.rabbitmq.reply-to", true, new DefaultConsumer(x) { public void handleDelivery(String t, Envelope e, AMQP.BasicProperties pr, byte[] body) { got.add(new String(body) + " rk=" + e.getRoutingKey().startsWith("amq.rabbitmq.reply-to.")); } });
            String sq = x.queueDeclare().getQueue();
            x.basicPublish("", sq, new AMQP.BasicProperties.Builder().replyTo("amq.rabbitmq.reply-to").build(), "req".getBytes());
            GetResponse r = x.basicGet(sq, true);
            say("  reply-to seen", r.getProps().getReplyTo().startsWith("amq.rabbitmq.reply-to."));
            x.basicPublish("", r.getProps().getReplyTo(), null, "resp".getBytes());
            say("  reply", got.poll(3, TimeUnit.SECONDS)); });
        // connection blocked listener registration and close
        c.addBlockedListener(new BlockedListener() { public void handleBlocked(String r) {} public void handleUnblocked() {} });
        c.close();
        // bad login
        ConnectionFactory bad = new ConnectionFactory(); bad.setHost(host); bad.setPort(port); bad.setPassword("nope");
        fail("bad login", () -> bad.newConnection());
        ConnectionFactory vh = new ConnectionFactory(); vh.setHost(host); vh.setPort(port); vh.setVirtualHost(tok);
        fail("missing vhost", () -> vh.newConnection());
        say("done");
    }
}
