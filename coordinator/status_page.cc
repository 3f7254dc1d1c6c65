#include "coordinator/status_page.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "coordinator/json_text.h"

namespace shardtrain::coordinator {
void StatusHistory::Record(const Heartbeat& h, double seconds) {
  if (h.rank() != 0) return;
  if (!h.job_name().empty() || h.epochs() > 0) {
    have_job_ = true;
    job_name_ = h.job_name();
    epochs_total_ = h.epochs();
    steps_per_epoch_ = h.steps_per_epoch();
  }
  if (h.last_epoch() > 0) {
    Point p;
    p.epoch = h.last_epoch();
    p.step = h.last_epoch_step();
    p.loss = h.last_epoch_loss();
    p.accuracy = h.last_epoch_accuracy();
    p.val_loss = h.last_epoch_val_loss();
    p.val_accuracy = h.last_epoch_val_accuracy();
    p.examples_per_sec = h.last_epoch_examples_per_sec();
    p.epoch_seconds = h.last_epoch_seconds();
    p.time = seconds;
    auto at = std::lower_bound(epochs_.begin(), epochs_.end(), p.epoch,
                               [](const Point& a, int64_t epoch) { return a.epoch < epoch; });
    if (at == epochs_.end() || at->epoch != p.epoch) {
      epochs_.insert(at, p);
    } else if (at->step != p.step || at->loss != p.loss) {
      *at = p;  // the epoch was trained again (a restarted rank 0)
    }
  }
  if (h.examples() > 0 && h.step() != last_batch_step_) {
    if (h.step() < last_batch_step_) {  // steps went back: drop the points past them
      batches_.erase(std::remove_if(batches_.begin(), batches_.end(),
                                    [&](const Point& p) { return p.step >= h.step(); }),
                     batches_.end());
    }
    last_batch_step_ = h.step();
    Point p;
    p.epoch = h.epoch();
    p.step = h.step();
    p.loss = h.loss_sum() / static_cast<double>(h.examples());
    p.accuracy = static_cast<double>(h.correct()) / static_cast<double>(h.examples());
    p.examples_per_sec = h.examples_per_sec();
    p.time = seconds;
    batches_.push_back(p);
    if (batches_.size() > kMaxBatchPoints) {
      // Keep every other point (and always the newest).
      std::vector<Point> thinned;
      thinned.reserve(batches_.size() / 2 + 1);
      for (size_t i = batches_.size() % 2 == 0 ? 1 : 0; i < batches_.size(); i += 2) {
        thinned.push_back(batches_[i]);
      }
      batches_ = std::move(thinned);
    }
  }
}

std::string StatusHistory::JsonMembers() const {
  std::string out = "\"job\": {\"name\": " + (have_job_ ? JsonString(job_name_) : "null") +
                    ", \"epochs\": " + std::to_string(epochs_total_) +
                    ", \"steps_per_epoch\": " + std::to_string(steps_per_epoch_) +
                    ", \"heartbeat_timeout_seconds\": " + JsonNumber(heartbeat_timeout_seconds_, 7) +
                    "}, \"history\": [";
  // Merged by step; at equal steps the batch point comes first.
  size_t e = 0, b = 0;
  bool first = true;
  while (e < epochs_.size() || b < batches_.size()) {
    const bool take_batch =
        b < batches_.size() && (e == epochs_.size() || batches_[b].step <= epochs_[e].step);
    const Point& p = take_batch ? batches_[b++] : epochs_[e++];
    if (!first) out += ", ";
    first = false;
    out += std::string("{\"kind\": ") + (take_batch ? "\"batch\"" : "\"epoch\"") +
           ", \"epoch\": " + std::to_string(p.epoch) + ", \"step\": " + std::to_string(p.step) +
           ", \"loss\": " + JsonNumber(p.loss, 7) + ", \"accuracy\": " + JsonNumber(p.accuracy, 7);
    if (!take_batch) {
      out += ", \"val_loss\": " + JsonNumber(p.val_loss, 7) +
             ", \"val_accuracy\": " + JsonNumber(p.val_accuracy, 7) +
             ", \"epoch_seconds\": " + JsonNumber(p.epoch_seconds, 7);
    }
    out += ", \"examples_per_sec\": " + JsonNumber(p.examples_per_sec, 7) +
           ", \"time\": " + JsonNumber(p.time, 7) + "}";
  }
  return out + "]";
}

std::string StatusHistory::AddTo(std::string status_json) const {
  while (!status_json.empty() && std::isspace(static_cast<unsigned char>(status_json.back()))) {
    status_json.pop_back();
  }
  if (status_json.size() < 2 || status_json.front() != '{' || status_json.back() != '}') {
    return status_json;
  }
  status_json.pop_back();
  size_t last = status_json.find_last_not_of(" \t\r\n");
  const bool empty_object = last != std::string::npos && status_json[last] == '{';
  return status_json + (empty_object ? "" : ", ") + JsonMembers() + "}";
}

// The page. Everything inline; text from the JSON is inserted with
// textContent only (never as HTML).
const std::string_view kStatusPageHtml = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shardtrain status</title>
<style>
  :root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --card: #fff;
          --loss: #d9480f; --val: #1c7ed6; --acc: #2b8a3e; --warn: #e67700; --bad: #c92a2a; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
         color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: center; gap: 12px; padding: 14px 24px;
           background: var(--card); border-bottom: 1px solid var(--line); }
  h1 { font-size: 20px; margin: 0; }
  h2 { font-size: 15px; margin: 20px 0 8px; }
  main { padding: 16px 24px 24px; max-width: 1200px; }
  .badge { padding: 2px 10px; border-radius: 10px; font-size: 12px; font-weight: 600;
           background: #e7f5ff; color: var(--val); }
  .badge.finished { background: #ebfbee; color: var(--acc); }
  .badge.aborted, .badge.unreachable { background: #fff5f5; color: var(--bad); }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: 10px 12px; }
  .value.small { font-size: 14px; line-height: 1.35; white-space: normal; }
  .scroll { max-height: 330px; overflow-y: auto; border-radius: 8px; }
  .label { color: var(--muted); font-size: 12px; }
  .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums;
           overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .progress { height: 8px; background: var(--line); border-radius: 4px; margin: 14px 0 4px;
              overflow: hidden; }
  #bar { height: 100%; width: 0; background: var(--val); transition: width .3s; }
  .muted { color: var(--muted); }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
  figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px;
           padding: 10px 12px; }
  figcaption { font-weight: 600; margin-bottom: 4px; }
  svg { width: 100%; height: auto; display: block; }
  svg text { font-size: 11px; fill: var(--muted); }
  .legend span { margin-right: 14px; font-size: 12px; color: var(--muted); }
  .legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle;
              margin-right: 4px; }
  table { border-collapse: collapse; width: 100%; background: var(--card);
          border: 1px solid var(--line); border-radius: 8px; }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
           font-variant-numeric: tabular-nums; }
  th { color: var(--muted); font-weight: 500; font-size: 12px; }
  .stale { color: var(--warn); font-weight: 600; }
  .dead { color: var(--bad); font-weight: 600; }
  #error { color: var(--bad); min-height: 1.4em; }
</style>
</head>
<body data-state="loading" data-history-points="0">
<header>
  <h1 id="job">shardtrain</h1>
  <span id="state" class="badge">connecting…</span>
  <span id="abort" class="muted"></span>
</header>
<main>
  <section class="cards">
    <div class="card"><div class="label">Epoch</div><div class="value" id="epoch">–</div></div>
    <div class="card"><div class="label">Step</div><div class="value" id="step">–</div></div>
    <div class="card"><div class="label">Examples / s</div><div class="value" id="rate">–</div></div>
    <div class="card"><div class="label">Loss (epoch so far)</div><div class="value" id="loss">–</div></div>
    <div class="card"><div class="label">Accuracy (epoch so far)</div><div class="value" id="accuracy">–</div></div>
    <div class="card"><div class="label">Last checkpoint</div><div class="value small" id="checkpoint">–</div></div>
  </section>
  <div class="progress"><div id="bar"></div></div>
  <div id="progress-text" class="muted">waiting for the first heartbeat</div>
  <h2>Curves</h2>
  <section class="charts">
    <figure>
      <figcaption>Loss</figcaption>
      <svg id="loss-chart" viewBox="0 0 520 260" data-points="0" role="img" aria-label="loss curve"></svg>
      <div class="legend"><span><i style="background:var(--loss);opacity:.45"></i>running (train)</span><span><i style="background:var(--loss)"></i>epoch loss</span><span><i style="background:var(--val)"></i>val_loss</span></div>
    </figure>
    <figure>
      <figcaption>Accuracy</figcaption>
      <svg id="accuracy-chart" viewBox="0 0 520 260" data-points="0" role="img" aria-label="accuracy curve"></svg>
      <div class="legend"><span><i style="background:var(--acc);opacity:.45"></i>running (train)</span><span><i style="background:var(--acc)"></i>epoch accuracy</span><span><i style="background:var(--val)"></i>val_accuracy</span></div>
    </figure>
  </section>
  <h2>Ranks</h2>
  <table>
    <thead><tr><th>rank</th><th>host</th><th>pid</th><th>state</th><th>last heartbeat</th>
      <th>epoch</th><th>step</th><th>examples/s</th></tr></thead>
    <tbody id="ranks"></tbody>
  </table>
  <h2>Epochs <span class="muted">(newest first)</span></h2>
  <div class="scroll"><table>
    <thead><tr><th>epoch</th><th>step</th><th>loss</th><th>accuracy</th><th>val_loss</th>
      <th>val_accuracy</th><th>examples/s</th><th>seconds</th></tr></thead>
    <tbody id="epochs"></tbody>
  </table></div>
  <p id="error"></p>
  <p class="muted">Polls <code>GET /status</code> every second. Updated <span id="updated">never</span>.</p>
</main>
<script>
'use strict';
const POLL_MS = 1000;
const SVG = 'http://www.w3.org/2000/svg';
const COLORS = {loss: '#d9480f', val: '#1c7ed6', acc: '#2b8a3e'};  // as in the CSS
const $ = (id) => document.getElementById(id);
const finite = (x) => typeof x === 'number' && isFinite(x);
const fixed = (x, digits) => finite(x) ? x.toFixed(digits) : '–';
const count = (x) => finite(x) ? Math.round(x).toLocaleString('en-US') : '–';

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

// Nice tick values covering [lo, hi].
function ticks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

// series: [{points: [[x, y]...], color, width, opacity, markers}]
function drawChart(svg, series, yFloor) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = 520, H = 260, L = 48, R = 12, T = 10, B = 30;
  const all = series.flatMap((s) => s.points);
  svg.setAttribute('data-points', String(all.length));
  if (all.length === 0) {
    svg.appendChild(svgEl('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle'}, 'no points yet'));
    return;
  }
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (yFloor !== undefined) y0 = Math.min(y0, yFloor);
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
  if (yFloor !== undefined && y0 < yFloor) y0 = yFloor;
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  for (const v of ticks(y0, y1, 4)) {
    svg.appendChild(svgEl('line', {x1: L, x2: W - R, y1: sy(v), y2: sy(v), stroke: '#e4e7ec'}));
    svg.appendChild(svgEl('text', {x: L - 6, y: sy(v) + 4, 'text-anchor': 'end'},
                          Math.abs(v) < 10 ? v.toFixed(2) : v.toFixed(0)));
  }
  for (const v of ticks(x0, x1, 5)) {
    if (Math.abs(v - Math.round(v)) > 1e-9) continue;
    svg.appendChild(svgEl('line', {x1: sx(v), x2: sx(v), y1: H - B, y2: H - B + 4, stroke: '#98a2b3'}));
    svg.appendChild(svgEl('text', {x: sx(v), y: H - B + 16, 'text-anchor': 'middle'}, String(v)));
  }
  svg.appendChild(svgEl('line', {x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#98a2b3'}));
  svg.appendChild(svgEl('text', {x: W - R, y: H - 2, 'text-anchor': 'end'}, 'step'));
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p) => sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1)).join(' ');
    svg.appendChild(svgEl('polyline', {points: d, fill: 'none', stroke: s.color,
                                       'stroke-width': s.width, 'stroke-opacity': s.opacity,
                                       'stroke-linejoin': 'round', class: 'series'}));
    if (s.markers) {
      for (const p of s.points) {
        svg.appendChild(svgEl('circle', {cx: sx(p[0]), cy: sy(p[1]), r: 3.5, fill: s.color,
                                         class: 'point'}));
      }
    }
  }
}

function pick(points, key) {
  return points.filter((p) => finite(p[key])).map((p) => [p.step, p[key]]);
}

function render(s) {
  const job = s.job || {};
  const history = Array.isArray(s.history) ? s.history : [];
  const epochs = history.filter((p) => p.kind === 'epoch');
  const batches = history.filter((p) => p.kind === 'batch');
  const ranks = Array.isArray(s.ranks) ? s.ranks : [];
  const heard = ranks.some((r) => r.registered);
  const allDone = ranks.length > 0 && ranks.every((r) => r.done);
  const state = s.aborted ? 'aborted' : allDone ? 'finished' : heard ? 'running' : 'waiting';
  document.body.setAttribute('data-state', state);
  document.body.setAttribute('data-history-points', String(history.length));
  document.body.setAttribute('data-epoch-points', String(epochs.length));
  const badge = $('state');
  badge.textContent = state === 'waiting' ? 'waiting for workers' : state;
  badge.className = 'badge ' + state;
  $('abort').textContent = s.aborted ? (s.abort_reason || '') : '';
  const name = job.name || 'shardtrain job';
  $('job').textContent = name;
  document.title = name + ' · shardtrain';

  const totalSteps = (job.epochs || 0) * (job.steps_per_epoch || 0);
  $('epoch').textContent = (s.epoch || 0) + (job.epochs ? ' / ' + job.epochs : '');
  $('step').textContent = count(s.step) + (totalSteps ? ' / ' + count(totalSteps) : '');
  $('rate').textContent = count(s.examples_per_sec);
  $('loss').textContent = fixed(s.loss, 4);
  $('accuracy').textContent = fixed(s.accuracy, 4);
  // last_checkpoint: null or {prefix, step, age_seconds}.
  const ckpt = s.last_checkpoint;
  let ckptText = 'none yet';
  if (ckpt && typeof ckpt === 'object') {
    ckptText = String(ckpt.prefix || '').split('/').pop() || 'checkpoint';
    if (finite(ckpt.step)) ckptText += ' · step ' + ckpt.step;
    if (finite(ckpt.age_seconds)) ckptText += ' · ' + ckpt.age_seconds.toFixed(0) + ' s ago';
    $('checkpoint').title = String(ckpt.prefix || '');
  } else if (ckpt !== null && ckpt !== undefined) {
    ckptText = String(ckpt);
  }
  $('checkpoint').textContent = ckptText;
  const done = state === 'finished' ? totalSteps : (s.step || 0);
  const fraction = totalSteps > 0 ? Math.min(1, done / totalSteps) : 0;
  $('bar').style.width = (100 * fraction).toFixed(1) + '%';
  $('progress-text').textContent = totalSteps > 0
      ? (100 * fraction).toFixed(1) + '% of ' + count(totalSteps) + ' steps (' +
        (job.steps_per_epoch || 0) + ' per epoch), ' + (s.world_size || ranks.length) + ' rank(s)'
      : 'waiting for rank 0 to report the job';

  drawChart($('loss-chart'), [
    {points: pick(batches, 'loss'), color: COLORS.loss, width: 1.5, opacity: 0.45},
    {points: pick(epochs, 'loss'), color: COLORS.loss, width: 2, opacity: 1, markers: true},
    {points: pick(epochs, 'val_loss'), color: COLORS.val, width: 2, opacity: 1, markers: true},
  ], 0);
  drawChart($('accuracy-chart'), [
    {points: pick(batches, 'accuracy'), color: COLORS.acc, width: 1.5, opacity: 0.45},
    {points: pick(epochs, 'accuracy'), color: COLORS.acc, width: 2, opacity: 1, markers: true},
    {points: pick(epochs, 'val_accuracy'), color: COLORS.val, width: 2, opacity: 1, markers: true},
  ]);

  const timeout = job.heartbeat_timeout_seconds || 60;
  const tbody = $('ranks');
  tbody.textContent = '';
  for (const r of ranks) {
    const row = document.createElement('tr');
    cell(row, String(r.rank));
    cell(row, r.host || '–');
    cell(row, r.pid === null || r.pid === undefined ? '–' : String(r.pid));
    const rs = !r.registered ? 'not registered' : r.done ? 'done'
        : r.connected ? 'training' : 'disconnected';
    cell(row, rs, rs === 'disconnected' ? 'dead' : '');
    const age = r.last_heartbeat_age_seconds;
    cell(row, finite(age) ? age.toFixed(1) + ' s ago' : '–',
         finite(age) && !r.done ? (age > timeout ? 'dead' : age > timeout / 4 ? 'stale' : '') : '');
    cell(row, String(r.epoch ?? '–'));
    cell(row, count(r.step));
    cell(row, count(r.examples_per_sec));
    tbody.appendChild(row);
  }
  const etbody = $('epochs');
  etbody.textContent = '';
  for (const p of epochs.slice().reverse()) {
    const row = document.createElement('tr');
    cell(row, String(p.epoch));
    cell(row, count(p.step));
    cell(row, fixed(p.loss, 4));
    cell(row, fixed(p.accuracy, 4));
    cell(row, fixed(p.val_loss, 4));
    cell(row, fixed(p.val_accuracy, 4));
    cell(row, count(p.examples_per_sec));
    cell(row, fixed(p.epoch_seconds, 1));
    etbody.appendChild(row);
  }
  $('updated').textContent = new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const response = await fetch('/status', {cache: 'no-store'});
    if (!response.ok) throw new Error('HTTP ' + response.status);
    render(await response.json());
    $('error').textContent = '';
  } catch (e) {
    $('error').textContent = 'Cannot reach the coordinator (' + e.message +
        '); the job may have ended. Showing the last data received.';
    if (document.body.getAttribute('data-state') !== 'finished') {
      document.body.setAttribute('data-state', 'unreachable');
      $('state').textContent = 'unreachable';
      $('state').className = 'badge unreachable';
    }
  } finally {
    setTimeout(poll, POLL_MS);
  }
}
poll();
</script>
</body>
</html>
)PAGE";

}  // namespace shardtrain::coordinator
