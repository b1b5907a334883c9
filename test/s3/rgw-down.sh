#!/usr/bin/env bash
# Stops what rgw-up.sh started (by the pids in DIR/run) and removes DIR.
D=${1:?usage: rgw-down.sh DIR}
shopt -s nullglob
pids=()
for f in "$D"/run/*.pid; do pids+=("$(cat "$f")"); done
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
done
rm -rf "$D"
true
