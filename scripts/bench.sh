#!/usr/bin/env bash
# make bench: sluice and RabbitMQ side by side on this machine.
#
# Starts a private RabbitMQ (scripts/rabbitmq.sh: AMQP 5682, STOMP 61623,
# installing Debian's rabbitmq-server if missing) and a sluice (bin/sluice,
# its own temporary data dir and ports), measures the machine's own limits
# (loopback TCP with 1 KiB messages, 4 KiB write+fdatasync on the disk of the
# data dirs), then runs every sluice-perf scenario against both brokers in
# turn, sluice then RabbitMQ, REPEAT times, and writes the medians and the
# sluice/RabbitMQ ratios to a markdown file. Both brokers are stopped at the
# end, whatever happens.
#
# This is a benchmark, not a test: nothing here asserts a time.
#
# Environment:
#   REPEAT=3              pairs of runs per scenario (A B A B A B)
#   SCENARIOS="a b"       scenarios to run (default: all; sluice-perf list)
#   DURATION=10s          publishing time of each timed scenario
#   BACKLOG_COUNT=1000000 messages of the backlog scenario
#   OUT=DIR               results (default bin/bench/YYYYmmdd-HHMMSS; bin/ is not tracked)
#   BENCH_DIR=DIR         where the data dirs live (default /tmp); fsync is measured there
#   SLUICE_BIN=PATH       use this sluice binary instead of building bin/sluice
#   SLUICE_AMQP_PORT=5692 SLUICE_STOMP_PORT=61633 SLUICE_HTTP_PORT=15692
#   RABBITMQ_AMQP_PORT=5682 RABBITMQ_STOMP_PORT=61623   (the node name and
#   Erlang ports are the bench's own: sluice-bench@localhost, 25782, epmd 4390)
#   CLIENTS="amqp091 fast" the clients of sluice-perf each scenario runs with
#                         (--client): amqp091-go / go-stomp ("amqp091", the
#                         default), and sluice-perf's own batching client
#                         ("fast"); each is a row of its own in the results
#                         (idle-* run once)
#   PERF_ARGS="..."       extra sluice-perf flags for every run
#   SLUICE_ARGS="..."     extra sluice flags (e.g. --memory-limit 268435456)
#   KEEP=1                keep the data dirs
#   PIN=1                 pin the brokers to CPU 1 and the load generator to
#                         CPU 0 (taskset), so that they do not share a core
#   ACTIVEMQ=1            also start a private ActiveMQ (scripts/activemq.sh,
#                         Debian's activemq package, installed if missing)
#                         and run the STOMP scenarios against it, labelled
#                         activemq, in the same rounds (sluice, RabbitMQ,
#                         ActiveMQ). sluice-perf uses no AMQP for those runs
#                         (--no-amqp-setup): the queues are created by
#                         ActiveMQ on first use, with names new to each run.
#   ACTIVEMQ_SCENARIOS="stomp-throughput stomp-latency"   which of the
#                         scenarios run against ActiveMQ too
#   ACTIVEMQ_WARMUP=30s   after each start, an untimed stomp-throughput load
#                         this long warms ActiveMQ's JVM (JIT) before its
#                         first measured run (0: none); nothing is recorded
#   ACTIVEMQ_STOMP_PORT=61643 ACTIVEMQ_OPENWIRE_PORT=61646
#   ACTIVEMQ_JAVA_OPTS="-Xms64m -Xmx1g ..."   its JVM (see scripts/activemq.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10s}
BACKLOG_COUNT=${BACKLOG_COUNT:-1000000}
OUT=${OUT:-bin/bench/$(date +%Y%m%d-%H%M%S)}
BENCH_DIR=${BENCH_DIR:-/tmp}
SA=${SLUICE_AMQP_PORT:-5692}
SS=${SLUICE_STOMP_PORT:-61633}
SH=${SLUICE_HTTP_PORT:-15692}
RA=${RABBITMQ_AMQP_PORT:-5682}
RS=${RABBITMQ_STOMP_PORT:-61623}
export RABBITMQ_AMQP_PORT=$RA RABBITMQ_STOMP_PORT=$RS
AMQ=${ACTIVEMQ:-0}
AS=${ACTIVEMQ_STOMP_PORT:-61643}
AO=${ACTIVEMQ_OPENWIRE_PORT:-61646}
export ACTIVEMQ_STOMP_PORT=$AS ACTIVEMQ_OPENWIRE_PORT=$AO
# Our own node name, Erlang distribution and epmd ports, so that the bench
# node never meets (or, when stopping, kills the epmd of) another private
# instance such as the differential tests' one.
export RABBITMQ_PRIVATE_NODENAME=${RABBITMQ_PRIVATE_NODENAME:-sluice-bench@localhost}
export RABBITMQ_PRIVATE_DIST_PORT=${RABBITMQ_PRIVATE_DIST_PORT:-25782}
export RABBITMQ_PRIVATE_EPMD_PORT=${RABBITMQ_PRIVATE_EPMD_PORT:-4390}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p "$OUT/runs" "$BENCH_DIR"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d "$BENCH_DIR/sluice-bench.XXXXXX")
rmq_dir="$work/rabbitmq"
amq_dir="$work/activemq"
sluice_pid=

# The broker log of each ActiveMQ round goes to OUT (its data dir does not
# outlive the round).
save_activemq_log() {
  [ -s "$amq_dir/data/activemq.log" ] && cat "$amq_dir/data/activemq.log" >>"$OUT/activemq.log"
  return 0
}
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
  if [ -d "$amq_dir" ]; then
    log "stopping ActiveMQ"
    "$root/scripts/activemq.sh" stop "$amq_dir" >&2
    save_activemq_log
  fi
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; else log "kept $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Both brokers and the load generator hold thousands of sockets in the idle
# scenarios; RabbitMQ inherits this limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log "building"
mkdir -p bin
go build -o bin/sluice-perf ./cmd/sluice-perf
if [ -z "${SLUICE_BIN:-}" ]; then
  go build -o bin/sluice ./cmd/sluice
  SLUICE_BIN=bin/sluice
fi
perf="$root/bin/sluice-perf"

if [ -n "${SCENARIOS:-}" ]; then
  read -r -a scens <<<"$SCENARIOS"
else
  mapfile -t scens < <("$perf" list | awk 'NR > 1 { print $1 }')
fi
for s in "${scens[@]}"; do
  "$perf" list | awk 'NR > 1 { print $1 }' | grep -qx "$s" || die "unknown scenario $s"
done
# amq_scen[S]=1 for the selected scenarios that also run against ActiveMQ.
declare -A amq_scen=()
if [ "$AMQ" = 1 ]; then
  for s in ${ACTIVEMQ_SCENARIOS:-stomp-throughput stomp-latency}; do
    for t in "${scens[@]}"; do [ "$s" = "$t" ] && amq_scen[$s]=1; done
  done
  if [ "${#amq_scen[@]}" = 0 ]; then
    log "ACTIVEMQ=1, but none of the scenarios runs against ActiveMQ (ACTIVEMQ_SCENARIOS); not starting it"
    AMQ=0
  fi
fi

for p in "$SA" "$SS" "$SH"; do
  port_open "$p" && die "port $p is in use; set SLUICE_*_PORT"
done

for p in "$RA" "$RS"; do
  port_open "$p" && die "port $p is in use (another RabbitMQ?); set RABBITMQ_AMQP_PORT / RABBITMQ_STOMP_PORT"
done
if [ "$AMQ" = 1 ]; then
  for p in "$AS" "$AO"; do
    port_open "$p" && die "port $p is in use (another ActiveMQ?); set ACTIVEMQ_STOMP_PORT / ACTIVEMQ_OPENWIRE_PORT"
  done
fi
# Each round starts both brokers afresh (sluice on an empty data dir), so
# that no round inherits another's heap, backlog or garbage.
start_rabbitmq() {
  log "starting RabbitMQ in $rmq_dir"
  "${on_cpu1[@]}" "$root/scripts/rabbitmq.sh" start "$rmq_dir" >&2 || die "RabbitMQ did not start"
  rmq_pid=$(tr -dc '0-9' <"$rmq_dir/rabbitmq.pid")
  pin "$rmq_pid"
}
stop_rabbitmq() { "$root/scripts/rabbitmq.sh" stop "$rmq_dir" >&2; }
# Each round's ActiveMQ starts on an empty data dir (KahaDB), like sluice.
start_activemq() {
  [ "$AMQ" = 1 ] || return 0
  rm -rf "$amq_dir"
  log "starting ActiveMQ in $amq_dir"
  "${on_cpu1[@]}" "$root/scripts/activemq.sh" start "$amq_dir" >&2 || die "ActiveMQ did not start"
  amq_pid=$(tr -dc '0-9' <"$amq_dir/activemq.pid")
  pin "$amq_pid"
  # A cold JVM interprets before it compiles. On this 2-core machine
  # ActiveMQ's first seconds of STOMP load were ~30 % slower than later
  # ones, and its C2 compiler thread took most of its CPU for ~30 s.
  local warm=${ACTIVEMQ_WARMUP:-30s}
  if [ "$warm" != 0 ] && [ "$warm" != 0s ]; then
    log "warming up ActiveMQ's JVM ($warm of stomp-throughput, not recorded)"
    "${perf_cmd[@]}" run --scenario stomp-throughput --label activemq-warmup --no-amqp-setup --stomp-addr "127.0.0.1:$AS" \
      --duration "$warm" --quiet >>"$OUT/progress.log" 2>&1 || log "the ActiveMQ warm-up run failed (see $OUT/progress.log)"
  fi
}
stop_activemq() {
  [ "$AMQ" = 1 ] || return 0
  "$root/scripts/activemq.sh" stop "$amq_dir" >&2
  save_activemq_log
}
# With PIN=1 the brokers start on CPU 1 (so that their runtimes see one
# CPU: Go runs one scheduler, Erlang is told +S 1:1) and pin() makes sure
# every thread stayed there.
on_cpu1=()
if [ "${PIN:-0}" = 1 ]; then
  on_cpu1=(taskset -c 1)
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-+S 1:1 +A 8}"
fi
# pin PID: with PIN=1, every thread of a broker goes to CPU 1.
pin() {
  [ "${PIN:-0}" = 1 ] || return 0
  taskset -a -cp 1 "$1" >/dev/null || die "taskset failed for pid $1"
}
perf_cmd=("$perf")
[ "${PIN:-0}" = 1 ] && perf_cmd=(taskset -c 0 "$perf")
start_sluice() {
  rm -rf "$work/sluice-data"
  log "starting sluice ($SLUICE_BIN) in $work/sluice-data"
  "${on_cpu1[@]}" "$SLUICE_BIN" --data-dir "$work/sluice-data" --amqp-addr "127.0.0.1:$SA" --stomp-addr "127.0.0.1:$SS" \
    --http-addr "127.0.0.1:$SH" --sqs-addr "" --web-stomp-addr "" --prometheus-addr "" --log-format json --log-level warn ${SLUICE_ARGS:-} 2>>"$OUT/sluice.log" &
  sluice_pid=$!
  for _ in $(seq 100); do port_open "$SA" && port_open "$SS" && break; sleep 0.1; done
  port_open "$SA" || die "sluice did not open AMQP on $SA (see $OUT/sluice.log)"
  pin "$sluice_pid"
}
stop_sluice() {
  kill -TERM "$sluice_pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$sluice_pid" 2>/dev/null || true
  wait "$sluice_pid" 2>/dev/null || true
}
start_rabbitmq
start_activemq
start_sluice

# The machine, recorded with the results.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (work tree has uncommitted changes)')"
  echo "sluice binary: $SLUICE_BIN ($("$SLUICE_BIN" --version 2>/dev/null || true))"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "go: $(go version | awk '{ print $3 }')"
  echo "rabbitmq-server: $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)"
  echo "erlang: $(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo unknown)"
  if [ "$AMQ" = 1 ]; then
    echo "activemq: $(dpkg-query -W -f='${Version}' activemq 2>/dev/null || echo unknown), KahaDB, $(java -version 2>&1 | head -1), $(tr '\0' '\n' <"/proc/$amq_pid/cmdline" | grep -E '^-X|^-D.*TaskRunner' | tr '\n' ' ' | sed 's/ $//')"
    echo "activemq scenarios: ${!amq_scen[*]} (JVM warm-up after each start: ${ACTIVEMQ_WARMUP:-30s})"
  fi
  echo "data dirs: $work ($(df -h "$work" | awk 'NR == 2 { print $1 }'))"
  echo "REPEAT=$REPEAT DURATION=$DURATION BACKLOG_COUNT=$BACKLOG_COUNT PIN=${PIN:-0} CLIENTS=\"${CLIENTS:-amqp091 fast}\" SLUICE_ARGS=${SLUICE_ARGS:-}"
  echo "scenarios: ${scens[*]}"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

log "machine limits"
"$perf" loopback --size 1024 --duration 2s --json "$OUT/loopback.json" | tee "$OUT/limits.txt"
"$perf" fsync --dir "$work" --duration 2s --json "$OUT/fsync.json" | tee -a "$OUT/limits.txt"

# clients_for S: the clients scenario S runs with (sluice-perf --client:
# amqp091-go or go-stomp, and sluice-perf's own batching client); idle
# connections are the same whatever the client.
clients_for() {
  case $1 in
    idle-*) echo amqp091 ;;
    *) echo "${CLIENTS:-amqp091 fast}" ;;
  esac
}

run_one() { # scenario client label uri stomp pid round [sluice-perf flags...]
  local s=$1 client=$2 label=$3 uri=$4 stomp=$5 pid=$6 i=$7 extra=("${@:8}")
  [ "$s" = backlog ] && extra+=(--count "$BACKLOG_COUNT")
  case $s in idle-*) ;; *) extra+=(--client "$client") ;; esac
  # shellcheck disable=SC2206
  [ -n "${PERF_ARGS:-}" ] && extra+=($PERF_ARGS)
  log "round $i/$REPEAT: $s ($client) against $label"
  # A failed run (lost messages, broker error) is recorded and skipped.
  "${perf_cmd[@]}" run --scenario "$s" --label "$label" --uri "$uri" --stomp-addr "$stomp" --pid "$pid" \
    --duration "$DURATION" "${extra[@]}" --json "$OUT/runs/$s.$client.$label.$i.json" \
    2>>"$OUT/progress.log" | tee -a "$OUT/runs.log" || log "$s against $label FAILED (see $OUT/runs.log)"
  kill -0 "$pid" 2>/dev/null || die "$label (pid $pid) is gone"
  sleep 2
}

for i in $(seq "$REPEAT"); do
  if [ "$i" -gt 1 ]; then
    stop_sluice
    stop_rabbitmq
    stop_activemq
    start_rabbitmq
    start_activemq
    start_sluice
    sleep 3
  fi
  for s in "${scens[@]}"; do
    for client in $(clients_for "$s"); do
      run_one "$s" "$client" sluice "amqp://guest:guest@127.0.0.1:$SA/" "127.0.0.1:$SS" "$sluice_pid" "$i"
      run_one "$s" "$client" rabbitmq "amqp://guest:guest@127.0.0.1:$RA/" "127.0.0.1:$RS" "$rmq_pid" "$i"
    done
    if [ -n "${amq_scen[$s]:-}" ]; then
      for client in $(clients_for "$s"); do
        run_one "$s" "$client" activemq "" "127.0.0.1:$AS" "$amq_pid" "$i" --no-amqp-setup
      done
    fi
  done
done

{
  echo "## make bench results"
  echo
  echo '```'
  cat "$OUT/machine.txt"
  echo '```'
  echo
  "$perf" summarize "$OUT/loopback.json" "$OUT/fsync.json" "$OUT"/runs/*.json
} >"$OUT/results.md"
echo
cat "$OUT/results.md"
log "results in $OUT/results.md (per-run JSON in $OUT/runs, tables in $OUT/runs.log)"
