<?php
// Drives a broker with php-amqplib (Debian's package), PHP's AMQP 0-9-1
// client, the way applications do, and prints what it observed, one line per
// observation, with the run's token replaced by <T>.
// conformance/client_scripts_test.go compares the lines with those RabbitMQ
// 3.10 printed (amqplib_client.rabbitmq.txt).
//
// Header tables are printed with their keys sorted: RabbitMQ passes the
// publisher's table through in its order, sluice re-encodes it sorted by
// key (docs/ARCHITECTURE.md), a difference left on purpose.
//
// usage: php amqplib_client.php HOST PORT TOKEN
require_once '/usr/share/php/PhpAmqpLib/autoload.php';
use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPTable;
$host = $argv[1]; $port = (int)$argv[2]; $tok = $argv[3];
function sorted(array $a): array { ksort($a); return $a; }
function say(...$a) { global $tok; echo str_replace($tok, "<T>", implode(" ", array_map(fn($x) => is_string($x) ? $x : json_encode($x), $a))), "\n"; }
$c = new AMQPStreamConnection($host, $port, 'guest', 'guest');
$ch = $c->channel();
$ch->confirm_select();
[$q, $n, $cc] = $ch->queue_declare($tok . '-q', false, true, false, false);
say("declare", $q, $n, $cc);
$msg = new AMQPMessage('hello', ['content_type' => 'text/plain', 'delivery_mode' => 2, 'application_headers' => new AMQPTable(['i' => 1, 's' => 'x', 'b' => true, 'l' => [1, 2]])]);
$ch->basic_publish($msg, '', $q);
$ch->wait_for_pending_acks(5);
$m = $ch->basic_get($q);
say("get", $m->getBody(), $m->get('content_type'), $m->get('delivery_mode'), sorted($m->get('application_headers')->getNativeData()), $m->getRoutingKey(), $m->isRedelivered());
$m->nack(true);
$m = $ch->basic_get($q, true);
say("redelivered", $m->isRedelivered());
$ch->basic_qos(null, 1, null);
$got = [];
$ch->basic_publish(new AMQPMessage('c1'), '', $q);
$ch->basic_publish(new AMQPMessage('c2'), '', $q);
$ch->basic_consume($q, 'ctag', false, false, false, false, function ($m) use (&$got) { $got[] = $m->getBody(); $m->ack(); });
while (count($got) < 2) { $ch->wait(null, false, 3); }
say("consumed", $got);
$ch->basic_cancel('ctag');
try { $ch->queue_declare($tok . '-missing', true); } catch (\Throwable $e) { say("passive", get_class($e), $e->getCode(), $e->getMessage()); }
$ch = $c->channel();
$ch->queue_delete($tok . '-q');
$c->close();
try { new AMQPStreamConnection($host, $port, 'guest', 'bad'); } catch (\Throwable $e) { say("badauth", get_class($e), $e->getCode(), $e->getMessage()); }
try { new AMQPStreamConnection($host, $port, 'guest', 'guest', 'novhost'); } catch (\Throwable $e) { say("novhost", get_class($e), $e->getCode(), $e->getMessage()); }
say("done");
