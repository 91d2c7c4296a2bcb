"""Headless Debian Chromium through chromedriver (python3-selenium), for the dashboard's browser
test and the chart-library benchmark.

The machine (and CI) has no internet: the flags keep Chromium from reaching for the network
(component updates, sync, QUIC probes), and every run gets a fresh profile directory.
"""
import shutil
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

FLAGS = [
    "--headless",
    "--no-sandbox",  # runs as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


class Browser:
    """One Chromium; `driver` is the selenium WebDriver. Use as a context manager."""

    def __init__(self, width=1280, height=900, mobile=None):
        self.profile = tempfile.mkdtemp(prefix="kamstrup-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for f in FLAGS:
            options.add_argument(f)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={width},{height}")
        if mobile:
            # Device metrics, touch and the user agent of a phone: media queries and
            # window.innerWidth see the phone's CSS width.
            options.add_experimental_option("mobileEmulation", mobile)
        # The browser's console (errors and warnings) for the "no console errors" check.
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # An explicit driver path: selenium must not go looking for one on the network.
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(60)

    def console(self):
        """The console entries logged since the last call (each a dict: level, message)."""
        return self.driver.get_log("browser")

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
