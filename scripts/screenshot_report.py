"""Open a report in headless Chromium with the network blocked, and save a screenshot.

Usage::

    python scripts/screenshot_report.py maps/hankou-demo/report.html maps/screenshot-hankou-demo.png

Uses Debian's ``chromium`` and ``chromedriver`` (``apt-get install chromium chromium-driver``);
the browser test (tests/test_report_browser.py) opens pages with :func:`open_page` too.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def open_page(path: Path, *, width: int = 1400, height: int = 900, timeout_s: float = 30.0):
    """A Chrome WebDriver showing ``path``, offline (every host unresolvable, a dead proxy)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.get(Path(path).resolve().as_uri())
    end = time.time() + timeout_s
    while time.time() < end:
        if driver.execute_script("return document.querySelectorAll('.leaflet-control-layers-overlays label').length"):
            break
        time.sleep(0.2)
    time.sleep(0.5)  # let tiles-free rendering settle
    return driver


def main() -> None:
    page, png = Path(sys.argv[1]), Path(sys.argv[2])
    driver = open_page(page)
    try:
        driver.save_screenshot(str(png))
    finally:
        driver.quit()
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
