// The cxpulse dashboard: reads the aggregator's API (scores, scopes,
// series, leaderboard, alerts) and follows /stream for live changes. The
// API key, when the aggregator needs one, comes in the page URL as
// #token=<key> (a fragment never reaches a server or a proxy's log) or
// ?token=<key>; it is then taken out of the address bar and kept for the
// tab's session. API calls send it as a bearer header; only the stream,
// which EventSource opens without headers, carries it as ?token=.
"use strict";

const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get("token") || params.get("token") || sessionStorage.getItem("cxpulse-token") || "";
if (token) sessionStorage.setItem("cxpulse-token", token);
if (fragment.has("token") || params.has("token")) {
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
}
const $ = (id) => document.getElementById(id);
const state = { tenant: params.get("tenant") || "", scope: params.get("scope") || "all", window: params.get("window") || "", metric: "nps" };
let chart = null;
let stream = null;

// problems holds what failed, by panel, until that panel loads again.
const problems = new Map();

function showProblems() {
  const el = $("problems");
  el.textContent = [...problems.values()].join(" · ");
  el.hidden = problems.size === 0;
}

// settle shows or clears the failure of one panel's load.
function settle(panel, promise) {
  return promise.then(() => { problems.delete(panel); showProblems(); },
    (e) => { problems.set(panel, panel + ": " + e.message); showProblems(); });
}

function api(path, query = {}) {
  const q = new URLSearchParams(query);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  return fetch(path + (q.toString() ? "?" + q : ""), { headers }).then((r) => {
    if (r.ok) return r.json();
    return r.json().catch(() => ({})).then((b) => {
      throw new Error(path + " answered " + r.status + (b.error ? ": " + b.error : ""));
    });
  });
}

const fmt = (v, digits = 1) => (v === undefined || v === null ? "–" : Number(v).toFixed(digits));

function setTile(id, value, sub) {
  $(id).querySelector(".value").textContent = value;
  $(id).querySelector(".sub").textContent = sub || "";
}

// showScores fills the tiles from a scores object (the API's or a stream
// snapshot's).
function showScores(s) {
  const w = (s.windows || {})[state.window] || {};
  setTile("tile-nps", fmt(w.nps), w.nps_responses ? "± " + fmt(w.nps_moe95) + " · n = " + w.nps_responses : "no responses");
  setTile("tile-csat", w.csat === undefined ? "–" : fmt(w.csat) + " %", w.csat_responses ? "n = " + w.csat_responses : "no responses");
  setTile("tile-ces", fmt(w.ces, 2), w.ces_responses ? "easy " + fmt(w.ces_easy_share) + " % · n = " + w.ces_responses : "no responses");
  setTile("tile-churn", w.churn_rate === undefined ? "–" : fmt(w.churn_rate) + " %",
    w.customers_at_start ? w.customers_lost + " of " + w.customers_at_start + " lost" : "no customers at start");
  setTile("tile-referral", w.referral_conversion_rate === undefined ? "–" : fmt(w.referral_conversion_rate) + " %",
    (w.referral_conversions || 0) + " of " + (w.referrals_sent || 0) + " referrals converted");
  setTile("tile-atv", fmt(w.atv, 2), w.purchases ? w.purchases + " purchases" : "no purchases");
  $("updated").textContent = s.updated_at ? "updated " + new Date(s.updated_at).toLocaleTimeString() + " · seq " + s.seq : "";
  document.body.dataset.seq = s.seq || 0;
}

function loadScores() {
  return settle("scores", api(`/v1/tenants/${state.tenant}/scores`, { scope: state.scope }).then((s) => {
    const names = Object.keys(s.windows || {});
    const sel = $("window");
    if (sel.options.length === 0) {
      const order = (n) => ({ m: 1, h: 60, d: 1440 })[n.slice(-1)] * parseInt(n, 10);
      names.sort((a, b) => order(a) - order(b)).forEach((n) => sel.add(new Option(n, n)));
      if (!state.window) state.window = names.includes("7d") ? "7d" : names[names.length - 1];
      sel.value = state.window;
    }
    showScores(s);
  }));
}

function loadChart() {
  return settle("trend", api(`/v1/tenants/${state.tenant}/series`, { scope: state.scope, metric: state.metric, window: state.window }).then((s) => {
    const xs = s.points.map((p) => Date.parse(p.start) / 1000);
    const ys = s.points.map((p) => p.value);
    const el = $("chart");
    const width = el.clientWidth || 600;
    if (chart) chart.destroy();
    chart = new uPlot({
      width, height: 240,
      series: [{}, { label: state.metric, stroke: "#3a6ff7", width: 2, spanGaps: false, points: { show: true, size: 4 } }],
      axes: [{}, {}],
    }, [xs, ys], el);
  }));
}

function loadLeaderboard() {
  return settle("leaderboard", api(`/v1/tenants/${state.tenant}/leaderboard`, { dim: "store", metric: "nps", window: state.window, limit: 10 }).then((lb) => {
    const body = $("leaderboard").querySelector("tbody");
    body.innerHTML = "";
    for (const e of lb.entries) {
      const tr = document.createElement("tr");
      for (const [v, cls] of [[e.scope.replace(/^store=/, ""), ""], [fmt(e.value), "num"], [fmt(e.bound), "num"], [e.responses, "num"]]) {
        const td = document.createElement("td");
        td.textContent = v;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }));
}

function loadAlerts() {
  return settle("alerts", api(`/v1/tenants/${state.tenant}/alerts`, { state: "firing" }).then((list) => {
    const ul = $("alerts");
    ul.innerHTML = "";
    if (list.alerts.length === 0) {
      ul.innerHTML = '<li class="none">none firing</li>';
      return;
    }
    for (const a of list.alerts) {
      const li = document.createElement("li");
      li.className = "alert";
      li.dataset.scope = a.labels.scope;
      const sev = document.createElement("span");
      sev.className = "sev " + a.labels.severity;
      sev.textContent = a.labels.severity;
      li.appendChild(sev);
      li.appendChild(document.createTextNode(a.annotations.summary || a.labels.scope));
      let terms = [];
      try { terms = JSON.parse(a.annotations.top_terms || "[]"); } catch (e) {
        const p = document.createElement("div");
        p.className = "terms";
        p.textContent = "top terms unreadable: " + e.message;
        li.appendChild(p);
      }
      if (terms.length) {
        const p = document.createElement("div");
        p.className = "terms";
        p.append("top terms: ");
        terms.slice(0, 6).forEach((t, i) => {
          const b = document.createElement("b");
          b.textContent = t.term;
          p.append(i ? ", " : "", b, ` (z ${t.z}, ${t.count})`);
        });
        li.appendChild(p);
      }
      ul.appendChild(li);
    }
  }));
}

function loadScopes() {
  return settle("scopes", api(`/v1/tenants/${state.tenant}/scopes`).then((s) => {
    const sel = $("scope");
    sel.innerHTML = "";
    for (const name of s.scopes.length ? s.scopes : ["all"]) sel.add(new Option(name, name));
    sel.value = s.scopes.includes(state.scope) ? state.scope : "all";
    state.scope = sel.value;
  }));
}

function follow() {
  if (stream) stream.close();
  const q = token ? "?token=" + encodeURIComponent(token) : "";
  stream = new EventSource(`/v1/tenants/${state.tenant}/stream${q}`);
  stream.onopen = () => { $("live").className = "live on"; problems.delete("live updates"); showProblems(); };
  stream.onerror = () => {
    $("live").className = "live off";
    problems.set("live updates", "live updates: the stream is down, retrying");
    showProblems();
  };
  stream.addEventListener("scores", (ev) => {
    const s = JSON.parse(ev.data);
    if (s.scope === state.scope && s.seq >= Number(document.body.dataset.seq || 0)) showScores(s);
  });
  stream.addEventListener("alert", () => loadAlerts());
}

// periodRows are the stats the calendar-period panel compares.
const periodRows = [["nps", "NPS", 1], ["detractor_share", "detractor share %", 1], ["csat", "CSAT %", 1], ["ces", "CES", 2],
  ["nps_responses", "NPS answers", 0], ["purchases", "purchases", 0], ["revenue", "revenue", 2], ["atv", "ATV", 2]];

function loadPeriods() {
  const period = $("period").value, compare = $("compare").value;
  return settle("periods", api(`/v1/tenants/${state.tenant}/periods`, { scope: state.scope, period, compare }).then((p) => {
    const c = p.compare || { stats: {}, delta: {}, significant: {} };
    $("period-this").textContent = p.period;
    $("period-that").textContent = c.period || "";
    $("period-range").textContent = p.from + " – " + p.to + (c.period ? " against " + c.from + " – " + c.to : "") + " (" + p.timezone + ", " + p.calendar + ")";
    const body = $("periods").querySelector("tbody");
    body.innerHTML = "";
    for (const [stat, label, digits] of periodRows) {
      const tr = document.createElement("tr");
      const d = c.delta[stat];
      const arrow = d === undefined ? "" : d > 0 ? "▲ " : d < 0 ? "▼ " : "= ";
      const sig = c.significant[stat];
      for (const text of [label, fmt(p.stats[stat], digits), fmt(c.stats[stat], digits), d === undefined ? "–" : arrow + fmt(Math.abs(d), digits),
        sig === undefined ? "" : sig ? "significant" : "not significant"]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      tr.children[3].className = "num";
      if (sig) tr.classList.add("significant");
      body.appendChild(tr);
    }
  }));
}

function refresh() {
  return Promise.all([loadScores(), loadLeaderboard(), loadAlerts(), loadPeriods()]).then(loadChart);
}

function start() {
  settle("tenants", api("/v1/tenants").then((t) => {
    const sel = $("tenant");
    for (const name of t.tenants) sel.add(new Option(name, name));
    if (!state.tenant || !t.tenants.includes(state.tenant)) state.tenant = t.tenants[0] || "";
    sel.value = state.tenant;
    if (!state.tenant) return;
    loadScopes().then(refresh).then(follow);
  }));
  $("tenant").onchange = (e) => { state.tenant = e.target.value; state.scope = "all"; $("window").innerHTML = ""; loadScopes().then(refresh).then(follow); };
  $("scope").onchange = (e) => { state.scope = e.target.value; refresh(); };
  $("window").onchange = (e) => { state.window = e.target.value; refresh(); };
  $("metric").onchange = (e) => { state.metric = e.target.value; loadChart(); };
  $("period").onchange = () => loadPeriods();
  $("compare").onchange = () => loadPeriods();
  setInterval(() => { if (state.tenant) { loadLeaderboard(); loadChart(); loadAlerts(); loadPeriods(); } }, 10000);
}

start();
