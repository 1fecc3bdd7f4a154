#!/usr/bin/env bash
# Tests `serve`'s HTTP contract against its own OpenAPI document with
# schemathesis (`--checks all`, from PyPI through scripts/setup.sh): the real
# release binary, the embedded store over the serve fixture (a few hundred
# customers, written in about a second by the `make_fixture` example), an
# admin token. Two runs, each against a fresh `serve` (the failed-auth
# throttle of one run must not leak into the other):
#   - with `Authorization: Bearer <token>`: POST /admin/reload answers 200;
#     schemathesis's ignored_auth check also sends it without and with a
#     wrong token;
#   - without a token: the admin route answers 401, 403 and, after five
#     failures a minute from one address, 429 with Retry-After.
# Every check applies; none is excluded (scripts/schemathesis.toml adds 414
# to the rejection statuses of GET /recommend/{id}, and says why). Bounded
# and deterministic: a fixed number of examples per operation, schemathesis's
# deterministic generation (the same cases every run, no example database;
# it ignores any seed), one worker.
# Ends with `schemathesis: N passed, M failed`; exits non-zero on any failure.
#
# Builds nothing: scripts/test.sh builds every target (`--release
# --workspace --all-targets`, examples included) before it runs this.
#
# Environment:
#   CARGO_TARGET_DIR                where the release binaries are (default ~/.cache/offers-recsys/target)
#   OFFERS_SCHEMATHESIS_EXAMPLES    examples per operation and phase (default 100)
#   OFFERS_SCHEMATHESIS_SEED=N      random generation from seed N instead (to explore; not CI)
#   OFFERS_KEEP_TMP=1               keep the temporary folder (fixture, logs, reports)
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=env.sh
source "$repo/scripts/env.sh"
bin_dir="$CARGO_TARGET_DIR/release"
schemathesis="$OFFERS_PYVENV/bin/schemathesis"
examples="${OFFERS_SCHEMATHESIS_EXAMPLES:-100}"
generation=(--generation-deterministic)
if [[ -n "${OFFERS_SCHEMATHESIS_SEED:-}" ]]; then
  generation=(--seed "$OFFERS_SCHEMATHESIS_SEED" --generation-database none)
fi
# Random, so that nothing real can match it; schemathesis masks it in output.
token="st-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
finish() {
  echo "schemathesis: $passed passed, $failed failed"
  ((failed == 0))
  exit $?
}

tmp="$(mktemp -d -t offers-schemathesis.XXXXXX)"
serve_pid=""
stop_serve() {
  if [[ -n "$serve_pid" ]]; then
    kill "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
    serve_pid=""
  fi
}
cleanup() {
  stop_serve
  if [[ "${OFFERS_KEEP_TMP:-0}" == "1" ]]; then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

for exe in "$bin_dir/serve" "$bin_dir/examples/make_fixture" "$schemathesis"; do
  if [[ ! -x "$exe" ]]; then
    fail "prerequisites" "$exe is missing (cargo build --release --workspace --all-targets; scripts/setup.sh)"
    finish
  fi
done

if ! "$bin_dir/examples/make_fixture" "$tmp/fixture" --customers 300 --trees 20 --leaves 7 \
  >"$tmp/fixture.log" 2>&1; then
  cat "$tmp/fixture.log"
  fail "fixture" "make_fixture failed"
  finish
fi

# The fixture's ids, some customers and some records, as a schemathesis
# dictionary: half of the generated ids (path and batch) are real ones, so the
# 200 answers and their schemas are tested too, not only 404s.
{
  head -4 "$tmp/fixture/ids.txt"
  grep '^REC' "$tmp/fixture/ids.txt" | head -4
} | sed 's/.*/"&"/' >"$tmp/ids.dict"
if [[ "$(wc -l <"$tmp/ids.dict")" -lt 8 ]]; then
  fail "fixture" "fewer than 8 ids in $tmp/fixture/ids.txt"
  finish
fi
config="$tmp/schemathesis.toml"
{
  cat "$repo/scripts/schemathesis.toml"
  cat <<EOF

[dictionaries.ids]
from-file = "$tmp/ids.dict"

[parameters]
"path.id" = { dictionary = "ids", probability = 0.5 }
"body.ids[*]" = { dictionary = "ids", probability = 0.5 }
EOF
} >"$config"

port=""
# Starts serve on a port the kernel picks (no race with another process for
# a port chosen beforehand) and waits until GET / answers 200.
start_serve() {
  local log="$1"
  : >"$log"
  OFFERS_LOG=info NO_COLOR=1 "$bin_dir/serve" --bind 127.0.0.1:0 --workers 2 \
    --data-dir "$tmp/fixture/data" --model-dir "$tmp/fixture/models" \
    --admin-token "$token" >"$log" 2>&1 &
  serve_pid=$!
  port=""
  for _ in $(seq 200); do
    if [[ -z "$port" ]]; then
      port="$(sed -e 's/\x1b\[[0-9;]*m//g' "$log" | sed -n 's/.*listening.*port=\([0-9]*\).*/\1/p' | head -1)"
    fi
    if [[ -n "$port" ]] && curl -sf "http://127.0.0.1:$port/" >/dev/null; then
      return 0
    fi
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.05
  done
  tail -20 "$log"
  return 1
}

# One schemathesis run against a fresh serve; the arguments go to
# `schemathesis run` after the common ones.
run_schemathesis() {
  local name="$1"
  shift
  if ! start_serve "$tmp/serve-$name.log"; then
    fail "$name: serve starts" "see the log above"
    stop_serve
    return
  fi
  local started
  started=$(date +%s)
  # From the temporary folder: schemathesis keeps a cache folder in its
  # working directory.
  (cd "$tmp" && "$schemathesis" --config-file "$config" \
    run "http://127.0.0.1:$port/openapi.json" \
    --checks all \
    --max-examples "$examples" \
    "${generation[@]}" \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    --report junit --report-junit-path "$tmp/junit-$name.xml" \
    "$@") >"$tmp/schemathesis-$name.log" 2>&1
  local rc=$?
  local seconds=$(($(date +%s) - started))
  # The closing line ("5 passed in 4.21s") and the line under "Test cases:"
  # ("375 generated, 375 passed").
  local summary cases
  summary="$(grep -E '^=+ .* in [0-9.]+s =+$' "$tmp/schemathesis-$name.log" | tail -1 | tr -d '=' | xargs)"
  cases="$(grep -A1 '^Test cases:' "$tmp/schemathesis-$name.log" | tail -1 | xargs)"
  if ((rc == 0)); then
    pass "$name: schemathesis --checks all (${cases:-?}; ${summary:-?}; ${seconds} s)"
  else
    cat "$tmp/schemathesis-$name.log"
    echo "--- serve log (last lines)"
    tail -20 "$tmp/serve-$name.log"
    fail "$name: schemathesis --checks all" "exit $rc (${summary:-no summary})"
  fi
  stop_serve
}

run_schemathesis with-token --header "Authorization: Bearer $token"
run_schemathesis without-token

finish
