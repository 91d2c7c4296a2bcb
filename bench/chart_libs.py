#!/usr/bin/env python3
"""Which chart library for the dashboard: page weight and render time in headless Chromium.

Candidates: Chart.js and dygraphs as Debian packages (libjs-chart.js, libjs-dygraphs, their
files under /usr/share/javascript) and uPlot from npm (`--uplot DIR`: the `dist/` folder of
`npm pack uplot`, unpacked; left out when not given).

Two cases, each a fresh page load, --runs times per library:
  bars: a year of daily bars (365 values);
  line: 30 days of 60 s points (43 200 values), one line.
Timed with performance marks in the page: `script` is the library's <script> element (fetched
from a loopback server, parsed and run); `render` runs from just before the chart is constructed
to the second animation frame after it, so the chart has been laid out and painted once. The data
is generated before the first mark. Animations are off. Chart.js has no time axis without a date
adapter (none is packaged in Debian), so it gets a linear axis of milliseconds; its `line` case
is also timed with its decimation plugin (LTTB to 1000 points), which is how a dashboard would
use it.

Usage: bench/chart_libs.py [--runs 7] [--uplot /tmp/uplot/package/dist]
Needs: chromium, chromium-driver, python3-selenium, libjs-chart.js, libjs-dygraphs.
"""
import argparse
import functools
import gzip
import http.server
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "browser"))
import chromium  # noqa: E402

LIBS = {
    "chartjs": "/usr/share/javascript/chart.js/chart.min.js",
    "dygraphs": "/usr/share/javascript/dygraphs/dygraph.min.js",
}

PAGE = r"""<!doctype html><meta charset=utf-8>
<link rel=icon href="data:,"><link rel=stylesheet href="@CSS@">
<style>#c{width:1000px;height:400px;position:relative}</style>
<div id=c></div>
<script>
const params = new URLSearchParams(location.search);
const kind = params.get('case');
const t0 = Date.UTC(2026, 0, 1);
window.xs = []; window.ys = [];
if (kind === 'bars') {
  for (let i = 0; i < 365; ++i) { xs.push(t0 + i * 86400000); ys.push(5 + 3 * Math.sin(i / 58) + (i % 7) / 10); }
} else {
  for (let i = 0; i < 43200; ++i) { xs.push(t0 + i * 60000); ys.push(60 + 10 * Math.sin(i / 700) + (i % 13) / 5); }
}
performance.mark('script-start');
</script>
<script src="@LIB@"></script>
<script>
performance.mark('script-end');
const el = document.getElementById('c');
function done() {
  requestAnimationFrame(() => requestAnimationFrame(() => {
    performance.mark('render-end');
    window.result = {
      script: performance.measure('s', 'script-start', 'script-end').duration,
      render: performance.measure('r', 'render-start', 'render-end').duration,
    };
  }));
}
@CODE@
</script>
"""

CODE = {
    "chartjs": r"""
const decimate = params.get('decimate') === '1';
const canvas = document.createElement('canvas'); el.appendChild(canvas);
performance.mark('render-start');
if (kind === 'bars') {
  new Chart(canvas, {type: 'bar', data: {labels: xs.map(x => new Date(x).toISOString().slice(0, 10)),
    datasets: [{data: ys}]}, options: {animation: false, responsive: true, maintainAspectRatio: false}});
} else {
  new Chart(canvas, {type: 'line', data: {datasets: [{data: xs.map((x, i) => ({x, y: ys[i]})),
    pointRadius: 0, borderWidth: 1}]}, options: {animation: false, parsing: false, normalized: true,
    responsive: true, maintainAspectRatio: false, scales: {x: {type: 'linear'}},
    plugins: {decimation: {enabled: decimate, algorithm: 'lttb', samples: 1000}}}});
}
done();
""",
    "dygraphs": r"""
function barPlotter(e) {  // dygraphs' own bar-chart demo plotter
  const ctx = e.drawingContext, points = e.points, y0 = e.dygraph.toDomYCoord(0);
  let gap = Infinity;
  for (let i = 1; i < points.length; ++i) gap = Math.min(gap, points[i].canvasx - points[i - 1].canvasx);
  const w = Math.max(1, Math.floor(gap * 2 / 3));
  ctx.fillStyle = e.color;
  for (const p of points) ctx.fillRect(p.canvasx - w / 2, p.canvasy, w, y0 - p.canvasy);
}
const rows = xs.map((x, i) => [new Date(x), ys[i]]);
performance.mark('render-start');
new Dygraph(el, rows, Object.assign({labels: ['time', 'v']},
  kind === 'bars' ? {plotter: barPlotter, includeZero: true} : {}));
done();
""",
    "uplot": r"""
performance.mark('render-start');
const opts = {width: 1000, height: 400, series: [{}, kind === 'bars'
  ? {stroke: 'blue', fill: 'blue', paths: uPlot.paths.bars({size: [0.6, 100]})}
  : {stroke: 'blue'}]};
new uPlot(opts, [xs.map(x => x / 1000), ys], el);
done();
""",
}

CSS = {
    "chartjs": "",
    "dygraphs": "/usr/share/javascript/dygraphs/dygraph.min.css",
    "uplot": None,  # set from --uplot
}


class Handler(http.server.SimpleHTTPRequestHandler):
    # no-store: every load fetches, parses and compiles the library afresh (no HTTP cache, so
    # no V8 code cache either), as a first visit would.
    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


def serve(root):
    handler = functools.partial(Handler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--uplot", help="uPlot's dist/ folder (npm pack uplot)")
    args = ap.parse_args()
    libs = dict(LIBS)
    css = dict(CSS)
    if args.uplot:
        libs["uplot"] = os.path.join(args.uplot, "uPlot.iife.min.js")
        css["uplot"] = os.path.join(args.uplot, "uPlot.min.css")
    else:
        css.pop("uplot")
    root = tempfile.mkdtemp(prefix="chart-bench-")
    try:
        for name, path in libs.items():
            shutil.copy(path, os.path.join(root, name + ".js"))
            if css[name]:
                shutil.copy(css[name], os.path.join(root, name + ".css"))
            page = (PAGE.replace("@LIB@", f"/{name}.js")
                    .replace("@CSS@", f"/{name}.css" if css[name] else "")
                    .replace("@CODE@", CODE[name]))
            with open(os.path.join(root, name + ".html"), "w") as f:
                f.write(page)
        server = serve(root)
        port = server.server_address[1]
        cases = [(n, c, "") for n in libs for c in ("bars", "line")]
        cases.insert(2, ("chartjs", "line", "&decimate=1"))
        print(f"{'library':10} {'min.js':>8} {'gzip':>7}  {'case':14} "
              f"{'script ms':>10} {'render ms':>10}   (median of {args.runs}, min-max)")
        with chromium.Browser(width=1100, height=600) as b:
            for name, kind, extra in cases:
                scripts, renders = [], []
                for _ in range(args.runs):
                    b.driver.get(f"http://127.0.0.1:{port}/{name}.html?case={kind}{extra}")
                    r = b.driver.execute_async_script(
                        "const cb = arguments[0]; (function w() { window.result ? cb(window.result)"
                        " : setTimeout(w, 10); })();")
                    scripts.append(r["script"])
                    renders.append(r["render"])
                errors = [e for e in b.console() if e["level"] == "SEVERE"]
                if errors:
                    sys.exit(f"{name} {kind}: console errors: {errors}")
                raw = open(libs[name], "rb").read()
                label = kind + (" decimated" if extra else "")
                print(f"{name:10} {len(raw) / 1024:7.0f}k {len(gzip.compress(raw, 9)) / 1024:6.0f}k"
                      f"  {label:14} {statistics.median(scripts):10.1f} "
                      f"{statistics.median(renders):10.1f}   ({min(renders):.1f}-{max(renders):.1f})")
        server.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
