"""Whole-city speed-ups keep every number (issue 21): each fast path against an independent oracle.

- ``coverage.aggregate`` (sorted array slices) against figures computed by hand with pandas groupby;
- the isochrones' traced polygons against ``shapely.geometry.shape``;
- the report's binary block (population cells, what-if arrays) against the plain JSON page of the
  same run and ``whatif.json``, and in Chromium against the pipeline's after-state.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import re
import time

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.ndimage import minimum_filter

from circles import coverage as cov
from circles.isochrones import _disc, _shapes_to_polygons
from circles.report import read_report_data, write_report
from conftest import ROOT

spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
shot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shot)


def test_aggregate_per_unit_equals_hand_figures_from_groupby(demo_run):
    res, _ = demo_run
    pts = pd.DataFrame(res.points.drop(columns="geometry"))
    kinds = list(res.travel.kinds)
    got = cov.aggregate(pts, "unit_id", [5, 10, 15], kinds)
    n_checked = 0
    for unit, grp in pts.groupby("unit_id"):
        row = got.loc[unit]
        w, t = grp["elderly"].to_numpy(float), grp["time_s_elderly_any"].to_numpy(float)
        assert row["pop_elderly"] == pytest.approx(w.sum(), rel=1e-12)
        assert row["n_cells"] == len(grp)
        if w.sum() > 0:
            assert row["cov_elderly_any_10min"] == pytest.approx(w[t <= 600].sum() / w.sum(), rel=1e-12)
            # weighted median by brute force: the smallest time whose people reach half the group
            times = np.sort(np.unique(t[w > 0]))
            half = next(x for x in times if w[(t <= x) & (w > 0)].sum() >= 0.5 * w[w > 0].sum() * (1 - 1e-12))
            assert row["time_elderly_median_min"] == pytest.approx(half / 60.0, rel=1e-12)
            n_checked += 1
    assert n_checked > 10 and list(got.index) == sorted(pts["unit_id"].dropna().unique())


def test_traced_polygons_equal_shapely_shape():
    rng = np.random.default_rng(21)
    grid = rng.uniform(0, 900, (120, 170)).astype(np.float32)
    grid[rng.random(grid.shape) < 0.4] = np.inf
    from rasterio.features import shapes

    mask = minimum_filter(grid, footprint=_disc(2.5), mode="constant", cval=np.inf) <= 300
    traced = [g for g, _ in shapes(mask.view(np.uint8), mask=mask, connectivity=4)]
    assert any(len(g["coordinates"]) > 1 for g in traced)  # polygons with holes are among them
    fast = _shapes_to_polygons(traced)
    assert len(fast) == len(traced)
    assert all(a.equals_exact(shapely.geometry.shape(g), 0) for a, g in zip(fast, traced))


def _blob(html: str, element_id: str) -> bytes:
    m = re.search(rf'<script type="[^"]+" id="{element_id}"( data-encoding="gzip-base(64|85)")?>([^<]*)</script>', html)
    assert m, element_id
    if not m.group(1):
        return m.group(3).encode("utf-8")
    text = m.group(3)  # base85: the standard library's decoder, "<" written as "." (circles/display.py)
    return gzip.decompress(base64.b64decode(text) if m.group(2) == "64" else base64.b85decode(text.replace(".", "<")))


def _unpack(spec: dict, buf: bytes) -> np.ndarray:
    """Python reading of report.js's ``unpack`` (the browser test checks the JavaScript itself)."""
    off, n = spec["$bin"]
    dt = np.dtype("<" + spec["t"])
    raw = np.frombuffer(buf, np.uint8, count=n * dt.itemsize, offset=off)
    if spec.get("raw"):
        if spec.get("sh"):
            raw = raw.reshape(dt.itemsize, n).T.copy()
        a = np.frombuffer(raw.tobytes(), dt)
        return np.cumsum(a.astype(np.int64)).astype(dt) if spec.get("d") else a
    a = np.frombuffer(raw.tobytes(), dt).astype(np.int64)
    d = spec.get("d") or 0
    if d:  # x after x, y after y
        a = np.cumsum(a.reshape(-1, d), axis=0).ravel()
    return a / spec.get("div", 1)


@pytest.fixture(scope="module")
def packed_pages(demo_run, tmp_path_factory):
    """The demo's report written twice from its outputs: plain JSON, and with everything binary."""
    _, folder = demo_run
    data = read_report_data(folder)
    plain, packed = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("packed")
    write_report(data, plain)
    write_report(data, packed, binary_above_cells=0)
    return folder, plain / "report.html", packed / "report.html"


def test_binary_block_holds_the_plain_pages_numbers(packed_pages):
    folder, plain, packed = packed_pages
    p_html, b_html = plain.read_text(encoding="utf-8"), packed.read_text(encoding="utf-8")
    assert "circles-data-bin" not in p_html
    P, B = json.loads(_blob(p_html, "circles-data")), json.loads(_blob(b_html, "circles-data"))
    buf = _blob(b_html, "circles-data-bin")
    assert B["bin"] == "circles-data-bin"
    assert np.array_equal(_unpack(B["shared"]["cells"], buf), np.array(P["shared"]["cells"]))
    assert np.array_equal(_unpack(B["shared"]["cells_unit"]["codes"], buf), P["shared"]["cells_unit"]["codes"])
    pop = [k for k, s in P["layers"].items() if s["type"] == "cells"]
    assert len(pop) == 2
    for k in pop:
        assert np.array_equal(_unpack(B["layers"][k]["values"], buf), np.array(P["layers"][k]["values"], float))
    # the what-if arrays: exactly whatif.json's (the form circles.whatif.evaluate reads)
    W = json.loads(_blob(b_html, "circles-planner-data"))["whatif"]
    ref = json.loads((folder / "whatif.json").read_text(encoding="utf-8"))
    pairs = [(W["weights"][g], ref["weights"][g]) for g in ref["weights"]] + \
        [(W["times"][k], ref["times"][k]) for k in ref["times"]] + \
        [(W["sfca"][k], ref["sfca"][k]) for k in ref["sfca"]] + [(W["point_unit"], ref["point_unit"])] + \
        [(W["matrix"][k], ref["matrix"][k]) for k in ("ptr", "idx", "t")]
    for spec_, b64 in pairs:
        want = np.frombuffer(base64.b64decode(b64), np.dtype("<" + spec_["t"]))
        assert np.array_equal(_unpack(spec_, buf), want)
    # isochrone polygons: the same rings, coordinate for coordinate
    iso = [k for k, s in P["layers"].items() if s.get("role") == "isochrones"]
    assert iso
    for k in iso:
        got, want = _polygons(B["layers"][k]["geoms"], buf), P["layers"][k]["geoms"]
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert (a is None) == (b is None)
            if b is not None:
                parts = [b["coordinates"]] if b["type"] == "Polygon" else b["coordinates"]
                assert a == parts
    assert len(b_html) < len(p_html)


def _polygons(o: dict, buf: bytes) -> list:
    """Python reading of report.js's ``polygons``: a list of MultiPolygon coordinates (None: empty)."""
    xy = _unpack(o["xy"], buf).reshape(-1, 2).tolist()
    rings, parts, each = (_unpack(o[k], buf).astype(int) for k in ("rings", "parts", "geoms"))
    return [[[xy[rings[r]:rings[r + 1]] for r in range(parts[p], parts[p + 1])] for p in range(each[g], each[g + 1])]
            or None for g in range(len(each) - 1)]


@pytest.mark.skipif(not shot.browser_available(),
                    reason="needs Debian chromium + chromium-driver (.ci/run installs them)")
def test_binary_page_draws_and_gives_the_pipelines_after_state(packed_pages):
    folder, plain, packed = packed_pages
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    counts = []
    for page in (plain, packed):
        driver = shot.open_page(page)
        try:
            end = time.time() + 60
            while time.time() < end and not driver.execute_script(
                    "return window.circlesReportDrawn === true && !!(window.circlesPlanner && window.circlesPlanner.ready)"):
                time.sleep(0.1)
            assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
            # every layer on: the same polygons (count, bounds) and population cells (position, shade) on both pages
            counts.append(driver.execute_script("""
                const P = window.circlesLayers, out = [];
                const m = window[document.querySelector('.folium-map').id];
                for (const [k, fg] of Object.entries(P)) {
                  if (!m.hasLayer(fg)) m.addLayer(fg);
                  const lay = fg.getLayers()[0];
                  if (lay && lay.getBounds && !(lay.getLayers()[0] instanceof L.CircleMarker)) {
                    const b = lay.getBounds();
                    out.push([lay.getLayers().length, b.isValid() ? [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()] : null]);
                    continue;
                  }
                  const cm = lay && lay.getLayers ? lay.getLayers().filter(x => x instanceof L.CircleMarker && x.options.weight === 0) : [];
                  if (cm.length) out.push([cm.length, cm.slice(0, 50).map(x => [x.getLatLng().lat, x.getLatLng().lng,
                                                                                  x.options.fillOpacity])]);
                }
                return out;"""))
            if page == packed:
                n = shot.click_suggested_sites(driver)
                assert n > 0
                cells = driver.execute_script("""return [...document.querySelectorAll('td.whatif-cov')].map(
                    t => [t.dataset.group, t.dataset.min, parseFloat(t.dataset.after)])""")
                assert len(cells) == 2 * len(summary["thresholds_min"])
                for g, m, after in cells:
                    assert after == pytest.approx(summary["coverage_after"][g][f"{float(m):g}min"], abs=6e-5)
        finally:
            driver.quit()
    assert counts[0] and counts[0] == counts[1]
