// The cxpulse dashboard: reads the aggregator's API (scores, scopes,
// series, leaderboard, periods, themes, alerts) and follows /stream for live
// changes. The API key, when the aggregator needs one, comes in the page
// URL as #token=<key> (a fragment never reaches a server or a proxy's log)
// or ?token=<key>; it is then taken out of the address bar and kept for
// the tab's session. API calls send it as a bearer header; only the
// stream, which EventSource opens without headers, carries it as ?token=.
// Every string is from the message tables of i18n.js.
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
const t = I18N.t;
const fmt = I18N.number;
const state = { tenant: params.get("tenant") || "", scope: params.get("scope") || "all", window: params.get("window") || "", metric: "nps" };
let chart = null;
let stream = null;

// Buckets of the trend with fewer answers than this are not drawn: five
// answers make an NPS that swings by tens of points.
const MIN_ANSWERS = 10;

// problems holds what failed, by panel, until that panel loads again: in
// the banner, and in the panel itself.
const problems = new Map();

function showProblems() {
  const el = $("problems");
  el.textContent = [...problems.entries()].map(([panel, msg]) => t("problem", { panel: t("panel_" + panel), error: msg })).join(" · ");
  el.hidden = problems.size === 0;
  for (const panel of ["scores", "trend", "leaderboard", "periods", "themes", "alerts"]) {
    const p = $("error-" + panel);
    p.textContent = problems.get(panel) || "";
    p.hidden = !problems.has(panel);
  }
}

// settle shows or clears the failure of one panel's load.
function settle(panel, promise) {
  return promise.then(() => { problems.delete(panel); showProblems(); },
    (e) => { problems.set(panel, e.message); showProblems(); });
}

function api(path, query = {}) {
  const q = new URLSearchParams(query);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  return fetch(path + (q.toString() ? "?" + q : ""), { headers }).then((r) => {
    if (r.ok) return r.json();
    return r.json().catch(() => ({})).then((b) => {
      throw new Error(t("answered", { path, status: r.status }) + (b.error ? ": " + b.error : ""));
    });
  });
}

function setTile(id, value, sub) {
  $(id).querySelector(".value").textContent = value;
  $(id).querySelector(".sub").textContent = sub || "";
}

const pct = (v) => (v === undefined ? "–" : fmt(v) + " %");
const count = (v) => fmt(v || 0, 0);

// showScores fills the tiles from a scores object (the API's or a stream
// snapshot's).
function showScores(s) {
  const w = (s.windows || {})[state.window] || {};
  setTile("tile-nps", fmt(w.nps), w.nps_responses ? t("nps_sub", { moe: fmt(w.nps_moe95), n: count(w.nps_responses) }) : t("no_responses"));
  setTile("tile-csat", pct(w.csat), w.csat_responses ? t("csat_sub", { n: count(w.csat_responses) }) : t("no_responses"));
  setTile("tile-ces", fmt(w.ces, 2), w.ces_responses ? t("ces_sub", { share: fmt(w.ces_easy_share), n: count(w.ces_responses) }) : t("no_responses"));
  setTile("tile-churn", pct(w.churn_rate), w.customers_at_start ? t("churn_sub", { lost: count(w.customers_lost), start: count(w.customers_at_start) }) : t("no_customers"));
  setTile("tile-referral", pct(w.referral_conversion_rate), t("referral_sub", { conversions: count(w.referral_conversions), sent: count(w.referrals_sent) }));
  setTile("tile-atv", fmt(w.atv, 2), w.purchases ? t("atv_sub", { n: count(w.purchases) }) : t("no_purchases"));
  $("updated").textContent = s.updated_at ? t("updated", { time: I18N.dateTime(new Date(s.updated_at), undefined, { timeStyle: "medium" }), seq: count(s.seq) }) : "";
  document.body.dataset.seq = s.seq || 0;
}

function loadScores() {
  return settle("scores", api(`/v1/tenants/${state.tenant}/scores`, { scope: state.scope }).then((s) => {
    const names = Object.keys(s.windows || {});
    const sel = $("window");
    if (sel.options.length === 0) {
      const order = (n) => ({ m: 1, h: 60, d: 1440 })[n.slice(-1)] * parseInt(n, 10);
      names.sort((a, b) => order(a) - order(b)).forEach((n) => sel.add(new Option(I18N.windowName(n), n)));
      if (!state.window) state.window = names.includes("7d") ? "7d" : names[names.length - 1];
      sel.value = state.window;
    }
    showScores(s);
  }));
}

// loadChart draws the trend: buckets with too few answers left out, and
// for estimates (NPS, shares, means) the 95 % band around them; the line
// under the chart tells the value, its margin and n at the cursor.
function loadChart() {
  return settle("trend", api(`/v1/tenants/${state.tenant}/series`, { scope: state.scope, metric: state.metric, window: state.window }).then((s) => {
    const xs = s.points.map((p) => Date.parse(p.start) / 1000);
    const shown = (p) => p.value !== null && p.value !== undefined && (p.n === undefined || p.n >= MIN_ANSWERS);
    const ys = s.points.map((p) => (shown(p) ? p.value : null));
    const lo = s.points.map((p) => (shown(p) && p.moe95 !== undefined ? p.value - p.moe95 : null));
    const hi = s.points.map((p) => (shown(p) && p.moe95 !== undefined ? p.value + p.moe95 : null));
    const el = $("chart");
    const width = el.clientWidth || 600;
    if (chart) chart.destroy();
    const tip = (u) => {
      const i = u.cursor.idx;
      const p = i === null || i === undefined ? null : s.points[i];
      if (!p || p.value === null || p.value === undefined) { $("chart-tip").textContent = ""; return; }
      const at = I18N.dateTime(new Date(p.start)) + ": ";
      if (p.n !== undefined && p.n < MIN_ANSWERS) $("chart-tip").textContent = at + t("tip_few", { value: fmt(p.value), n: count(p.n), min: count(MIN_ANSWERS) });
      else if (p.moe95 !== undefined) $("chart-tip").textContent = at + t("tip_estimate", { value: fmt(p.value), moe: fmt(p.moe95), n: count(p.n) });
      else $("chart-tip").textContent = at + t("tip_value", { value: fmt(p.value) });
    };
    const band = { stroke: "rgba(58,111,247,0.25)", width: 1, points: { show: false }, spanGaps: false };
    // Axis labels: hours over a day or two, dates beyond.
    const short = xs.length > 1 && xs[xs.length - 1] - xs[0] <= 2 * 86400 ? { hour: "numeric", minute: "2-digit" } : { month: "short", day: "numeric" };
    chart = new uPlot({
      width, height: 240,
      legend: { show: false },
      series: [{}, { label: t("metric_" + state.metric), stroke: "#3a6ff7", width: 2, spanGaps: false, points: { show: true, size: 5 } },
        Object.assign({ label: t("band") }, band), Object.assign({ label: t("band") }, band)],
      bands: [{ series: [3, 2], fill: "rgba(58,111,247,0.12)" }],
      axes: [{ space: 90, values: (u, splits) => splits.map((v) => I18N.dateTime(new Date(v * 1000), undefined, short)) },
        { values: (u, splits) => splits.map((v) => fmt(v, 0)) }],
      hooks: { setCursor: [tip] },
    }, [xs, ys, lo, hi], el);
    $("chart-note").textContent = s.points.some((p) => p.n !== undefined) ? t("trend_note", { min: count(MIN_ANSWERS) }) : "";
  }));
}

function loadLeaderboard() {
  return settle("leaderboard", api(`/v1/tenants/${state.tenant}/leaderboard`, { dim: "store", metric: "nps", window: state.window, limit: 10 }).then((lb) => {
    const body = $("leaderboard").querySelector("tbody");
    body.innerHTML = "";
    for (const e of lb.entries) {
      const tr = document.createElement("tr");
      for (const [v, cls] of [[e.scope.replace(/^store=/, ""), ""], [fmt(e.value), "num"], [fmt(e.bound), "num"], [count(e.responses), "num"]]) {
        const td = document.createElement("td");
        td.textContent = v;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }));
}

// periodRows are the stats the calendar-period panel compares.
const periodRows = [["nps", 1], ["detractor_share", 1], ["csat", 1], ["ces", 2], ["nps_responses", 0], ["purchases", 0], ["revenue", 2], ["atv", 2]];

// periodName is how a period is shown: in Persian for a tenant on the
// Persian calendar, else its canonical name.
function periodName(name, calendar) {
  return calendar === "persian" ? PersianPeriods.name(name) : name;
}

function loadPeriods() {
  const period = $("period").value, compare = $("compare").value;
  return settle("periods", api(`/v1/tenants/${state.tenant}/periods`, { scope: state.scope, period, compare }).then((p) => {
    const c = p.compare || { stats: {}, delta: {}, significant: {} };
    for (const opt of $("period").options) {
      opt.textContent = p.calendar === "persian" ? PersianPeriods.aliases[opt.value] : t("period_" + opt.value);
    }
    $("period-this").textContent = periodName(p.period, p.calendar);
    $("period-that").textContent = c.period ? periodName(c.period, p.calendar) : "";
    const range = (from, to) => t("period_range", { from: I18N.dateTime(new Date(from), p.timezone), to: I18N.dateTime(new Date(to), p.timezone) });
    const mine = range(p.from, p.to);
    $("period-range").textContent = (c.period ? t("period_against", { range: mine, other: range(c.from, c.to) }) : mine) + " · " + p.timezone;
    const body = $("periods").querySelector("tbody");
    body.innerHTML = "";
    for (const [stat, digits] of periodRows) {
      const tr = document.createElement("tr");
      const d = c.delta[stat];
      const arrow = d === undefined ? "" : d > 0 ? "▲ " : d < 0 ? "▼ " : "= ";
      const sig = c.significant[stat];
      for (const text of [t("row_" + stat), fmt(p.stats[stat], digits), fmt(c.stats[stat], digits),
        d === undefined ? "–" : arrow + fmt(Math.abs(d), digits), sig === undefined ? "" : sig ? t("significant") : t("not_significant")]) {
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

// alertItem renders one firing alert: severity, scope (a link to it),
// summary, the larger scopes it explains, top terms and since when.
function alertItem(a) {
  const li = document.createElement("li");
  li.className = "alert";
  li.dataset.scope = a.labels.scope;
  const sev = document.createElement("span");
  sev.className = "sev " + a.labels.severity;
  sev.textContent = t("sev_" + a.labels.severity);
  const link = document.createElement("a");
  link.href = "#";
  link.className = "scope-link";
  link.textContent = t("show_scope", { scope: a.labels.scope });
  link.onclick = (e) => { e.preventDefault(); selectScope(a.labels.scope); };
  const since = document.createElement("span");
  since.className = "since";
  since.textContent = t("started", { time: I18N.dateTime(new Date(a.startsAt)) });
  li.append(sev, link, " ", since);
  const summary = document.createElement("div");
  const an = a.annotations;
  summary.textContent = an.detractor_share !== undefined && an.baseline_share !== undefined
    ? t("alert_summary", { scope: a.labels.scope, share: fmt(Number(an.detractor_share)), window: I18N.windowName(an.window), baseline: fmt(Number(an.baseline_share)) })
    : an.summary || a.labels.scope;
  summary.title = an.summary || "";
  li.appendChild(summary);
  if ((a.also_affects || []).length > 0) {
    // The larger scopes whose spike this one explains: one alert, its
    // scopes under it.
    const also = document.createElement("div");
    also.className = "also";
    also.append(t("also_affects") + " ");
    a.also_affects.forEach((scope, i) => {
      const l = document.createElement("a");
      l.href = "#";
      l.className = "scope-link";
      l.textContent = scope;
      l.onclick = (e) => { e.preventDefault(); selectScope(scope); };
      also.append(i ? ", " : "", l);
    });
    li.appendChild(also);
  }
  if (a.annotations.top_terms) {
    const terms = JSON.parse(a.annotations.top_terms);
    const p = document.createElement("div");
    p.className = "terms";
    p.append(t("top_terms") + " ");
    terms.slice(0, 6).forEach((term, i) => {
      const b = document.createElement("b");
      b.textContent = term.term;
      p.append(i ? ", " : "", b, ` (z ${fmt(term.z, 2)}, ${count(term.count)})`);
    });
    li.appendChild(p);
  }
  return li;
}

// THEMES_KEPT is the longest window the themes API answers for (31 days,
// in minutes); for a longer selected window the panel asks for its
// default, the largest it holds, and says which.
const THEMES_KEPT = 31 * 1440;

// loadThemes shows what the selected scope's detractors talk about in the
// selected window: the terms they use more than the tenant's other
// respondents, with the comments holding each and its z.
function loadThemes() {
  const minutes = ({ m: 1, h: 60, d: 1440 })[state.window.slice(-1)] * parseInt(state.window, 10);
  const query = { scope: state.scope };
  if (minutes <= THEMES_KEPT) query.window = state.window;
  return settle("themes", api(`/v1/tenants/${state.tenant}/themes`, query).then((th) => {
    $("themes-note").textContent = t("themes_note", { comments: count(th.comments), window: I18N.windowName(th.window), scope: th.scope });
    const body = $("themes").querySelector("tbody");
    body.innerHTML = "";
    if (th.terms.length === 0) {
      const tr = body.insertRow();
      const td = tr.insertCell();
      td.colSpan = 3;
      td.className = "none";
      td.textContent = t("no_themes");
      return;
    }
    for (const term of th.terms) {
      const tr = body.insertRow();
      tr.insertCell().textContent = term.term;
      const n = tr.insertCell();
      n.className = "num";
      n.textContent = count(term.count);
      const z = tr.insertCell();
      z.className = "num";
      z.textContent = fmt(term.z, 2);
    }
  }));
}

// loadAlerts lists every firing alert of the tenant, the selected scope's
// first; one that cannot be shown says why and hides no other.
function loadAlerts() {
  return settle("alerts", api(`/v1/tenants/${state.tenant}/alerts`, { state: "firing" }).then((list) => {
    const ul = $("alerts");
    ul.innerHTML = "";
    if (list.alerts.length === 0) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = t("no_alerts");
      ul.appendChild(li);
      return;
    }
    const rank = (a) => (a.labels.scope === state.scope ? 0 : 1) * 10 + (a.labels.severity === "critical" ? 0 : 1);
    const sorted = [...list.alerts].sort((x, y) => rank(x) - rank(y) || x.labels.scope.localeCompare(y.labels.scope));
    for (const a of sorted) {
      try {
        ul.appendChild(alertItem(a));
      } catch (e) {
        const li = document.createElement("li");
        li.className = "alert broken";
        li.textContent = t("alert_unreadable", { error: e.message });
        ul.appendChild(li);
      }
    }
  }));
}

function loadScopes() {
  return settle("scores", api(`/v1/tenants/${state.tenant}/scopes`).then((s) => {
    const sel = $("scope");
    sel.innerHTML = "";
    for (const name of s.scopes.length ? s.scopes : ["all"]) sel.add(new Option(name, name));
    sel.value = s.scopes.includes(state.scope) ? state.scope : "all";
    state.scope = sel.value;
  }));
}

function selectScope(scope) {
  state.scope = scope;
  $("scope").value = scope;
  refresh();
}

function follow() {
  if (stream) stream.close();
  const q = token ? "?token=" + encodeURIComponent(token) : "";
  stream = new EventSource(`/v1/tenants/${state.tenant}/stream${q}`);
  stream.onopen = () => { $("live").className = "live on"; problems.delete("live"); showProblems(); };
  stream.onerror = () => {
    $("live").className = "live off";
    problems.set("live", t("stream_down"));
    showProblems();
  };
  stream.addEventListener("scores", (ev) => {
    const s = JSON.parse(ev.data);
    if (s.scope === state.scope && s.seq >= Number(document.body.dataset.seq || 0)) showScores(s);
  });
  stream.addEventListener("alert", () => loadAlerts());
}

function refresh() {
  return Promise.all([loadScores(), loadLeaderboard(), loadAlerts(), loadPeriods()]).then(() => Promise.all([loadChart(), loadThemes()]));
}

function start() {
  $("lang").value = I18N.lang;
  $("lang").onchange = (e) => {
    const q = new URLSearchParams(location.search);
    q.set("lang", e.target.value);
    location.search = q.toString();
  };
  settle("tenants", api("/v1/tenants").then((list) => {
    const sel = $("tenant");
    for (const name of list.tenants) sel.add(new Option(name, name));
    if (!state.tenant || !list.tenants.includes(state.tenant)) state.tenant = list.tenants[0] || "";
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
  setInterval(() => { if (state.tenant) { loadLeaderboard(); loadChart(); loadAlerts(); loadPeriods(); loadThemes(); } }, 10000);
}

I18N.load().then(start, (e) => { problems.set("tenants", e.message); showProblems(); start(); });
