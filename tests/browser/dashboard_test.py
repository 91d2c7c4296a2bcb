#!/usr/bin/env python3
"""The dashboard in a real browser: Debian's Chromium (headless, through chromedriver and
python3-selenium) against `kamstrup run` polling two simulated meters every second (harness.py).

- the cards show each meter's exact values: the pinned meter's as its simulator profile writes
  them (70.00, 40.10, 8.0: digits a JavaScript number would drop), the moving meter's as
  /api/meters gave them for the very poll the card shows; state, serial, port, outputs;
- every chart plots exactly the series that /api/history or /api/consumption answers for the
  URL the chart fetched (the test maps the API's JSON to rows itself and compares them with the
  chart's own data), also after the range picker asked for 7 and 30 days;
- a new poll reaches the card and the raw charts through /api/live without a reload;
- the console has no errors; a phone-sized viewport has no horizontal scroll;
- a meter whose simulator stops shows why.
Screenshots go to --screenshots (kept from the run; README.md shows one).

Runs in the default build only (ctest label `browser`, excluded by the asan test preset).
Usage: dashboard_test.py --binary build/src/cli/kamstrup [--screenshots DIR] [unittest args]
"""
import argparse
import base64
import datetime
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chromium  # noqa: E402
import harness  # noqa: E402

ARGS = None
DAY = 86400000
PHONE = {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0},
         "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                      "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"}
# Registers the meters' charts group by quantity (series.js lineGroups), and the counters that get
# consumption bars.
LINE_CHARTS = {"power": ["power"], "flow": ["flow"], "temperature": ["temp1", "temp2", "temp_diff"]}
COUNTERS = ["heat_energy", "volume"]


def ms(text):
    """An RFC 3339 time from the API as Unix ms."""
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(t.timestamp() * 1000)


# --- what a chart must show, computed here from the API's JSON (independently of series.js) ---

def history_rows(answers):
    """Rows [ms, y1, ...] of a line chart over these /api/history answers: value_num for raw
    readings, [min, mean, max] for buckets; merged on time, None where a series has no point."""
    bars = any(a["step"] != "raw" and not a["cumulative"] for a in answers)
    rows = {}
    for i, a in enumerate(answers):
        for p in a["points"]:
            if a["step"] == "raw":
                y = p["value_num"]
            elif a["cumulative"]:
                y = p["consumption_num"]
            else:
                y = [p["min_num"], p["mean_num"], p["max_num"]]
            if bars and y is not None and not isinstance(y, list):
                y = [y, y, y]
            t = ms(p["time"])
            rows.setdefault(t, [t] + [None] * len(answers))[i + 1] = y
    return [rows[t] for t in sorted(rows)]


def day_rows(answer):
    return [[ms(b["start"]), b["consumption_num"]] for b in answer["buckets"]]


def month_rows(answer, year):
    """[month, year - 1, year] from the bucket's local start as the API wrote it."""
    rows = [[m, None, None] for m in range(1, 13)]
    for b in answer["buckets"]:
        y, m = int(b["start"][0:4]), int(b["start"][5:7])
        if y in (year - 1, year):
            rows[m - 1][1 if y == year - 1 else 2] = b["consumption_num"]
    return rows


# --- the page ---

READ_CARD = """
const card = document.querySelector(`article.meter[data-meter="${arguments[0]}"]`);
if (!card) return null;
const time = card.querySelector('time');
return {
  time: time ? time.getAttribute('datetime') : null,
  state: card.querySelector('.state').textContent,
  stateClass: card.querySelector('.state').className,
  meta: (card.querySelector('.meta') || {}).textContent,
  rows: [...card.querySelectorAll('tr[data-register]')].map((tr) => [
    tr.dataset.register, tr.querySelector('th').textContent,
    tr.querySelector('td.v').firstChild.textContent, tr.querySelector('td.u').textContent]),
};
"""

READ_CHARTS = """
return window.kamstrup.charts.map((c) => {
  const g = c.graph;
  const rows = [];
  for (let r = 0; r < g.numRows(); ++r) {
    const row = [];
    for (let k = 0; k < g.numColumns(); ++k) row.push(g.getValue(r, k));
    rows.push(row);
  }
  return {id: c.id, meter: c.meter, kind: c.kind, registers: c.registers, sources: c.sources,
          labels: g.getLabels(), rows, apiRows: c.apiRows, liveRows: c.liveRows, year: c.year,
          from: c.from, to: c.to, bars: !!c.bars, step: c.step};
});
"""


def screenshot(driver, name):
    """A PNG of the whole page (beyond the viewport) in --screenshots."""
    os.makedirs(ARGS.screenshots, exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    path = os.path.join(ARGS.screenshots, name)
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"screenshot: {path}", file=sys.stderr)


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The pinned meter first reads 30 days of its data logger (unpaced: seconds), so the
        # 7- and 30-day charts and the consumption bars have history to draw.
        cls.daemon = harness.Daemon(ARGS.binary, backfill="30d")
        try:
            cls.daemon.wait_for_polls(3)
            cls.browser = chromium.Browser(width=1280, height=900)
        except BaseException:
            cls.daemon.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.browser.close()
        finally:
            cls.daemon.stop()

    def load(self, browser=None, timeout=30):
        """Opens the page; returns once it has drawn its cards and first charts."""
        b = browser or self.browser
        b.driver.get(self.daemon.base + "/")
        deadline = time.monotonic() + timeout
        while not b.driver.execute_script("return !!(window.kamstrup && window.kamstrup.ready)"):
            self.assertLess(time.monotonic(), deadline, "the page never became ready")
            time.sleep(0.05)
        marks = b.driver.execute_script(
            "const m = (n) => performance.getEntriesByName(n)[0].startTime;"
            "return [m('kamstrup-cards'), m('kamstrup-rendered')]")
        self.assertLessEqual(marks[0], marks[1])
        print(f"page ready: cards at {marks[0]:.0f} ms, charts at {marks[1]:.0f} ms",
              file=sys.stderr)
        return b.driver

    def wait_for(self, driver, script, timeout=20, *args):
        """Until the script returns something true (returned); fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = driver.execute_script(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail(f"not within {timeout} s: {script} {args}")
            time.sleep(0.05)

    def snapshot(self, meter, poll_time):
        """The poll /api/meters showed for this meter at this time (the harness keeps them)."""
        deadline = time.monotonic() + 3
        while (meter, poll_time) not in self.daemon.snapshots:
            self.assertLess(time.monotonic(), deadline, f"/api/meters never showed {poll_time}")
            time.sleep(0.05)
        return self.daemon.snapshots[(meter, poll_time)]

    def assert_card_shows(self, card, poll):
        expected = [[r["name"], r["name"], r.get("text", r["value"] if r["value"] is not None
                                                 else "—"), r["unit"]]
                    for r in poll["registers"]]
        self.assertEqual(card["rows"], expected)

    # --- cards (need /api/meters only) ---

    def test_cards_show_exact_values_state_and_meter(self):
        d = self.load()
        for name in ("fixed", "heat"):
            card = d.execute_script(READ_CARD, name)
            self.assertIsNotNone(card, name)
            self.assert_card_shows(card, self.snapshot(name, card["time"]))
            self.assertEqual(card["state"], "answering")
            self.assertIn("ok", card["stateClass"])
        fixed = {r[0]: (r[2], r[3]) for r in d.execute_script(READ_CARD, "fixed")["rows"]}
        for register, (value, unit) in harness.FIXED_VALUES.items():
            self.assertEqual(fixed[register], (value, unit), register)
        meta = d.execute_script(READ_CARD, "fixed")["meta"]
        self.assertIn("serial 12345678", meta)
        self.assertIn("socket://127.0.0.1:", meta)
        self.assertIn("serial 76543210", d.execute_script(READ_CARD, "heat")["meta"])
        self.assertIn("sim:multical403", d.execute_script(READ_CARD, "heat")["meta"])

    def test_outputs_card_lists_each_output(self):
        d = self.load()
        outputs = harness.exact_json(self.daemon.get("/api/outputs"))
        shown = d.execute_script(
            "return [...document.querySelectorAll('tr[data-output]')].map((tr) =>"
            " [tr.dataset.output, tr.querySelector('th').textContent])")
        self.assertEqual(shown, [[o["id"], o["id"]] for o in outputs])
        self.assertEqual(len(shown), 1)  # the harness's jsonl file output

    def test_phone_layout_has_no_horizontal_scroll(self):
        with chromium.Browser(mobile=PHONE) as phone:
            d = self.load(phone)
            width = d.execute_script("return window.innerWidth")
            self.assertEqual(width, 390)
            self.assertLessEqual(d.execute_script("return document.documentElement.scrollWidth"),
                                 width)
            widest = d.execute_script(
                "return Math.max(...[...document.querySelectorAll('main *')].map("
                "(e) => e.getBoundingClientRect().right))")
            self.assertLessEqual(widest, width)
            screenshot(d, "dashboard-phone.png")

    # --- charts (need /api/history and /api/consumption) ---

    def check_charts(self, d, meter=None):
        """Every chart (of `meter`) against the API's answer for the URLs it fetched."""
        charts = [c for c in d.execute_script(READ_CHARTS) if meter in (None, c["meter"])]
        self.assertTrue(charts, "no charts")
        for c in charts:
            answers = [json.loads(self.daemon.get("/" + s["url"]))
                       for s in c["sources"]]
            with self.subTest(chart=c["id"]):
                if c["kind"] == "line":
                    self.assertEqual(c["labels"], ["time"] + c["registers"])
                    self.assertEqual([a["register"] for a in answers], c["registers"])
                    expected = history_rows(answers)
                    self.assertGreater(len(expected), 0)
                    # The last bucket may still be open (the current hour or day): a poll that
                    # lands between the page's fetch and this one moves its mean, so only its
                    # time is compared; every closed bucket must match exactly.
                    got = c["rows"][:c["apiRows"]]
                    self.assertEqual(got[:-1], expected[:-1])
                    self.assertEqual(got[-1][0], expected[-1][0])
                    self.assertEqual(c["apiRows"] + c["liveRows"], len(c["rows"]))
                elif c["kind"] == "day":
                    self.assertEqual(c["rows"], day_rows(answers[0]))
                else:
                    self.assertEqual(c["rows"], month_rows(answers[0], c["year"]))
        return charts

    def test_charts_plot_what_the_api_answers(self):
        d = self.load()
        charts = self.check_charts(d)
        ids = {c["id"] for c in charts}
        for meter in ("fixed", "heat"):
            for quantity, registers in LINE_CHARTS.items():
                chart = next((c for c in charts if c["id"] == f"{meter}/{quantity}"), None)
                self.assertIsNotNone(chart, f"{meter}/{quantity} in {sorted(ids)}")
                self.assertEqual(chart["registers"], registers)
                self.assertEqual(chart["to"] - chart["from"], DAY)
                self.assertEqual(chart["step"], "raw")
        # The pinned meter has 30 days of logger records: a bar chart per day and per month for
        # each counter, the days holding more than one bucket.
        for register in COUNTERS:
            self.assertIn(f"fixed/{register}/month", ids)
            days = next(c for c in charts if c["id"] == f"fixed/{register}/day")
            self.assertGreaterEqual(len(days["rows"]), 28)
        screenshot(d, "dashboard-desktop.png")

    def test_range_picker_redraws_what_the_api_answers(self):
        d = self.load()
        for key, span, step in (("7d", 7 * DAY, "hour"), ("30d", 30 * DAY, "hour"),
                                ("24h", DAY, "raw")):
            for meter in ("fixed", "heat"):
                d.find_element("css selector", f'section.history[data-meter="{meter}"] '
                                               f'button[data-range="{key}"]').click()
                self.wait_for(d, "return window.kamstrup.charts.some((c) => c.id === arguments[1]"
                                 " && c.to - c.from === arguments[0])", 20, span, f"{meter}/flow")
            self.wait_for(d, "return !document.querySelector('section.history.loading')")
            charts = self.check_charts(d)
            for meter in ("fixed", "heat"):
                flow = next(c for c in charts if c["id"] == f"{meter}/flow")
                self.assertEqual(flow["step"], step, key)
                self.assertEqual(flow["bars"], step != "raw", key)
                pressed = d.execute_script(
                    f"return [...document.querySelectorAll('section.history[data-meter=\"{meter}\"]"
                    " button[aria-pressed=\"true\"]')].map((b) => b.dataset.range)")
                self.assertEqual(pressed, [key])
            if step == "hour":
                # The moving flow's hourly buckets: a mean strictly inside a real band somewhere.
                rows = next(c for c in charts if c["id"] == "fixed/flow")["rows"]
                self.assertTrue(any(r[1][0] < r[1][1] < r[1][2] for r in rows if r[1]), key)
            if key == "30d":
                screenshot(d, "dashboard-30d.png")

    # --- live (needs /api/live) ---

    def test_new_poll_appears_without_reload(self):
        d = self.load()
        d.execute_script("window.notReloaded = 42")
        before = d.execute_script(READ_CARD, "heat")["time"]
        events = d.execute_script("return window.kamstrup.live.events")
        self.wait_for(d, "return window.kamstrup.live.events > arguments[0] && document."
                         "querySelector('article.meter[data-meter=\"heat\"] time')"
                         ".getAttribute('datetime') !== arguments[1]", 15, events, before)
        self.assertEqual(d.execute_script("return window.notReloaded"), 42)
        self.assertEqual(d.execute_script("return window.kamstrup.live.state"), "live")
        card = d.execute_script(READ_CARD, "heat")
        self.assertGreater(ms(card["time"]), ms(before))
        poll = self.snapshot("heat", card["time"])
        self.assert_card_shows(card, poll)
        # The raw power chart grew by that poll: its last row is the poll's time and value.
        self.wait_for(d, "return window.kamstrup.charts.find((c) => c.id === 'heat/power')"
                         ".liveRows > 0")
        power = next(c for c in d.execute_script(READ_CHARTS) if c["id"] == "heat/power")
        value = next(r["value"] for r in poll["registers"] if r["name"] == "power")
        rows_by_time = {r[0]: r for r in power["rows"]}
        self.assertEqual(rows_by_time.get(ms(card["time"])), [ms(card["time"]), float(value)])
        self.assertEqual(power["rows"], sorted(power["rows"]))

    def test_no_console_errors(self):
        self.browser.console()  # what earlier tests left
        d = self.load()
        events = d.execute_script("return window.kamstrup.live.events")
        self.wait_for(d, "return window.kamstrup.live.events >= arguments[0] + 2", 15, events)
        d.find_element("css selector",
                       'section.history[data-meter="heat"] button[data-range="7d"]').click()
        self.wait_for(d, "return window.kamstrup.charts.some((c) => c.id === 'heat/power' &&"
                         " c.to - c.from === arguments[0])", 20, 7 * DAY)
        entries = self.browser.console()
        self.assertEqual([e for e in entries if e["level"] == "SEVERE"], [])
        self.assertEqual(d.execute_script("return window.kamstrup.errors"), [])

    # --- last: stops the pinned meter's simulator ---

    def test_zz_a_meter_that_stops_answering_shows_why(self):
        d = self.load()
        self.daemon.stop_simulator()
        # The card follows /api/meters (refreshed every 10 s at most).
        card = self.wait_for(d, "const c = document.querySelector('article.meter[data-meter="
                                "\"fixed\"] .state'); return c && c.textContent !== 'answering'"
                                " && [c.textContent, c.className]", 60)
        meters = {m["name"]: m for m in self.daemon.meters()}
        self.assertFalse(meters["fixed"]["up"])
        self.assertEqual(card[0], meters["fixed"]["state"])
        self.assertNotIn("ok", card[1].split())
        # The last values stay, with their time.
        self.assertEqual(len(d.execute_script(READ_CARD, "fixed")["rows"]), 8)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="the kamstrup CLI")
    ap.add_argument("--screenshots", default="screenshots")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
