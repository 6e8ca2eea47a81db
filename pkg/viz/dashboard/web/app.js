// The viz dashboard: the federation as a graph (cytoscape), tables of golden metrics and
// charts of the last minutes (uPlot), refreshed from the viz API every few seconds.
// Everything it draws comes from /api/v1/overview and /api/v1/series; it keeps no state of
// its own beyond what is on screen.
import cytoscape from 'cytoscape';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const REFRESH_MS = 2000;
const SERIES_MS = 5000;
const MAX_CHART_SERIES = 8;

const $ = (sel) => document.querySelector(sel);
const pct = (v) => (v == null ? '-' : (v * 100).toFixed(1) + '%');
const num = (v, sr) => (v === 0 && sr == null ? '-' : v.toFixed(1));
const ms = (v) => (v == null ? '-' : v < 10 ? v.toFixed(1) + 'ms' : v.toFixed(0) + 'ms');
const srClass = (v) => (v == null ? '' : v < 0.9 ? 'bad' : v < 0.99 ? 'warn' : 'good');
const srColor = (v) => (v == null ? '#9aa3b5' : v < 0.9 ? '#c62828' : v < 0.99 ? '#e69500' : '#2e7d32');
const wid = (w) => `${w.cluster}/${w.namespace}/${w.name}`;

let selected = null; // a workload id whose charts are shown, or null for the busiest
let lastOverview = null;

const cy = cytoscape({
  container: $('#graph'),
  wheelSensitivity: 0.3,
  style: [
    { selector: 'node[type="cluster"]', style: {
      label: 'data(label)', 'text-valign': 'top', 'font-weight': 'bold', 'font-size': 14,
      'background-color': '#eef2fa', 'border-color': '#8da2c8', 'border-width': 2, shape: 'round-rectangle', padding: 16 } },
    { selector: 'node[type="workload"]', style: {
      label: 'data(label)', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 4, 'text-wrap': 'wrap',
      width: 'data(size)', height: 'data(size)', 'background-color': 'data(color)' } },
    { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#1d2433' } },
    { selector: 'edge', style: {
      width: 'data(width)', 'line-color': 'data(color)', 'target-arrow-color': 'data(color)',
      'target-arrow-shape': 'triangle', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 9,
      'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': 2,
      // Drawn once zoomed in enough to read them: many edges' labels at the zoom that fits
      // many workloads would only hide the graph.
      'min-zoomed-font-size': 10,
      // Clicks go through to the nodes: with many workloads an edge crosses others' nodes,
      // and the tables, not the graph, are where an edge is chosen.
      events: 'no' } },
    { selector: 'edge[gateway]', style: { 'line-style': 'dashed' } },
  ],
});
window.vizGraph = cy; // for a test, or a curious user in the console

cy.on('tap', 'node[type="workload"]', (e) => select(e.target.id()));

function select(id) {
  selected = selected === id ? null : id;
  renderTables(lastOverview);
  refreshSeries();
}

// graph keeps cytoscape's elements equal to the overview: added, updated or removed by id,
// so that positions hold across refreshes; it lays out again only when nodes come or go.
function graph(ov) {
  const want = new Map();
  for (const c of ov.clusters) {
    want.set('cluster:' + c.name, { group: 'nodes', data: { id: 'cluster:' + c.name, type: 'cluster', label: c.error ? `${c.name} (no answer)` : c.name } });
  }
  const addWorkload = (w, g) => {
    const id = wid(w);
    if (!want.has('cluster:' + w.cluster)) {
      want.set('cluster:' + w.cluster, { group: 'nodes', data: { id: 'cluster:' + w.cluster, type: 'cluster', label: w.cluster } });
    }
    const prev = want.get(id);
    if (prev && !g) return;
    const rps = g ? g.rps : 0;
    want.set(id, { group: 'nodes', data: {
      id, type: 'workload', parent: 'cluster:' + w.cluster,
      label: `${w.namespace}/${w.name.split('/').pop()}\n${g && g.successRate != null ? pct(g.successRate) : ''}`,
      size: Math.min(44, 18 + Math.sqrt(rps) * 4), color: srColor(g ? g.successRate : null) } });
  };
  for (const w of ov.workloads) addWorkload(w, w);
  for (const e of ov.edges) { addWorkload(e.src, null); addWorkload(e.dst, null); }
  for (const e of ov.edges) {
    const id = 'edge:' + wid(e.src) + '->' + wid(e.dst);
    want.set(id, { group: 'edges', data: {
      id, source: wid(e.src), target: wid(e.dst), gateway: e.gateway || undefined,
      label: `${pct(e.successRate)} · ${e.rps.toFixed(1)}/s`,
      width: Math.min(8, 1 + Math.sqrt(e.rps)), color: srColor(e.successRate) } });
  }
  let changed = false;
  cy.batch(() => {
    // Only nodes coming or going move the others: an edge that comes or goes is drawn
    // where its ends already are.
    cy.elements().forEach((el) => { if (!want.has(el.id())) { changed = changed || el.isNode(); el.remove(); } });
    for (const [id, el] of want) {
      const have = cy.getElementById(id);
      if (have.nonempty()) { have.data(el.data); } else { cy.add(el); changed = changed || el.group === 'nodes'; }
    }
  });
  if (changed) layout();
}

// layout puts each cluster's workloads on a grid of their own, in order of name, the
// clusters side by side, shaped to the graph's box, then fits the box. It is linear in the
// workloads and keeps them apart: cose, which it replaces, took 2s (on a busy 2-core machine)
// for 50 workloads in each of two clusters and spread them so thin that a node was 2px wide at the fitted zoom,
// too small to click or read.
const CELL_W = 100, CELL_H = 80, CLUSTER_GAP = 60, MAX_ZOOM = 1.5;
function layout() {
  const clusters = cy.nodes('[type = "cluster"]').sort((a, b) => a.id().localeCompare(b.id()));
  const box = cy.container().getBoundingClientRect();
  // The shape each cluster should have for all of them to fill the box side by side.
  const aspect = box.width / Math.max(1, box.height) / Math.max(1, clusters.length);
  let x0 = 0;
  cy.batch(() => {
    for (const c of clusters) {
      const kids = c.children().sort((a, b) => a.id().localeCompare(b.id()));
      if (kids.empty()) c.position({ x: x0, y: 0 }); // a cluster that did not answer: its box alone
      const cols = Math.max(1, Math.min(kids.length, Math.round(Math.sqrt(kids.length * aspect * CELL_H / CELL_W))));
      // Every other row half a cell to the right, so that an edge between two workloads
      // of one column does not run through those between them.
      const stagger = kids.length > cols ? CELL_W / 2 : 0;
      kids.forEach((n, i) => {
        const row = Math.floor(i / cols);
        n.position({ x: x0 + (i % cols) * CELL_W + (row % 2) * stagger, y: row * CELL_H });
      });
      x0 += cols * CELL_W + stagger + CLUSTER_GAP;
    }
  });
  cy.fit(undefined, 20);
  if (cy.zoom() > MAX_ZOOM) { // a handful of workloads: not blown up to fill the box
    cy.zoom(MAX_ZOOM);
    cy.center();
  }
}

function row(cells, attrs) {
  const tr = document.createElement('tr');
  for (const [k, v] of Object.entries(attrs || {})) tr.setAttribute(k, v);
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = c.text;
    if (c.cls) td.className = c.cls;
    tr.appendChild(td);
  }
  return tr;
}

function golden(g) {
  return [
    { text: pct(g.successRate), cls: 'num sr ' + srClass(g.successRate) },
    { text: num(g.rps, g.successRate), cls: 'num rps' },
    { text: ms(g.latencyP50Ms), cls: 'num' }, { text: ms(g.latencyP95Ms), cls: 'num' }, { text: ms(g.latencyP99Ms), cls: 'num' },
    { text: pct(g.tlsShare), cls: 'num' },
  ];
}

function renderTables(ov) {
  if (!ov) return;
  $('#window').textContent = ov.window;
  const cl = $('#clusters');
  const above = cl.offsetHeight;
  cl.replaceChildren(...ov.clusters.map((c) => {
    const li = document.createElement('li');
    li.dataset.cluster = c.name;
    li.textContent = c.error ? `${c.name}: ${c.error}` : c.name;
    if (c.error) li.className = 'down';
    return li;
  }));
  // The list sits above the graph: when its height changes the graph moves down or up, and
  // cytoscape, which keeps where its box was, must know, or a click lands off the node.
  if (cl.offsetHeight !== above) cy.resize();
  $('#links tbody').replaceChildren(...ov.links.map((l) => row([
    { text: `${l.cluster} → ${l.remote}` },
    { text: l.gatewayAlive == null ? 'unknown' : l.gatewayAlive ? 'alive' : 'DOWN', cls: l.gatewayAlive === false ? 'bad' : l.gatewayAlive ? 'good' : '' },
    { text: l.remoteState || '-' },
    { text: l.gatewayDialsPerSec.toFixed(2), cls: 'num' },
    { text: pct(l.gatewayDialSuccess), cls: 'num' },
  ], { 'data-link': `${l.cluster}->${l.remote}` })));
  $('#edges tbody').replaceChildren(...ov.edges.map((e) => {
    const tr = row([{ text: `${e.src.cluster}/${e.src.namespace}/${e.src.name}` }, { text: e.name.split(' -> ')[1] + (e.gateway ? '' : ` (${e.dst.cluster})`) }, ...golden(e)],
      { 'data-edge': e.name, 'data-src-cluster': e.src.cluster });
    if (wid(e.src) === selected || wid(e.dst) === selected) tr.className = 'selected';
    tr.onclick = () => select(wid(e.dst));
    return tr;
  }));
  $('#workloads tbody').replaceChildren(...ov.workloads.map((w) => {
    const tr = row([{ text: w.cluster }, { text: w.namespace }, { text: w.name }, ...golden(w)], { 'data-workload': wid(w) });
    if (wid(w) === selected) tr.className = 'selected';
    tr.onclick = () => select(wid(w));
    return tr;
  }));
  $('#chart-title').textContent = selected || `the ${MAX_CHART_SERIES} busiest workloads`;
}

async function getJSON(path) {
  const resp = await fetch(path, { cache: 'no-store' });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

function setStatus(text, error) {
  const s = $('#status');
  s.textContent = text;
  s.className = error ? 'error' : '';
}

async function refresh() {
  try {
    const ov = await getJSON('api/v1/overview');
    lastOverview = ov;
    const t0 = performance.now();
    graph(ov);
    renderTables(ov);
    // How long drawing took, for a test to hold the page to (and a user to read).
    window.vizRenderMs = performance.now() - t0;
    window.vizRenders = (window.vizRenders || 0) + 1;
    const down = ov.clusters.filter((c) => c.error).map((c) => c.name);
    setStatus(`updated ${new Date().toLocaleTimeString()}` + (down.length ? ` · no answer from ${down.join(', ')}` : ''), down.length > 0);
  } catch (err) {
    setStatus(`the viz API did not answer: ${err.message}`, true);
  }
}

const charts = {};
window.vizCharts = charts; // for a test: each uPlot's data
const palette = ['#3867d6', '#20bf6b', '#eb3b5a', '#f7b731', '#8854d0', '#0fb9b1', '#fa8231', '#4b6584'];

function chart(key, title, series, fmt, width) {
  const div = charts[key]?.root.parentElement || (() => {
    const d = document.createElement('div');
    $('#charts').appendChild(d);
    return d;
  })();
  const [xs, ...ys] = series.data;
  const opts = {
    title, width, height: 160,
    series: [{}, ...series.labels.map((label, i) => ({ label, stroke: palette[i % palette.length], width: 1.5, value: (u, v) => (v == null ? '-' : fmt(v)) }))],
    axes: [{}, { values: (u, vals) => vals.map(fmt), size: 60 }],
    legend: { show: series.labels.length <= MAX_CHART_SERIES },
  };
  if (charts[key]) charts[key].destroy();
  charts[key] = new uPlot(opts, [xs, ...ys], div);
}

async function refreshSeries() {
  let ans;
  try {
    ans = await getJSON('api/v1/series?minutes=10&step=15s');
  } catch (err) {
    setStatus(`the viz API did not answer for charts: ${err.message}`, true);
    return;
  }
  let chosen = ans.series;
  if (selected) {
    chosen = chosen.filter((s) => wid(s.workload) === selected);
  } else {
    const total = (s) => s.points.reduce((a, p) => a + p.rps, 0);
    chosen = [...chosen].sort((a, b) => total(b) - total(a)).slice(0, MAX_CHART_SERIES);
  }
  const xs = chosen.length ? chosen[0].points.map((p) => p.t / 1000) : [];
  const labels = chosen.map((s) => wid(s.workload));
  const width = Math.max(300, $('#charts').clientWidth - 10);
  chart('rps', 'requests/s', { labels, data: [xs, ...chosen.map((s) => s.points.map((p) => p.rps))] }, (v) => v.toFixed(1), width);
  chart('sr', 'success rate', { labels, data: [xs, ...chosen.map((s) => s.points.map((p) => (p.successRate == null ? null : p.successRate * 100)))] }, (v) => v.toFixed(0) + '%', width);
  chart('p99', 'p99 latency', { labels, data: [xs, ...chosen.map((s) => s.points.map((p) => p.latencyP99Ms))] }, (v) => v.toFixed(1) + 'ms', width);
}

refresh();
refreshSeries();
setInterval(refresh, REFRESH_MS);
setInterval(refreshSeries, SERIES_MS);
