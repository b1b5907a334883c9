#!/usr/bin/env bash
# The whole suite: type-check, then every test file under tap. Prints a closing
# "N passed, N failed" line and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

tsc -p tsconfig.json || { echo "0 passed, 1 failed"; exit 1; }
# Node runs the .ts tests itself; tap must drop its ts-node plugin, and under CI=true it
# does not rebuild its plugin set on its own.
tap build >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# tap closes with "# { total: N, pass: N, fail: N, skip: N }"
summary=$(grep -a -E '^# \{ total' "$log" | tail -n 1)
count() { sed -n -E "s/.*[{ ]$1: ([0-9]+).*/\1/p" <<<"$summary"; }
passed=$(count pass); failed=$(count fail); skipped=$(count skip)
[ -n "$summary" ] || { echo "tap printed no summary"; failed=1; status=1; }
echo "${passed:-0} passed, ${failed:-0} failed${skipped:+, $skipped skipped}"
exit "$status"
