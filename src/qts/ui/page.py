"""The dashboard page: one HTML document with its CSS and script inline.

Nothing is loaded from anywhere but this process: no CDN, no web fonts, no chart library (the
equity and drawdown curves are drawn as SVG by the script). It takes the view from ``/api/view``
once, then follows ``/api/stream`` (server-sent events) and redraws what changed. The layout is
one column on a phone and a grid on a wide screen. Colours follow the spec's display rules:
gains blue, losses red, FAIL red, WARNING orange, LOCKDOWN dark.
"""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>QTS dashboard</title>
<style>
:root { --bg:#f4f6f8; --card:#fff; --ink:#1d2430; --muted:#6b7684; --line:#e3e7ec;
  --up:#1f5fd1; --down:#d12a2a; --ok:#1c8a4a; --warn:#e07b00; --fail:#d12a2a; --lock:#3b2a5c; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  background:var(--bg); color:var(--ink); }
header { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:center; padding:.75rem 1rem;
  background:#1d2430; color:#fff; position:sticky; top:0; z-index:2; }
header h1 { font-size:1.05rem; margin:0; font-weight:600; }
header .meta { color:#c5ccd6; font-size:.85rem; }
#conn { margin-left:auto; font-size:.8rem; padding:.15rem .5rem; border-radius:1rem;
  background:#445; }
#conn.on { background:var(--ok); }
.badge { display:inline-block; padding:.15rem .6rem; border-radius:1rem; font-weight:600;
  font-size:.8rem; color:#fff; background:var(--ok); }
.badge.WARNING { background:var(--warn); } .badge.FAIL { background:var(--fail); }
.badge.LOCKDOWN { background:var(--lock); }
main { display:grid; gap:1rem; padding:1rem; grid-template-columns:repeat(12,minmax(0,1fr));
  align-items:start; }
section { background:var(--card); border-radius:.6rem; padding:.8rem 1rem;
  box-shadow:0 1px 2px rgba(0,0,0,.06); min-width:0; grid-column:span 12; overflow-x:auto; }
section h2 { font-size:.95rem; margin:0 0 .6rem; color:var(--muted); font-weight:600;
  text-transform:uppercase; letter-spacing:.03em; }
@media (min-width: 900px) { .w4 { grid-column:span 4; } .w6 { grid-column:span 6; }
  .w8 { grid-column:span 8; } }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(8.5rem,1fr)); gap:.6rem; }
.kpi { border:1px solid var(--line); border-radius:.5rem; padding:.5rem .6rem; }
.kpi .k { color:var(--muted); font-size:.75rem; }
.kpi .v { font-size:1.15rem; font-weight:600; font-variant-numeric:tabular-nums; }
.up { color:var(--up); } .down { color:var(--down); }
.scroll { overflow-x:auto; max-height:22rem; overflow-y:auto; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:.3rem .45rem; border-bottom:1px solid var(--line); text-align:right;
  white-space:nowrap; }
th { position:sticky; top:0; background:var(--card); color:var(--muted); font-weight:600;
  font-size:.78rem; }
td.l, th.l { text-align:left; } td.reason { white-space:normal; min-width:12rem; text-align:left; }
tr.new td { animation:flash 2s ease-out; }
@keyframes flash { from { background:#fff3b0; } to { background:transparent; } }
.empty { color:var(--muted); padding:.5rem 0; }
svg { width:100%; height:auto; display:block; }
.ok { color:var(--ok); } .no { color:var(--down); }
form[hidden] { display:none; }
form { display:grid; gap:.5rem; margin-top:.6rem; max-width:30rem; }
input, textarea, button { font:inherit; padding:.45rem .6rem; border:1px solid var(--line);
  border-radius:.4rem; }
button { background:var(--lock); color:#fff; border:0; font-weight:600; cursor:pointer; }
.note { font-size:.85rem; color:var(--muted); }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:.2rem .8rem; margin:0; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; font-variant-numeric:tabular-nums; }
</style>
</head>
<body>
<header>
  <h1>QTS</h1>
  <span id="safety-badge" class="badge">…</span>
  <span class="meta" id="runinfo"></span>
  <span id="conn">connecting</span>
</header>
<main>
  <section class="w8" id="account"><h2>Account</h2><div class="kpis" id="kpis"></div></section>
  <section class="w4" id="safety"><h2>Safety</h2><div id="safety-body"></div>
    <form id="recovery" hidden>
      <div class="note">LOCKDOWN: trading resumes only after an operator approves.
        The approval is recorded like <code>qts safety approve-recovery</code>.</div>
      <input name="operator" placeholder="operator name" required autocomplete="name">
      <textarea name="reason" placeholder="why it is safe to trade again" required></textarea>
      <button type="submit">Approve recovery</button>
      <div id="recovery-result" class="note"></div>
    </form>
  </section>
  <section class="w8"><h2>Equity and drawdown</h2><div id="curve"></div></section>
  <section class="w4"><h2>Engine</h2><div id="engine"></div></section>
  <section class="w6"><h2>Positions</h2><div class="scroll" id="positions"></div></section>
  <section class="w6"><h2>Fills</h2><div class="scroll" id="fills"></div></section>
  <section class="w6"><h2>Orders</h2><div class="scroll" id="orders"></div></section>
  <section class="w6"><h2>Decisions</h2><div class="scroll" id="decisions"></div></section>
  <section class="w6"><h2>Strategies</h2><div class="scroll" id="strategies"></div></section>
  <section class="w6"><h2>Safety history</h2><div class="scroll" id="history"></div></section>
  <section class="w6" id="capital-card" hidden><h2>Operating state and capital</h2>
    <div id="opstate"></div><div class="scroll" id="pools"></div>
    <h3 class="note">recent state changes</h3><div class="scroll" id="transitions"></div></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const won = (v) => v === null || v === undefined ? "-" : Number(v).toLocaleString("en-US");
const signed = (v) => v === null || v === undefined ? "-" :
  (v > 0 ? "+" : "") + Number(v).toLocaleString("en-US");
const cls = (v) => v > 0 ? "up" : v < 0 ? "down" : "";
const pct = (v) => v === null || v === undefined ? "-" : (v * 100).toFixed(2) + "%";
const time = (s) => s ? s.replace("T", " ").slice(0, 19) : "-";
const esc = (s) => String(s ?? "-").replace(/[&<>"]/g,
  (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const seenFills = new Set();
let firstRender = true;

function table(el, cols, rows, key) {
  if (!rows.length) { el.innerHTML = '<div class="empty">none yet</div>'; return; }
  const head = cols.map(c => `<th class="${c[2] ? "l" : ""}">${c[0]}</th>`).join("");
  const body = rows.map(r => {
    const isNew = key && key(r);
    return `<tr class="${isNew ? "new" : ""}" data-id="${esc(r.id ?? "")}">` +
      cols.map(c => c[1](r)).join("") + "</tr>";
  }).join("");
  el.innerHTML = `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
const td = (v, c) => `<td class="${c || ""}">${v}</td>`;

function kpis(a, run) {
  const items = [
    ["Equity", won(a.equity), ""], ["Day PnL", signed(a.day_pnl), cls(a.day_pnl)],
    ["Total PnL", signed(a.total_pnl), cls(a.total_pnl)], ["Cash", won(a.cash), ""],
    ["Market value", won(a.market_value), ""], ["Realized", signed(a.realized), cls(a.realized)],
    ["Unrealized", signed(a.unrealized), cls(a.unrealized)], ["Fees", won(a.fees), ""],
    ["Exposure", pct(a.exposure_pct), ""], ["Positions", a.positions, ""],
  ];
  $("kpis").innerHTML = items.map(([k, v, c]) =>
    `<div class="kpi"><div class="k">${k}</div><div class="v ${c}">${v}</div></div>`).join("");
}

function curve(c) {
  const el = $("curve");
  if (!c.equity.length) { el.innerHTML = '<div class="empty">no cycles yet</div>'; return; }
  const W = Math.max(300, Math.min(1000, el.clientWidth || 800)), H1 = 180, H2 = 70, pad = 4;
  const eq = c.equity, dd = c.drawdown, n = eq.length;
  const lo = Math.min(...eq), hi = Math.max(...eq), span = (hi - lo) || 1;
  const x = (i) => n === 1 ? W / 2 : pad + i * (W - 2 * pad) / (n - 1);
  const y = (v) => pad + (H1 - 2 * pad) * (1 - (v - lo) / span);
  const ddMin = Math.min(...dd, -1e-9);
  const y2 = (v) => H1 + 10 + (H2 - pad) * (v / ddMin);
  const line = eq.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const area = `${x(0)},${H1 + 10} ` +
    dd.map((v, i) => `${x(i).toFixed(1)},${y2(v).toFixed(1)}`).join(" ") +
    ` ${x(n - 1)},${H1 + 10}`;
  el.innerHTML = `<svg viewBox="0 0 ${W} ${H1 + H2 + 14}" role="img" aria-label="equity curve">
    <rect x="0" y="0" width="${W}" height="${H1}" fill="#f8fafc"/>
    <polyline fill="none" stroke="#1f5fd1" stroke-width="2" points="${line}"/>
    <polygon fill="rgba(209,42,42,.25)" stroke="#d12a2a" stroke-width="1" points="${area}"/>
    <text x="6" y="16" font-size="12" fill="#6b7684">high ${won(hi)}</text>
    <text x="6" y="${H1 - 6}" font-size="12" fill="#6b7684">low ${won(lo)}</text>
    <text x="6" y="${H1 + H2 + 10}" font-size="12" fill="#d12a2a">max drawdown
      ${pct(c.max_drawdown)}</text></svg>
    <div class="note">${time(c.ts[0])} → ${time(c.ts[n - 1])}, ${n} points</div>`;
}

function safety(s, live) {
  const state = (live && live.safety_state) || s.state;
  const b = $("safety-badge");
  b.textContent = state; b.className = "badge " + state;
  let html = `<dl class="kv"><dt>state</dt><dd><span class="badge ${state}">${state}</span></dd>
    <dt>since</dt><dd>${time(s.since)}</dd>
    <dt>trading</dt><dd>${s.trading_allowed ? '<span class="ok">allowed</span>' :
      '<span class="no">stopped</span>'}</dd>
    <dt>last code</dt><dd>${esc(s.last_code || "-")} ${esc(s.last_message || "")}</dd></dl>`;
  if (s.pending_approval) html += `<p class="note">recovery approved by
    ${esc(s.pending_approval.operator)}; applied at the next cycle</p>`;
  $("safety-body").innerHTML = html;
  $("recovery").hidden = !s.needs_approval;
  table($("history"), [["time", r => td(time(r.ts)), 1], ["move", r => td(r.before === r.after ?
      esc(r.after) : esc(r.before) + "→" + esc(r.after)), 1], ["code", r => td(esc(r.code)), 1],
    ["message", r => td(esc(r.message) + (r.operator ? " [" + esc(r.operator) + "]" : ""),
      "reason"), 1]], s.history);
}

function engine(live, counts) {
  const el = $("engine");
  if (!live || !live.queues) {
    el.innerHTML = `<dl class="kv"><dt>source</dt><dd>store only (standalone)</dd>
      <dt>cycles</dt><dd>${won(counts.cycles)}</dd><dt>orders</dt><dd>${won(counts.orders)}</dd>
      <dt>fills</dt><dd>${won(counts.fills)}</dd><dt>rejections</dt>
      <dd>${won(counts.rejections)}</dd></dl>`;
    return;
  }
  const lat = live.cycle_latency, m = live.micro;
  let html = `<dl class="kv"><dt>clock</dt><dd>${time(live.clock)}</dd>
    <dt>trading</dt><dd>${live.trading_enabled ? "on" : "OFF"}</dd>
    <dt>broker</dt><dd>${esc(live.broker.name)} <span class="${live.broker.connected ? "ok" :
      "no"}">${live.broker.connected ? "connected" : "down"}</span></dd>
    <dt>cycles</dt><dd>${won(live.cycles)} (p50 ${lat.p50_ms} ms, p99 ${lat.p99_ms} ms)</dd>
    <dt>last data</dt><dd>${live.feed_age_s.toFixed(1)} s ago</dd>
    <dt>fills / rejections</dt><dd>${won(counts.fills)} / ${won(counts.rejections)}</dd>
    <dt>micro loop</dt><dd>${m.enabled ? `${won(m.cycles)} cycles` +
      (m.period_p50_ms !== null ? `, period p50 ${m.period_p50_ms} ms p99 ${m.period_p99_ms} ms` :
      ", once per bar") + `, ${m.actions} exits, ${m.missed_ticks} missed` : "off"}</dd></dl>`;
  html += '<table style="margin-top:.5rem"><thead><tr><th class="l">queue</th><th>depth</th>' +
    '<th>handled</th><th>p50 ms</th><th>p99 ms</th></tr></thead><tbody>' +
    Object.entries(live.queues).map(([k, q]) => `<tr><td class="l">${k}</td><td>${q.depth}</td>
      <td>${won(q.dequeued)}</td><td>${q.p50_ms}</td><td>${q.p99_ms}</td></tr>`).join("") +
    "</tbody></table>";
  el.innerHTML = html;
}

function capital(c) {
  $("capital-card").hidden = !c;
  if (!c) return;
  const since = c.since ? ` since ${time(c.since)}` : "";
  const until = c.override_until ? `, override until ${time(c.override_until)}` : "";
  $("opstate").innerHTML =
    `<span class="badge ${c.state === "DEFENSIVE" ? "WARNING" : ""}">${esc(c.state)}</span> ` +
    `<span class="note">${esc(c.reason)}${since}${until}</span>`;
  table($("pools"), [["pool", p => td(esc(p.pool) + (p.lock_reason ?
      ` <span class="down">locked: ${esc(p.lock_reason)}</span>` : ""), "l"), 1],
    ["total", p => td(won(p.total))], ["available", p => td(won(p.available))],
    ["share", p => td(pct(p.share_pct))], ["target", p => td(pct(p.target_pct))],
    ["realized", p => td(signed(p.realized), cls(p.realized))]], c.pools);
  table($("transitions"), [["time", t => td(time(t.ts), "l"), 1],
    ["move", t => td(esc(t.move), "l"), 1], ["reason", t => td(esc(t.reason), "l"), 1]],
    c.transitions);
}

function render(v) {
  const r = v.run;
  $("runinfo").textContent = `${r.mode} · ${r.run_id} · as of ${time(r.as_of)}`;
  kpis(v.account, r);
  curve(v.curve);
  safety(v.safety, v.live);
  engine(v.live, v.counts);
  table($("positions"), [["symbol", p => td(esc(p.symbol), "l"), 1], ["qty", p => td(won(p.qty))],
    ["avg", p => td(won(p.avg_price))], ["last", p => td(won(p.last))],
    ["value", p => td(won(p.market_value))],
    ["unrealized", p => td(signed(p.unrealized), cls(p.unrealized))],
    ["strategy", p => td(esc(p.strategy), "l"), 1]], v.positions);
  table($("fills"), [["time", f => td(time(f.ts), "l"), 1],
    ["symbol", f => td(esc(f.symbol), "l"), 1],
    ["side", f => td(esc(f.side), f.side === "BUY" ? "up" : "down")], ["qty", f => td(won(f.qty))],
    ["price", f => td(won(f.price))], ["fees", f => td(won(f.fees))]], v.fills,
    (f) => {
      const fresh = !firstRender && !seenFills.has(f.id); seenFills.add(f.id); return fresh;
    });
  table($("orders"), [["time", o => td(time(o.ts), "l"), 1],
    ["symbol", o => td(esc(o.symbol), "l"), 1],
    ["side", o => td(esc(o.side))], ["qty", o => td(won(o.qty))],
    ["filled", o => td(won(o.filled))], ["status", o => td(esc(o.status), "l"), 1],
    ["reason", o => td(esc(o.reason), "reason"), 1]], v.orders);
  table($("decisions"), [["time", d => td(time(d.ts), "l"), 1],
    ["symbol", d => td(esc(d.symbol), "l"), 1], ["action", d => td(esc(d.action), "l"), 1],
    ["qty", d => td(won(d.qty))], ["risk", d => td(d.approved ? '<span class="ok">ok</span>' :
      '<span class="no">no</span>')], ["act", d => td(esc(d.status), "l"), 1],
    ["reason", d => td(esc(d.strategy) + ": " + esc(d.reason), "reason"), 1]], v.decisions);
  table($("strategies"), [["strategy", s => td(esc(s.strategy), "l"), 1],
    ["trades", s => td(won(s.trades))], ["win rate", s => td(pct(s.win_rate))],
    ["PnL", s => td(signed(s.pnl), cls(s.pnl))], ["avg", s => td(signed(s.avg_pnl),
      cls(s.avg_pnl))], ["fees", s => td(won(s.fees))]], v.strategies);
  capital(v.capital);
  firstRender = false;
  document.body.dataset.seq = v.seq;
}

async function load() {
  const res = await fetch("api/view", {credentials: "same-origin"});
  if (res.ok) render(await res.json());
  const es = new EventSource("api/stream");
  es.addEventListener("view", (e) => render(JSON.parse(e.data)));
  es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "on"; };
  es.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = ""; };
}

$("recovery").addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = Object.fromEntries(new FormData(e.target).entries());
  const res = await fetch("api/safety/approve-recovery", {method: "POST",
    headers: {"X-QTS-Request": "1", "Content-Type": "application/json"},
    body: JSON.stringify(data), credentials: "same-origin"});
  const body = await res.json();
  $("recovery-result").textContent = res.ok ? `recorded (${body.request_id}); the run leaves ` +
    "LOCKDOWN at its next cycle" : `refused: ${body.error}`;
});
load();
</script>
</body>
</html>
"""
