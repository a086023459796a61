"""Screenshots of a report's printed page 1 (the map) at A4 and A3 landscape, and the printed PDFs.

Usage::

    python scripts/screenshot_print.py maps/hankou-demo/report.html maps/print-hankou-demo

writes ``<prefix>-a4.png``, ``<prefix>-a3.png`` (page 1 under print emulation, 96 dpi) and
``<prefix>-a4.pdf`` / ``-a3.pdf`` when ``--pdf`` is given (Chromium's own printer). Uses the same
headless Chromium as the browser tests (scripts/screenshot_report.py).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("screenshot_report", HERE / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)

#: landscape paper: inches (printToPDF) and CSS pixels at 96 dpi (print emulation)
PAPER = {"a4": ((11.69, 8.27), (1123, 794)), "a3": ((16.54, 11.69), (1587, 1123))}


def main() -> None:
    page, prefix = Path(sys.argv[1]), sys.argv[2]
    from PIL import Image

    driver = shot.open_page(page)
    try:
        for name, (inches, px) in PAPER.items():
            if "--pdf" in sys.argv[3:]:
                r = driver.execute_cdp_cmd("Page.printToPDF", {"paperWidth": inches[0], "paperHeight": inches[1],
                                                               "printBackground": True})
                Path(f"{prefix}-{name}.pdf").write_bytes(base64.b64decode(r["data"]))
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": px[0], "height": px[1],
                                                                          "deviceScaleFactor": 1, "mobile": False})
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            time.sleep(1.0)
            raw = driver.get_screenshot_as_png()
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
            time.sleep(0.3)
            out = Path(f"{prefix}-{name}.png")
            Image.open(io.BytesIO(raw)).convert("RGB").quantize(colors=256).save(out, optimize=True)
            print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
