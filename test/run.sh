#!/usr/bin/env bash
# The whole suite: type-check, then every test file under tap. Prints a closing
# "N passed, N failed" line and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

tsc -p tsconfig.json || { echo "0 passed, 1 failed"; exit 1; }
# Node runs the .ts tests itself; tap must drop its ts-node plugin, and under CI=true it
# does not rebuild its plugin set on its own.
tap build >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

# The S3 tests need a real S3-compatible server: start a Ceph RADOS Gateway unless
# S3_ENDPOINT already names one. Under CI=true a missing S3 part fails the run.
if [ -z "${S3_ENDPOINT:-}" ]; then
  why=""
  if [ "$(uname -s)" != Linux ]; then why="not Linux"
  elif [ "$(id -u)" != 0 ]; then why="not root (the gateway is installed with apt and runs as root)"
  elif ! command -v radosgw >/dev/null && ! command -v apt-get >/dev/null; then why="neither radosgw nor apt-get is here"
  fi
  if [ -z "$why" ]; then
    rgw_dir=$(mktemp -d /tmp/larder-rgw.XXXXXX)
    free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
    trap 'bash test/s3/rgw-down.sh "$rgw_dir"' EXIT
    if RGW_PORT=$(free_port) MON_PORT=$(free_port) bash test/s3/rgw-up.sh "$rgw_dir"; then
      set -a; . "$rgw_dir/s3.env"; set +a
    else
      why="the gateway did not start (see above)"
    fi
  fi
  if [ -n "$why" ]; then
    echo "S3 TESTS SKIPPED: no S3-compatible server: $why" >&2
    if [ "${CI:-}" = true ]; then echo "0 passed, 1 failed (CI needs the S3 tests)"; exit 1; fi
  fi
fi
if [ -n "${S3_ENDPOINT:-}" ]; then
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-$S3_ACCESS_KEY} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-$S3_SECRET_KEY} AWS_REGION=${AWS_REGION:-${S3_REGION:-us-east-1}}
  echo "S3 tests run against $S3_ENDPOINT" >&2
fi

# The dashboard is tested in Debian's headless Chromium.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[chromium] installing Debian's chromium (apt)" >&2
    { apt-get update -qq -o DPkg::Lock::Timeout=300 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends chromium fonts-dejavu-core; } >/dev/null 2>&1
  fi
  if ! command -v chromium >/dev/null; then
    echo "DASHBOARD TESTS SKIPPED: no chromium (needs root and apt to install it)" >&2
    if [ "${CI:-}" = true ]; then echo "0 passed, 1 failed (CI needs the dashboard tests)"; exit 1; fi
  fi
fi

# Extraction on a case-insensitive file system is tested on a FUSE mount that folds names.
if [ ! -f /usr/lib/python3/dist-packages/fusepy.py ] || ! command -v fusermount3 >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[fuse] installing python3-fusepy and fuse3 (apt)" >&2
    { apt-get update -qq -o DPkg::Lock::Timeout=300 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends python3-fusepy fuse3; } >/dev/null 2>&1
  fi
  if [ ! -f /usr/lib/python3/dist-packages/fusepy.py ]; then
    echo "CASE-FOLDING TESTS SKIPPED: no python3-fusepy (needs root and apt to install it)" >&2
    if [ "${CI:-}" = true ]; then echo "0 passed, 1 failed (CI needs the case-folding tests)"; exit 1; fi
  fi
fi

# Other tools' caches are tested with their real clients: ccache and Gradle from Debian
# (turbo, Nx and Bazel come from npm, in devDependencies).
if ! command -v ccache >/dev/null || ! command -v gradle >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[tools] installing ccache and gradle (apt)" >&2
    { apt-get update -qq -o DPkg::Lock::Timeout=300 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends ccache gradle gcc libc6-dev; } >/dev/null 2>&1
  fi
  if ! command -v ccache >/dev/null || ! command -v gradle >/dev/null; then
    echo "PROTOCOL CLIENT TESTS SKIPPED: no ccache or gradle (needs root and apt to install them)" >&2
    if [ "${CI:-}" = true ]; then echo "0 passed, 1 failed (CI needs the ccache and Gradle tests)"; exit 1; fi
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"; [ -n "${rgw_dir:-}" ] && bash test/s3/rgw-down.sh "$rgw_dir"' EXIT
tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# tap closes with "# { total: N, pass: N, fail: N, skip: N }"
summary=$(grep -a -E '^# \{ total' "$log" | tail -n 1)
count() { sed -n -E "s/.*[{ ]$1: ([0-9]+).*/\1/p" <<<"$summary"; }
passed=$(count pass); failed=$(count fail); skipped=$(count skip)
[ -n "$summary" ] || { echo "tap printed no summary"; failed=1; status=1; }
echo "${passed:-0} passed, ${failed:-0} failed${skipped:+, $skipped skipped}"
exit "$status"
