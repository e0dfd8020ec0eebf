#!/usr/bin/env bash
# Runs every fuzz target of tlsgate with `go test -fuzz`, one after another,
# each for FUZZTIME (60s by default). Not part of CI: CI runs each target's
# seeds (its f.Add calls and testdata/fuzz/FuzzXxx/) as a normal test.
# Targets are found by grepping for `func FuzzXxx(`, so a new one joins
# without editing this file.
#
#   ./scripts/fuzz.sh                    every target, 60s each
#   ./scripts/fuzz.sh FuzzLeanResponse   the targets whose names match (grep -E)
#   FUZZTIME=20s ./scripts/fuzz.sh       shorter runs
#   SAVE=10 ./scripts/fuzz.sh            also copy up to 10 of the smallest new
#                                        inputs of each target from the fuzz
#                                        cache into its testdata/fuzz/, to commit
#
# A failure stops the script; go test has written the input to
# PKG/testdata/fuzz/FuzzXxx/. Fix the code, keep that file as a seed.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-60s}"
filter="${1:-.}"
save="${SAVE:-0}"
module="$(go list -m)"
cache="$(go env GOCACHE)/fuzz"

# "dir name" for every fuzz target, in file order.
mapfile -t targets < <(
  grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]+\(' --exclude-dir=testdata . |
    sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\1 \2#' |
    grep -E " ($filter)" || true
)
if ((${#targets[@]} == 0)); then
  echo "no fuzz target matches $filter" >&2
  exit 1
fi

for t in "${targets[@]}"; do
  dir="${t% *}" name="${t#* }"
  echo "=== $name (./$dir, $fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir"
  if ((save > 0)) && [ -d "$cache/$module/$dir/$name" ]; then
    mkdir -p "$dir/testdata/fuzz/$name"
    # ls -S lists largest first; keep the smallest.
    ls -S "$cache/$module/$dir/$name" | tail -n "$save" | while read -r f; do
      cp -n "$cache/$module/$dir/$name/$f" "$dir/testdata/fuzz/$name/$f"
    done
  fi
done
