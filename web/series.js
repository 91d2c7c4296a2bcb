// The chart data of the dashboard: maps the daemon's answers (/api/history, /api/consumption,
// docs/api.md) to rows for dygraphs, and nothing else (no DOM, no fetching), so the browser test
// can check it against the API. Times are Unix milliseconds here; the page turns column 0 into
// Dates. Chart numbers come from the API's `_num` twins; the exact strings stay with the cards
// and the legends.

// A time the API wrote (RFC 3339, with Z or an offset) as Unix ms.
export function toMs(text) {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`not a time: ${text}`);
  return ms;
}

const num = (v) => (v === undefined || v === null ? null : v);

// One /api/history answer as [ms, y] points: y is value_num for raw readings, [min, mean, max]
// for buckets of a gauge (dygraphs' customBars), consumption_num for buckets of a counter.
export function historyPoints(resp) {
  const bucketed = resp.step !== undefined && resp.step !== 'raw';
  const points = resp.points.map((p) => {
    let y;
    if (!bucketed) y = num(p.value_num);
    else if (resp.cumulative) y = num(p.consumption_num);
    else y = [num(p.min_num), num(p.mean_num), num(p.max_num)];
    return [toMs(p.time), y];
  });
  return {
    register: resp.register,
    unit: resp.unit,
    quantity: resp.quantity,
    cumulative: !!resp.cumulative,
    step: resp.step,
    bars: bucketed && !resp.cumulative,
    points,
  };
}

// Several series on one time axis: rows [ms, y1, y2, ...] sorted by time, null where a series
// has no point at that time. When any series has min/mean/max bars, plain numbers become
// [v, v, v] so that dygraphs gets one shape in every column.
export function mergeSeries(list) {
  const bars = list.some((s) => s.bars);
  const byTime = new Map();
  list.forEach((s, i) => {
    for (const [t, y] of s.points) {
      let row = byTime.get(t);
      if (!row) {
        row = new Array(list.length + 1).fill(null);
        row[0] = t;
        byTime.set(t, row);
      }
      row[i + 1] = bars && y !== null && !Array.isArray(y) ? [y, y, y] : y;
    }
  });
  return [...byTime.values()].sort((a, b) => a[0] - b[0]);
}

// One /api/consumption answer as bars: rows [start ms, consumption_num], and per row whether the
// bucket is complete and its exact text (for the legend).
export function consumptionBars(resp) {
  return {
    register: resp.register,
    unit: resp.unit,
    period: resp.period,
    rows: resp.buckets.map((b) => [toMs(b.start), num(b.consumption_num)]),
    complete: resp.buckets.map((b) => b.complete !== false),
    exact: resp.buckets.map((b) => b.consumption),
  };
}

// Monthly consumption (period=month) as this year against the year before: rows
// [month 1..12, previous year, this year], null where that month has no bucket. The year and
// month are those of the bucket's local start as the daemon wrote it ("2026-03-01T00:00:00+01:00"),
// so the browser's own time zone does not move a bucket into another month.
export function yearOverYear(resp, year) {
  const rows = [];
  const exact = [];
  const complete = [];
  for (let m = 1; m <= 12; ++m) {
    rows.push([m, null, null]);
    exact.push([null, null]);
    complete.push([true, true]);
  }
  for (const b of resp.buckets) {
    const y = Number(b.start.slice(0, 4));
    const m = Number(b.start.slice(5, 7));
    const col = y === year ? 2 : y === year - 1 ? 1 : 0;
    if (col === 0 || !(m >= 1 && m <= 12)) continue;
    rows[m - 1][col] = num(b.consumption_num);
    exact[m - 1][col - 1] = b.consumption;
    complete[m - 1][col - 1] = b.complete !== false;
  }
  return {register: resp.register, unit: resp.unit, labels: [String(year - 1), String(year)],
          rows, exact, complete};
}

// A live poll (the poll JSON of docs/formats.md, parsed by exact.js so values are strings) as a
// row for a raw chart of these registers, or null when the poll has none of them.
export function pollRow(poll, registers) {
  const values = new Map();
  for (const r of poll.registers || []) {
    if (r.value !== null && r.value !== undefined && r.text === undefined) values.set(r.name, r.value);
  }
  if (!registers.some((name) => values.has(name))) return null;
  return [toMs(poll.time), ...registers.map((name) => (values.has(name) ? Number(values.get(name)) : null))];
}

// How the page groups registers into line charts: one chart per quantity, temperature
// differences on the temperature chart; power, flow and temperature first. Counters (cumulative)
// get consumption bars instead, and only energy and volume do. Quantities without a useful line
// (identifiers, dates, the info code) get none.
const NO_LINE = new Set(['number', 'info', 'date', 'time', 'text']);
const FIRST = ['power', 'flow', 'temperature'];

export function chartGroup(quantity) {
  if (quantity === 'temperature_difference') return 'temperature';
  return quantity;
}

export function lineGroups(seriesList) {
  const groups = new Map();
  for (const s of seriesList) {
    if (s.cumulative || NO_LINE.has(s.quantity)) continue;
    const g = chartGroup(s.quantity);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(s);
  }
  const rank = (g) => (FIRST.includes(g) ? FIRST.indexOf(g) : FIRST.length);
  return [...groups.entries()]
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]))
    .map(([quantity, list]) => ({quantity, series: list}));
}

export function hasConsumption(series) {
  return series.cumulative && (series.quantity === 'energy' || series.quantity === 'volume');
}
