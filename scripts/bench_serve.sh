#!/usr/bin/env bash
# Benchmarks `serve` over HTTP with Redis on loopback:
#   1. builds release binaries (serve, the fixture writer, the fixed-rate
#      load generator);
#   2. prepares data + a 300-tree model: the pipeline's own output when
#      BENCH_DATA_DIR and BENCH_MODEL_DIR are set (plus load-cache), else
#      the serve fixture (20000 customers, 300 trees x 31 leaves);
#   3. starts redis-server on a free port, loads the customers, starts serve;
#   4. wrk (closed loop) for the maximum throughput of GET /recommend/{id};
#   5. the fixed-rate generator at half that rate for the latency
#      percentiles (measured from the scheduled send time, wrk2 style);
#   6. prints a table.
# Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (wrk, default 64),
#      BENCH_CUSTOMERS (fixture size, default 20000), BENCH_WORKERS (serve
#      HTTP workers, default: cores). For the in-process scoring figures run
#      `cargo bench -p serve` (criterion).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/env.sh
source scripts/env.sh
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-64}"
customers="${BENCH_CUSTOMERS:-20000}"
workers="${BENCH_WORKERS:-$(nproc)}"
bin="$CARGO_TARGET_DIR/release"

command -v wrk >/dev/null || { echo "wrk is missing: run scripts/setup.sh" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing: run scripts/setup.sh" >&2; exit 1; }

cargo build --release --workspace --all-targets
examples="$bin/examples"

work="$(mktemp -d /tmp/bench-serve.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis_url="redis://127.0.0.1:$redis_port/0"

if [[ -n "${BENCH_DATA_DIR:-}" && -n "${BENCH_MODEL_DIR:-}" ]]; then
  data_dir="$BENCH_DATA_DIR"; model_dir="$BENCH_MODEL_DIR"
  cargo build --release --workspace --all-targets
  "$bin/load-cache" --data-dir "$data_dir" --model-dir "$model_dir" --redis-url "$redis_url"
  "$examples/make_fixture" --list-ids "$data_dir" >"$work/ids.txt"
  source_desc="pipeline output $data_dir + $model_dir"
else
  "$examples/make_fixture" "$work/fixture" --customers "$customers" --trees 300 --leaves 31 --redis-url "$redis_url"
  data_dir="$work/fixture/data"; model_dir="$work/fixture/models"
  cp "$work/fixture/ids.txt" "$work/ids.txt"
  source_desc="serve fixture: $customers customers, 300 trees x 31 leaves"
fi
shuf -n 5000 --random-source=<(yes) "$work/ids.txt" >"$work/sample.txt"

serve_port="$(free_port)"
OFFERS_LOG=warn "$bin/serve" --bind "127.0.0.1:$serve_port" --redis-url "$redis_url" \
  --data-dir "$data_dir" --model-dir "$model_dir" --workers "$workers" >"$work/serve.log" 2>&1 &
pids+=($!)
serve_pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$serve_port/" >/dev/null && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$serve_port/" >/dev/null || { cat "$work/serve.log"; exit 1; }
base="http://127.0.0.1:$serve_port/recommend/"

# wrk: ids cycle through a Lua table.
{
  echo "local ids = {"
  sed 's/.*/"&",/' "$work/sample.txt"
  echo "}"
  echo 'local i = 0'
  echo 'request = function() i = i + 1; return wrk.format("GET", "/recommend/" .. ids[(i % #ids) + 1]) end'
} >"$work/ids.lua"
curl -s "$base$(head -1 "$work/sample.txt")" >/dev/null
wrk -t1 -c"$connections" -d2s -s "$work/ids.lua" "http://127.0.0.1:$serve_port" >/dev/null   # warm-up
wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/ids.lua" "http://127.0.0.1:$serve_port" >"$work/wrk.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt"); non2xx="${non2xx:-0}"
socket_errors=$(awk '/Socket errors/ {print $0}' "$work/wrk.txt")
wrk_p99=$(awk '/ 99%/ {print $2}' "$work/wrk.txt")
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")

# CPU seconds (user + system) a process has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# The server's own latency histogram of GET /recommend/{id} (200s):
# "le count" lines, cumulative.
server_histogram() {
  curl -s "http://127.0.0.1:$serve_port/metrics" |
    sed -n 's/^offers_http_request_duration_seconds_bucket{route="GET \/recommend\/{id}",status="200",le="\([^"]*\)"} \([0-9]*\)$/\1 \2/p'
}

half=$(awk -v r="$rps" 'BEGIN{printf "%d", r/2}')
server_histogram >"$work/histogram.before"
redis_cpu0=$(cpu_seconds "$redis_pid"); serve_cpu0=$(cpu_seconds "$serve_pid")
fixed=$(/usr/bin/time -f "%U %S" -o "$work/loadgen.time" "$examples/loadgen" "$base" "$work/sample.txt" "$half" "$seconds" 32)
redis_cpu=$(awk -v a="$redis_cpu0" -v b="$(cpu_seconds "$redis_pid")" 'BEGIN{print b - a}')
serve_cpu=$(awk -v a="$serve_cpu0" -v b="$(cpu_seconds "$serve_pid")" 'BEGIN{print b - a}')
loadgen_cpu=$(awk '{print $1 + $2}' "$work/loadgen.time")
server_histogram >"$work/histogram.after"
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$fixed"; }
fixed_requests=$(field requests)
# CPU microseconds per request of each process, and how busy the cores were.
per_request() { awk -v c="$1" -v n="$fixed_requests" 'BEGIN{printf "%.0f", c * 1e6 / n}'; }
busy=$(awk -v a="$loadgen_cpu" -v b="$redis_cpu" -v c="$serve_cpu" -v s="$seconds" -v n="$(nproc)" \
  'BEGIN{printf "%.0f%%", 100 * (a + b + c) / (s * n)}')
# Share of the fixed-rate requests that the server itself finished within
# 1 ms and 2.5 ms (from its histogram: handler time, Redis round trip
# included; the queueing before the handler and the network are not).
server_share() {
  # Both files list the buckets in the same order: "le before le after".
  paste -d' ' "$work/histogram.before" "$work/histogram.after" |
    awk -v le="$1" '{d[$1] = $4 - $2; if ($1 == "+Inf") t = $4 - $2} END{printf "%.4f", d[le] / t}'
}

echo
echo "serve benchmark: GET /recommend/{id}, Redis on loopback, $(nproc) cores, $workers HTTP workers"
echo "data: $source_desc"
printf '%-44s %s\n' "measure" "value"
printf '%-44s %s\n' "throughput, wrk -c$connections ${seconds}s (req/s)" "$rps"
printf '%-44s %s\n' "  requests / non-2xx" "$requests / $non2xx${socket_errors:+ ($socket_errors)}"
printf '%-44s %s\n' "  wrk closed-loop p99" "$wrk_p99"
printf '%-44s %s\n' "fixed rate (half of the above) req/s" "$(field rate) (achieved $(field achieved))"
printf '%-44s %s\n' "  errors" "$(field errors)"
printf '%-44s %s\n' "  p50 / p90 latency (ms)" "$(field p50_ms) / $(field p90_ms)"
printf '%-44s %s\n' "  p99 / p99.9 / max latency (ms)" "$(field p99_ms) / $(field p999_ms) / $(field max_ms)"
printf '%-44s %s\n' "  server-side share within 1 / 2.5 ms" "$(server_share 0.001) / $(server_share 0.0025)"
printf '%-44s %s\n' "  CPU us/request: loadgen / redis / serve" "$(per_request "$loadgen_cpu") / $(per_request "$redis_cpu") / $(per_request "$serve_cpu")"
printf '%-44s %s\n' "  cores busy (these three processes)" "$busy"
echo "targets: >= 15000 req/s with no errors; p99 < 2 ms at half rate"
