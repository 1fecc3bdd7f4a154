#!/usr/bin/env bash
# Seconds and peak memory of datagen at several sizes, printed as a table
# with the ratio to the issue's targets and to the vectorised numpy
# generator measured on this machine (26 s, 4.1 GB at 1M people).
#
#   scripts/bench_datagen.sh                 # 100k and 1M people
#   SIZES="100000 1000000 5000000" scripts/bench_datagen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SIZES="${SIZES:-100000 1000000}"
OUT="${BENCH_DIR:-$HOME/.cache/offers-recsys/bench-data}"
cargo build --release -q --workspace --all-targets
bin="$CARGO_TARGET_DIR/release/datagen"

# target seconds and GB per size (from issue #2); numpy reference at 1M
target() {
  case "$1" in
    1000000) echo "8 1.5" ;;
    5000000) echo "45 6" ;;
    *) echo "- -" ;;
  esac
}

printf '%-10s %-10s %-12s %-12s %8s %8s %10s %10s %12s\n' \
  people records transactions interactions seconds peak_GB s/target GB/target vs_numpy_s
for n in $SIZES; do
  dir="$OUT/datagen-$n"
  rm -rf "$dir"
  log=$(mktemp)
  /usr/bin/time -v "$bin" --customers "$n" --data-dir "$dir" --log-level warn 2>"$log" >/dev/null
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  kb=$(awk -F': ' '/Maximum resident set size/{print $2}' "$log")
  gb=$(awk -v k="$kb" 'BEGIN{printf "%.2f", k/1e6}')
  read -r records txns ints < <(python3 -c "import json;m=json.load(open('$dir/datagen_meta.json'));print(m['records'],m['transactions'],m['offer_interactions'])")
  read -r ts tg < <(target "$n")
  rs=$( [[ $ts == - ]] && echo - || awk -v a="$secs" -v b="$ts" 'BEGIN{printf "%.2f", a/b}')
  rg=$( [[ $tg == - ]] && echo - || awk -v a="$gb" -v b="$tg" 'BEGIN{printf "%.2f", a/b}')
  np=$( [[ $n == 1000000 ]] && awk -v a="$secs" 'BEGIN{printf "%.2f", a/26}' || echo -)
  printf '%-10s %-10s %-12s %-12s %8.2f %8s %10s %10s %12s\n' "$n" "$records" "$txns" "$ints" "$secs" "$gb" "$rs" "$rg" "$np"
  rm -f "$log"
done
echo "(ratios below 1 meet the target; vs_numpy_s = our seconds / numpy's 26 s at 1M)"
