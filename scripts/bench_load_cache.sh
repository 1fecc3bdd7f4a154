#!/usr/bin/env bash
# Throughput and Redis memory of load-cache, printed as a table.
#
# Starts its own redis-server (no persistence) on a free loopback port,
# loads N synthetic customers with `load-cache --synthetic N` (58 features
# shaped like the features stage's output, ~1.18 source records per
# customer, all aliased; see crates/load-cache/src/synthetic.rs) and reads
# `used_memory` of INFO memory before and after each load. Each size is
# loaded twice into the same server: the second load is a generation switch,
# and memory is measured after it, so bytes/customer includes the aliases
# and excludes the previous generation (dropped by the switch).
#
#   scripts/bench_load_cache.sh                  # 100k and 1M customers
#   SIZES="100000" scripts/bench_load_cache.sh
#
# Targets (issue #5): >= 200,000 customers/s into a local Redis, < 400
# bytes of Redis memory per customer, aliases included.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SIZES="${SIZES:-100000 1000000}"
cargo build --release -q --workspace --all-targets
bin="$CARGO_TARGET_DIR/release/load-cache"

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
workdir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$workdir" >/dev/null 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; wait $redis_pid 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
url="redis://127.0.0.1:$port"
used_memory() { redis-cli -p "$port" info memory | awk -F: '/^used_memory:/{print $2+0}'; }

printf '%-10s %-9s %10s %10s %14s %12s %12s %14s\n' \
  customers aliases load_s wall_s customers/s keys/s bytes/cust value_B/cust
for n in $SIZES; do
  redis-cli -p "$port" flushall >/dev/null
  sleep 0.5
  before=$(used_memory)
  log=$(mktemp)
  for run in 1 2; do
    start=$(date +%s.%N)
    "$bin" --redis-url "$url" --synthetic "$n" --log-level info 2>"$log" >/dev/null
    end=$(date +%s.%N)
  done
  # FLUSHDB ASYNC of the previous generation frees memory in the background.
  sleep 2
  after=$(used_memory)
  line=$(grep 'load-cache done' "$log" | tail -1)
  aliases=$(sed -E 's/.* customers \+ ([0-9]+) aliases.*/\1/' <<<"$line")
  cps=$(sed -E 's/.* ([0-9]+) customers\/s.*/\1/' <<<"$line")
  kps=$(sed -E 's/.* ([0-9]+) keys\/s.*/\1/' <<<"$line")
  vbytes=$(sed -E 's/.* ([0-9.]+) value bytes\/customer.*/\1/' <<<"$line")
  load_s=$(awk -v n="$n" -v c="$cps" 'BEGIN{printf "%.2f", n/c}')
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b-a}')
  bpc=$(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN{printf "%.1f", (b-a)/n}')
  printf '%-10s %-9s %10s %10s %14s %12s %12s %14s\n' "$n" "$aliases" "$load_s" "$wall" "$cps" "$kps" "$bpc" "$vbytes"
  rm -f "$log"
done
