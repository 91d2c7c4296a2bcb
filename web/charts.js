// The dashboard's charts on dygraphs (Debian libjs-dygraphs, embedded in the daemon at build
// time; docs/web.md says why this library). Line charts take rows [ms, y1, ...] from series.js,
// bar charts draw with groupedBars() below (dygraphs has no bar type of its own; its docs show
// a plotter like this one).

export const COLORS = ['#d9480f', '#1971c2', '#2f9e44', '#ae3ec9', '#f08c00', '#0c8599'];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov',
                'Dec'];

function withDates(rows) {
  return rows.map((r) => [new Date(r[0]), ...r.slice(1)]);
}

// A line chart of one or more series (rows from series.mergeSeries). `bars`: the columns are
// [min, mean, max] (hourly/daily buckets), drawn as the mean with a band from min to max.
// Drag to zoom, double-click to zoom out (dygraphs' own interaction, pinch on a touch screen).
export function lineChart(plot, legend, {labels, rows, bars}) {
  return new window.Dygraph(plot, withDates(rows), {
    labels: ['time', ...labels],
    customBars: !!bars,
    drawPoints: rows.length < 60,  // a line of one or two points would not show
    pointSize: 2,
    colors: COLORS,
    strokeWidth: 1.5,
    labelsDiv: legend,
    legend: 'always',
    labelsSeparateLines: false,
    axisLabelFontSize: 12,
    axes: {y: {axisLabelWidth: 44}},
  });
}

// Replaces a line chart's rows (live polls appended, or a new range).
export function setRows(graph, rows) {
  graph.updateOptions({file: withDates(rows)});
}

// A dygraphs plotter drawing every series as bars side by side. widthX: a bar group's width in
// x units (a day in ms, or 1 for month numbers); align 'start' puts the group right of its x
// (a day starting at x), 'center' around it. complete[row][series] === false draws that bar
// pale (a bucket not yet over, or missing readings at an edge).
export function groupedBars(widthX, align, complete) {
  return (e) => {
    const g = e.dygraph;
    const ctx = e.drawingContext;
    const y0 = g.toDomYCoord(0);
    ctx.fillStyle = e.color;
    for (const p of e.points) {
      if (p.yval === null || p.yval === undefined || Number.isNaN(p.canvasy)) continue;
      const span = Math.abs(g.toDomXCoord(p.xval + widthX) - g.toDomXCoord(p.xval));
      const group = span * 0.8;
      const w = Math.max(1, group / e.seriesCount);
      const start = align === 'start' ? g.toDomXCoord(p.xval) + span * 0.1
                                      : g.toDomXCoord(p.xval) - group / 2;
      const pale = complete && complete[p.idx] && complete[p.idx][e.seriesIndex] === false;
      ctx.globalAlpha = pale ? 0.35 : 1;
      ctx.fillRect(start + e.seriesIndex * w, Math.min(p.canvasy, y0), w, Math.abs(y0 - p.canvasy));
    }
    ctx.globalAlpha = 1;
  };
}

// Consumption per day: one bar per local day (rows [start ms, consumption]) over the days from
// `from` to `to` (Unix ms). The legend shows the exact consumption text of the bar under the
// pointer.
export function dayBars(plot, legend, {label, rows, complete, exact, from, to}) {
  const day = 86400000;
  const first = Math.min(from, rows.length ? rows[0][0] : from);
  const last = Math.max(to - day, rows.length ? rows[rows.length - 1][0] : to);
  return new window.Dygraph(plot, withDates(rows), {
    labels: ['day', label],
    plotter: groupedBars(day, 'start', complete.map((c) => [c])),
    colors: COLORS,
    includeZero: true,
    dateWindow: [first - day * 0.2, last + day * 1.2],
    labelsDiv: legend,
    legend: 'always',
    axisLabelFontSize: 12,
    axes: {y: {axisLabelWidth: 44},
           x: {valueFormatter: (ms) => new Date(ms).toLocaleDateString()}},
    valueFormatter: (v, opts, name, graph, row) => (exact[row] ?? String(v)),
    interactionModel: {},  // no zoom: the legend still follows the pointer
  });
}

// Consumption by month, this year against the year before: rows [month 1..12, previous, this].
export function monthBars(plot, legend, {labels, rows, complete, exact}) {
  return new window.Dygraph(plot, rows, {
    labels: ['month', ...labels],
    plotter: groupedBars(1, 'center', complete),
    colors: ['#adb5bd', COLORS[1]],
    includeZero: true,
    dateWindow: [0.4, 12.6],
    labelsDiv: legend,
    legend: 'always',
    axisLabelFontSize: 12,
    axes: {
      y: {axisLabelWidth: 44},
      x: {
        // Initials where three letters would run into each other (a phone).
        ticker: (a, b, pixels) => MONTHS.map((label, i) => ({v: i + 1,
                                                              label: pixels < 480 ? label[0] : label})),
        valueFormatter: (m) => MONTHS[m - 1] ?? String(m),
      },
    },
    valueFormatter: (v, opts, name, graph, row, col) => {
      const cell = exact[row] && exact[row][col - 1];
      return cell ?? String(v);
    },
    interactionModel: {},
  });
}
