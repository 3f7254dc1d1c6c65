#!/usr/bin/env bash
# The coordinator's live status page (GET /) in a real headless Chromium while
# a training job runs: the page must load, poll GET /status and draw the
# loss and accuracy curves with points (its JavaScript sets data-points="N" on
# each chart's <svg>) and show the job and its ranks. The job is then stopped
# with SIGTERM (preemption: checkpoint and exit 0) and must exit normally.
# Also keeps a screenshot.
# Usage: browser_test.sh BUILD_BIN_DIR SOURCE_DIR
# Exits 77 (skip) when chromium or Fashion-MNIST is missing.
# SHARDTRAIN_SCREENSHOT=PATH also writes the screenshot there (e.g.
# docs/status_page.png); otherwise it goes to a temporary directory.
set -u
bin="$1/shardtrain"
src="$2"
fmnist=/usr/share/datasets/fashion-mnist

browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then browser=$(command -v "$candidate"); break; fi
done
if [ -z "$browser" ]; then
  echo "SKIP: no chromium found (install the Debian package 'chromium'; scripts/common.sh lists it)"
  exit 77
fi
if [ ! -f "$fmnist/train-labels-idx1-ubyte.gz" ]; then
  echo "SKIP: needs Fashion-MNIST (Debian package dataset-fashion-mnist) in $fmnist"
  exit 77
fi

work=$(mktemp -d)
train_pid=""
cleanup() {
  [ -n "$train_pid" ] && kill "$train_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/train.log" ] && sed 's/^/  train: /' "$work/train.log" | tail -20; exit 1; }

"$bin" data prepare --dataset fashion_mnist --source "$fmnist" --output "$work/data" \
  --num-shards 2 > "$work/prepare.log" 2>&1 || { cat "$work/prepare.log"; fail "data prepare"; }

# More epochs than the test needs, so the job is still running however fast
# the machine is; it is stopped with SIGTERM once the page was checked.
epochs=${SHARDTRAIN_BROWSER_EPOCHS:-1000}
"$bin" train "$src/configs/fashion_mlp.textproto" --data "$work/data" --run-dir "$work/run" \
  --train-examples 2000 --epochs "$epochs" --http-port 0 --heartbeat-timeout 20 --verbose 2 \
  > "$work/train.log" 2>&1 &
train_pid=$!

# The hosted coordinator prints its status URL; wait for it.
port=""
for _ in $(seq 1 300); do
  port=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/train.log" 2>/dev/null | head -1 | sed 's/.*://')
  [ -n "$port" ] && break
  kill -0 "$train_pid" 2>/dev/null || fail "training exited before printing the status URL"
  sleep 0.1
done
[ -n "$port" ] || fail "no status URL in the training output after 30 s"
echo "ok: coordinator status page on port $port"

get() { curl -fsS --max-time 5 "http://127.0.0.1:$port$1"; }
# Wait until the history has at least two finished epochs.
for _ in $(seq 1 600); do
  epochs_done=$(get /status 2>/dev/null | grep -o '"kind": "epoch"' | wc -l)
  [ "$epochs_done" -ge 2 ] && break
  kill -0 "$train_pid" 2>/dev/null || fail "training ended before /status had 2 epoch points"
  sleep 0.1
done
[ "$epochs_done" -ge 2 ] || fail "/status never showed 2 finished epochs"
echo "ok: /status history has $epochs_done epoch points"
get / | grep -q '<svg id="loss-chart"' || fail "GET / is not the status page"

chrome() {
  "$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-dev-shm-usage --user-data-dir="$work/profile" --virtual-time-budget=5000 "$@" \
    2>>"$work/chromium.log"
}
chrome --dump-dom "http://127.0.0.1:$port/" > "$work/dom.html"
kill -0 "$train_pid" 2>/dev/null || fail "the job ended before the browser loaded the page; raise SHARDTRAIN_BROWSER_EPOCHS"
[ -s "$work/dom.html" ] || { cat "$work/chromium.log"; fail "chromium produced no DOM"; }

points() {  # data-points of the chart with id $1
  grep -oE "<svg id=\"$1\"[^>]*>" "$work/dom.html" | grep -oE 'data-points="[0-9]+"' | grep -oE '[0-9]+'
}
loss_points=$(points loss-chart)
accuracy_points=$(points accuracy-chart)
[ "${loss_points:-0}" -ge 3 ] || fail "loss chart has '${loss_points:-none}' points, expected >= 3"
[ "${accuracy_points:-0}" -ge 3 ] || fail "accuracy chart has '${accuracy_points:-none}' points"
echo "ok: the page drew $loss_points loss and $accuracy_points accuracy points"
grep -q 'data-state="running"' "$work/dom.html" || fail "page state is not running: $(grep -o 'data-state="[a-z]*"' "$work/dom.html")"
grep -q '<h1 id="job">fashion_mlp</h1>' "$work/dom.html" || fail "page does not name the job"
grep -qE '<circle [^>]*class="point"' "$work/dom.html" || fail "no epoch markers drawn"
grep -qE '<td>[0-9.]+ s ago</td>' "$work/dom.html" || fail "no heartbeat age shown for rank 0"
echo "ok: the page names the job, shows it running, rank 0's heartbeat age and epoch markers"

shot="${SHARDTRAIN_SCREENSHOT:-$work/status_page.png}"
chrome --hide-scrollbars --window-size=1280,1180 --screenshot="$shot" "http://127.0.0.1:$port/" \
  > /dev/null
[ -s "$shot" ] || fail "no screenshot written"
echo "ok: screenshot $shot ($(wc -c < "$shot") bytes)"

# Preemption: the job checkpoints at the next step boundary and exits 0.
kill -TERM "$train_pid" 2>/dev/null
for _ in $(seq 1 600); do
  kill -0 "$train_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$train_pid" 2>/dev/null; then
  kill -KILL "$train_pid"
  fail "the job did not exit within 60 s of SIGTERM"
fi
wait "$train_pid"
status=$?
train_pid=""
[ "$status" -eq 0 ] || fail "training exited $status after SIGTERM, expected 0 (preemption)"
echo "ok: the job stopped normally on SIGTERM"
echo "browser: all checks passed"
