#!/usr/bin/env bash
# Prints every fuzz target in the repository, one "PACKAGE NAME" a line:
# each `func FuzzXxx` in a package's _test.go files. scripts/fuzz-short.sh
# and scripts/fuzz-long.sh both run this list, so a new target is fuzzed
# by both without being registered anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for name in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "$pkg $name"
  done
done
