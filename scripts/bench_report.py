"""Size and first-render time of report pages in headless Chromium (network blocked).

Usage::

    python scripts/bench_report.py maps/hankou-demo/report.html [more pages...]

Render time = navigation start to every layer shown by default drawn: the page's load event
(Leaflet and the layers are inline, so their scripts have run) and then two animation frames
(the canvas has painted). Pages built by circles after issue 15 also set
``window.circlesDrawn`` (ms since navigation start) when their default layers are drawn; the
larger of the two is reported. Prints one line per page: ``page= report_mb= render_s=``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("screenshot_report", HERE / "screenshot_report.py")
shot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shot)


def render_seconds(page: Path, timeout_s: float = 600.0) -> float:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shot.CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9", "--window-size=1400,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shot.CHROMEDRIVER), options=opts)
    try:
        driver.command_executor._client_config.timeout = timeout_s  # a 33 MB page takes minutes
        driver.set_page_load_timeout(timeout_s)
        driver.set_script_timeout(timeout_s)
        driver.get(Path(page).resolve().as_uri())
        end = time.time() + timeout_s
        while time.time() < end and not driver.execute_script(
                "return document.querySelectorAll('.leaflet-control-layers-overlays label').length"):
            time.sleep(0.05)
        t = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const wait = () => (window.circlesDrawn === undefined && window.circlesDrawing) ? setTimeout(wait, 20) : frames();
            const frames = () => requestAnimationFrame(() => requestAnimationFrame(() => {
                const nav = performance.getEntriesByType('navigation')[0];
                done(Math.max(performance.now(), window.circlesDrawn || 0, nav.loadEventEnd)); }));
            wait();""")
        return t / 1000.0
    finally:
        driver.quit()


def main() -> None:
    for page in map(Path, sys.argv[1:]):
        mb = page.stat().st_size / 1e6
        print(f"page={page} report_mb={mb:.2f} render_s={render_seconds(page):.2f}", flush=True)


if __name__ == "__main__":
    main()
