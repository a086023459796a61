"""Open a report in headless Chromium with the network blocked, and save a screenshot.

Usage::

    python scripts/screenshot_report.py maps/hankou-demo/report.html maps/screenshot-hankou-demo.png [--whatif]

``--whatif`` clicks every suggested site first (the what-if panel then shows the after-state).
The PNG is saved with a 256-colour palette to keep it small.

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


def click_suggested_sites(driver) -> int:
    """Click every suggested-site badge like a user (zoom to it, click), then zoom back out."""
    start = driver.execute_script("""const m = window[document.querySelector('.folium-map').id];
        return [m.getCenter().lat, m.getCenter().lng, m.getZoom()];""")
    n = driver.execute_script("return document.querySelectorAll('.circles-site').length")
    for k in range(n):
        driver.execute_script("""
            const m = window[document.querySelector('.folium-map').id];
            const el = document.querySelectorAll('.circles-site')[arguments[0]];
            m.setView(m.layerPointToLatLng(L.DomUtil.getPosition(el.parentNode)), 18, {animate: false});""", k)
        time.sleep(0.05)
        driver.find_elements("css selector", ".circles-site")[k].click()
    driver.execute_script("""const m = window[document.querySelector('.folium-map').id];
        m.setView([arguments[0], arguments[1]], arguments[2], {animate: false});""", *start)
    time.sleep(0.5)
    return n


def main() -> None:
    page, png = Path(sys.argv[1]), Path(sys.argv[2])
    driver = open_page(page)
    try:
        if "--whatif" in sys.argv[3:]:
            click_suggested_sites(driver)
        raw = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    import io

    from PIL import Image

    Image.open(io.BytesIO(raw)).convert("RGB").quantize(colors=256).save(png, optimize=True)
    print(f"wrote {png} ({png.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
