#!/usr/bin/env python3
"""First render of the dashboard, measured in the browser (headless Debian Chromium).

Starts `kamstrup run` with the browser test's two meters (tests/browser/harness.py), the second
one backfilled from its data logger (--backfill, 30 days by default) with moving values, so the
charts draw a month of hourly buckets and 30 daily bars; then loads `/` --runs times:
  cold: a fresh browser profile each time (nothing cached: a first visit);
  warm: reloads in one browser (the static files cached: static/<hash>/ is immutable).
Reported per load, from the navigation's start (performance marks set by dashboard.js):
  FCP       first-contentful-paint (paint timing);
  cards     every meter card drawn from /api/meters ('kamstrup-cards');
  rendered  every chart drawn from /api/history and /api/consumption, and the frame after it
            ('kamstrup-rendered'): the "first render" of docs/performance.md;
  bytes     the size of every response the page loaded (navigation + resources, bodies).
With --base URL the page of an already running daemon is measured instead.

Usage: bench/dashboard_bench.py [--binary build/src/cli/kamstrup] [--runs 7] [--backfill 30d]
                                [--base http://127.0.0.1:9847] [--screenshot FILE]
--screenshot keeps the top of the page (the cards and the first meter's charts) of the last warm
load: README.md's picture (docs/dashboard.png).
"""
import argparse
import base64
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "browser"))
import chromium  # noqa: E402
import harness  # noqa: E402

MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const mark = (n) => (performance.getEntriesByName(n)[0] || {}).startTime;
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const res = performance.getEntriesByType('resource');
return {fcp: fcp ? fcp.startTime : null, cards: mark('kamstrup-cards'),
        rendered: mark('kamstrup-rendered'), charts: window.kamstrup.charts.length,
        errors: window.kamstrup.errors,
        bytes: nav.decodedBodySize + res.reduce((s, r) => s + r.decodedBodySize, 0),
        requests: 1 + res.length};
"""


def load(driver, url):
    driver.get(url)
    deadline = time.monotonic() + 60
    while not driver.execute_script("return !!(window.kamstrup && window.kamstrup.ready)"):
        if time.monotonic() > deadline:
            sys.exit("the page never became ready")
        time.sleep(0.02)
    return driver.execute_script(MEASURE)


def report(name, runs):
    print(f"{name}: {len(runs)} loads, {runs[0]['charts']} charts, {runs[0]['requests']} requests,"
          f" {runs[0]['bytes'] / 1024:.0f} kB")
    for key in ("fcp", "cards", "rendered"):
        values = [r[key] for r in runs]
        print(f"  {key:9} median {statistics.median(values):6.0f} ms   "
              f"min {min(values):6.0f}   max {max(values):6.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/src/cli/kamstrup")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--backfill", default="30d")
    ap.add_argument("--base", help="measure this running daemon instead of starting one")
    ap.add_argument("--screenshot", help="save a screenshot of the last warm load here")
    args = ap.parse_args()
    daemon = None
    try:
        if args.base:
            base = args.base.rstrip("/")
        else:
            daemon = harness.Daemon(args.binary, backfill=args.backfill, pinned=False)
            daemon.wait_for_polls(3)
            base = daemon.base
        cold = []
        for _ in range(args.runs):
            with chromium.Browser() as b:
                cold.append(load(b.driver, base + "/"))
        warm = []
        with chromium.Browser() as b:
            load(b.driver, base + "/")
            for _ in range(args.runs):
                warm.append(load(b.driver, base + "/"))
            if args.screenshot:
                bottom = b.driver.execute_script(
                    "const s = document.querySelector('section.history');"
                    "return Math.ceil(s.getBoundingClientRect().bottom + window.scrollY + 8)")
                shot = b.driver.execute_cdp_cmd("Page.captureScreenshot", {
                    "format": "png", "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": 1280, "height": bottom, "scale": 1}})
                with open(args.screenshot, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
        errors = [e for r in cold + warm for e in r["errors"]]
        if errors:
            print(f"page errors: {sorted(set(errors))}")
        report("cold (first visit)", cold)
        report("warm (static files cached)", warm)
    finally:
        if daemon:
            daemon.stop()


if __name__ == "__main__":
    main()
