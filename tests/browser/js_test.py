#!/usr/bin/env python3
"""The dashboard's modules (web/*.js) under unit test in Debian's headless Chromium: units.js
runs in units.html, served with the repository from a loopback server; every case must pass and
the console must stay clean."""
import functools
import http.server
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chromium  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class JsUnits(unittest.TestCase):
    def test_dashboard_modules(self):
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=ROOT))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with chromium.Browser() as b:
                b.driver.get(f"http://127.0.0.1:{server.server_address[1]}/tests/browser/units.html")
                deadline = time.monotonic() + 20
                results = None
                while results is None and time.monotonic() < deadline:
                    results = b.driver.execute_script("return window.unitResults || null")
                    time.sleep(0.05)
                console = b.console()
                self.assertIsNotNone(results, f"units.js never finished: {console}")
                self.assertEqual(results["failed"], [])
                self.assertEqual(results["passed"], 13)  # every test() in units.js
                self.assertEqual([e for e in console if e["level"] == "SEVERE"], [])
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
