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

function fmt(value, digits = 2) {
  return typeof value === "number" ? value.toFixed(digits) : "—";
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
  if (empty) empty.hidden = items.length > 0;
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

function renderRecommendations(items) {
  fillTable("recommendations", items, (tr, view) => {
    const r = view.latest;
    tr.dataset.recommendationId = r.recommendation_id;
    tr.dataset.status = r.status;
    cell(tr, r.recommendation_id);
    cell(tr, r.kind);
    cell(tr, r.workload_id);
    cell(tr, `${r.from_provider_id || "—"} → ${r.provider_id}`);
    cell(tr, fmt(r.perf_per_dollar_gain, 3), "num");
    cell(tr, fmt(r.confidence, 2), "num");
    cell(tr, r.status, "status");
    cell(tr, r.rationale);
    const actions = cell(tr, "");
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
    cell(tr, a.labels.alertname);
    cell(tr, a.labels.entity_id || a.labels.provider_id || "");
    cell(tr, a.severity);
    cell(tr, new Date(a.starts_at_ms).toISOString().replace(".000Z", "Z"));
    cell(tr, a.annotations.summary || "");
    cell(tr, view.acknowledgement ? `by ${view.acknowledgement.actor}` : "no", "ack");
    const actions = cell(tr, "");
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

// One line per provider over the union of their window starts (seconds, as uPlot wants).
function seriesData(providers, pick) {
  const withSeries = providers.filter((p) => p.metrics && p.metrics.series.length);
  const xs = [...new Set(withSeries.flatMap(
    (p) => p.metrics.series.map((pt) => pt.window_start_ms / 1000)))].sort((a, b) => a - b);
  const ys = withSeries.map((p) => {
    const byX = new Map(p.metrics.series.map((pt) => [pt.window_start_ms / 1000, pick(pt)]));
    return xs.map((x) => (byX.has(x) ? byX.get(x) : null));
  });
  return { names: withSeries.map((p) => p.provider_id), data: [xs, ...ys] };
}

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
  "#4d7c0f", "#be185d", "#a16207", "#475569", "#7c3aed", "#0f766e"];

function drawChart(id, providers, pick) {
  const { names, data } = seriesData(providers, pick);
  const element = document.getElementById(id);
  const key = names.join(",");
  if (!names.length) return;
  if (state.charts[id] && state.chartKeys[id] === key) {
    state.charts[id].setData(data);
    return;
  }
  if (state.charts[id]) state.charts[id].destroy();
  const series = [{}, ...names.map((name, i) => ({
    label: name, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
  }))];
  const width = Math.max(320, element.clientWidth || 560);
  state.charts[id] = new uPlot({ width, height: 240, series }, data, element);
  state.chartKeys[id] = key;
  element.dataset.points = String(data[0].length);
}

async function refresh() {
  const calls = {
    fleet: api("/api/v1/fleet"),
    recs: api("/api/v1/recommendations?status=proposed&limit=50"),
    alerts: api("/api/v1/alerts?status=firing&limit=50"),
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
  renderAlerts(results.alerts.items);
  renderLeaderboard(results.board.items);
  renderSla(results.sla.items);
  renderAnomalies(results.anomalies.items);
  renderInsights(results.insights.items);
  renderBudgets(results.budgets.items);
  drawChart("chart-temp", results.providers.items, (pt) => pt.p95.gpu_temp_c ?? null);
  drawChart("chart-util", results.providers.items, (pt) => pt.mean.gpu_util_pct ?? null);
  for (const id of ["chart-temp", "chart-util"]) {
    const chart = state.charts[id];
    if (chart) document.getElementById(id).dataset.points = String(chart.data[0].length);
  }
}

async function loop() {
  const status = document.getElementById("status");
  try {
    await refresh();
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.className = "muted";
    document.body.dataset.loaded = "true";
  } catch (err) {
    status.textContent = `API error ${err.message}`;
    status.className = "error";
  }
  setTimeout(loop, POLL_MS);
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = document.getElementById("token").value.trim();
  localStorage.setItem("computeperf.token", state.token);
});

state.token = readToken();
document.getElementById("token").value = state.token;
loop();
