#!/usr/bin/env bash
# Fuzzes every target for about one CPU-hour each (issue #12's Proof):
# `make fuzz-long`. Not part of `make test`: the whole run takes about
# targets x FUZZ_CPU_TIME / FUZZ_PARALLEL, some 20 hours for today's 39
# targets on 2 vCPUs. Failing inputs are written to the package's
# testdata/fuzz/<Target>/ as usual; commit them with the fix.
#
#   FUZZ_CPU_TIME  CPU time per target, as a Go duration (default 1h)
#   FUZZ_PARALLEL  fuzzing workers (go test -parallel; default: every CPU)
#   FUZZ_TARGETS   regexp of target names to run (default: all)
#   FUZZTIME       a fixed budget for every target instead (e.g. 2000000x)
#   FUZZ_MINIMIZE  -fuzzminimizetime for new inputs (default 10s; Go's 60s
#                  per new input would eat the hour of a stateful target)
#
# The budget is a count of executions, not a duration: a duration trips Go
# 1.26's spurious "context deadline exceeded" at its end (golang/go#75804;
# see scripts/fuzz-short.sh). So each target is first calibrated: fuzzed
# for CALIBRATE (default 20s) with one worker, its executions per second
# read from the progress lines after the seed corpus ran, and then given
# rate x CPU time executions over FUZZ_PARALLEL workers. A calibration
# that ends with the spurious deadline error is fine: only its progress
# lines are used. The calibration's rate is per wall second; it is scaled
# by the CPU time the calibration got (bash's time). The calibration can
# still misjudge (new inputs minimised during it make it slow; a grown
# corpus makes it fast), so the first round gets half of the budget, the
# run's own CPU time is measured, and a run that used less than
# FUZZ_CPU_TIME is followed by another at the rate it showed, until the
# CPU seconds add up (at most four rounds); the last line of each target
# says how many CPU seconds and executions it had in all.
set -uo pipefail
cd "$(dirname "$0")/.."
cpu_time=${FUZZ_CPU_TIME:-1h}
parallel=${FUZZ_PARALLEL:-$(nproc)}
calibrate=${CALIBRATE:-20s}
only=${FUZZ_TARGETS:-.}
minimize=${FUZZ_MINIMIZE:-10s}
# seconds turns a duration such as 1h, 30m, 90s or 1h30m into seconds.
seconds() {
  local d=$1 total=0
  while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
    case ${BASH_REMATCH[2]} in
      h) total=$(( total + BASH_REMATCH[1] * 3600 )) ;;
      m) total=$(( total + BASH_REMATCH[1] * 60 )) ;;
      s) total=$(( total + BASH_REMATCH[1] )) ;;
    esac
    d=${BASH_REMATCH[3]}
  done
  if [ -n "$d" ] || [ "$total" -eq 0 ]; then
    echo "fuzz-long: want a duration such as 1h, 30m or 90s, not $1" >&2
    exit 2
  fi
  echo "$total"
}
cpu_seconds=$(seconds "$cpu_time") || exit 2
log=$(mktemp -d /tmp/fuzz-long.XXXXXX)
failed=()
start=$SECONDS
while read -r pkg name; do
  [[ $name =~ $only ]] || continue
  t0=$SECONDS
  fuzztime=${FUZZTIME:-}
  if [ -z "$fuzztime" ]; then
    # A first short run builds the instrumented test binary and runs the
    # seed corpus, so that the timed calibration below is fuzzing, not
    # compiling.
    go test -run='^$' -fuzz="^${name}\$" -fuzztime=1x -parallel=1 "$pkg" >/dev/null 2>&1 </dev/null
    TIMEFORMAT='%R %U %S'
    { time go test -run='^$' -fuzz="^${name}\$" -fuzztime="$calibrate" -fuzzminimizetime="$minimize" -parallel=1 "$pkg" >"$log/$name.calibrate" 2>&1 </dev/null; } 2>"$log/$name.cputime"
    if grep -q 'Failing input written to' "$log/$name.calibrate"; then
      cat "$log/$name.calibrate"
      failed+=("$pkg $name")
      continue
    fi
    # "fuzz: elapsed: 6s, execs: 52012 (17151/sec), ..." lines after the
    # corpus ran: executions per second of fuzzing proper.
    rate=$(awk '/now fuzzing/ {on=1; next}
      on && /fuzz: elapsed: [0-9]+s, execs: [0-9]+/ {
        t=$3; sub(/s,$/, "", t); t+=0; n=$5+0  # numbers: "21" < "3" as strings
        if (t0 == "") { t0=t; n0=n } else { t1=t; n1=n } }
      END { if (t1 > t0) printf "%d", (n1-n0)/(t1-t0); else print 0 }' "$log/$name.calibrate")
    # The progress lines count wall seconds; on a busy machine the worker
    # had only part of a CPU. Scale to executions per CPU-second by the
    # calibration's wall time over the CPU time it used (both from bash's
    # time), so that the budget is CPU time whatever else runs.
    rate=$(awk -v r="${rate:-0}" '{ cpu=$2+$3; if (cpu > 0 && $1 > cpu) r=r*$1/cpu; printf "%d", r }' "$log/$name.cputime")
    if [ "${rate:-0}" -le 0 ]; then
      echo "fuzz-long: $pkg $name: no rate from calibration (see $log/$name.calibrate); 100000 executions per CPU-minute assumed" >&2
      rate=1667
    fi
    # The first round asks for half the hour at the calibrated rate: with
    # a grown corpus the calibration has overrated the rate about twice
    # (session 10: FuzzDecodeMethod 7,264 executions per CPU-second
    # calibrated, about 4,000 measured; FuzzParseKeyring 14,721 and about
    # 7,900), and a round always runs its whole budget, so a first round
    # at the full budget took two hours. The rounds after it go by the
    # rate measured.
    fuzztime="$(( rate * cpu_seconds / 2 ))x"
  fi
  # The calibration can misjudge the rate (new inputs being minimised in
  # its 20 s make it slow, a busy machine's scheduling make it fast), so
  # the run's own CPU time is measured (bash's time: the test binary and
  # its workers) and, when it fell short of the CPU time asked for, the
  # target runs again with the rate it showed, until the sum reaches it.
  used=0 execs=0 round=1
  : >"$log/$name.out"
  while :; do
    echo "fuzz-long $pkg $name: $fuzztime over $parallel workers (rate ${rate:-?}/s per worker, round $round) $(date -u +%H:%MZ)"
    TIMEFORMAT='%R %U %S'
    { time go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" -parallel="$parallel" -timeout=0 "$pkg" \
      >"$log/$name.round" 2>&1 </dev/null; } 2>"$log/$name.runtime"
    ok=$?
    cat "$log/$name.round" >>"$log/$name.out"
    if [ $ok -ne 0 ] || grep -q 'Failing input written to' "$log/$name.round"; then
      tail -40 "$log/$name.round"
      failed+=("$pkg $name")
      break
    fi
    cpu=$(awk '{ printf "%d", $2+$3 }' "$log/$name.runtime")
    n=$(grep -o 'execs: [0-9]*' "$log/$name.round" | tail -1 | awk '{ print $2 }')
    used=$(( used + cpu )) execs=$(( execs + ${n:-0} ))
    if [ -n "${FUZZTIME:-}" ] || [ "$used" -ge "$cpu_seconds" ] || [ "$round" -ge 4 ] || [ "${n:-0}" -le 0 ] || [ "$cpu" -le 0 ]; then
      break
    fi
    rate=$(( n / cpu / parallel + 1 ))
    fuzztime="$(( n * (cpu_seconds - used) / cpu + 1 ))x"
    round=$(( round + 1 ))
  done
  echo "fuzz-long $pkg $name: $(( SECONDS - t0 )) s, $used CPU-seconds, execs: $execs"
done < <(./scripts/fuzz-targets.sh)
echo "fuzz-long: $(( (SECONDS - start) / 60 )) min in all; logs in $log"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz-long: FAILED %s\n' "${failed[@]}"
  exit 1
fi
