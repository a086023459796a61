"""Run the page's what-if engine (circles/assets/whatif.js) in headless Chromium, not in node.

The project installs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run``); the engine is
loaded into a blank local page with no network, and each call hands it a payload and named
sets of chosen sites. Results come back through ``JSON.stringify`` (NaN -> null).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shot)

RUN = """
const e = CirclesWhatIf.load(arguments[0]), cases = arguments[1], out = {};
for (const k in cases) {
  const r = e.evaluate(cases[k]);
  out[k] = {study: r.study, units_fail: r.units_fail, units: r.units};
}
return JSON.stringify(out);
"""


class WhatIfPage:
    """A Chromium page holding whatif.js; :meth:`evaluate` runs ``CirclesWhatIf`` on a payload."""

    def __init__(self, folder: Path):
        shutil.copy(ROOT / "circles" / "assets" / "whatif.js", folder / "whatif.js")
        page = folder / "engine.html"
        page.write_text('<!doctype html><meta charset="utf-8"><title>what-if</title>'
                        '<script src="whatif.js"></script>', encoding="utf-8")
        self.driver = shot.open_page(page, timeout_s=0)
        self.driver.set_script_timeout(120)
        assert self.driver.execute_script("return typeof CirclesWhatIf") == "object"

    def evaluate(self, payload: dict, cases: dict[str, list]) -> dict:
        """``{case: {"study": ..., "units_fail": ..., "units": [...]}}`` for each list of [index, kind]."""
        return json.loads(self.driver.execute_script(RUN, payload, {k: [list(c) for c in v] for k, v in cases.items()}))

    def close(self) -> None:
        self.driver.quit()
