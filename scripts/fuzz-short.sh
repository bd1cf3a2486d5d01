#!/usr/bin/env bash
# Runs every fuzz target in the repository briefly (`make fuzz`, part of
# `make test`), on top of the seed corpora that `go test` already replays.
# The budget is a count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" when the
# time runs out while a worker is busy (golang/go#75804, fixed in 1.27).
#
# Each target gets FUZZTIME executions (default 50000x), except the slow
# ones below, which get fewer so that the whole run stays within about
# three minutes on a 2-vCPU machine. Measured on it at load ~7 for 50000x:
# FuzzRecover 42 s (files per input), FuzzFrameReader 32 s, FuzzDecodeTable
# 26 s, FuzzContentHeader 19 s, FuzzConfigFile 19 s, FuzzParseSASL 16 s
# (a ReadMemStats per input), most others 2-12 s; the two session targets
# minimise every new path (up to 2 s each), which dominates a fresh run.
# FUZZTIME, when set, applies to every target.
set -euo pipefail
cd "$(dirname "$0")/.."
budget() {
  if [ -n "${FUZZTIME:-}" ]; then echo "$FUZZTIME"; return; fi
  case "$1" in
    FuzzRecover) echo 10000x ;;
    # Whole connections: each new path costs up to -fuzzminimizetime.
    FuzzAMQPSession | FuzzSTOMPSession) echo 3000x ;;
    FuzzFrameReader | FuzzDecodeTable | FuzzConfigFile | FuzzParseSASL) echo 20000x ;;
    FuzzContentHeader) echo 25000x ;;
    *) echo 50000x ;;
  esac
}
start=$SECONDS
./scripts/fuzz-targets.sh | while read -r pkg name; do
  fuzztime=$(budget "$name")
  t0=$SECONDS
  echo "fuzz $pkg $name ($fuzztime)"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime=2s "$pkg" </dev/null
  echo "fuzz $pkg $name: $((SECONDS - t0)) s"
done
echo "fuzz: every target in $((SECONDS - start)) s"
