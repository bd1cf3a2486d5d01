<?php
// Drives a broker with PHP's stomp extension (PECL stomp, Debian's
// php-stomp), a STOMP 1.0 client, the way applications do, and prints what
// it observed, one line per observation, with the run's token replaced by
// <T>. conformance/client_scripts_test.go compares the lines with those
// RabbitMQ 3.10 printed (stomp_ext_client.rabbitmq.txt).
//
// Headers that name a session or a moment (message-id, session, server,
// receipt-id, ack) are left out, and so are the receipt and transaction
// headers a SEND's copy carries into the message (RabbitMQ copies them, and
// sluice since eb5a261; the recording was made without them).
//
// usage: php stomp_ext_client.php HOST PORT TOKEN
[$_, $host, $port, $token] = $argv;
function say($s) { global $token; echo str_replace($token, "<T>", $s), "\n"; }
function show($label, $f) {
  if (!$f) { say("$label: nothing"); return; }
  $h = $f->headers; ksort($h);
  foreach (['message-id','session','server','receipt-id','ack','receipt','transaction'] as $k) unset($h[$k]);
  $hs = []; foreach ($h as $k => $v) $hs[] = "$k=$v";
  say("$label: {$f->command} {" . implode(",", $hs) . "} body=" . json_encode($f->body));
}
try {
  $s = new Stomp("tcp://$host:$port", "guest", "guest");
} catch (StompException $e) { say("connect failed: " . $e->getMessage()); exit; }
say("session? " . ($s->getSessionId() ? "yes" : "no"));
try { new Stomp("tcp://$host:$port", "guest", "wrong"); say("bad login accepted"); }
catch (StompException $e) { say("bad login: " . $e->getMessage()); }
$q = "/queue/$token";
say("send: " . var_export($s->send($q, "hello", ["persistent" => "true", "x-a" => "1"]), true));
say("send with receipt: " . var_export($s->send($q, "second", ["receipt" => "r2"]), true));
$s->subscribe($q, ["ack" => "client-individual", "id" => "s1", "prefetch-count" => "1"]);
$f = $s->readFrame(); show("m1", $f);
say("ack: " . var_export($s->ack($f), true));
$f = $s->readFrame(); show("m2", $f);
say("nack: " . var_export($s->nack($f, ["requeue" => "false"]), true));
say("read after nack: " . var_export($s->hasFrame(), true));
say("begin: " . var_export($s->begin("t1"), true));
say("send in tx: " . var_export($s->send($q, "in-tx", ["transaction" => "t1"]), true));
say("commit: " . var_export($s->commit("t1"), true));
// Acked by id: acking the frame would send its headers back, and
// RabbitMQ's copy of the SEND's transaction header (t1, committed) would
// make the ACK name a transaction that is gone.
$f = $s->readFrame(); show("m3", $f); $s->ack($f->headers['message-id']);
try { $r = $s->send("/bogus/$token", "x"); say("bad dest send: " . var_export($r, true)); }
catch (StompException $e) { say("bad dest: " . $e->getMessage() . " / " . json_encode($e->getDetails())); }
try { $f = $s->readFrame(); show("after bad dest", $f); }
catch (StompException $e) { say("after bad dest: " . $e->getMessage() . " / " . json_encode($e->getDetails())); }
try { say("after error send: " . var_export($s->send($q, "after"), true)); }
catch (StompException $e) { say("after error: " . $e->getMessage()); }
say("error: " . var_export($s->error(), true));
unset($s);
say("done");
