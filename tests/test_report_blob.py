"""City-scale pages store their data blobs gzip-compressed (circles.report.data_script): the text the
browser inflates must be exactly the JSON written (oracle: the JSON text itself and Python's gzip)."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import re

import pytest

from circles.display import BLOB_JS, GZIP_ABOVE_CHARS, data_script
from circles.display import json_in_html as _json_in_html
from conftest import ROOT
from hostile import HOSTILE

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)


def _big_json() -> tuple[dict, str]:
    # hostile strings and CJK names, repeated past the threshold, plus numbers
    n = GZIP_ABOVE_CHARS // 40 + 1000
    obj = {"names": [HOSTILE[i % len(HOSTILE)] + f" 社区{i}" for i in range(n)], "x": [i * 0.5 for i in range(1000)]}
    return obj, _json_in_html(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


def test_small_blob_stays_plain_json_and_big_one_round_trips():
    small = _json_in_html(json.dumps({"a": HOSTILE}, ensure_ascii=False))
    assert data_script("d", small) == f'<script type="application/json" id="d">{small}</script>'
    obj, text = _big_json()
    assert len(text) > GZIP_ABOVE_CHARS
    tag = data_script("d", text)
    m = re.fullmatch(r'<script type="text/plain" id="d" data-encoding="gzip-base64">([A-Za-z0-9+/=]+)</script>', tag)
    assert m, tag[:200]
    assert json.loads(gzip.decompress(base64.b64decode(m.group(1))).decode("utf-8")) == obj
    assert len(tag) < len(text.encode("utf-8")) / 2  # the point of it: a much smaller page


@pytest.mark.skipif(not shot.browser_available(),
                    reason="needs Debian chromium + chromium-driver (.ci/run installs them)")
def test_browser_inflates_the_blob_to_the_same_text(tmp_path):
    obj, text = _big_json()
    page = tmp_path / "blob.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>"
                    f'<script type="application/json" id="plain">{text}</script>'
                    + data_script("packed", text) + f"<script>{BLOB_JS}</script></body></html>", encoding="utf-8")
    driver = shot.open_page(page, timeout_s=0)
    try:
        driver.set_script_timeout(60)
        got = driver.execute_async_script("""
            const done = arguments[0];
            circlesBlob('packed', function (t) {
              const plain = document.getElementById('plain').textContent;
              const o = JSON.parse(t);
              done([t === plain, o.names.length, o.names.slice(0, 40), window.__pwned || null]);
            });""")
    finally:
        driver.quit()
    same, n, first, pwned = got
    assert same and n == len(obj["names"]) and first == obj["names"][:40] and pwned is None
