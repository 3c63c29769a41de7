// computeperf dashboard: polls the HTTP API of the worker that serves this page.
// Vanilla JS and the vendored uPlot (no CDN). Data is put in the page with textContent only.
"use strict";

const POLL_MS = 2000;
const PAST = { approve: "approved", reject: "rejected" };
const state = { token: null, charts: {}, chartKeys: {} };

function readToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    localStorage.setItem("computeperf.token", fromHash);
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
  return fromHash || localStorage.getItem("computeperf.token") || "";
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": `Bearer ${state.token}`, "Content-Type": "application/json" },
  });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(`${response.status}: ${body.error || response.statusText}`);
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

// Three significant digits: throughputs run from 0.3 to thousands of units.
function sig(value) {
  return typeof value === "number" ? String(Number(value.toPrecision(3))) : "—";
}

function fmt(value, digits = 2) {
  return typeof value === "number" ? value.toFixed(digits) : "—";
}

// Why a panel can be empty on a healthy system, said next to the time it was checked.
const EMPTY = {
  recommendations: "No recommendations yet: the recommender proposes when a workload waits "
    + "for a provider or a move pays for its downtime.",
  alerts: "No alerts have fired: rules fire on closed windows (1 min by default).",
  anomalies: "No anomalies: a provider's detector judges after 24 windows of its telemetry "
    + "and flags two odd windows in a row.",
  insights: "No insights yet: the analysis role diagnoses each closed 1-min window of the fleet.",
  sla: "No SLA data yet: SLO status follows the workload windows of the analysis role.",
  budgets: "No budget data yet: spend is counted per closed workload window.",
};

function utcClock(ms) {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

function fillTable(id, items, addRow) {
  const body = document.querySelector(`#${id} tbody`);
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    addRow(tr, item);
    return tr;
  });
  body.replaceChildren(...rows);
  const empty = document.getElementById(`${id}-empty`);
  if (empty) {
    empty.hidden = items.length > 0;
    if (!items.length && EMPTY[id]) empty.textContent = `${EMPTY[id]} Checked ${utcClock(Date.now())}.`;
  }
  document.getElementById(id).hidden = items.length === 0;
}

function setText(id, value) {
  document.getElementById(id).textContent = value === null || value === undefined ? "—" : value;
}

function renderFleet(f) {
  setText("fleet-providers", f.providers);
  setText("fleet-online", f.providers_online);
  setText("fleet-util", fmt(f.mean_gpu_util_pct, 1));
  setText("fleet-alerts", f.firing_alerts);
  setText("fleet-pending", f.pending_recommendations);
  setText("fleet-anomalies", f.anomalies_last_hour);
}

async function decide(id, verb, row) {
  row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  const status = row.querySelector(".status");
  try {
    const rec = await api(`/api/v1/recommendations/${encodeURIComponent(id)}/${verb}`, {
      method: "POST",
      body: JSON.stringify({ reason: `${PAST[verb]} from the dashboard` }),
    });
    status.textContent = rec.status;
    row.dataset.status = rec.status;
  } catch (err) {
    status.textContent = String(err.message);
    status.classList.add("error");
  }
}

// The record of a recommendation's history that reached ``status`` (null: not reached).
function reached(view, status) {
  return view.history.find((r) => r.status === status) || null;
}

function stage(record) {
  return record ? utcClock(record.ts_ms) : "—";
}

function renderRecommendations(items) {
  // Newest first; a row is one recommendation through its whole lifecycle.
  const rows = [...items].sort((a, b) => b.history[0].ts_ms - a.history[0].ts_ms).slice(0, 15);
  fillTable("recommendations", rows, (tr, view) => {
    const r = view.latest;
    tr.dataset.recommendationId = r.recommendation_id;
    tr.dataset.status = r.status;
    cell(tr, r.kind);
    cell(tr, r.workload_id);
    cell(tr, `${r.from_provider_id || "—"} → ${r.provider_id}`);
    cell(tr, r.perf_per_dollar_gain == null ? "—" : `${(100 * r.perf_per_dollar_gain).toFixed(1)} %`, "num");
    cell(tr, stage(reached(view, "proposed")), "stage");
    const approved = reached(view, "approved");
    const byCell = cell(tr, stage(approved), "stage");
    if (approved) byCell.title = `by ${approved.actor}: ${approved.reason}`;
    cell(tr, stage(reached(view, "applied")), "stage");
    const o = view.outcome;
    const realised = o
      ? `${sig(o.predicted_throughput)} → ${sig(o.realised_throughput)} (${o.throughput_error >= 0 ? "+" : ""}${(100 * o.throughput_error).toFixed(1)} %)`
      : "—";
    const outcomeCell = cell(tr, realised, "num outcome");
    if (o) {
      outcomeCell.title = `mean over ${o.samples} samples of the settling window `
        + `${utcClock(o.applied_at_ms)} – ${utcClock(o.ts_ms)}, `
        + `SLA violated ${(100 * o.sla_violation_fraction).toFixed(0)} % of it`;
    }
    const statusCell = cell(tr, r.status, "status");
    statusCell.title = r.reason || r.rationale || "";
    const actions = cell(tr, "");
    if (r.status !== "proposed") return;
    for (const verb of ["approve", "reject"]) {
      const button = document.createElement("button");
      button.className = verb;
      button.textContent = verb === "approve" ? "Approve" : "Reject";
      button.addEventListener("click", () => decide(r.recommendation_id, verb, tr));
      actions.appendChild(button);
    }
  });
}

async function acknowledge(fingerprint, row) {
  row.querySelector("button").disabled = true;
  try {
    await api(`/api/v1/alerts/${fingerprint}/acknowledge`, {
      method: "POST", body: JSON.stringify({ comment: "acknowledged from the dashboard" }),
    });
    row.querySelector(".ack").textContent = "yes";
  } catch (err) {
    row.querySelector(".ack").textContent = String(err.message);
  }
}

function renderAlerts(items) {
  fillTable("alerts", items, (tr, view) => {
    const a = view.latest;
    tr.dataset.fingerprint = view.fingerprint;
    tr.dataset.status = a.status;
    cell(tr, a.labels.alertname);
    cell(tr, a.labels.entity_id || a.labels.provider_id || "");
    cell(tr, a.severity);
    cell(tr, a.status);
    cell(tr, utcClock(a.starts_at_ms), "stage");
    cell(tr, a.ends_at_ms == null ? "—" : utcClock(a.ends_at_ms), "stage");
    cell(tr, a.annotations.summary || "");
    cell(tr, view.acknowledgement ? `by ${view.acknowledgement.actor}` : "no", "ack");
    const actions = cell(tr, "");
    if (a.status !== "firing") return;
    const button = document.createElement("button");
    button.textContent = "Acknowledge";
    button.disabled = Boolean(view.acknowledgement);
    button.addEventListener("click", () => acknowledge(view.fingerprint, tr));
    actions.appendChild(button);
  });
}

function renderLeaderboard(items) {
  fillTable("leaderboard", items, (tr, r) => {
    tr.dataset.providerId = r.provider_id;
    cell(tr, r.cohort);
    cell(tr, r.rank, "num");
    cell(tr, r.provider_id);
    cell(tr, r.region);
    cell(tr, fmt(r.price_usd_per_gpu_hour, 2), "num");
    cell(tr, fmt(r.perf_per_dollar, 3), "num");
    cell(tr, r.perf_per_dollar_source);
    cell(tr, fmt(r.gpu_util_pct, 1), "num");
  });
}

function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

function renderAnomalies(items) {
  fillTable("anomalies", items, (tr, a) => {
    const top = Object.entries(a.contributing_features).sort((x, y) => y[1] - x[1])[0];
    cell(tr, clock(a.ts_ms)); cell(tr, `${a.entity_type}:${a.entity_id}`);
    cell(tr, fmt(a.score, 3), "num"); cell(tr, top ? top[0] : a.detector);
  });
}

function renderInsights(items) {
  fillTable("insights", items, (tr, i) => {
    cell(tr, clock(i.ts_ms)); cell(tr, `${i.entity_type}:${i.entity_id}`);
    cell(tr, i.summary || i.kind); cell(tr, i.scope); cell(tr, fmt(i.confidence, 2), "num");
  });
}

function renderSla(items) {
  fillTable("sla", items, (tr, s) => {
    tr.dataset.entity = `${s.entity_type}:${s.entity_id}`;
    cell(tr, s.workload_id ?? `${s.entity_type}:${s.entity_id}`);
    cell(tr, `${s.slo} (${s.sli} ${s.objective})`);
    cell(tr, `${s.good_events}/${s.total_events}`, "num events");
    // Below the rules' low-traffic guard a ratio of a few events says nothing yet.
    const judged = s.enough_data !== false;
    cell(tr, judged ? fmt(s.compliance, 4) : "not enough data", "num compliance");
    cell(tr, judged ? fmt(s.error_budget_remaining, 3) : "not enough data", "num budget");
    cell(tr, fmt(s.burn_rate, 2), "num");
  });
}

function renderBudgets(items) {
  fillTable("budgets", items, (tr, b) => {
    tr.dataset.tenant = b.tenant_id;
    cell(tr, b.tenant_id); cell(tr, b.period); cell(tr, fmt(b.spent_usd), "num spent");
    cell(tr, fmt(b.limit_usd), "num limit"); cell(tr, fmt(b.forecast_usd), "num forecast");
    cell(tr, b.exhaustion_ms == null ? "—" : new Date(b.exhaustion_ms).toISOString().slice(0, 16).replace("T", " "), "exhaustion");
  });
}

// The latest value of each provider's series, for ranking ("hottest 5").
function latestValue(p, pick) {
  for (let i = p.metrics.series.length - 1; i >= 0; i -= 1) {
    const v = pick(p.metrics.series[i]);
    if (v !== null && v !== undefined) return v;
  }
  return -Infinity;
}

// One line per shown provider over the union of their window starts (seconds, as uPlot
// wants); ``top`` > 0 keeps the providers with the highest latest value.
function seriesData(providers, pick, top) {
  let withSeries = providers.filter((p) => p.metrics && p.metrics.series.length);
  const total = withSeries.length;
  withSeries.sort((a, b) => latestValue(b, pick) - latestValue(a, pick)
    || a.provider_id.localeCompare(b.provider_id));
  if (top > 0) withSeries = withSeries.slice(0, top);
  const xs = [...new Set(withSeries.flatMap(
    (p) => p.metrics.series.map((pt) => pt.window_start_ms / 1000)))].sort((a, b) => a - b);
  const ys = withSeries.map((p) => {
    const byX = new Map(p.metrics.series.map((pt) => [pt.window_start_ms / 1000, pick(pt)]));
    return xs.map((x) => (byX.has(x) ? byX.get(x) : null));
  });
  return { names: withSeries.map((p) => p.provider_id), data: [xs, ...ys], total };
}

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
  "#4d7c0f", "#be185d", "#a16207", "#475569", "#7c3aed", "#0f766e"];
const WINDOW_S = 60;

// The time axis spans the data, not uPlot's guess: with a single window uPlot's own
// range reached years either side. One point gets one window either side.
function xRange(u, min, max) {
  const xs = u.data[0];
  if (!xs.length) return [min, max];
  const lo = xs[0];
  const hi = xs[xs.length - 1];
  return lo === hi ? [lo - WINDOW_S, hi + WINDOW_S] : [lo, hi];
}

function drawChart(id, providers, pick, noun) {
  const top = Number(document.getElementById(`${id}-top`).value);
  const { names, data, total } = seriesData(providers, pick, top);
  const element = document.getElementById(id);
  const note = document.getElementById(`${id}-note`);
  if (!names.length) {
    note.textContent = `No provider windows yet (one per provider per minute). Checked ${utcClock(Date.now())}.`;
    return;
  }
  const shown = names.length < total ? `${names.length} ${noun} of ${total} providers (latest window)` : `all ${total} providers`;
  note.textContent = `${shown}; ${data[0].length} windows, ${utcClock(data[0][0] * 1000)} – ${utcClock(data[0][data[0].length - 1] * 1000)}`;
  const key = names.join(",");
  element.dataset.series = String(names.length);
  element.dataset.points = String(data[0].length);
  if (state.charts[id] && state.chartKeys[id] === key) {
    state.charts[id].setData(data);
    return;
  }
  if (state.charts[id]) state.charts[id].destroy();
  const series = [{}, ...names.map((name, i) => ({
    label: name, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
  }))];
  const width = Math.max(320, element.clientWidth || 560);
  const scales = { x: { time: true, range: xRange } };
  // What was drawn, for tests and curious readers: uPlot draws after setData returns, so
  // the attributes are written when it has (data span and axis range of the same draw).
  const hooks = { draw: [(u) => {
    const xs = u.data[0];
    Object.assign(element.dataset, {
      dataMin: String(xs[0]), dataMax: String(xs[xs.length - 1]),
      axisMin: String(u.scales.x.min), axisMax: String(u.scales.x.max),
    });
  }] };
  state.charts[id] = new uPlot({ width, height: 240, series, scales, hooks }, data, element);
  state.chartKeys[id] = key;
}

async function refresh() {
  const calls = {
    fleet: api("/api/v1/fleet"),
    recs: api("/api/v1/recommendations?limit=50"),
    alerts: api("/api/v1/alerts?status=firing&limit=50"),
    resolved: api("/api/v1/alerts?status=resolved&limit=50"),
    board: api("/api/v1/leaderboards?limit=100"),
    providers: api("/api/v1/providers?limit=50"),
    sla: api("/api/v1/sla?limit=50"),
    anomalies: api("/api/v1/anomalies?limit=10"),
    insights: api("/api/v1/insights?limit=10"),
    budgets: api("/api/v1/budgets"),
  };
  const results = {};
  for (const [name, promise] of Object.entries(calls)) results[name] = await promise;
  renderFleet(results.fleet);
  renderRecommendations(results.recs.items);
  const recentlyResolved = [...results.resolved.items]
    .sort((a, b) => (b.latest.ends_at_ms || 0) - (a.latest.ends_at_ms || 0)).slice(0, 10);
  renderAlerts([...results.alerts.items, ...recentlyResolved]);
  renderLeaderboard(results.board.items);
  renderSla(results.sla.items);
  renderAnomalies(results.anomalies.items);
  renderInsights(results.insights.items);
  renderBudgets(results.budgets.items);
  drawChart("chart-temp", results.providers.items, (pt) => pt.p95.gpu_temp_c ?? null, "hottest");
  drawChart("chart-util", results.providers.items, (pt) => pt.mean.gpu_util_pct ?? null, "busiest");
}

async function loop() {
  const status = document.getElementById("status");
  try {
    await refresh();
    status.textContent = `updated ${utcClock(Date.now())}`;
    status.className = "muted";
    document.body.dataset.loaded = "true";
  } catch (err) {
    status.textContent = `API error ${err.message}`;
    status.className = "error";
  }
  setTimeout(loop, POLL_MS);
}

for (const id of ["chart-temp-top", "chart-util-top"]) {
  document.getElementById(id).addEventListener("change", () => { refresh().catch(() => {}); });
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = document.getElementById("token").value.trim();
  localStorage.setItem("computeperf.token", state.token);
});

state.token = readToken();
document.getElementById("token").value = state.token;
loop();
