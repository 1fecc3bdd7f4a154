#!/usr/bin/env bash
# Tests the offer_pipeline DAG with a real Airflow 3 (scripts/setup_airflow.sh
# installs it into a venv under ~/.cache), the real release binaries and a
# real redis-server started here on a free loopback port:
#   - the quality gates' unit tests;
#   - the DAG imports without errors; its task graph, schedule and retries;
#   - a failing stage fails its task with the stage's own `error:` line in
#     the task log, and nothing downstream runs;
#   - `airflow dags test` end to end at a small scale, then the files in the
#     data and model folders and the keys in Redis;
#   - each gate fails the run when its bar is set out of reach, and then the
#     cache is not loaded.
# Ends with `airflow: N passed, M failed`; exits non-zero on any failure.
#
# Environment:
#   CARGO_TARGET_DIR          where the release binaries are (default ~/.cache/offers-recsys/target)
#   OFFERS_TEST_CUSTOMERS     datagen scale of the end-to-end run (default 20000, the DAG's
#                             own default: at 2000 people the test split has about 700 rows
#                             and the model gate's AUC share moves by +-0.02 with the seed)
#   OFFERS_TEST_BUILD=1       rebuild every stage binary first (default: only the missing ones)
#   OFFERS_KEEP_TMP=1         keep the temporary folder (Airflow home, data, logs)
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# CARGO_TARGET_DIR, cargo on PATH, CMake for a LightGBM build.
# shellcheck source=env.sh
source "$repo/scripts/env.sh"
VENV="${OFFERS_AIRFLOW_VENV:-$HOME/.cache/offers-recsys/airflow-venv}"
CUSTOMERS="${OFFERS_TEST_CUSTOMERS:-20000}"
STAGES=(datagen entity-resolution features train load-cache)

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
finish() {
  echo "airflow: $passed passed, $failed failed"
  ((failed == 0))
  exit $?
}

tmp="$(mktemp -d -t offers-airflow.XXXXXX)"
redis_pid=""
cleanup() {
  if [[ -n "$redis_pid" ]]; then
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
  fi
  if [[ "${OFFERS_KEEP_TMP:-0}" == "1" ]]; then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

# --- Airflow and the binaries ------------------------------------------------
if ! bash "$repo/scripts/setup_airflow.sh"; then
  fail "setup_airflow" "could not install Airflow into $VENV"
  finish
fi
airflow() { "$VENV/bin/airflow" "$@"; }
py() { "$VENV/bin/python" "$@"; }

bin_dir="$CARGO_TARGET_DIR/release"
# The test runs the binaries as built (the test command builds the workspace
# first); it builds only the stage binaries that are missing, or all of them
# with OFFERS_TEST_BUILD=1.
build_args=()
for s in "${STAGES[@]}"; do
  if [[ -f "$repo/crates/$s/src/main.rs" ]] && [[ "${OFFERS_TEST_BUILD:-0}" == "1" || ! -x "$bin_dir/$s" ]]; then
    build_args+=(-p "$s")
  fi
done
if ((${#build_args[@]})); then
  echo "building ${build_args[*]} (release)"
  (cd "$repo" && cargo build --release -q --workspace --all-targets) || fail "cargo build" "${build_args[*]}"
fi
missing=()
for s in "${STAGES[@]}"; do
  [[ -x "$bin_dir/$s" ]] || missing+=("$s")
done

export AIRFLOW_HOME="$tmp/airflow-home"
export AIRFLOW__CORE__DAGS_FOLDER="$repo/airflow/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$tmp/airflow.db"
# The failure runs should fail now, not after the production retry delays.
export OFFERS_DAG_RETRIES=0
# Settings come from Airflow Variables (set below) or these environment
# fallbacks; clear what the caller's shell may carry.
unset OFFERS_DATA_DIR OFFERS_MODEL_DIR REDIS_URL MLFLOW_TRACKING_URI OFFERS_CUSTOMERS OFFERS_OFFERS OFFERS_SEED
export OFFERS_BIN_DIR="$bin_dir"
mkdir -p "$AIRFLOW_HOME"
if ! airflow db migrate >"$tmp/db-migrate.log" 2>&1; then
  tail -20 "$tmp/db-migrate.log"
  fail "airflow db migrate"
  finish
fi

# --- unit tests of the gates -------------------------------------------------
# Each unit test counts as one in the closing line.
py -m unittest discover -s "$repo/airflow/tests" >"$tmp/unittest.log" 2>&1
ran="$(grep -o 'Ran [0-9]* test' "$tmp/unittest.log" | grep -o '[0-9]*')"
bad=0
for n in $(grep -oE '(failures|errors)=[0-9]+' "$tmp/unittest.log" | cut -d= -f2); do bad=$((bad + n)); done
if [[ -z "$ran" ]]; then
  cat "$tmp/unittest.log"
  fail "quality gate unit tests" "did not run"
elif ((bad > 0)); then
  cat "$tmp/unittest.log"
  passed=$((passed + ran - bad))
  failed=$((failed + bad))
  echo "FAIL quality gate unit tests: $bad of $ran"
else
  passed=$((passed + ran))
  echo "PASS quality gate unit tests ($ran)"
fi

# --- the DAG: imports, graph, schedule, retries -----------------------------
dag_check() {
  env -u OFFERS_DAG_RETRIES "$VENV/bin/python" - "$repo/airflow/dags" <<'EOF'
import sys
from datetime import timedelta
from pathlib import Path

from airflow.dag_processing.dagbag import BundleDagBag

folder = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=folder, bundle_path=folder)
problems = []
if bag.import_errors:
    problems.append(f"import errors: {bag.import_errors}")
dag = bag.dags.get("offer_pipeline")
if dag is None:
    problems.append(f"no DAG offer_pipeline; found {sorted(bag.dags)}")
else:
    chain = ["datagen", "entity_resolution", "features", "quality_gate_features",
             "train", "quality_gate_model", "load_cache"]
    ids = sorted(t.task_id for t in dag.tasks)
    if ids != sorted(chain):
        problems.append(f"task ids {ids}, expected {sorted(chain)}")
    edges = sorted((t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids)
    want = sorted(zip(chain, chain[1:]))
    if edges != want:
        problems.append(f"edges {edges}, expected {want}")
    if getattr(dag.timetable, "expression", None) != "0 0 * * *":
        problems.append(f"schedule {dag.timetable!r}, expected daily")
    if dag.catchup:
        problems.append("catchup is on")
    for t in dag.tasks:
        gate = t.task_id.startswith("quality_gate")
        if gate and t.retries != 0:
            problems.append(f"{t.task_id}: a gate retries {t.retries} times")
        if not gate:
            if t.retries < 1 or t.retry_delay < timedelta(seconds=60):
                problems.append(f"{t.task_id}: retries {t.retries}, delay {t.retry_delay}")
            if type(t).__name__ != "BashOperator" or "cargo build" in t.bash_command.split("exec")[-1]:
                problems.append(f"{t.task_id}: not a BashOperator running a binary")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
}
if out="$(dag_check 2>"$tmp/dag-check.err")"; then
  pass "DAG imports; task ids, edges, daily schedule, no catch-up, retries"
else
  echo "$out"
  tail -5 "$tmp/dag-check.err"
  fail "DAG import and graph"
fi
# No machine paths in the DAG: folders come from Variables or the environment.
if grep -nE "['\"](/root|/home|/tmp|/work|/Users)" "$repo/airflow/dags/"*.py; then
  fail "DAG holds no machine paths"
else
  pass "DAG holds no machine paths"
fi

# Settings reach the commands: an Airflow Variable given in the environment
# (AIRFLOW_VAR_*) switches MLflow on for train; without it the command sets
# no MLFLOW_TRACKING_URI (train then records locally); optional flags appear
# only when set.
render() {
  airflow tasks render offer_pipeline "$1" 2026-01-02 2>/dev/null | grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'
}
with_mlflow="$(AIRFLOW_VAR_OFFERS_MLFLOW_TRACKING_URI="http://127.0.0.1:5999" OFFERS_DATA_DIR=/d OFFERS_MODEL_DIR=/m render train)"
without_mlflow="$(OFFERS_DATA_DIR=/d OFFERS_MODEL_DIR=/m render train)"
datagen_cmd="$(OFFERS_DATA_DIR=/d OFFERS_MODEL_DIR=/m OFFERS_OFFERS=12 render datagen | grep '^exec')"
if grep -qx 'export MLFLOW_TRACKING_URI=http://127.0.0.1:5999' <<<"$with_mlflow" &&
  ! grep -q MLFLOW <<<"$without_mlflow" &&
  grep -q 'exec "$bin" --data-dir /d --model-dir /m --seed 42$' <<<"$without_mlflow" &&
  [[ "$datagen_cmd" == 'exec "$bin" --data-dir /d --model-dir /m --seed 42 --customers 20000 --offers 12' ]]; then
  pass "settings render into the commands (Variables, environment, defaults, MLflow on/off)"
else
  printf '%s\n---\n%s\n---\n%s\n' "$with_mlflow" "$without_mlflow" "$datagen_cmd"
  fail "settings render into the commands"
fi

# One `airflow dags test`: prints its output into $tmp/$name.log and the
# run id into $run_id; returns the command's exit code.
run_id=""
dags_test() {
  local name="$1"
  shift
  airflow dags test offer_pipeline "$@" >"$tmp/$name.log" 2>&1
  local rc=$?
  run_id="$(grep -o 'run_id=manual__[^,]*' "$tmp/$name.log" | head -1 | cut -d= -f2)"
  return $rc
}
# task=state lines of the last run.
task_states() {
  # The JSON is the last line of stdout (log lines may come before it).
  airflow tasks states-for-dag-run offer_pipeline "$run_id" -o json 2>/dev/null | grep '^\[' | tail -1 |
    py -c 'import json, sys; print("\n".join(t["task_id"] + "=" + str(t["state"]) for t in json.load(sys.stdin)))' |
    sort
}
# Asserts the last run's task states are exactly the given task=state list.
expect_states() {
  local name="$1"
  shift
  local got want
  got="$(task_states | tr '\n' ' ')"
  want="$(printf '%s\n' "$@" | sort | tr '\n' ' ')"
  if [[ "$got" == "$want" ]]; then
    pass "$name: task states"
  else
    fail "$name: task states" "got [$got], expected [$want]"
  fi
}
log_has() {
  local name="$1" pattern="$2" what="$3"
  if grep -qE -- "$pattern" "$tmp/$name.log"; then
    pass "$name: $what"
  else
    grep -nE "error|Error|FAIL" "$tmp/$name.log" | tail -5
    fail "$name: $what" "no /$pattern/ in $tmp/$name.log"
  fi
}

if ((${#missing[@]})); then
  fail "stage binaries" "missing in $bin_dir: ${missing[*]} (build with cargo build --release -p <stage>)"
  finish
fi
pass "stage binaries present in \$CARGO_TARGET_DIR/release"

# --- a failing stage: its own error in the task log --------------------------
# Environment fallbacks here (no Variables yet): an empty data folder, with
# datagen marked done, so entity resolution finds no customers_raw.parquet.
mkdir -p "$tmp/empty/data" "$tmp/empty/models"
if OFFERS_DATA_DIR="$tmp/empty/data" OFFERS_MODEL_DIR="$tmp/empty/models" REDIS_URL="redis://127.0.0.1:1" \
  dags_test stage-failure 2026-06-01 --mark-success-pattern '^datagen$'; then
  fail "stage-failure: the run fails"
else
  pass "stage-failure: the run fails"
fi
log_has stage-failure '^.*error: .*customers_raw\.parquet' "entity-resolution's own error line is in the task log"
expect_states stage-failure datagen=success entity_resolution=failed features=upstream_failed \
  quality_gate_features=upstream_failed train=upstream_failed quality_gate_model=upstream_failed \
  load_cache=upstream_failed

# A binary missing from the binary folder fails its task saying which.
mkdir -p "$tmp/no-binaries"
if OFFERS_BIN_DIR="$tmp/no-binaries" OFFERS_DATA_DIR="$tmp/empty/data" OFFERS_MODEL_DIR="$tmp/empty/models" \
  dags_test missing-binary 2026-06-02; then
  fail "missing-binary: the run fails"
else
  log_has missing-binary "error: stage binary $tmp/no-binaries/datagen is missing" "the task log names the missing binary"
fi

# --- end to end: the real binaries and a real Redis --------------------------
port="$(py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
  >"$tmp/redis.log" 2>&1 &
redis_pid=$!
redis_url="redis://127.0.0.1:$port/0"
for _ in $(seq 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
rcli() { redis-cli -p "$port" "$@"; }

data="$tmp/run/data"
models="$tmp/run/models"
mkdir -p "$data" "$models"
# Stored Variables (the ones a deployment sets in the UI); the binary folder
# stays an environment fallback.
cat >"$tmp/variables.json" <<EOF
{"offers_data_dir": "$data", "offers_model_dir": "$models", "offers_redis_url": "$redis_url",
 "offers_customers": "$CUSTOMERS", "offers_seed": "7"}
EOF
airflow variables import "$tmp/variables.json" >"$tmp/variables.log" 2>&1 || fail "airflow variables import" "$(tail -3 "$tmp/variables.log")"

started=$(date +%s)
if dags_test end-to-end 2026-07-01; then
  pass "end-to-end: airflow dags test succeeds ($CUSTOMERS customers, $(($(date +%s) - started)) s)"
else
  grep -nE "error:|FAIL|Task failed" "$tmp/end-to-end.log" | head -20
  fail "end-to-end: airflow dags test" "see the log above"
fi
expect_states end-to-end datagen=success entity_resolution=success features=success \
  quality_gate_features=success train=success quality_gate_model=success load_cache=success
log_has end-to-end "gate min_test_auc: ok" "the model gate logged its figure"
log_has end-to-end "gate customers_per_record: ok" "the features gate logged its figure"

missing_files=()
for f in customers_raw customers_truth offers transactions offer_interactions truth_propensity \
  entity_map match_pairs customer_features customer_segments; do
  [[ -s "$data/$f.parquet" ]] || missing_files+=("data/$f.parquet")
done
[[ -s "$data/er_report.json" ]] || missing_files+=("data/er_report.json")
for f in ranker.txt feature_cols.json segments.json cluster_candidates.json metrics.json manifest.json; do
  [[ -s "$models/$f" ]] || missing_files+=("models/$f")
done
if ((${#missing_files[@]})); then
  fail "end-to-end: output files" "missing or empty: ${missing_files[*]}"
else
  pass "end-to-end: every table in data/ and artifact in models/"
fi

features_rows="$(py -c 'import pyarrow.parquet as pq, sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)' \
  "$data/customer_features.parquet" 2>/dev/null || echo 0)"
customer_keys="$(rcli --scan --pattern 'cust:*' | wc -l)"
# Aliases (record id -> customer id) live in hash buckets recs:{n}.
alias_entries="$(rcli --scan --pattern 'recs:*' | while read -r key; do rcli hlen "$key" </dev/null; done |
  awk '{s += $1} END {print s + 0}')"
map_rows="$(py -c 'import pyarrow.parquet as pq, sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)' \
  "$data/entity_map.parquet" 2>/dev/null || echo 0)"
if ((customer_keys > 0 && customer_keys == features_rows)); then
  pass "end-to-end: Redis holds one cust: key per customer ($customer_keys)"
else
  fail "end-to-end: Redis cust: keys" "$customer_keys keys, $features_rows customers in customer_features.parquet"
fi
if ((alias_entries > 0 && alias_entries == map_rows)); then
  pass "end-to-end: Redis maps every record to its customer ($alias_entries entries in recs: buckets)"
else
  fail "end-to-end: Redis recs: buckets" "$alias_entries alias entries, $map_rows rows in entity_map.parquet"
fi

# --- the gates stop a run ----------------------------------------------------
# The stages are marked done (their outputs are the end-to-end run's), so
# only the gate and what follows it run.
rcli flushall >/dev/null
airflow variables set offers_gate_min_test_auc 0.999 >/dev/null 2>&1
if dags_test model-gate 2026-07-02 \
  --mark-success-pattern '^(datagen|entity_resolution|features|quality_gate_features|train)$'; then
  fail "model-gate: a model below the AUC bar fails the run"
else
  pass "model-gate: a model below the AUC bar fails the run"
fi
log_has model-gate "model gate failed.*temporal\.auc.*>= 0\.999" "the gate names the figure and the bar"
expect_states model-gate datagen=success entity_resolution=success features=success \
  quality_gate_features=success train=success quality_gate_model=failed load_cache=upstream_failed
if [[ "$(rcli dbsize)" == "0" ]]; then
  pass "model-gate: the cache was not loaded"
else
  fail "model-gate: the cache was not loaded" "Redis holds $(rcli dbsize) keys"
fi
airflow variables delete offers_gate_min_test_auc >/dev/null 2>&1

# The features gate, by its environment fallback: train never runs.
if OFFERS_GATE_MIN_FEATURE_ROWS=1000000000 dags_test features-gate 2026-07-03 \
  --mark-success-pattern '^(datagen|entity_resolution|features)$'; then
  fail "features-gate: too few customer rows fails the run"
else
  pass "features-gate: too few customer rows fails the run"
fi
expect_states features-gate datagen=success entity_resolution=success features=success \
  quality_gate_features=failed train=upstream_failed quality_gate_model=upstream_failed load_cache=upstream_failed

finish
