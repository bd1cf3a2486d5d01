#!/usr/bin/env bash
# Copies the corpus a fuzzing campaign grew (Go keeps it in
# $GOCACHE/fuzz/<package>/<Target>) into the package's
# testdata/fuzz/<Target>, so that it is kept with the code: `go test` then
# runs every entry as a regression input, and the next campaign, on any
# machine, starts from it. Run it after `make fuzz-long` and commit the
# new files. Entries already there are left alone; files are named by
# their content's hash, so a copy never overwrites a different input.
#
#   FUZZ_TARGETS  regexp of target names (default: the parser targets of
#                 issue #12's campaign, whose corpora docs/RELIABILITY.md
#                 describes)
set -euo pipefail
cd "$(dirname "$0")/.."
only=${FUZZ_TARGETS:-'^(FuzzFrameReader|FuzzDecodeMethod|FuzzDecodeTable|FuzzContentHeader|FuzzReadFrame|FuzzHeaderValues|FuzzWebSocketStream|FuzzRecordDecode|FuzzScanSegment|FuzzDefinitions|FuzzParseKeyring)$'}
cache=$(go env GOCACHE)/fuzz
while read -r pkg name; do
  [[ $name =~ $only ]] || continue
  from=$cache/$pkg/$name
  [ -d "$from" ] || continue
  to=$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name
  mkdir -p "$to"
  n=0
  for f in "$from"/*; do
    [ -e "$to/$(basename "$f")" ] && continue
    cp "$f" "$to/"
    n=$((n + 1))
  done
  echo "fuzz-keep-corpus: $pkg $name: $n new, $(ls "$to" | wc -l) in testdata"
done < <(./scripts/fuzz-targets.sh)
