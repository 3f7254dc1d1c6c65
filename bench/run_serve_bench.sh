#!/usr/bin/env bash
# Serving latency and throughput (issue 7): `shardtrain serve` with our exported
# reference model, measured with wrk (Debian package wrk) at concurrency 1 and
# 16, beside the floor — the same server's /healthz answering the same POST
# body without a model — and the model compute alone (serve_compute_bench,
# in-process). Target: p50 <= 1.5 x (floor p50 + compute p50).
# Usage: bench/run_serve_bench.sh  (needs build/; DATA=DIR of prepared shards,
# default data/fashion_mnist; SECONDS_PER_RUN, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -q wrk >/dev/null; }
bin=build/bin/shardtrain
data=${DATA:-data/fashion_mnist}
seconds=${SECONDS_PER_RUN:-10}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

# The reference model (1 epoch on 6000 examples is plenty for a latency test).
"$bin" train configs/fashion_mlp.textproto --data "$data" --run-dir "$work/run" --epochs 1 \
  --train-examples 6000 --verbose 0 >/dev/null
"$bin" export --config configs/fashion_mlp.textproto --run-dir "$work/run" --format saved_model \
  --output "$work/models" >/dev/null
compute=$(build/bin/serve_compute_bench "$work/models/1")
compute_p50=$(awk '/compute_p50_us/ {print $2}' <<<"$compute")

python3 - "$work/body.json" <<'PY'
import json, sys
json.dump({"instances": [[(k % 255) / 255.0 for k in range(784)]]}, open(sys.argv[1], "w"))
PY
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/body.json", "r"); wrk.body = f:read("*a"); f:close()
LUA

# run PATH CONNECTIONS → "p50_us p99_us requests_per_s"
start_server() {  # extra flags for shardtrain serve
  ${SERVE_ENV:-} "$bin" serve --model_name fashion --model_base_path "$work/models" --port 0 \
    --threads ${SERVE_THREADS:-2} "$@" >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 50); do grep -q "^serving model" "$work/serve.log" && break; sleep 0.1; done
  base=$(sed -n 's|^serving model fashion .* at \(http://[^/]*\)/.*|\1|p' "$work/serve.log")
}

run() {
  local threads=$(( $2 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$2" -d"${seconds}s" --latency -s "$work/post.lua" "$base$1" >"$work/wrk.txt"
  grep -q "Non-2xx" "$work/wrk.txt" && { echo "errors in $1:"; cat "$work/wrk.txt"; exit 1; }
  to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s/,"",v); print v*1e6}}'; }
  local p50 p99 rps
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt" | to_us)
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt" | to_us)
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  echo "$p50 $p99 $rps"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F)"
echo "model compute (in-process, one instance): p50 ${compute_p50} us, p99 $(awk '/compute_p99_us/ {print $2}' <<<"$compute") us"
echo
echo "| endpoint | concurrency | p50 µs | p99 µs | requests/s | target p50 ≤ 1.5 × (floor + compute) |"
echo "|---|---:|---:|---:|---:|---|"
# The same server answers the floor and predict; a second one with
# --enable_batching answers predict again (its floor is the same HTTP path).
for c in 1 16; do
  start_server
  read -r f50 f99 frps < <(run /healthz "$c")
  read -r p50 p99 rps < <(run /v1/models/fashion:predict "$c")
  kill $server; wait $server 2>/dev/null || true
  start_server --enable_batching
  read -r b50 b99 brps < <(run /v1/models/fashion:predict "$c")
  kill $server; wait $server 2>/dev/null || true
  target=$(awk -v f="$f50" -v m="$compute_p50" 'BEGIN {printf "%.0f", 1.5 * (f + m)}')
  verdict() { awk -v p="$1" -v t="$target" 'BEGIN {print (p <= t) ? "met" : "NOT met"}'; }
  printf '| floor (/healthz) | %d | %.0f | %.0f | %s | |\n' "$c" "$f50" "$f99" "$frps"
  printf '| predict | %d | %.0f | %.0f | %s | %s (%.0f ≤ %s) |\n' "$c" "$p50" "$p99" "$rps" "$(verdict "$p50")" "$p50" "$target"
  printf '| predict, --enable_batching | %d | %.0f | %.0f | %s | %s (%.0f ≤ %s) |\n' "$c" "$b50" "$b99" "$brps" "$(verdict "$b50")" "$b50" "$target"
done
