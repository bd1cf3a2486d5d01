# Drives a broker with the Ruby stomp gem (Debian's ruby-stomp) over STOMP
# 1.0, 1.1 and 1.2 the way applications do, and prints what it observed, one
# line per observation, with the run's token replaced by <T>.
# conformance/client_scripts_test.go compares the lines with those RabbitMQ
# 3.10 printed (stomp_gem_client.rabbitmq.txt).
#
# Headers that name a session or a moment (message-id, session, server,
# receipt-id, ack) are left out, and so are the receipt and transaction
# headers a SEND's copy carries into the message (RabbitMQ copies them, and
# sluice since eb5a261; the recording was made without them).
#
# usage: ruby stomp_gem_client.rb HOST PORT TOKEN
require "stomp"
require "timeout"

HOST, PORT, TOKEN = ARGV[0], ARGV[1].to_i, ARGV[2]
VARYING = %w[message-id session server receipt-id ack receipt transaction].freeze
$stdout.sync = true

def say(*parts)
  puts parts.join(" ").gsub(TOKEN, "<T>").gsub(/amq\.gen-[A-Za-z0-9_-]+/, "amq.gen-<name>")
end

def show(label, m)
  return say("#{label}: nothing") if m.nil?
  hs = m.headers.reject { |k, _| VARYING.include?(k) }.sort.map { |k, v| "#{k}=#{v.inspect}" }
  say("#{label}:", m.command, "{#{hs.join(",")}}", m.body.inspect)
end

def connect(version, extra = {})
  hash = { hosts: [{ login: "guest", passcode: "guest", host: HOST, port: PORT }],
           reliable: false, connect_timeout: 5,
           connect_headers: { "accept-version" => version, "host" => "/", "heart-beat" => "0,0" }.merge(extra) }
  hash.delete(:connect_headers) if version == "1.0"
  Stomp::Connection.new(hash)
end

# next_frame reads one frame, or nil after a second of silence.
def next_frame(c, secs = 3)
  Timeout.timeout(secs) { c.receive }
rescue Timeout::Error
  nil
end

# ---- STOMP 1.2: receipts, client-individual acks, NACK, escaping
c = connect("1.2")
say("connected:", c.protocol, "session?", !c.connection_frame.headers["session"].nil?, "server?", !c.connection_frame.headers["server"].nil?)
q = "/queue/#{TOKEN}-12"
c.publish(q, "hello", "receipt" => "r1", "persistent" => "true", "x-colon" => "a:b", "x-newline" => "l1\nl2", "x-utf8" => "h\u00e9llo")
show("publish receipt", next_frame(c))
c.subscribe(q, { "ack" => "client-individual", "id" => "s1", "prefetch-count" => "1" })
m = next_frame(c)
show("received", m)
c.nack(m.headers["ack"], "requeue" => "true")
m = next_frame(c)
show("after nack", m)
c.ack(m.headers["ack"], "receipt" => "r-ack")
show("ack receipt", next_frame(c))
show("queue now empty", next_frame(c, 1))

# transactions: ACK and SEND held until COMMIT
c.publish(q, "to-ack")
m = next_frame(c)
c.begin("t1")
c.ack(m.headers["ack"], "transaction" => "t1")
c.publish(q, "in-tx", "transaction" => "t1")
show("before commit", next_frame(c, 1))
c.commit("t1", "receipt" => "r-commit")
# The COMMIT's RECEIPT and the delivery of its SEND to this very
# subscription: RabbitMQ sends the RECEIPT first (it does not wait for the
# queue), sluice after the delivery (its receipt waits for the publish); an
# application reading frames one by one on one connection sees another
# order, one dispatching by command (Stomp::Client) does not.
two = [next_frame(c), next_frame(c)].compact.sort_by(&:command)
show("commit receipt", two.find { |f| f.command == "RECEIPT" })
show("committed send", m = two.find { |f| f.command == "MESSAGE" })
c.ack(m.headers["ack"]) if m
c.begin("t2")
c.publish(q, "aborted", "transaction" => "t2")
c.abort("t2", "receipt" => "r-abort")
show("abort receipt", next_frame(c))
show("after abort", next_frame(c, 1))

# suppress_content_length: a text body ends at the NUL
c.publish(q, "no length", "suppress_content_length" => true)
show("no content-length", m = next_frame(c))
c.ack(m.headers["ack"])
c.unsubscribe(q, { "id" => "s1", "receipt" => "r-unsub" })
show("unsubscribe receipt", next_frame(c))

# an unknown destination: ERROR, and then the connection is closed
c.publish("/nowhere/#{TOKEN}", "x", "receipt" => "r-bad")
show("bad destination", next_frame(c))
c.disconnect rescue nil

# ---- STOMP 1.1: message-id acks with a subscription header, topics
c = connect("1.1")
say("connected:", c.protocol)
c.subscribe("/topic/#{TOKEN}.news", { "id" => "t1", "ack" => "client", "receipt" => "r-sub" })
show("subscribe receipt", next_frame(c))
c.publish("/topic/#{TOKEN}.news", "news", "content-type" => "text/plain; charset=utf-8", "reply-to" => "/temp-queue/replies")
show("topic message", m = next_frame(c))
c.ack(m.headers["message-id"], "subscription" => "t1")
c.publish("/topic/#{TOKEN}.other", "not for us")
show("other topic", next_frame(c, 1))
c.disconnect

# ---- STOMP 1.0 (no CONNECT headers): unreceive re-publishes in a transaction
c = connect("1.0")
say("connected:", c.protocol)
q10 = "/queue/#{TOKEN}-10"
c.subscribe(q10, { "ack" => "client" })
c.publish(q10, "retry me")
m = next_frame(c)
show("first delivery", m)
c.unreceive(m, max_redeliveries: 1, dead_letter_queue: "/queue/#{TOKEN}-dlq")
m = next_frame(c)
show("unreceived once", m)
c.unreceive(m, max_redeliveries: 1, dead_letter_queue: "/queue/#{TOKEN}-dlq")
show("after second unreceive", next_frame(c, 1))
c.subscribe("/queue/#{TOKEN}-dlq", { "ack" => "auto" })
show("dead letter", next_frame(c))
c.disconnect

# ---- Stomp::Client: receipts by callback, a listener thread
got = Queue.new
cl = Stomp::Client.new({ hosts: [{ login: "guest", passcode: "guest", host: HOST, port: PORT }], reliable: false,
                         connect_headers: { "accept-version" => "1.2", "host" => "/", "heart-beat" => "0,0" } })
cq = "/queue/#{TOKEN}-client"
cl.subscribe(cq, { "id" => "c1", "ack" => "client-individual" }) { |msg| got << msg; cl.ack(msg) }
receipt = Queue.new
cl.publish(cq, "via client", { "persistent" => "true" }) { |r| receipt << r }
show("client receipt", Timeout.timeout(5) { receipt.pop })
show("client message", Timeout.timeout(5) { got.pop })
cl.close
say("done")
