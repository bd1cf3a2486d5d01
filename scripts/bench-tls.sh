#!/usr/bin/env bash
# make bench-tls: what TLS costs, sluice and RabbitMQ side by side.
#
# Makes a test CA with a server certificate for localhost/127.0.0.1 and a
# client certificate (scripts/rabbitmq.sh certs, openssl), starts a private
# RabbitMQ with its TLS listener (scripts/rabbitmq.sh, RABBITMQ_TLS=1) and a
# sluice with its own (--tls-cert), both presenting the same certificate,
# then runs sluice-perf against both brokers in turn, over AMQPS and (with
# PLAIN=1, the default) over plain AMQP for the cost of TLS:
#
#   transient-1-1          1 -> 1, 1 KiB transient, unbounded
#   persistent-confirm-16  16 producers, persistent 1 KiB, confirms
#   handshake-amqp         new connections per second: TCP connect, a full
#                          TLS handshake (no session resumption), the AMQP
#                          handshake to connection.open-ok, connection.close
#
# and prints one table of medians (sluice-perf summarize): a row per
# scenario, client and transport, "(tls)" marking the AMQPS rows. Both
# brokers are stopped at the end, whatever happens.
#
# Both ask for a client certificate and verify it when one is given
# (RabbitMQ: verify_peer, fail_if_no_peer_cert false; sluice:
# --tls-client-auth request); sluice-perf presents none unless MUTUAL=1.
# Clients log in with PLAIN (guest) either way.
#
# This is a benchmark, not a test: nothing here asserts a time.
#
# Environment:
#   REPEAT=3              rounds (each restarts both brokers); runs alternate
#                         sluice, RabbitMQ within a round
#   SCENARIOS="transient-1-1 persistent-confirm-16 handshake-amqp"
#   DURATION=10s          length of each run (handshake runs too)
#   DIALERS=4             concurrent dialers of the handshake runs
#   CLIENTS="fast"        sluice-perf clients (--client): fast (its own,
#                         batching, what a broker can do) and/or amqp091
#                         (amqp091-go, what a typical Go application sees)
#   PLAIN=1               also run each scenario over plain AMQP (0: TLS only)
#   MUTUAL=1              sluice-perf presents a client certificate (CN
#                         guest) and both brokers require one
#   TLS_RESUME=1          handshake runs may resume TLS sessions
#                         (sluice-perf --tls-resume; default: full handshakes)
#   TLS_KEY_TYPE=rsa      key of the CA and certificates: rsa (2048 bits, as
#                         RabbitMQ's tls-gen) or ec (P-256)
#   OUT=DIR               results (default bin/bench-tls/YYYYmmdd-HHMMSS)
#   BENCH_DIR=DIR         where data dirs and certificates live (default /tmp)
#   SLUICE_BIN=PATH       use this sluice binary instead of building bin/sluice
#   SLUICE_AMQP_PORT=5695 SLUICE_AMQPS_PORT=5696 SLUICE_STOMP_PORT=61636
#   SLUICE_STOMPS_PORT=61637 SLUICE_HTTP_PORT=15695
#   RABBITMQ_AMQP_PORT=5683 RABBITMQ_AMQPS_PORT=5681 RABBITMQ_STOMP_PORT=61625
#   RABBITMQ_STOMPS_PORT=61624 (node sluice-bench-tls@localhost, Erlang
#   distribution port 25783, epmd 4391: apart from make bench's node)
#   PERF_ARGS="..."       extra sluice-perf flags for every run
#   SLUICE_ARGS="..."     extra sluice flags
#   KEEP=1                keep the data dirs and certificates
#   PIN=1                 brokers on CPU 1, the load generator on CPU 0
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10s}
DIALERS=${DIALERS:-4}
CLIENTS=${CLIENTS:-fast}
PLAIN=${PLAIN:-1}
MUTUAL=${MUTUAL:-0}
OUT=${OUT:-bin/bench-tls/$(date +%Y%m%d-%H%M%S)}
BENCH_DIR=${BENCH_DIR:-/tmp}
SA=${SLUICE_AMQP_PORT:-5695}
SAS=${SLUICE_AMQPS_PORT:-5696}
SS=${SLUICE_STOMP_PORT:-61636}
SSS=${SLUICE_STOMPS_PORT:-61637}
SH=${SLUICE_HTTP_PORT:-15695}
RA=${RABBITMQ_AMQP_PORT:-5683}
RAS=${RABBITMQ_AMQPS_PORT:-5681}
RS=${RABBITMQ_STOMP_PORT:-61625}
RSS=${RABBITMQ_STOMPS_PORT:-61624}
export RABBITMQ_AMQP_PORT=$RA RABBITMQ_AMQPS_PORT=$RAS RABBITMQ_STOMP_PORT=$RS RABBITMQ_STOMPS_PORT=$RSS
export RABBITMQ_TLS=1
export RABBITMQ_PRIVATE_NODENAME=${RABBITMQ_PRIVATE_NODENAME:-sluice-bench-tls@localhost}
export RABBITMQ_PRIVATE_DIST_PORT=${RABBITMQ_PRIVATE_DIST_PORT:-25783}
export RABBITMQ_PRIVATE_EPMD_PORT=${RABBITMQ_PRIVATE_EPMD_PORT:-4391}
read -r -a scens <<<"${SCENARIOS:-transient-1-1 persistent-confirm-16 handshake-amqp}"

log() { echo "bench-tls: $*" >&2; }
die() { log "$*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p "$OUT/runs" "$BENCH_DIR"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d "$BENCH_DIR/sluice-bench-tls.XXXXXX")
rmq_dir="$work/rabbitmq"
certs="$work/certs"
sluice_pid=

cleanup() {
  set +e
  if [ -n "$sluice_pid" ] && kill -0 "$sluice_pid" 2>/dev/null; then
    log "stopping sluice (pid $sluice_pid)"
    kill -TERM "$sluice_pid"
    for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$sluice_pid" 2>/dev/null && kill -KILL "$sluice_pid"
  fi
  if [ -d "$rmq_dir" ]; then
    log "stopping RabbitMQ"
    "$root/scripts/rabbitmq.sh" stop "$rmq_dir" >&2
  fi
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; else log "kept $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building"
mkdir -p bin
go build -o bin/sluice-perf ./cmd/sluice-perf
if [ -z "${SLUICE_BIN:-}" ]; then
  go build -o bin/sluice ./cmd/sluice
  SLUICE_BIN=bin/sluice
fi
perf="$root/bin/sluice-perf"
for s in "${scens[@]}"; do
  "$perf" list | awk 'NR > 1 { print $1 }' | grep -qx "$s" || die "unknown scenario $s"
done
for p in "$SA" "$SAS" "$SS" "$SSS" "$SH"; do
  port_open "$p" && die "port $p is in use; set SLUICE_*_PORT"
done
for p in "$RA" "$RAS" "$RS" "$RSS"; do
  port_open "$p" && die "port $p is in use (another RabbitMQ?); set RABBITMQ_*_PORT"
done

log "certificates (${TLS_KEY_TYPE:-rsa}) in $certs"
"$root/scripts/rabbitmq.sh" certs "$certs" >&2
export RABBITMQ_TLS_CA=$certs/ca.pem RABBITMQ_TLS_CERT=$certs/server.pem RABBITMQ_TLS_KEY=$certs/server-key.pem
client_auth=request
tls_args=(--tls-ca "$certs/ca.pem")
if [ "$MUTUAL" = 1 ]; then
  export RABBITMQ_TLS_REQUIRE_CLIENT_CERT=1
  client_auth=require
  tls_args+=(--tls-cert "$certs/client.pem" --tls-key "$certs/client-key.pem")
fi

on_cpu1=()
if [ "${PIN:-0}" = 1 ]; then
  on_cpu1=(taskset -c 1)
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-+S 1:1 +A 8}"
fi
pin() {
  [ "${PIN:-0}" = 1 ] || return 0
  taskset -a -cp 1 "$1" >/dev/null || die "taskset failed for pid $1"
}
perf_cmd=("$perf")
[ "${PIN:-0}" = 1 ] && perf_cmd=(taskset -c 0 "$perf")

start_rabbitmq() {
  log "starting RabbitMQ (TLS on $RAS) in $rmq_dir"
  "${on_cpu1[@]}" "$root/scripts/rabbitmq.sh" start "$rmq_dir" >&2 || die "RabbitMQ did not start"
  rmq_pid=$(tr -dc '0-9' <"$rmq_dir/rabbitmq.pid")
  pin "$rmq_pid"
}
stop_rabbitmq() { "$root/scripts/rabbitmq.sh" stop "$rmq_dir" >&2; }
start_sluice() {
  rm -rf "$work/sluice-data"
  log "starting sluice ($SLUICE_BIN, TLS on $SAS) in $work/sluice-data"
  # shellcheck disable=SC2086
  "${on_cpu1[@]}" "$SLUICE_BIN" --data-dir "$work/sluice-data" --amqp-addr "127.0.0.1:$SA" --stomp-addr "127.0.0.1:$SS" \
    --http-addr "127.0.0.1:$SH" --amqps-addr "127.0.0.1:$SAS" --stomps-addr "127.0.0.1:$SSS" --https-addr "" --sqs-addr "" --web-stomp-addr "" --prometheus-addr "" \
    --tls-cert "$certs/server.pem" --tls-key "$certs/server-key.pem" --tls-ca "$certs/ca.pem" --tls-client-auth "$client_auth" \
    --log-format json --log-level warn ${SLUICE_ARGS:-} 2>>"$OUT/sluice.log" &
  sluice_pid=$!
  for _ in $(seq 100); do port_open "$SA" && port_open "$SAS" && break; sleep 0.1; done
  port_open "$SAS" || die "sluice did not open AMQPS on $SAS (see $OUT/sluice.log)"
  pin "$sluice_pid"
}
stop_sluice() {
  kill -TERM "$sluice_pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$sluice_pid" 2>/dev/null || true
  wait "$sluice_pid" 2>/dev/null || true
}

start_rabbitmq
start_sluice

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (work tree has uncommitted changes)')"
  echo "sluice binary: $SLUICE_BIN ($("$SLUICE_BIN" --version 2>/dev/null || true))"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -sr)"
  echo "go: $(go version | awk '{ print $3 }')"
  echo "rabbitmq-server: $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)"
  echo "erlang: $(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo unknown)"
  echo "openssl: $(openssl version)"
  echo "certificates: ${TLS_KEY_TYPE:-rsa} keys, one CA, the same server certificate on both brokers; client certificates: $([ "$MUTUAL" = 1 ] && echo required and presented || echo requested, none presented)"
  echo "REPEAT=$REPEAT DURATION=$DURATION DIALERS=$DIALERS CLIENTS=\"$CLIENTS\" PLAIN=$PLAIN MUTUAL=$MUTUAL TLS_RESUME=${TLS_RESUME:-0} PIN=${PIN:-0} SLUICE_ARGS=${SLUICE_ARGS:-}"
  echo "scenarios: ${scens[*]}"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

run_one() { # scenario client transport label uri pid round
  local s=$1 client=$2 tr=$3 label=$4 uri=$5 pid=$6 i=$7 extra=()
  [ "$tr" = tls ] && extra+=("${tls_args[@]}")
  case $s in handshake-*)
    extra+=(--dialers "$DIALERS")
    [ "${TLS_RESUME:-0}" = 1 ] && extra+=(--tls-resume)
    ;;
  esac
  # shellcheck disable=SC2206
  [ -n "${PERF_ARGS:-}" ] && extra+=($PERF_ARGS)
  log "round $i/$REPEAT: $s ($client, $tr) against $label"
  "${perf_cmd[@]}" run --scenario "$s" --label "$label" --client "$client" --uri "$uri" --pid "$pid" \
    --duration "$DURATION" "${extra[@]}" --json "$OUT/runs/$s.$client.$tr.$label.$i.json" \
    2>>"$OUT/progress.log" | tee -a "$OUT/runs.log" || log "$s ($tr) against $label FAILED (see $OUT/runs.log)"
  kill -0 "$pid" 2>/dev/null || die "$label (pid $pid) is gone"
  sleep 2
}

transports=(tls)
[ "$PLAIN" = 1 ] && transports=(plain tls)
for i in $(seq "$REPEAT"); do
  if [ "$i" -gt 1 ]; then
    stop_sluice
    stop_rabbitmq
    start_rabbitmq
    start_sluice
    sleep 3
  fi
  for s in "${scens[@]}"; do
    for client in $CLIENTS; do
      for tr in "${transports[@]}"; do
        if [ "$tr" = tls ]; then
          run_one "$s" "$client" tls sluice "amqps://guest:guest@127.0.0.1:$SAS/" "$sluice_pid" "$i"
          run_one "$s" "$client" tls rabbitmq "amqps://guest:guest@127.0.0.1:$RAS/" "$rmq_pid" "$i"
        else
          run_one "$s" "$client" plain sluice "amqp://guest:guest@127.0.0.1:$SA/" "$sluice_pid" "$i"
          run_one "$s" "$client" plain rabbitmq "amqp://guest:guest@127.0.0.1:$RA/" "$rmq_pid" "$i"
        fi
      done
    done
  done
done

{
  echo "## make bench-tls results"
  echo
  echo '```'
  cat "$OUT/machine.txt"
  echo '```'
  echo
  "$perf" summarize "$OUT"/runs/*.json
} >"$OUT/results.md"
echo
cat "$OUT/results.md"
log "results in $OUT/results.md (per-run JSON in $OUT/runs, tables in $OUT/runs.log)"
