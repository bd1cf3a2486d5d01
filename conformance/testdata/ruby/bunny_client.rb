# Drives a broker with Bunny (Debian's ruby-bunny), Ruby's AMQP 0-9-1
# client, the way applications do, and prints what it observed, one line per
# observation, with the run's token replaced by <T>.
# conformance/client_scripts_test.go compares the lines with those RabbitMQ
# 3.10 printed (bunny_client.rabbitmq.txt).
#
# usage: ruby bunny_client.rb HOST PORT TOKEN
require "bunny"
host, port, tok = ARGV[0], ARGV[1].to_i, ARGV[2]
$stdout.sync = true
def say(*a) puts a.map(&:to_s).join(" ").gsub(ARGV[2], "<T>") end
c = Bunny.new(host: host, port: port, user: "guest", pass: "guest", logger: Logger.new(nil))
c.start
say "props", c.server_properties.keys.sort.inspect, c.server_capabilities.select { |k, v| v }.keys.sort.inspect
say "negotiated", c.channel_max, c.frame_max, c.heartbeat
ch = c.create_channel
ch.confirm_select
q = ch.queue(tok + "-q", durable: true)
x = ch.topic(tok + "-t")
q.bind(x, routing_key: "a.*")
x.publish("hello", routing_key: "a.b", persistent: true, headers: {"i" => 1, "s" => "x", "f" => 1.5, "a" => [1, 2], "t" => Time.at(1700000000)}, content_type: "text/plain", priority: 2, message_id: "m1", correlation_id: "c")
ch.wait_for_confirms
di, props, body = q.pop(manual_ack: true)
say "pop", body, di.routing_key, di.exchange, di.redelivered?, props.content_type, props.delivery_mode, props.priority, props.headers.sort.inspect
ch.nack(di.delivery_tag, false, true)
di, props, body = q.pop
say "redelivered", di.redelivered?
returned = []
x.on_return { |ri, p, b| returned << [ri.reply_code, ri.reply_text, b] }
x.publish("lost", routing_key: "zz", mandatory: true)
ch.wait_for_confirms
sleep 0.3
say "returned", returned.inspect
begin
  ch.queue_declare(tok + "-missing", passive: true)
rescue => e
  say "passive", e.class, e.message
end
ch2 = c.create_channel
begin
  ch2.queue_declare(tok + "-q", durable: false)
rescue => e
  say "redeclare", e.class, e.message
end
ch3 = c.create_channel
q3 = ch3.queue("", exclusive: true)
say "server named", q3.name.start_with?("amq.gen-")
got = []
cons = q3.subscribe(manual_ack: true) { |d, p, b| got << b; ch3.ack(d.delivery_tag) }
ch3.default_exchange.publish("one", routing_key: q3.name)
sleep 0.3
say "subscribed got", got.inspect
cons.cancel
ch3.queue_delete(tok + "-q")
ch3.exchange_delete(tok + "-t")
c.close
begin
  Bunny.new(host: host, port: port, user: "guest", pass: "bad", logger: Logger.new(nil)).start
rescue => e
  say "badauth", e.class
end
say "done"
