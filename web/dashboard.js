// The dashboard at `/`: a card per meter from /api/meters, kept live from /api/live (SSE), the
// outputs' health from /api/outputs, and per meter the history charts from /api/history and
// /api/consumption (docs/api.md). URLs are relative, so the page also works behind a reverse
// proxy under a sub-path.
//
// window.kamstrup is the page's state for the browser test (tests/browser) and for anyone
// curious: the charts with the API URLs they plotted, the live stream's state, errors.

import {parseExact} from './exact.js';
import * as series from './series.js';
import {el, meterCard, outputsCard, updateAges} from './cards.js';
import {lineChart, setRows, dayBars, monthBars} from './charts.js';

const DAY = 86400000;
const RANGES = [['24h', '24 h', DAY], ['7d', '7 d', 7 * DAY], ['30d', '30 d', 30 * DAY]];
const STATUS_REFRESH_MS = 10000;  // states (asleep, errors) and outputs; values come live
const FALLBACK_REFRESH_MS = 10000;  // when /api/live is not available

const page = {
  meters: new Map(),  // name -> {info: /api/meters entry, last: newest poll, range, charts, ...}
  outputs: null,
  charts: [],         // every chart: {id, meter, kind, title, registers, sources, graph, ...}
  live: {state: 'connecting', events: 0, lastPoll: null},
  errors: [],
  ready: false,       // cards and the first charts are drawn
};
window.kamstrup = page;

const $ = (sel) => document.querySelector(sel);

// Shown on the page (once per distinct message, with a count), not on the console.
const shownErrors = new Map();  // message -> its <p>
function reportError(message) {
  page.errors.push(message);
  const box = $('#errors');
  box.hidden = false;
  const p = shownErrors.get(message);
  if (p) {
    p.dataset.count = String(Number(p.dataset.count) + 1);
    p.textContent = `${message} (${p.dataset.count} times)`;
  } else {
    const e = el('p', {'data-count': '1'}, message);
    shownErrors.set(message, e);
    box.append(e);
  }
}

async function getJSON(url, exact) {
  const r = await fetch(url, {headers: {Accept: 'application/json'}});
  const text = await r.text();
  if (!r.ok) {
    let why = text.trim();
    try { why = JSON.parse(text).error || why; } catch (e) { /* not JSON: the text itself */ }
    throw new Error(`${url.split('?')[0]}: HTTP ${r.status}${why ? ': ' + why : ''}`);
  }
  return exact ? parseExact(text) : JSON.parse(text);
}

const timeMs = (poll) => (poll && poll.time ? Date.parse(poll.time) : -Infinity);

// --- cards ---

function renderCard(mm) {
  const card = meterCard({...mm.info, last: mm.last});
  if (mm.card) mm.card.replaceWith(card);
  else $('#meters').append(card);
  mm.card = card;
}

function renderOutputs() {
  const card = outputsCard(page.outputs);
  const old = $('#outputs .card');
  if (old && card) old.replaceWith(card);
  else if (old) old.remove();
  else if (card) $('#outputs').append(card);
}

async function refreshStatus() {
  const [meters, outputs] = await Promise.all([
    getJSON('api/meters', true),
    getJSON('api/outputs').catch((e) => { reportError(e.message); return null; }),
  ]);
  for (const info of meters) {
    let mm = page.meters.get(info.name);
    const added = !mm;
    if (!mm) {
      mm = {name: info.name, range: '24h', last: null, charts: [], card: null, section: null,
            chartsLoaded: false};
      page.meters.set(info.name, mm);
    }
    mm.info = info;
    // A poll from the live stream may be newer than this answer.
    if (timeMs(info.last) >= timeMs(mm.last)) mm.last = info.last;
    renderCard(mm);
    // A meter added while the page is open (the daemon reloaded its configuration).
    if (added && page.ready) loadCharts(mm).catch((e) => reportError(e.message));
  }
  page.outputs = outputs;
  renderOutputs();
}

// --- charts ---

function registerChart(mm, chart) {
  page.charts.push(chart);
  mm.charts.push(chart);
}

function dropCharts(mm, kind) {
  for (const c of mm.charts.filter((x) => x.kind === kind)) {
    c.graph.destroy();
    c.figure.remove();
  }
  mm.charts = mm.charts.filter((x) => x.kind !== kind);
  page.charts = page.charts.filter((x) => !(x.meter === mm.name && x.kind === kind));
}

function figure(mm, id, title) {
  const plot = el('div', {class: 'plot'});
  const legend = el('div', {class: 'legend'});
  const f = el('figure', {class: 'chart', 'data-chart': id}, el('figcaption', {}, title), plot,
               legend);
  return {f, plot, legend};
}

const q = (params) => new URLSearchParams(params).toString();

// The registers a chart could show: numbers the meter sent in its last poll.
function numericRegisters(poll) {
  return ((poll && poll.registers) || [])
    .filter((r) => r.value !== null && r.value !== undefined && r.text === undefined)
    .map((r) => r.name);
}

// The end of every chart's range: just after the newest poll the page knows of, so that what a
// chart shows is exactly what the API answers for that range, and later polls arrive live.
function rangeEnd(mm) {
  const t = timeMs(mm.last);
  return Number.isFinite(t) ? t + 1 : Date.now();
}

async function fetchAll(urls) {
  const settled = await Promise.allSettled(urls.map((u) => getJSON(u)));
  return settled.map((s, i) => {
    if (s.status === 'fulfilled') return {url: urls[i], json: s.value};
    reportError(s.reason.message);
    return null;
  }).filter(Boolean);
}

async function loadLineCharts(mm) {
  const to = rangeEnd(mm);
  const from = to - RANGES.find((r) => r[0] === mm.range)[2];
  const urls = numericRegisters(mm.last).map(
      (r) => 'api/history?' + q({meter: mm.name, register: r, from, to}));
  const generation = (mm.generation = (mm.generation || 0) + 1);
  const answers = await fetchAll(urls);
  const all = answers.map((a) => ({...series.historyPoints(a.json), url: a.url}));
  if (generation !== mm.generation) return all;  // another range was picked meanwhile
  dropCharts(mm, 'line');
  const box = mm.section.querySelector('.lines');
  for (const group of series.lineGroups(all)) {
    const list = group.series.filter((s) => s.points.length > 0);
    if (list.length === 0) continue;
    const units = [...new Set(list.map((s) => s.unit))].join(', ');
    const id = `${mm.name}/${group.quantity}`;
    const title = `${group.quantity.replace('_', ' ')} (${units})`;
    const {f, plot, legend} = figure(mm, id, title);
    box.append(f);
    const rows = series.mergeSeries(list);
    const bars = list.some((s) => s.bars);
    const graph = lineChart(plot, legend, {labels: list.map((s) => s.register), rows, bars});
    const chart = {
      id, meter: mm.name, kind: 'line', title, figure: f, graph, rows, bars,
      step: list[0].step, registers: list.map((s) => s.register),
      sources: list.map((s) => ({register: s.register, url: s.url})), from, to,
      apiRows: rows.length, liveRows: 0,
    };
    registerChart(mm, chart);
    // A poll that arrived live while the API was answering is past `to`: add it now.
    if (mm.last && timeMs(mm.last) >= to) appendPoll(chart, mm.last);
  }
  return all;
}

async function loadConsumptionCharts(mm, all) {
  const counters = all.filter(series.hasConsumption);
  if (counters.length === 0) return;
  const to = rangeEnd(mm);
  const now = new Date(to);
  const year = now.getFullYear();
  // From the start of the browser's local day 30 days back, and of January of last year: the
  // daemon cuts buckets at its own local midnights, the same ones when both share a time zone.
  const dayFrom = new Date(year, now.getMonth(), now.getDate() - 30).getTime();
  const yearFrom = new Date(year - 1, 0, 1).getTime();
  const urls = [];
  for (const s of counters) {
    urls.push('api/consumption?' + q({meter: mm.name, register: s.register, period: 'day',
                                      from: dayFrom, to}));
    urls.push('api/consumption?' + q({meter: mm.name, register: s.register, period: 'month',
                                      from: yearFrom, to}));
  }
  const answers = await fetchAll(urls);
  dropCharts(mm, 'day');
  dropCharts(mm, 'month');
  const box = mm.section.querySelector('.bars');
  for (const a of answers) {
    const period = a.json.period;
    const reg = a.json.register;
    const id = `${mm.name}/${reg}/${period}`;
    if (period === 'day') {
      const b = series.consumptionBars(a.json);
      if (b.rows.length === 0) continue;
      const title = `${reg} per day (${b.unit})`;
      const {f, plot, legend} = figure(mm, id, title);
      box.append(f);
      const graph = dayBars(plot, legend, {label: reg, ...b, from: dayFrom, to});
      registerChart(mm, {id, meter: mm.name, kind: 'day', title, figure: f, graph, rows: b.rows,
                         registers: [reg], sources: [{register: reg, url: a.url}]});
    } else {
      const b = series.yearOverYear(a.json, year);
      if (a.json.buckets.length === 0) continue;
      const title = `${reg} per month, ${year} against ${year - 1} (${b.unit})`;
      const {f, plot, legend} = figure(mm, id, title);
      box.append(f);
      const graph = monthBars(plot, legend, b);
      registerChart(mm, {id, meter: mm.name, kind: 'month', title, figure: f, graph,
                         rows: b.rows, year, registers: [reg],
                         sources: [{register: reg, url: a.url}]});
    }
  }
}

function historySection(mm) {
  const buttons = RANGES.map(([key, label]) => {
    const b = el('button', {type: 'button', 'data-range': key,
                            'aria-pressed': String(key === mm.range)}, label);
    b.addEventListener('click', () => selectRange(mm, key));
    return b;
  });
  const section = el('section', {class: 'history', 'data-meter': mm.name},
    el('header', {}, el('h2', {}, mm.name),
       el('div', {class: 'ranges', role: 'group', 'aria-label': 'range'}, buttons)),
    el('div', {class: 'charts lines'}),
    el('div', {class: 'charts bars'}));
  $('#history').append(section);
  return section;
}

async function selectRange(mm, key) {
  mm.range = key;
  for (const b of mm.section.querySelectorAll('.ranges button')) {
    b.setAttribute('aria-pressed', String(b.dataset.range === key));
  }
  mm.section.classList.add('loading');
  try {
    await loadLineCharts(mm);
  } catch (e) {
    reportError(e.message);
  } finally {
    mm.section.classList.remove('loading');
  }
}

async function loadCharts(mm) {
  if (!mm.section) mm.section = historySection(mm);
  const empty = mm.section.querySelector('.empty');
  if (!mm.last) {
    if (!empty) mm.section.querySelector('.lines').append(el('p', {class: 'empty'}, 'no readings yet'));
    return;
  }
  if (empty) empty.remove();
  mm.chartsLoaded = true;
  const all = await loadLineCharts(mm);
  await loadConsumptionCharts(mm, all);
}

// --- live ---

function onPoll(poll) {
  page.live.events += 1;
  page.live.lastPoll = poll;
  const mm = page.meters.get(poll.meter);
  if (!mm) return;
  if (timeMs(poll) >= timeMs(mm.last)) {
    mm.last = poll;
    renderCard(mm);
  }
  // The first reading of a meter that had none when the page loaded.
  if (!mm.chartsLoaded && page.ready) loadCharts(mm).catch((e) => reportError(e.message));
  for (const c of mm.charts) appendPoll(c, poll);
}

// Raw line charts grow by each new reading; bucketed ones stay as the API drew them.
function appendPoll(c, poll) {
  if (c.kind !== 'line' || c.bars) return;
  const row = series.pollRow(poll, c.registers);
  if (!row || (c.rows.length && row[0] <= c.rows[c.rows.length - 1][0])) return;
  c.rows.push(row);
  c.liveRows += 1;
  setRows(c.graph, c.rows);
}

function setLiveState(state) {
  page.live.state = state;
  const e = $('#live');
  e.textContent = {live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…',
                   off: 'refreshing every 10 s'}[state] || state;
  e.className = 'live ' + state;
}

function startLive() {
  if (!window.EventSource) {
    setLiveState('off');
    setInterval(() => refreshStatus().catch((e) => reportError(e.message)), FALLBACK_REFRESH_MS);
    return;
  }
  const es = new EventSource('api/live');
  es.addEventListener('open', () => setLiveState('live'));
  es.addEventListener('hello', (ev) => {
    const names = JSON.parse(ev.data).meters || [];
    if (names.some((n) => !page.meters.has(n))) refreshStatus().catch((e) => reportError(e.message));
  });
  es.addEventListener('poll', (ev) => onPoll(parseExact(ev.data)));
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (not an event stream, or an older daemon without /api/live): poll instead.
      setLiveState('off');
      setInterval(() => refreshStatus().catch((e) => reportError(e.message)),
                  FALLBACK_REFRESH_MS);
    } else {
      setLiveState('reconnecting');  // EventSource retries by itself, resuming by Last-Event-ID
    }
  });
}

async function main() {
  performance.mark('kamstrup-start');
  try {
    await refreshStatus();
  } catch (e) {
    reportError(e.message);
  }
  performance.mark('kamstrup-cards');
  startLive();
  setInterval(() => updateAges(document), 1000);
  setInterval(() => refreshStatus().catch((e) => reportError(e.message)), STATUS_REFRESH_MS);
  await Promise.all([...page.meters.values()].map(
      (mm) => loadCharts(mm).catch((e) => reportError(e.message))));
  // The charts have drawn (dygraphs draws synchronously); wait for the frame that shows them.
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  performance.mark('kamstrup-rendered');
  page.ready = true;
  document.body.dataset.ready = 'true';
}

main();
