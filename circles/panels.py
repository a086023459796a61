"""The planner's part of the report page: offline context, what-if, equity, speed band, methods, credits.

:func:`panels_html` returns the page's part as ``(html, js)``: a JSON blob (``<``, ``>`` and
``&`` escaped, gzip-compressed when large (:func:`circles.display.data_script`), read with
``JSON.parse``) and the two scripts that use it (``circles/assets/whatif.js``, the engine;
``circles/assets/planner.js``, the panel). Every
string from the data reaches the page through ``textContent``, never as HTML. The words
come from :mod:`circles.i18n` in the page's language.
"""

from __future__ import annotations

import json
import re
from importlib import resources

import geopandas as gpd
import numpy as np
import shapely

from circles.chinacoords import wgs84_to_gcj02
from circles.coverage import where_mask
from circles.credits import credit_lines
from circles.crs import projected_crs
from circles.display import BLOB_JS, KIND_COLOURS, RawHTML, data_script, safe_json, to_display
from circles.i18n import CATALOGUE, indicator_labels, kind_name, site_label, t
from circles.io.units import short_names
from circles.methods import method_lines

_JS_PREFIXES = ("whatif.", "equity.", "rep.", "gap.", "status.", "group.", "methods.title", "print.")


def _geojson(gdf: gpd.GeoDataFrame | None, gcj02: bool, props=(), simplify_m: float = 0.0,
             merge: bool = False) -> dict | None:
    if gdf is None or gdf.empty:
        return None
    g = gdf[list(props) + ["geometry"]].copy()
    if simplify_m and not g.crs.is_geographic:
        g["geometry"] = g.geometry.simplify(simplify_m)
    if merge and not props and len(g) > 1:
        # drawn only, no properties: one (Multi)LineString instead of one Feature per edge (the
        # per-feature wrapper is ~80 bytes; a city's 25k edges would spend 2 MB on it), with
        # pieces joined end to end so a junction's coordinates are written once
        g = gpd.GeoDataFrame(geometry=[shapely.line_merge(shapely.multilinestrings(
            shapely.get_parts(g.geometry.values[~g.geometry.is_empty])))],
                             crs=g.crs)
    g = to_display(g, gcj02)
    g["geometry"] = shapely.set_precision(g.geometry.values, 1e-5)
    g = g[~g.geometry.is_empty]
    lines = len(g) == 1 and not props and g.geom_type.iloc[0] in ("LineString", "MultiLineString")
    if not lines:
        return json.loads(g.to_json(na="null", drop_id=True))
    # the merged network: GeoJSON from shapely's coordinate arrays (the same doubles), not through
    # __geo_interface__ tuples and a JSON round trip, which took 1 s CPU for a city's 64,000 lines
    out = json.loads(g.set_geometry([shapely.Point(0, 0)], crs=g.crs).to_json(na="null", drop_id=True))
    out["features"][0]["geometry"] = _lines_geojson(g.geometry.iloc[0])
    return out


def _lines_geojson(geom) -> dict:
    """A LineString or MultiLineString as its GeoJSON mapping, coordinates as lists of [x, y] floats."""
    parts = shapely.get_parts(geom)
    xy, which = shapely.get_coordinates(parts, return_index=True)
    xy = xy.tolist()
    if geom.geom_type == "LineString":
        return {"type": "LineString", "coordinates": xy}
    ends = np.searchsorted(which, np.arange(1, len(parts) + 1)).tolist()
    return {"type": "MultiLineString", "coordinates": [xy[a:b] for a, b in zip([0, *ends[:-1]], ends)]}


def _display_m(gdf, floor_m: float) -> float:
    """Simplification tolerance for drawn context lines: about one screen pixel when the whole
    study fits the window (extent / 2000, as the report's own layers), at least ``floor_m``."""
    if gdf is None or gdf.empty or gdf.crs is None or gdf.crs.is_geographic:
        return floor_m
    x0, y0, x1, y1 = gdf.total_bounds
    return max(floor_m, max(x1 - x0, y1 - y0) / 2000.0)


def _shift(lon, lat, gcj02: bool):
    if not gcj02:
        return lon, lat

    x, y = wgs84_to_gcj02(np.asarray(lon, float), np.asarray(lat, float))
    return [round(float(a), 6) for a in x], [round(float(b), 6) for b in y]


def _unit_labels(units, gcj02: bool) -> dict | None:
    """Unit names at a point inside each unit (the page labels them when zoomed in)."""
    if units is None or units.empty:
        return None
    metric = projected_crs(units)
    pts = gpd.GeoDataFrame(geometry=units.to_crs(metric).geometry.representative_point(), crs=metric)
    pts = to_display(pts, gcj02)
    return {"name": list(short_names(units)), "lon": [round(float(x), 5) for x in pts.geometry.x],
            "lat": [round(float(y), 5) for y in pts.geometry.y]}


def not_assessable(summary: dict, preset: dict) -> dict:
    """Indicator id -> the facility kinds whose building would make it assessable, for every
    indicator the run found not assessable (summary ``targets.study`` rows); ``[]`` when no new
    site can (no community polygons, no unit attribute, no unit matching a ``where`` filter).

    Only a missing kind is lifted by building one (the after-state then counts that kind as
    present): the kinds come from the reason's code (``summary.json`` ``targets.not_assessable_codes``,
    :func:`circles.targets.not_assessable_code`), never from its translated words.
    """
    na = {r["indicator"] for r in summary["targets"]["study"] if r.get("status") == "not assessable"}
    codes = summary["targets"].get("not_assessable_codes") or {}
    return {ind["id"]: list((codes.get(ind["id"]) or {}).get("kinds") or [])
            for ind in preset["indicators"] if ind["id"] in na}


#: metric families whose filtered (``where``) study figure is a population-weighted sum of unit
#: figures, so the page can recompute it from its per-unit results (planner.js ``filtered``)
FILTERED_RECOMPUTED = ("cov_", "sfca_", "e2sfca_", "beds_per_1000_", "slots_per_1000_", "daycare_places_per_1000_")


def where_units(units, preset: dict, unit_ids) -> dict[str, list[int]]:
    """Indicator id -> the indices (in ``unit_ids``, the what-if payload's unit order) of the units its
    ``where`` filter keeps, for every filtered indicator the page can recompute (coverage, 2SFCA and
    capacity ratios; not the community counts). The filter is the pipeline's (circles/stages/score.py):
    the unit's ``attr_<column>`` stripped, among the values. A unit file without the column: left out
    (the indicator is not assessable, and stays so)."""
    if units is None or not len(units):
        return {}
    index = {str(u): i for i, u in enumerate(unit_ids)}
    out = {}
    for ind in preset["indicators"]:
        w = ind.get("where")
        if not w or not ind["metric"].startswith(FILTERED_RECOMPUTED) or f"attr_{w['column']}" not in units:
            continue
        sel = where_mask(units, w)
        out[ind["id"]] = sorted(index[str(u)] for u in units["unit_id"][sel] if str(u) in index)
    return out


def planner_data(summary: dict, preset: dict, language: str, whatif: dict | None, *, roads=None, water=None,
                 outlines=None, sites=None, units=None, gcj02: bool = False) -> dict:
    """The blob the panel reads."""
    w = dict(whatif or {})
    if w.get("candidates"):
        c = dict(w["candidates"])
        c["lon"], c["lat"] = _shift(c["lon"], c["lat"], gcj02)
        # a generated site name is worded in the page's language from its parts (data in no language)
        road, unit = c.get("near_road") or [], c.get("in_unit") or []
        if road and unit:
            c["name"] = [nm if r is None and u is None else site_label(r, u, language, index=i + 1)
                         for i, (nm, r, u) in enumerate(zip(c["name"], road, unit))]
        w["candidates"] = c
    wu = {}
    if w.get("indicators"):
        w["not_assessable"] = not_assessable(summary, preset)
        wu = where_units(units, preset, (w.get("units") or {}).get("id") or [])
    gains = None
    if w.get("candidates") and sites is not None and len(sites) and "gain" in sites:
        by_rank = {(str(k), int(r)): float(g) for k, r, g in zip(sites["kind"], sites["rank"], sites["gain"])}
        gains = [by_rank.get((k, r)) if s else None
                 for k, r, s in zip(w["candidates"]["kind"], w["candidates"]["rank"], w["candidates"]["suggested"])]
    tmax = max(summary["thresholds_min"])
    eq = summary.get("equity")
    return {
        "lang": language,
        "gcj02": bool(gcj02),  # the page draws in GCJ-02 (amap): the export converts back to WGS84
        "t": {k: v for k, v in CATALOGUE[language].items() if k.startswith(_JS_PREFIXES)},
        "kind_names": {k: kind_name(k, language) for k in (w.get("kinds") or {})} |
                      {k: kind_name(k, language) for k in KIND_COLOURS},
        "kind_colours": KIND_COLOURS,
        "indicator_labels": indicator_labels(preset, language),
        "measured_now": {r["indicator"]: r.get("measured") for r in summary["targets"]["study"]},
        "whatif": w or None,
        "where_units": wu,  # filtered indicators' units (planner.js recomputes them)
        "gains": gains,
        "tmax": float(tmax) if tmax != int(tmax) else int(tmax),
        "equity": eq,
        "equity_note": t("equity.note", language, g=t("group.elderly", language) + " / " +
                         t("group.infants", language), t=f"{tmax:g}") if eq else "",
        "speed_band": summary.get("speed_band"),
        "methods": method_lines(summary["methods"], language) if summary.get("methods") else [],
        "credits": credit_lines(summary.get("credits") or [], language),
        "context": {"roads": _geojson(roads, gcj02, simplify_m=_display_m(roads, 2.0), merge=True),
                    "water": _geojson(water, gcj02),
                    "outlines": _geojson(outlines, gcj02, props=("name",)),
                    "unit_labels": _unit_labels(units, gcj02)},
    }


def panels_html(data: dict, control_name: str | None = None) -> tuple[str, str]:
    """``(html, js)``: the JSON blob for the page body, and the scripts to run after the map exists
    (folium's script section, added after the layer control)."""
    assets = resources.files("circles.assets")
    # the panel waits for the whole page: folium writes the map's own script after this one
    # (a city-scale blob is gzip-compressed: circlesBlob hands over the text once inflated)
    js = assets.joinpath("whatif.js").read_text(encoding="utf-8") + "\n" + BLOB_JS + \
        "\ndocument.addEventListener('DOMContentLoaded', function () {\n" + \
        (f"window.circlesLayerControl = {control_name};\n" if control_name else "") + \
        "circlesBlob('circles-planner-data', function (plannerText) {\n" + \
        assets.joinpath("planner.js").read_text(encoding="utf-8") + "\n});\n});\n"
    return data_script("circles-planner-data", safe_json(data)), js


def add_panels(m, data: dict, control=None):
    """Add the planner's block to a folium map (after every other layer and the layer control);
    ``control`` is the folium LayerControl the context and what-if layers join."""
    name = control.get_name() if control is not None else None
    if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"unexpected layer control name {name!r}")
    html, js = panels_html(data, name)
    # literal text, never a template: the blob holds community, road and credit strings from the data
    m.get_root().html.add_child(RawHTML(html))
    m.get_root().script.add_child(RawHTML(js))
    return m
