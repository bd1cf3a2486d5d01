#!/usr/bin/perl
# Drives a broker with Net::Stomp (Debian's libnet-stomp-perl), a STOMP 1.0
# client, the way applications do, and prints what it observed, one line per
# observation, with the run's token replaced by <T>.
# conformance/client_scripts_test.go compares the lines with those RabbitMQ
# 3.10 printed (net_stomp_client.rabbitmq.txt).
#
# Headers that name a session or a moment (message-id, session, server,
# receipt-id) are left out, and so are the receipt and transaction headers
# a SEND's copy carries into the message (send_with_receipt's receipt ids
# carry the session id; RabbitMQ and sluice both copy them). Net::Stomp's
# send_transactional is not used: it waits for the
# SEND's receipt before it commits, and RabbitMQ (as sluice) sends that
# receipt only after the COMMIT.
#
# usage: net_stomp_client.pl HOST PORT TOKEN
use strict;
use warnings;
use Net::Stomp;
use Net::Stomp::Frame;

my ($host, $port, $token) = @ARGV;
$| = 1;

sub say_line {
  my $line = join(" ", @_);
  $line =~ s/\Q$token\E/<T>/g;
  print "$line\n";
}

sub show {
  my ($label, $f) = @_;
  return say_line("$label: nothing") unless $f;
  my $h = $f->headers || {};
  my @keys = grep { !/^(message-id|session|server|receipt-id|receipt|transaction)$/ } sort keys %$h;
  my $body = $f->body // '';
  $body =~ s/\0/\\0/g;
  $body =~ s/\n/\\n/g;
  say_line("$label:", $f->command, "{" . join(",", map { "$_=" . ($h->{$_} // '') } @keys) . "}", "body=[$body]");
}

sub conn {
  my $s = Net::Stomp->new({ hostname => $host, port => $port });
  my $c = $s->connect({ login => 'guest', passcode => 'guest' });
  return ($s, $c);
}

sub frame {
  my ($s, $command, %headers) = @_;
  $s->send_frame(Net::Stomp::Frame->new({ command => $command, headers => \%headers }));
}

my ($p, $c) = conn();
say_line("connect:", $c->command, "version=" . ($c->headers->{version} // 'none'), "session=" . (defined $c->headers->{session} ? 'yes' : 'no'));
my $bad = Net::Stomp->new({ hostname => $host, port => $port });
show("bad-login", $bad->connect({ login => 'guest', passcode => 'wrong' }));

# ---- a queue: receipts, client acks, a prefetch of one
my $q = "/queue/$token";
my ($s) = conn();
$s->subscribe({ destination => $q, ack => 'client', 'activemq.prefetchSize' => 1 });
say_line("send_with_receipt:", $p->send_with_receipt({ destination => $q, body => "r1", 'x-custom' => 'v 1', persistent => 'true' }) ? "ok" : "failed");
my $m = $s->receive_frame({ timeout => 5 });
show("msg1", $m);
$s->ack({ frame => $m });

# ---- a transaction by hand: the SEND's receipt follows the COMMIT's
frame($p, 'BEGIN', transaction => 'tx-1');
$p->send({ destination => $q, body => "tx1", transaction => 'tx-1', receipt => 'send-in-tx' });
frame($p, 'COMMIT', transaction => 'tx-1', receipt => 'commit-1');
for my $i (1 .. 2) {
  my $r = $p->receive_frame({ timeout => 5 });
  say_line("commit $i:", $r ? $r->command . " " . ($r->headers->{'receipt-id'} // '') : "nothing");
}
show("msg2", $m = $s->receive_frame({ timeout => 5 }));
$s->ack({ frame => $m });
frame($p, 'BEGIN', transaction => 'tx-2');
$p->send({ destination => $q, body => "aborted", transaction => 'tx-2', receipt => 'send-aborted' });
frame($p, 'ABORT', transaction => 'tx-2', receipt => 'abort-2');
my $r = $p->receive_frame({ timeout => 5 });
say_line("abort:", $r ? $r->command . " " . ($r->headers->{'receipt-id'} // '') : "nothing");

# ---- a body with a NUL needs content-length (bytes_message)
$p->send_with_receipt({ destination => $q, body => "a\0b", bytes_message => 1, 'content-type' => 'application/octet-stream' });
show("msg3", $m = $s->receive_frame({ timeout => 5 }));
$s->ack({ frame => $m });

# ---- unacked when the consumer goes: the next subscriber gets it again
$p->send_with_receipt({ destination => $q, body => "again" });
show("msg4", $s->receive_frame({ timeout => 5 }));
$s->disconnect;
my ($s2) = conn();
$s2->subscribe({ destination => $q, ack => 'auto', id => 'sub-2' });
show("msg4 again", $s2->receive_frame({ timeout => 5 }));

# ---- topics and exchanges, with properties as headers
$s2->subscribe({ destination => "/topic/$token.t", ack => 'auto', id => 'sub-t', receipt => 'sub-t' });
show("subscribed", $s2->receive_frame({ timeout => 5 }));
$s2->subscribe({ destination => "/exchange/amq.direct/$token", ack => 'auto', id => 'sub-x', receipt => 'sub-x' });
show("subscribed", $s2->receive_frame({ timeout => 5 }));
$p->send_with_receipt({ destination => "/topic/$token.t", body => 'topic-body', 'reply-to' => "/queue/$token-reply" });
$p->send_with_receipt({ destination => "/exchange/amq.direct/$token", body => 'exchange-body', priority => '3',
  expiration => '60000', 'correlation-id' => 'c1', type => 'T', 'content-type' => 'text/plain' });
show("topic", $s2->receive_frame({ timeout => 5 }));
show("exchange", $s2->receive_frame({ timeout => 5 }));

# ---- spaces around a header's colon are kept (STOMP 1.0 does not trim)
$p->send_with_receipt({ destination => $q, body => 'sp', ' padded ' => ' value ' });
show("padded", $s2->receive_frame({ timeout => 5 }));

# ---- unsubscribe by id stops deliveries
$s2->unsubscribe({ id => 'sub-t', receipt => 'unsub' });
show("unsubscribed", $s2->receive_frame({ timeout => 5 }));
$p->send_with_receipt({ destination => "/topic/$token.t", body => 'after-unsub' });
show("after unsubscribe", $s2->receive_frame({ timeout => 1 }));

# ---- a refused SEND: ERROR instead of the receipt, and the session goes on
my $rcpt;
my $ok = $p->send_with_receipt({ destination => '/bogus/x', body => 'x' }, $rcpt);
say_line("bad destination receipt:", $ok ? "ok" : "refused");
show("bad destination", $rcpt);
show("after error", $p->receive_frame({ timeout => 1 }));
say_line("still connected:", $p->send_with_receipt({ destination => $q, body => 'x2' }) ? "yes" : "no");
show("x2", $s2->receive_frame({ timeout => 5 }));
$s2->disconnect;
$p->disconnect;
say_line("done");
