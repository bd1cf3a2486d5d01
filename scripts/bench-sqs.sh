#!/usr/bin/env bash
# make bench-sqs: the SQS API, sluice and goaws side by side (issue #15).
#
# Builds goaws (github.com/Admiral-Piett/goaws, an in-memory SQS emulator
# in Go) into a temporary directory with `go install` from the Go module
# proxy (nothing of it is kept in this repository), starts it with a
# config file written here, starts sluice with a fresh data directory, and
# runs sluice-perf's SQS scenarios (aws-sdk-go-v2 clients, or sluice-perf's
# own with PERF_ARGS="--client fast") against both in
# turn:
#
#   sqs-standard  4 producers of SendMessageBatch (10 x 1 KiB) -> 1 standard
#                 queue -> 4 consumers of ReceiveMessage(10, long poll) +
#                 DeleteMessageBatch
#   sqs-standard-16  the same with 16 producers and 16 consumers
#   sqs-fifo      the same on a FIFO queue, 10 message groups per producer
#
# Every run counts every message: a lost, duplicated or (FIFO) reordered
# one fails the run, and no figure is taken from it. sluice answers each
# send after the fsync that covers it; goaws keeps messages in memory.
# Prints one table of medians (sluice-perf summarize -b goaws).
#
# This is a benchmark, not a test: nothing here asserts a time.
#
# Environment:
#   REPEAT=3              rounds (each restarts both); sluice, then goaws
#   SCENARIOS="sqs-standard sqs-standard-16 sqs-fifo"
#   DURATION=10s          length of each run
#   GOAWS_VERSION=v0.5.4  the goaws module version to build
#   GOAWS_BIN=PATH        use this goaws binary instead of building one
#   SLUICE_BIN=PATH       use this sluice binary instead of building bin/sluice
#   SLUICE_SQS_PORT=9394 GOAWS_PORT=4394
#   OUT=DIR               results (default bin/bench-sqs/YYYYmmdd-HHMMSS)
#   BENCH_DIR=DIR         where the data dir and goaws live (default /tmp)
#   PERF_ARGS="..."       extra sluice-perf flags for every run
#   SLUICE_ARGS="..."     extra sluice flags
#   KEEP=1                keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10s}
GOAWS_VERSION=${GOAWS_VERSION:-v0.5.4}
SP=${SLUICE_SQS_PORT:-9394}
GP=${GOAWS_PORT:-4394}
OUT=${OUT:-bin/bench-sqs/$(date +%Y%m%d-%H%M%S)}
BENCH_DIR=${BENCH_DIR:-/tmp}
read -r -a scens <<<"${SCENARIOS:-sqs-standard sqs-standard-16 sqs-fifo}"

log() { echo "bench-sqs: $*" >&2; }
die() { log "$*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p "$OUT/runs" "$BENCH_DIR"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d "$BENCH_DIR/sluice-bench-sqs.XXXXXX")
sluice_pid=
goaws_pid=

stop_pid() { # pid
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1"
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  set +e
  stop_pid "$sluice_pid"
  stop_pid "$goaws_pid"
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
if [ -z "${GOAWS_BIN:-}" ]; then
  log "building goaws $GOAWS_VERSION from the module proxy into $work/goaws"
  # Outside this module, so that its go.mod has no say; the binary is
  # named after its package directory (app/cmd).
  (cd "$work" && GOBIN="$work/goaws" GOFLAGS= go install "github.com/Admiral-Piett/goaws/app/cmd@$GOAWS_VERSION") ||
    die "could not build goaws $GOAWS_VERSION"
  GOAWS_BIN="$work/goaws/cmd"
fi
for s in "${scens[@]}"; do
  "$perf" list sqs | awk 'NR > 1 { print $1 }' | grep -qx "$s" || die "unknown SQS scenario $s"
done
for p in "$SP" "$GP"; do
  port_open "$p" && die "port $p is in use; set SLUICE_SQS_PORT / GOAWS_PORT"
done

# goaws: one environment, no queues or topics made at start (sluice-perf
# creates its own), its default attributes, no artificial latency.
cat >"$work/goaws.yaml" <<EOF
Bench:
  Host: 127.0.0.1
  Port: $GP
  Region: us-east-1
  AccountId: "000000000000"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
  Queues: []
  Topics: []
  RandomLatency:
    Min: 0
    Max: 0
EOF

start_goaws() {
  log "starting goaws ($GOAWS_BIN) on $GP"
  "$GOAWS_BIN" -config "$work/goaws.yaml" -loglevel warn Bench >>"$OUT/goaws.log" 2>&1 &
  goaws_pid=$!
  for _ in $(seq 100); do port_open "$GP" && break; sleep 0.1; done
  port_open "$GP" || die "goaws did not listen on $GP (see $OUT/goaws.log)"
}
start_sluice() {
  rm -rf "$work/sluice-data"
  log "starting sluice ($SLUICE_BIN, SQS on $SP) in $work/sluice-data"
  # shellcheck disable=SC2086
  "$SLUICE_BIN" --data-dir "$work/sluice-data" --sqs-addr "127.0.0.1:$SP" --amqp-addr "" --stomp-addr "" \
    --http-addr "" --web-stomp-addr "" --prometheus-addr "" --amqps-addr "" --stomps-addr "" --https-addr "" --sqss-addr "" \
    --log-format json --log-level warn ${SLUICE_ARGS:-} 2>>"$OUT/sluice.log" &
  sluice_pid=$!
  for _ in $(seq 100); do port_open "$SP" && break; sleep 0.1; done
  port_open "$SP" || die "sluice did not listen on $SP (see $OUT/sluice.log)"
}

start_goaws
start_sluice

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (work tree has uncommitted changes)')"
  echo "sluice binary: $SLUICE_BIN"
  echo "goaws: github.com/Admiral-Piett/goaws $GOAWS_VERSION ($GOAWS_BIN)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -sr)"
  echo "go: $(go version | awk '{ print $3 }')"
  echo "load before: $(uptime | sed 's/.*load average/load average/')"
  echo "REPEAT=$REPEAT DURATION=$DURATION SLUICE_ARGS=${SLUICE_ARGS:-} PERF_ARGS=${PERF_ARGS:-}"
  echo "scenarios: ${scens[*]}"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

run_one() { # scenario label endpoint pid round extra...
  local s=$1 label=$2 ep=$3 pid=$4 i=$5
  shift 5
  local extra=("$@")
  # shellcheck disable=SC2206
  [ -n "${PERF_ARGS:-}" ] && extra+=($PERF_ARGS)
  log "round $i/$REPEAT: $s against $label ($(uptime | sed 's/.*load average/load average/'))"
  "$perf" run --scenario "$s" --label "$label" --sqs-endpoint "$ep" --pid "$pid" --duration "$DURATION" \
    ${extra[@]+"${extra[@]}"} --json "$OUT/runs/$s.$label.$i.json" \
    2>>"$OUT/progress.log" | tee -a "$OUT/runs.log" || log "$s against $label FAILED (see $OUT/runs.log)"
  kill -0 "$pid" 2>/dev/null || die "$label (pid $pid) is gone"
  sleep 2
}

for i in $(seq "$REPEAT"); do
  if [ "$i" -gt 1 ]; then
    stop_pid "$sluice_pid"
    stop_pid "$goaws_pid"
    start_goaws
    start_sluice
    sleep 2
  fi
  for s in "${scens[@]}"; do
    run_one "$s" sluice "http://127.0.0.1:$SP" "$sluice_pid" "$i"
    # goaws v0.5.4 answers SendMessageBatch over JSON with its list under
    # the Query protocol's name, which the SDK does not read: take an
    # answer that lists nothing as all sent (loss is still counted).
    run_one "$s" goaws "http://127.0.0.1:$GP" "$goaws_pid" "$i" --sqs-empty-batch-answer
  done
done
echo "load after: $(uptime | sed 's/.*load average/load average/')" >>"$OUT/machine.txt"

{
  echo "## make bench-sqs results"
  echo
  echo '```'
  cat "$OUT/machine.txt"
  echo '```'
  echo
  "$perf" summarize -b goaws "$OUT"/runs/*.json
} >"$OUT/results.md"
echo
cat "$OUT/results.md"
log "results in $OUT/results.md (per-run JSON in $OUT/runs, tables in $OUT/runs.log)"
