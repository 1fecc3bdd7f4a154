#!/usr/bin/env bash
# The whole pipeline by hand, in one command, on embedded defaults:
#   setup -> cargo build --release -> datagen -> entity-resolution ->
#   features -> train -> serve (in-memory store) -> one recommendation -> stop
# No Airflow, Redis or MLflow needed. Switches:
#   --redis URL   (or REDIS_URL): also run load-cache, and serve from Redis
#   --mlflow URI  (or MLFLOW_TRACKING_URI): train logs the run to MLflow
#                 (unset: train records it locally under the model folder)
# Other settings:
#   --customers N (OFFERS_CUSTOMERS, default 20000)   datagen scale
#   --data-dir D  (OFFERS_DATA_DIR, default data/)    --model-dir M (OFFERS_MODEL_DIR, default models/)
#   --customer ID (OFFERS_DEMO_CUSTOMER, default REC0000001)  whom to recommend for
#   --no-setup    skip scripts/setup.sh        --no-build  skip cargo build
# The same chain runs daily in Airflow: airflow/dags/offer_pipeline.py.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/offers-recsys/target}"
bin_dir="$CARGO_TARGET_DIR/release"

customers="${OFFERS_CUSTOMERS:-20000}"
data_dir="${OFFERS_DATA_DIR:-$repo/data}"
model_dir="${OFFERS_MODEL_DIR:-$repo/models}"
redis_url="${REDIS_URL:-}"
mlflow_uri="${MLFLOW_TRACKING_URI:-}"
customer="${OFFERS_DEMO_CUSTOMER:-REC0000001}"
do_setup=1
do_build=1

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || { echo "pipeline: $1 needs a value" >&2; exit 2; }; }
while (($#)); do
  case "$1" in
    --customers) need_value "$@"; customers="$2"; shift 2 ;;
    --data-dir) need_value "$@"; data_dir="$2"; shift 2 ;;
    --model-dir) need_value "$@"; model_dir="$2"; shift 2 ;;
    --redis) need_value "$@"; redis_url="$2"; shift 2 ;;
    --mlflow) need_value "$@"; mlflow_uri="$2"; shift 2 ;;
    --customer) need_value "$@"; customer="$2"; shift 2 ;;
    --no-setup) do_setup=0; shift ;;
    --no-build) do_build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "pipeline: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
# The stages read these too; one source of truth for the whole run.
export OFFERS_DATA_DIR="$data_dir" OFFERS_MODEL_DIR="$model_dir"
if [[ -n "$mlflow_uri" ]]; then export MLFLOW_TRACKING_URI="$mlflow_uri"; else unset MLFLOW_TRACKING_URI; fi
if [[ -n "$redis_url" ]]; then export REDIS_URL="$redis_url"; else unset REDIS_URL; fi

say() { echo "pipeline: $*"; }
started=$(date +%s)

if ((do_setup)); then
  # The pipeline needs neither Airflow nor the MLflow server package (train
  # speaks to a tracking server over HTTP); the caller may still ask for them.
  OFFERS_SETUP_AIRFLOW="${OFFERS_SETUP_AIRFLOW:-0}" OFFERS_SETUP_MLFLOW="${OFFERS_SETUP_MLFLOW:-0}" \
    bash "$repo/scripts/setup.sh"
fi
# cargo on PATH and the CMake that LightGBM's build needs.
# shellcheck source=env.sh
source "$repo/scripts/env.sh"

# The chain, in order: stage binary and its arguments.
stages=(datagen entity-resolution features train)
[[ -n "$redis_url" ]] && stages+=(load-cache)
stages+=(serve)

if ((do_build)); then
  # The same feature set as `cargo test --workspace` (dev-dependencies
  # included), so the build cache serves tests, benchmarks and this script.
  say "cargo build --release --workspace --all-targets (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$repo" && cargo build --release --workspace --all-targets)
fi

missing=()
for s in "${stages[@]}"; do
  [[ -x "$bin_dir/$s" ]] || missing+=("$s")
done
if ((${#missing[@]})); then
  say "missing stage binaries in $bin_dir: ${missing[*]} (their crates have no binary yet, or the build failed);" \
    "running the stages before the first missing one"
fi
is_missing() { [[ " ${missing[*]} " == *" $1 "* ]]; }

mkdir -p "$data_dir" "$model_dir"
run_stage() {
  local stage="$1"
  shift
  say "== $stage $*"
  local t0
  t0=$(date +%s)
  "$bin_dir/$stage" --data-dir "$data_dir" --model-dir "$model_dir" "$@"
  say "== $stage finished in $(($(date +%s) - t0)) s"
}

for i in "${!stages[@]}"; do
  s="${stages[$i]}"
  if is_missing "$s"; then
    say "stopped before $s; not run: ${stages[*]:$i} (missing: ${missing[*]})"
    exit 1
  fi
  case "$s" in
    datagen) run_stage datagen --customers "$customers" ;;
    load-cache) run_stage load-cache --redis-url "$redis_url" ;;
    serve) break ;;
    *) run_stage "$s" ;;
  esac
done

# --- serve, one recommendation, stop ----------------------------------------
log="$(mktemp -t offers-serve.XXXXXX.log)"
# Port 0: the service picks a free port and logs it, so a busy 8080 never
# breaks the demo; OFFERS_BIND pins one.
bind="${OFFERS_BIND:-127.0.0.1:0}"
store="embedded store (features of $data_dir in memory)"
[[ -n "$redis_url" ]] && store="Redis $redis_url"
say "== serve --bind $bind, $store"
serve_args=(--bind "$bind" --data-dir "$data_dir" --model-dir "$model_dir")
[[ -n "$redis_url" ]] && serve_args+=(--redis-url "$redis_url")
NO_COLOR=1 "$bin_dir/serve" "${serve_args[@]}" >"$log" 2>&1 &
serve_pid=$!
stop_serve() {
  if kill -0 "$serve_pid" 2>/dev/null; then
    kill "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null || true
  fi
}
trap stop_serve EXIT

base=""
for _ in $(seq 600); do
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    cat "$log" >&2
    say "serve exited before it was healthy (log above)"
    exit 1
  fi
  if [[ -z "$base" ]]; then
    port="$(grep -oE 'port=[0-9]+' "$log" | head -1 | cut -d= -f2 || true)"
    [[ -n "$port" ]] && base="http://127.0.0.1:$port"
  fi
  if [[ -n "$base" ]] && curl -fsS -o /dev/null "$base/"; then
    break
  fi
  sleep 0.1
done
if [[ -z "$base" ]] || ! curl -fsS -o /dev/null "$base/"; then
  cat "$log" >&2
  say "serve did not answer GET / within 60 s"
  exit 1
fi
say "GET $base/ -> $(curl -fsS "$base/")"
say "GET $base/recommend/$customer?top_k=3"
if ! curl -fsS "$base/recommend/$customer?top_k=3"; then
  echo
  tail -5 "$log" >&2
  say "the recommendation request failed"
  exit 1
fi
echo
stop_serve
rm -f "$log"
say "done in $(($(date +%s) - started)) s (data: $data_dir, models: $model_dir)"
