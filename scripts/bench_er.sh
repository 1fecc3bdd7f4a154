#!/usr/bin/env bash
# Entity-resolution benchmark: generates customers at several sizes (cached),
# resolves them with the release binary and prints one row per size:
# records, candidate pairs, seconds, records/s, pairs/s, peak RSS and, from
# the ground truth, pairwise precision / recall / F1.
#
#   scripts/bench_er.sh            # 100k and 1M people
#   scripts/bench_er.sh 100000     # chosen sizes (people)
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/offers-recsys/target}"
CACHE="${BENCH_DATA_DIR:-$HOME/.cache/offers-recsys/bench-data}"
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(100000 1000000)

cargo build --release -q --workspace --all-targets
BIN="$CARGO_TARGET_DIR/release"

rows=()
for people in "${SIZES[@]}"; do
  data="$CACHE/people-$people"
  if [ ! -f "$data/customers_raw.parquet" ] || [ ! -f "$data/customers_truth.parquet" ]; then
    echo "generating $people people into $data" >&2
    "$BIN/datagen" --customers "$people" --data-dir "$data" --seed 7 >&2
  fi
  models="$data/er-models"
  rm -rf "$models"   # time training too: end to end
  log="$data/er-bench.log"
  /usr/bin/time -v "$BIN/entity-resolution" --data-dir "$data" --model-dir "$models" \
    --log-level warn >"$log" 2>"$log.time"
  rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$log.time")
  wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$log.time")
  rows+=("$(python3 - "$data/er_report.json" "$rss_kb" "$wall" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
q = r.get("quality") or {}
rss_gb = int(sys.argv[2]) / 1e6
print(f"{r['records']:>10} {r['blocking']['candidate_pairs']:>12} {r['total_seconds']:>8.1f} {sys.argv[3]:>9} "
      f"{r['records_per_second']:>10.0f} {r['pairs_compared_per_second']:>11.0f} {rss_gb:>8.2f} "
      f"{q.get('pairwise_precision', float('nan')):>9.4f} {q.get('pairwise_recall', float('nan')):>8.4f} "
      f"{q.get('pairwise_f1', float('nan')):>7.4f} {q.get('pairwise_recall_findable', float('nan')):>9.4f}")
PY
)")
done

printf '%10s %12s %8s %9s %10s %11s %8s %9s %8s %7s %9s\n' records "cand.pairs" seconds wall "records/s" "pairs/s" "RSS GB" precision recall F1 "recall*"
for row in "${rows[@]}"; do echo "$row"; done
echo "recall* = pairwise recall without id_error records (same person, nothing in common)"
