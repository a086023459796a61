"""The HTML map report (folium): where every layer and the summary panel are drawn.

Each ``add_*`` function takes a folium map and returns it (geopandas ``explore`` style);
:func:`build_map` assembles them from a plain :class:`ReportData` (made from a run's
results, or read back from a run's output folder by :func:`read_report_data`, so
``circles report`` rebuilds the page without recomputing). :func:`write_report` saves
``report.html`` and the PNG figures.

- Offline: Leaflet is inlined from ``circles/assets`` (no CDN); the base map is optional
  and off by default, the data show without it.
- GCJ-02 base maps (``basemap = "amap"``): Chinese web tiles are drawn in GCJ-02, so every
  layer is shifted from WGS84 to GCJ-02 for display (only for display).
- Text from the data and the study file (facility names and addresses, unit and district
  names, column values, preset labels, the study title) never becomes markup or code. The map
  layers are one JSON payload in an inert ``<script type="application/json">`` element (``<``,
  ``>``, ``&`` written as ``\\u`` escapes so no string can end it); ``circles/assets/report.js``
  builds tooltips and popups from it with ``textContent``. The summary panel, legend and
  ``<title>`` are HTML escaped for their context (text or quoted attribute) and inserted
  verbatim, never through folium's Jinja templates (which would evaluate ``{{ }}`` in a name).
  Layer names are HTML escaped (Leaflet's layer list sets them with ``innerHTML``).
- City scale (issue 15): canvas rendering; population cells stored once (positions, units)
  with one count per group, built only when the layer is first switched on; geometry
  simplified to about a screen pixel at the fitted zoom and coordinates rounded to 1e-5
  degree (about 1 m); above :data:`CLUSTER_ABOVE` facilities the markers are clustered
  below zoom 15 (vendored Leaflet.markercluster) and the isochrone layers start off.
- Every word comes from the catalogue in :mod:`circles.i18n`, in the page's language; units
  are named by their community / street / district names (:func:`circles.io.units.display_names`).
- The planner's panel (what-if, equity, speed band, methods, credits, offline context) is
  :mod:`circles.panels`.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

import shapely
from branca.element import MacroElement
from jinja2 import Template

from circles import context
from circles import coverage as cov
from circles import figures
from circles import i18n
from circles.display import BLOB_JS, KIND_COLOURS, RawHTML, base85_text, data_script, json_in_html, to_display
from circles.display import decode_array, fmt_measured, fmt_pct
from circles.i18n import kind_name
from circles.i18n import t as tr
from circles.kinds import KINDS
from circles.io.units import short_names
from circles.panels import add_panels, planner_data
from circles.credits import credit_lines
from circles.errors import InputFileError
from circles.crs import projected_crs

BASEMAPS = {
    "none": None,
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap contributors", None),
    "amap": ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
             "© 高德地图 AutoNavi", "1234"),
}


@dataclass
class ReportData:
    """Everything the page shows, in plain tables (any CRS; shown in WGS84 or GCJ-02)."""

    units: gpd.GeoDataFrame
    points: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    isochrones: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    summary: dict
    preset: dict
    language: str = "zh"
    basemap: str = "none"
    whatif: dict | None = None  # the what-if payload (circles/whatif.py)
    roads: gpd.GeoDataFrame | None = None  # offline context: the study's road network,
    water: gpd.GeoDataFrame | None = None  # the population raster's nodata (water),
    outlines: gpd.GeoDataFrame | None = None  # street / district outlines (circles/context.py)

    @property
    def gcj02(self) -> bool:
        return self.basemap == "amap"

_WORDS = {"elderly": "group.elderly", "infants": "group.infants", "cov": "rep.cov", "units": "rep.unit",
          "pass": "status.pass", "fail": "status.fail", "nopop": "status.no population", "na": "status.not assessable", "sites": "rep.sites",
          "pop": "rep.pop", "iso": "rep.iso", "worst": "rep.worst", "targets": "rep.targets",
          "measured": "rep.measured", "target": "rep.target", "sources": "rep.sources", "min": "rep.min",
          "gain": "rep.gain", "people": "rep.people", "illustrative": "rep.illustrative", "kind": "rep.kind",
          "capacity": "rep.capacity", "address": "rep.address", "name": "rep.name", "status": "rep.status",
          "summary": "rep.summary", "estimated": "rep.estimated", "parent": "rep.parent"}
#: the page's words, from the catalogue (circles/i18n.py)
_T = {lang: {k: i18n.t(v, lang) for k, v in _WORDS.items()} for lang in i18n.LANGUAGES}


def _e(x) -> str:
    """``x`` as HTML text (:func:`_text`, escaped)."""
    return html.escape(_text(x))


def _ramp(share: float) -> str:
    """Red (0 %) through yellow to green (100 %); grey for no population."""
    if share is None or not np.isfinite(share):
        return "#bdbdbd"
    stops = [(0.0, (215, 48, 39)), (0.5, (254, 224, 139)), (1.0, (26, 152, 80))]
    for (a, ca), (b, cb) in zip(stops[:-1], stops[1:]):
        if share <= b:
            f = (share - a) / (b - a)
            return "#%02x%02x%02x" % tuple(int(ca[i] + f * (cb[i] - ca[i])) for i in range(3))
    return "#1a9850"


DISPLAY_DECIMALS = 5
"""Coordinates on the page are rounded to 1e-5 degree (about 1 m): display precision."""
CLUSTER_ABOVE = 300
"""With more facilities than this (a city), each kind's markers are clustered below zoom 15 and the
isochrone layers start switched off."""


BINARY_ABOVE_CELLS = 50_000
"""With more populated cells than this (a city), the population layers' numbers (positions, units,
counts) leave the JSON for one gzip-compressed binary block of typed arrays (see :class:`_Page`)."""


class _Page:
    """The map's data layers: folium FeatureGroups (for the layer list) filled in the browser from one
    JSON payload by ``circles/assets/report.js``, which sets every data string as text.

    Numbers only (never a string) may go in a binary block instead (:meth:`packed`): the JSON then
    holds ``{"$bin": [byte offset, count], "t": "i4", "d": stride, "div": divisor}`` and report.js
    puts back the array ``cumsum by stride (d) / div``. Positions as delta-coded 1e-5 degree
    integers and counts as tenths of a person are exactly the rounded numbers the JSON would hold,
    in a fraction of the bytes (a 409,600-cell city: 15 MB of JSON text -> under 2 MB gzipped)."""

    def __init__(self, m: folium.Map, tolerance_m: float = 5.0, binary_above_cells: int = BINARY_ABOVE_CELLS):
        self.map = m
        self.tolerance_m = tolerance_m
        self.groups: dict[str, folium.FeatureGroup] = {}
        self.payload: dict = {"shared": {}, "layers": {}}
        self.binary_above_cells = binary_above_cells
        self.binary = False  # set by build_map: a city page (more populated cells than binary_above_cells)
        self.unit_names: dict[str, str] = {}  # unit code -> short name (set by build_map): the cells' tooltips
        self._bin: list[bytes] = []
        self._bin_len = 0

    def packed(self, values, *, div: int = 1, stride: int = 0):
        """``values`` (numbers) as a binary placeholder: int32 of ``round(values * div)``, delta-coded
        by ``stride`` (0: not), read back by report.js as ``value / div``."""
        a = np.rint(np.asarray(values, dtype=float) * div).astype(np.int64)
        if stride:
            a[stride:] = a[stride:] - a[:-stride]
        if len(a) and (a.min() < -2**31 or a.max() >= 2**31):
            raise ValueError("packed: values out of the int32 range")
        return {"$bin": [self._append(a.astype("<i4").tobytes()), len(a)], "t": "i4", "d": stride, "div": div}

    def packed_polygons(self, geoms) -> dict:
        """(Multi)polygons as ``{"$geo": 1, ...}``: coordinates as :meth:`packed` positions and the
        ring / part / geometry offsets of ``shapely.to_ragged_array``; report.js rebuilds each as a
        GeoJSON MultiPolygon (``null`` when empty) with exactly the rounded coordinates
        :func:`_geojson` writes."""
        g = shapely.transform(np.asarray(geoms, dtype=object), lambda c: c.round(DISPLAY_DECIMALS))
        g = np.array([x if x is not None else shapely.MultiPolygon() for x in g], dtype=object)
        _, xy, (rings, parts, each) = shapely.to_ragged_array(g)
        return {"$geo": 1, "xy": self.packed(xy.ravel(), div=10 ** DISPLAY_DECIMALS, stride=2),
                "rings": self.packed(rings, stride=1), "parts": self.packed(parts, stride=1),
                "geoms": self.packed(each, stride=1)}

    def _append(self, raw: bytes) -> int:
        """Add ``raw`` to the binary block at the next 8-byte boundary (typed arrays need aligned
        offsets); returns its byte offset."""
        pad = (-self._bin_len) % 8
        self._bin.append(b"\0" * pad + raw)
        self._bin_len += pad + len(raw)
        return self._bin_len - len(raw)

    def layer(self, name: str, show: bool, spec: dict, role: str) -> None:
        # Leaflet's layer list sets names with innerHTML: escape them as HTML text
        fg = folium.FeatureGroup(name=html.escape(name), show=show)
        fg.add_to(self.map)
        key = f"l{len(self.groups)}"
        self.groups[key] = fg
        self.payload["layers"][key] = {**spec, "role": role}

    def packed_raw(self, b64: str, dtype: str, *, delta: bool = False) -> dict:
        """A base64 little-endian array of the what-if payload (:func:`circles.display.decode_array`) as a binary
        placeholder read back as that typed array: bytes shuffled (every value's first byte, then
        every second byte...) and, with ``delta``, int32 differences, so gzip finds the repeats."""
        a = decode_array(b64, dtype)
        if delta:
            a = np.diff(a.astype(np.int64), prepend=0).astype("<i4")
        size = a.dtype.itemsize
        raw = np.frombuffer(a.tobytes(), np.uint8).reshape(-1, size).T.tobytes()
        return {"$bin": [self._append(raw), len(a)], "t": np.dtype(dtype).str[1:], "raw": 1, "sh": 1,
                "d": 1 if delta else 0}

    def finish(self) -> None:
        """Embed the payload as inert JSON and the call that draws it (and the binary block, if any:
        base85 of gzip (circles/display.py base85_text), no character of which can end its element)."""
        if self._bin:
            self.payload["bin"] = "circles-data-bin"
            # base85, not base64: a city's 6.4 MB of gzip take 8.0 MB of page instead of 8.5
            packed = base85_text(gzip.compress(b"".join(self._bin), 6, mtime=0))
            self.map.get_root().html.add_child(RawHTML(
                f'<script type="text/plain" id="circles-data-bin" data-encoding="gzip-base85">{packed}</script>'),
                name="circles_data_bin")
        data = json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        # the map data is packed past 1 M characters (a city's 1.45 MB of JSON -> 0.31 MB: its page under
        # 10 MB); the demo's and the Wuhan core's (0.35-0.38 MB) stay plain JSON
        self.map.get_root().html.add_child(RawHTML(data_script("circles-data", json_in_html(data),
                                                               gzip_above=MAP_DATA_GZIP_ABOVE_CHARS)),
                                           name="circles_data")
        self.map.add_child(_DrawCall(self.groups))


class _DrawCall(MacroElement):
    _template = Template("""{% macro script(this, kwargs) %}
""" + BLOB_JS + """
circlesBlob('circles-data', function (text) {
  circlesPayload(JSON.parse(text), function (P) {
    circlesReport({{ this._parent.get_name() }}, {{ this.refs }}, P);
    window.circlesReportDrawn = true;
  });
});
{% endmacro %}""")

    def __init__(self, groups: dict[str, folium.FeatureGroup]):
        super().__init__()
        # keys are our own l0, l1...; values are folium's generated JavaScript names
        self.refs = "{" + ",".join(f"{k}:{fg.get_name()}" for k, fg in groups.items()) + "}"


#: the map data (``circles-data``) is stored gzip-compressed past this many characters
MAP_DATA_GZIP_ABOVE_CHARS = 1_000_000


def _text(x) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA else str(x)


def _col(label: str, values) -> dict:
    """A text column for tooltips and popups: repeated strings stored once (levels + codes)."""
    # a plain list first (iterating a pandas column cell by cell costs ~1 us a cell; a city's population
    # cells have 400,000), and the common case, already a string, without a call
    vals = [v if type(v) is str else _text(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]
    levels = list(dict.fromkeys(vals))
    if len(levels) < 0.5 * len(vals):
        index = {v: i for i, v in enumerate(levels)}
        return {"label": label, "levels": levels, "codes": [index[v] for v in vals]}
    return {"label": label, "v": vals}


def _num_col(label: str, values, fmt) -> dict:
    return {"label": label, "v": [None if v is None or not np.isfinite(v) else fmt(v)
                                  for v in pd.to_numeric(pd.Series(values), errors="coerce").astype(float)]}


def _xy(gdf: gpd.GeoDataFrame) -> list[float]:
    xy = np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()]).round(DISPLAY_DECIMALS)
    return xy.ravel().tolist()


def _geojson(geoms) -> list:
    """Geometries as GeoJSON dicts, coordinates rounded to :data:`DISPLAY_DECIMALS`."""
    geoms = shapely.transform(np.asarray(geoms, dtype=object), lambda c: c.round(DISPLAY_DECIMALS))
    return [None if g is None or g.is_empty else json.loads(shapely.to_geojson(g)) for g in geoms]


def _simplified(gdf: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoDataFrame:
    metric = projected_crs(gdf)
    g = gdf.to_crs(metric)
    # Douglas-Peucker without topology repair: 10x faster, and a sliver at 5-15 m is invisible on screen
    return g.set_geometry(g.geometry.simplify(tolerance_m, preserve_topology=False))


def _unit_outlines(page: _Page, units: gpd.GeoDataFrame, gcj02: bool) -> str:
    """The key of the units' simplified display outlines in the payload's shared part, stored once for
    every unit layer (coverage per group, pass/fail)."""
    key = "units_gcj02" if gcj02 else "units"
    if key not in page.payload["shared"]:
        page.payload["shared"][key] = _geojson(to_display(_simplified(units, page.tolerance_m), gcj02).geometry)
    return key


def add_units(page: _Page, units: gpd.GeoDataFrame, metric: str, name: str, language: str, show: bool,
              gcj02: bool = False, whatif_key: str | None = None) -> _Page:
    """Units coloured by a share column (0-1). ``whatif_key`` (``"elderly_15"``: group and minutes
    of the what-if engine's per-unit coverage) lets the what-if panel recolour the units by their
    coverage after the chosen sites (circles/assets/planner.js)."""
    t = _T[language]
    key = _unit_outlines(page, units, gcj02)
    share = pd.to_numeric(units[metric], errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)
    page.layer(name, show, {
        "type": "polygons", "geoms": key, "fill": [_ramp(None if pd.isna(s) else s) for s in share],
        "style": {"color": "#555", "weight": 0.6, "fillOpacity": 0.55}, "sticky": True,
        **({"whatif_key": whatif_key, "unit_id": units["unit_id"].astype(str).tolist()} if whatif_key else {}),
        "tooltip": _unit_cols(units, language) + [_num_col(name, share, fmt_pct),
                    _num_col(t["elderly"], units["pop_elderly"], lambda v: f"{v:,.0f}"),
                    _num_col(t["infants"], units["pop_infants"], lambda v: f"{v:,.0f}")]}, "units")
    return page


def _unit_cols(units: gpd.GeoDataFrame, language: str) -> list[dict]:
    """Tooltip columns naming a unit: its name, its street / district, and its code when it has a name."""
    names = short_names(units)
    cols = [_col(tr("rep.unit", language), names), _col(tr("rep.parent", language), units["parent"])]
    if (names != units["unit_id"].astype(str)).any():
        cols.append(_col(tr("col.unit_id", language), units["unit_id"]))
    return cols


def add_pass_fail(page: _Page, units: gpd.GeoDataFrame, preset: dict, language: str, gcj02: bool = False) -> _Page:
    """Units coloured by how many of the preset's targets they fail."""
    t = _T[language]
    key = _unit_outlines(page, units, gcj02)
    inds = [i for i in preset["indicators"] if f"status_{i['id']}" in units]
    labels = i18n.indicator_labels(preset, language)
    n = max(1, len(inds))
    n_fail = pd.to_numeric(units["n_fail"], errors="coerce").fillna(0).to_numpy()
    # the what-if recolours this layer and its tooltips by the targets failed after the chosen sites
    # (planner.js): the run's status per unit and indicator, for those the page does not recompute
    page.layer(f"{t['pass']}/{t['fail']} ({t['targets']})", False, {
        "type": "polygons", "geoms": key, "fill": [_ramp(1 - f / n) for f in n_fail],
        "whatif_passfail": True, "unit_id": units["unit_id"].astype(str).tolist(), "n_ind": n,
        "status_now": {i["id"]: units[f"status_{i['id']}"].fillna("").astype(str).tolist() for i in inds},
        "style": {"color": "#333", "weight": 0.6, "fillOpacity": 0.5}, "sticky": True,
        "tooltip": _unit_cols(units, language) + [_num_col(t["fail"], n_fail, lambda v: f"{v:.0f}")]
        + [_col(labels[i["id"]], units[f"status_{i['id']}"]) for i in inds]}, "pass_fail")
    return page


def _populated(points: gpd.GeoDataFrame) -> np.ndarray:
    """The cells with people (``total`` > 0; every cell when there is no ``total``): those the page draws."""
    if "total" not in points:
        return np.ones(len(points), bool)
    return pd.to_numeric(points["total"], errors="coerce").fillna(0).to_numpy(float) > 0


def add_population(page: _Page, points: gpd.GeoDataFrame, group: str, language: str, show: bool = False,
                   gcj02: bool = False) -> _Page:
    """Population cells as small canvas circles shaded by the group's count (built when first shown).

    The populated cells' positions and units are stored once for both groups; each layer adds
    only its counts (0.1 person precision)."""
    t = _T[language]
    key = "cells_gcj02" if gcj02 else "cells"
    cells = points[_populated(points)]
    binary = page.binary
    if key not in page.payload["shared"]:
        xy = _xy(to_display(cells[["geometry"]], gcj02)) if len(cells) else []
        unit = _col(t["units"], cells["unit_id"].astype(str).map(page.unit_names).fillna(cells["unit_id"]))
        if binary:  # 1e-5 degree integers, delta-coded x after x and y after y (cells come in rows)
            xy = page.packed(xy, div=10 ** DISPLAY_DECIMALS, stride=2)
            if "codes" in unit:
                unit["codes"] = page.packed(unit["codes"])
        page.payload["shared"][key] = xy
        page.payload["shared"][key + "_unit"] = unit
    values = pd.to_numeric(cells[group], errors="coerce").fillna(0).to_numpy(float).round(1)
    top = float(np.nanpercentile(values[values > 0], 98)) if (values > 0).any() else 1.0
    page.layer(f"{t['pop']}: {t[group]}", show, {
        "type": "cells", "xy": key, "unit": key + "_unit", "label": t[group], "radius": 3,
        "color": "#3f007d" if group == "elderly" else "#00441b", "top": top or 1.0,
        "values": page.packed(values, div=10) if binary else
        [int(v) if v == int(v) else v for v in values.tolist()]}, "population")
    return page


def add_facilities(page: _Page, facilities: gpd.GeoDataFrame, language: str, gcj02: bool = False) -> _Page:
    """One toggleable layer per facility kind, clustered at low zoom when there are many."""
    t = _T[language]
    fac = to_display(facilities, gcj02)
    cluster = 15 if len(fac) > CLUSTER_ABOVE else None
    for kind, group in fac.groupby("kind", sort=False):
        label = kind_name(kind, language)
        unit = tr("rep.beds_unit" if KINDS[kind].capacity == "beds" else "rep.slots_unit", language)
        caps = pd.to_numeric(group["capacity"], errors="coerce")
        ill = group["illustrative"].fillna(False).astype(bool) if "illustrative" in group else pd.Series(False, group.index)
        page.layer(f"{label} ({len(group)})", True, {
            "type": "points", "xy": _xy(group), "radius": 6, "weight": 1, "stroke": "#222",
            "color": KIND_COLOURS.get(kind, "#333"), "fillOpacity": 0.95, "cluster": cluster,
            "tooltip": [_col("", group["name"])], "title": _col("", group["name"]),
            "popup": [_col(t["kind"], [label] * len(group)),
                      _col(t["capacity"], ["" if pd.isna(c) else f"{c:.0f} {unit}" for c in caps]),
                      *_uncounted_places(group, language),
                      _col(t["address"], group["address"] if "address" in group else [""] * len(group))],
            "note": t["illustrative"], "noteFlag": ill.astype(int).tolist()}, "facilities")
    return page


def _uncounted_places(group: gpd.GeoDataFrame, language: str) -> list[dict]:
    """Popup rows for a kindergarten's 托位数 that do not count as under-3 slots (the rule of
    circles/kinds.py): the places the file gives and why they are left out, so a blank capacity
    is not read as "no data". Nothing for other kinds or kindergartens without such places."""
    if "slots" not in group or not (group["kind"] == "kindergarten").any():
        return []
    places = pd.to_numeric(group["slots"], errors="coerce").where(group["kind"] == "kindergarten")
    if not (places > 0).any():
        return []
    why = tr("rep.kg_not_counted", language)
    return [_col(tr("rep.places", language), ["" if not p > 0 else f"{p:.0f} ({why})" for p in places])]


def _band_opacity(minutes: float, tmax: float) -> float:
    """An isochrone band's extra opacity: 0.12 for the outermost (``tmax``) band, up to 0.30 nearest the
    facility (the map's layers and the legend's swatches)."""
    return round(0.12 + 0.18 * (1 - minutes / tmax), 3)


def add_isochrones(page: _Page, iso: gpd.GeoDataFrame, language: str, show_kinds=("daycare", "nursery"),
                   gcj02: bool = False) -> _Page:
    """Isochrones per kind, one layer per kind with its 5/10/15-minute bands."""
    t = _T[language]
    if iso.empty:
        return page
    iso = to_display(_simplified(iso, page.tolerance_m), gcj02)
    for kind, group in iso.groupby("kind", sort=False):
        label = kind_name(kind, language)
        group = group.sort_values("minutes", ascending=False)
        tmax = group["minutes"].max()
        c = KIND_COLOURS.get(kind, "#333")
        page.layer(f"{label} {'/'.join(f'{x:g}' for x in sorted(group['minutes']))} {t['min']} {t['iso']}",
                   kind in show_kinds, {
                       "type": "polygons",
                       "geoms": page.packed_polygons(group.geometry) if page.binary else _geojson(group.geometry),
                       "opacity": [_band_opacity(x, tmax) for x in group["minutes"]],
                       "style": {"fillColor": c, "color": c, "weight": 0.5, "fillOpacity": 0.2},
                       "tooltip": [_col("", [f"{label} {x:g} {t['min']}" for x in group["minutes"]])]}, "isochrones")
    return page


def add_sites(page: _Page, sites: gpd.GeoDataFrame, language: str, gcj02: bool = False, show: bool = True) -> _Page:
    """Suggested sites as numbered badges (no icon font needed, so it works offline)."""
    t = _T[language]
    if sites.empty:
        return page
    s = to_display(sites, gcj02)
    labels = [kind_name(k, language) for k in s["kind"]]
    ranks = s["rank"].astype(int).tolist()
    page.layer(f"{t['sites']} ({len(s)})", show, {
        "type": "points", "xy": _xy(s), "colors": [KIND_COLOURS.get(k, "#333") for k in s["kind"]],
        "badge": _col("", ranks), "tooltip": [_col("", [f"{lab} #{r}" for lab, r in zip(labels, ranks)])],
        "title": _col("", [f"{t['sites']} #{r}" for r in ranks]),
        "popup": [_col(t["kind"], labels), _num_col(t["capacity"], s["capacity"], lambda v: f"{v:.0f}"),
                  _num_col(t["gain"], s["gain"], lambda v: f"{v:.0f} {t['people']}")]
        # floor area per slot of a new nursery ([siting] floor_m2; circles/stages/siting.py floor_per_slot)
        + ([_num_col(tr("rep.floor_per_slot", language), s["floor_m2_per_slot"], lambda v: f"{v:.1f} m²")]
           if "floor_m2_per_slot" in s else [])}, "sites")
    return page


_STATUS_KEY = {"pass": "pass", "fail": "fail", "not assessable": "na", "no population": "nopop"}


def _gap(r: dict, gap_kind: dict, language: str, run_language: str | None = None) -> str:
    """A target row's gap in the page's language: as saved when the page is in the run's language,
    else made again from the number (summary.json holds the run's language)."""
    if language == run_language:
        return str(r.get("gap_text") or "")
    if r.get("status") == "not assessable":  # the reason the targets stage wrote, in the page's language
        return i18n.relang(str(r.get("gap_text") or ""), language)
    if r.get("status") != "fail" or r.get("indicator") not in gap_kind or f"gap.{gap_kind[r['indicator']]}" not in \
            i18n.CATALOGUE[language]:
        return "" if r.get("status") != "fail" else str(r.get("gap_text") or "")
    return i18n.gap_text(float(r["gap"]), gap_kind[r["indicator"]], language)


def _estimate_lines(summary: dict, language: str) -> list[tuple[str, str]]:
    """The population estimates used, in the page's language."""
    p = summary.get("methods") or {}
    est = summary["population"].get("estimated", {})
    out = []
    for key, text in est.items():
        group = tr(f"group.{key}", language) if f"group.{key}" in i18n.CATALOGUE[language] else key
        if key == "infants" and p:
            out.append((group, tr("methods.infants_share", language, share=f"{p['infant_share']:g}")
                        if p["total_only"] else tr("methods.infants", language, r=f"{p['child_woman_ratio']:g}")))
        elif key == "elderly" and p:
            out.append((group, tr("methods.elderly_share", language, share=f"{p['elderly_share']:g}")))
        elif key == "total" and p:
            out.append((group, tr("methods.total", language, u=f"{p['under20_share']:g}")))
        else:  # a rule this page has no words for: as the run wrote it
            out.append((group, str(text)))
    return out


def summary_html(summary: dict, preset: dict, language: str, curve_png: bytes | None = None,
                 bars_png: bytes | None = None, units: pd.DataFrame | None = None) -> str:
    """The summary panel: key indicators beside the plan's targets, worst units, sources.

    Every word comes from the catalogue in the page's language; texts that summary.json holds
    in the run's language (gaps, why a unit is among the worst) are made again from numbers.
    """
    t = _T[language]
    gap_kind = {i["id"]: i["gap"] for i in preset["indicators"]}
    run_lang = summary.get("language")
    tm = max(summary["thresholds_min"])
    rows = "".join(
        f"<tr><td>{_e(t[g])}</td>" + "".join(f"<td>{fmt_pct(summary['coverage'][g][f'{x:g}min'])}</td>" for x in summary["thresholds_min"])
        + "</tr>" for g in ("elderly", "infants"))
    head = "".join(f"<th>{_e(tr('rep.within', language, t=f'{x:g}'))}</th>" for x in summary["thresholds_min"])
    labels = i18n.indicator_labels(preset, language)
    sources = {i["id"]: i.get("source", "") for i in preset["indicators"]}
    trows = "".join(
        f"<tr class='target-row' data-indicator='{_e(r['indicator'])}'><td title='{_e(sources[r['indicator']])}'>{_e(labels[r['indicator']])}</td>"
        f"<td class='measured'>{fmt_measured(r['measured'], r['indicator'])}{_pair(r, language)}</td>"
        f"<td>{fmt_measured(r['target'], r['indicator'])}{_plan_total(r, language)}</td>"
        f"<td class='{_e(r['status'].replace(' ', '-'))}'>{_e(t['pass'] if r['status'] == 'pass' else t['fail'] if r['status'] == 'fail' else t['na'] if r['status'] == 'not assessable' else t['nopop'])}</td>"
        f"<td>{_e(_gap(r, gap_kind, language, run_lang))}</td></tr>" for r in summary["targets"]["study"])
    by_id = units.set_index(units["unit_id"].astype(str)) if units is not None and len(units) else None
    names = dict(zip(by_id.index, short_names(by_id))) if by_id is not None else {}
    worst = ""
    for w in summary["worst_units"]:
        uid = str(w["unit_id"])
        limit = (summary.get("travel") or {}).get("search_limit_min")
        why = i18n.worst_why(by_id.loc[uid].to_dict(), tm, language, limit) \
            if language != run_lang and by_id is not None and uid in by_id.index else w["why"]
        where = f" ({_e(w['parent'])})" if w.get("parent") else ""
        code = f" <span style='color:#777'>{_e(uid)}</span>" if names.get(uid, uid) != uid else ""
        worst += f"<li><b>{_e(names.get(uid, uid))}</b>{code}{where}: {_e(why)}</li>"
    notes = "".join(f"<li>{_e(t['estimated'])}: {_e(k)}: {_e(x)}</li>" for k, x in _estimate_lines(summary, language))
    kg = (summary.get("methods") or {}).get("kindergarten_places")
    kg_en = tr("warn.kg_places", "en", **kg) if kg else None  # shown below in the page's language
    notes += "".join(f"<li class='warning'>{_e(w)}</li>" for w in summary.get("warnings") or [] if w != kg_en)  # run's language
    if summary.get("illustrative_facilities"):
        notes += f"<li><b>{_e(t['illustrative'])}</b></li>"
    net = summary["network"]
    notes += "<li>" + _e(tr("rep.network", language, nodes=net["n_nodes"], edges=net["n_edges"], km=net["length_km"],
                                pieces=net["n_pieces"], share=f"{net['largest_piece_share']:.0%}",
                                joins=net["n_connectors"])) + "</li>"
    if kg:  # what a rule leaves out, in the page's language (summary.json `warnings` holds it in English)
        notes += f"<li class='warning'><b>{_e(tr('warn.kg_places', language, **kg))}</b></li>"
    pop = summary["population"]
    notes += "<li>" + _e(tr("rep.offroad_cells", language, m=f"{pop['max_offroad_m']:g}", n=pop["beyond_offroad_cells"],
                            people=f"{pop['beyond_offroad_people']:,.0f}")) + "</li>"
    credits = "".join(f"<li class='credit'>{_e(x)}</li>" for x in credit_lines(summary.get("credits") or [], language))
    sites = ""
    for kind, info in summary.get("siting", {}).items():
        if kind == "joint":
            label = tr("rep.joint", language)
            sites += (f"<li>{_e(label)} +{info.get('n_sites', 0)}: {t['elderly']} "
                      f"{fmt_pct(info.get('share_before_elderly'))} → {fmt_pct(info.get('share_after_elderly'))}, "
                      f"{t['infants']} {fmt_pct(info.get('share_before_infants'))} → "
                      f"{fmt_pct(info.get('share_after_infants'))} ({info['threshold_min']:g} {t['min']})</li>")
            continue
        label = kind_name(kind, language)
        if not info.get("n_sites"):
            sites += f"<li>{_e(label)}: {_e(tr('rep.no_candidates', language))}</li>"
            continue
        sites += (f"<li>{_e(label)} +{info.get('n_sites', 0)}: "
                  f"{fmt_pct(info.get('share_before'))} → {fmt_pct(info.get('share_after'))} "
                  f"({t[info['group']]}, {info['threshold_min']:g} {t['min']}; {_e(info['model'])}, "
                  f"{_e(info['method'])})</li>")
    img = "".join(f"<img alt='{_e(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}' style='width:100%'>"
                  for alt, png in (("coverage curve", curve_png), ("units bar chart", bars_png)) if png)
    after = summary.get("targets_after") or []
    if after:
        sites += "".join(
            f"<li class='after-row'>{_e(tr('rep.after', language))} · "
            f"{_e(labels.get(r['indicator'], r['indicator']))}: "
            f"{fmt_measured(r['measured'], r['indicator'])} → {_e(t[_STATUS_KEY.get(r['status'], 'fail')])}"
            f" {_e(_gap(r, gap_kind, language, run_lang))}</li>" for r in after)
    title = _e(summary.get("title") or summary["study"])
    return f"""
<div id="circles-summary" style="position:fixed;top:10px;left:50px;z-index:1000;width:390px;max-height:92%;overflow:auto;
 background:rgba(255,255,255,0.95);padding:10px 12px;border-radius:6px;box-shadow:0 1px 6px rgba(0,0,0,.4);font:12px/1.4 sans-serif">
<button id="circles-summary-toggle" style="float:right" onclick="var b=document.getElementById('circles-summary-body');
 b.style.display=b.style.display==='none'?'block':'none';">{_e(tr('rep.toggle', language))}</button>
<h3 style="margin:0 0 6px 0;font-size:15px">{title}</h3><div id="circles-summary-body">
<div>{_e(tr('rep.walk_speed', language))} {summary['walk_speed_mps']:g} m/s ·
 {_e(tr('rep.population', language))}: {pop['total']:,.0f} · {_e(t['elderly'])} {pop['elderly']:,.0f} · {_e(t['infants'])} {pop['infants']:,.0f}</div>
<table class="coverage" style="width:100%;border-collapse:collapse;margin-top:6px">
<tr><th></th>{head}</tr>{rows}</table>
<h4 style="margin:8px 0 2px 0">{_e(t['targets'])}: {_e(summary['targets']['title'] if language == run_lang else preset.get('preset', {}).get(f'title_{language}') or summary['targets']['title'])}</h4>
<table class="targets" style="width:100%;border-collapse:collapse"><tr><th></th><th>{t['measured']}</th><th>{t['target']}</th><th>{t['status']}</th><th></th></tr>{trows}</table>
<h4 style="margin:8px 0 2px 0">{_e(t['worst'])} ({_e(tr('rep.within', language, t=f'{tm:g}'))})</h4><ol style="padding-left:18px;margin:0">{worst}</ol>
<h4 style="margin:8px 0 2px 0">{_e(t['sites'])}</h4><ul style="padding-left:18px;margin:0">{sites}</ul>
{img}
<h4 style="margin:8px 0 2px 0">{_e(t['sources'])}</h4><ul style="padding-left:18px;margin:0">{notes}</ul>
<h4 style="margin:8px 0 2px 0">{_e(tr('rep.credits', language))}</h4><ul class="credits" style="padding-left:18px;margin:0;color:#555">{credits}</ul>
</div></div>
<style>#circles-summary td,#circles-summary th{{border-bottom:1px solid #ddd;padding:2px 4px;text-align:left}}
#circles-summary .fail,#circles-summary .pass,#circles-summary .not-assessable{{white-space:nowrap}}
#circles-summary .fail{{color:#b2182b;font-weight:bold}}#circles-summary .pass{{color:#1a9850;font-weight:bold}}</style>
"""


def _pair(row: dict, language: str) -> str:
    """The other form of an indicator beside the scored one (the plan's literal count and the walk-based
    share, or a plain ratio and its 2SFCA twin): ``pair_metric`` / ``pair_measured`` of the target row."""
    metric, value = row.get("pair_metric"), row.get("pair_measured")
    if not isinstance(metric, str) or value is None:
        return ""
    key = "rep.pair_sfca" if metric.startswith(("sfca_", "e2sfca_")) else "rep.pair_walk"
    return f"<br><small class='pair'>{_e(tr(key, language, v=fmt_measured(value, metric)))}</small>"


def _plan_total(row: dict, language: str) -> str:
    """Beside a city-wide total scaled to the study's share of the city's residents: the plan's own figure."""
    plan, target = row.get("plan_value"), row.get("target")
    if plan is None or target is None or row.get("status") == "not assessable" or abs(plan - target) < 1e-9:
        return ""
    return f"<br><small class='plan-total'>{_e(tr('rep.plan_total', language, value=f'{plan:,.0f}', share=f'{target / plan:.2%}'))}</small>"


def legend_html(language: str, *, kinds=(), sites: bool = False, candidates: bool = False, iso_minutes=(),
                context=(), tm: float = 15) -> str:
    """The map's key: one entry per symbol the page draws, and only for what is there.

    ``kinds``: the facility kinds present (dots in their colour); ``sites``: the numbered
    suggested-site badges; ``candidates``: the what-if's white candidate circles (blue when
    chosen); ``iso_minutes``: the isochrone bands drawn (shading darker nearer the facility);
    ``context``: the offline layers present (``"water"``, ``"roads"``, ``"outlines"``). The unit
    colour ramp (coverage, and share of targets met on the pass/fail layer), the grey of a unit
    with no population and the population cells are always drawn. Every word is the catalogue's.
    """
    def dot(colour, border="#222", size=10, extra=""):
        return (f"<span style='display:inline-block;width:{size}px;height:{size}px;border-radius:50%;background:{colour};"
                f"border:1px solid {border};box-sizing:border-box;vertical-align:middle;{extra}'></span>")

    def sq(colour, opacity=1.0, border="none"):
        return (f"<span style='display:inline-block;width:14px;height:10px;background:{colour};opacity:{opacity};"
                f"border:{border};vertical-align:middle'></span>")

    def row(symbol, text, cls):
        return f"<div class='legend-item legend-{cls}'>{symbol} {_e(text)}</div>"

    items = []
    for k in kinds:  # the kinds present, in the vocabulary's order
        items.append(row(dot(KIND_COLOURS.get(k, "#333")), kind_name(k, language), f"kind-{k}"))
    if sites:
        badge = ("<span style='display:inline-block;width:16px;height:16px;line-height:13px;border-radius:50%;"
                 "background:#555;color:#fff;border:1.5px solid #fff;box-shadow:0 0 2px #000;text-align:center;"
                 "font:bold 10px sans-serif;box-sizing:border-box;vertical-align:middle'>1</span>")
        items.append(row(badge, tr("legend.site", language), "site"))
    if candidates:
        items.append(row(dot("#fff", "#555"), tr("legend.candidate", language), "candidate"))
        items.append(row(dot("#08519c", "#08519c"), tr("legend.chosen", language), "chosen"))
    if len(iso_minutes):
        mins = sorted(iso_minutes)
        shade = "".join(sq("#555", _band_opacity(x, mins[-1]) + 0.2) for x in mins)
        items.append(row(shade, tr("legend.iso", language, t="/".join(f"{x:g}" for x in mins)), "iso"))
    ramp = "".join(sq(_ramp(x)) for x in (0, .25, .5, .75, 1))
    items.append(row(f"0% {ramp} 100%", tr("legend.cov", language, t=f"{tm:g}"), "cov"))
    items.append(row(sq(_ramp(None)), tr("legend.nopop", language), "nopop"))
    items.append(row(dot("#3f007d", "#3f007d", 7) + dot("#00441b", "#00441b", 7), tr("legend.cells", language), "cells"))
    if "water" in context:
        items.append(row(sq("#9ecae1"), tr("rep.water", language), "water"))
    if "roads" in context:
        items.append(row("<span style='display:inline-block;width:14px;border-top:1px solid #888;vertical-align:middle'>"
                         "</span>", tr("rep.roads", language), "roads"))
    if "outlines" in context:
        items.append(row("<span style='display:inline-block;width:14px;border-top:2px dashed #333;vertical-align:middle'>"
                         "</span>", tr("rep.districts", language), "outlines"))
    # on screen: bottom left, beside the summary panel (the layer list and the what-if panel hold the right);
    # on paper print.css puts it in the map's corner. Its title folds it away.
    return (f"<div id='circles-legend' style='position:fixed;bottom:24px;left:470px;z-index:1000;background:rgba(255,255,255,.95);"
            f"padding:5px 7px;border-radius:4px;font:11px/1.35 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.4);max-width:300px;"
            f"max-height:45%;overflow:auto'><b style='cursor:pointer' onclick=\"var b=document.getElementById("
            f"'circles-legend-body');b.style.display=b.style.display==='none'?'block':'none';\">"
            f"{_e(tr('legend.title', language))}</b><div id='circles-legend-body'>{''.join(items)}</div></div>")


_CSS = """
.circles-badge{color:#fff;border:2px solid #fff;border-radius:50%;width:24px;height:24px;line-height:20px;
 text-align:center;font:bold 12px sans-serif;box-shadow:0 0 3px #000}
.circles-cluster{background:#fff;border:3px solid;border-radius:50%;width:26px;height:26px;line-height:20px;
 text-align:center;font:bold 11px sans-serif;box-shadow:0 0 3px #000;box-sizing:border-box;opacity:.9}
table.circles-tip td{padding:0 4px}
.leaflet-tooltip{max-width:360px;white-space:normal;overflow-wrap:anywhere}
.leaflet-tooltip.circles-outline-tip{max-width:none;white-space:nowrap}
.leaflet-tooltip table.circles-tip,.leaflet-popup-content{max-height:240px;overflow:auto;overflow-wrap:anywhere}
"""


def inline_assets(m: folium.Map) -> folium.Map:
    """Replace folium's CDN links by the vendored Leaflet, markercluster and our drawing script,
    inlined: the page then works offline."""
    assets = resources.files("circles.assets")
    m.default_js = []
    m.default_css = []
    css = "\n".join(assets.joinpath(f).read_text(encoding="utf-8")
                    for f in ("leaflet.css", "MarkerCluster.css", "MarkerCluster.Default.css", "print.css"))
    js = [assets.joinpath(f).read_text(encoding="utf-8") for f in ("leaflet.js", "leaflet.markercluster.js", "report.js")]
    m.get_root().header.add_child(
        RawHTML(f"<style>{css}\n{_CSS}</style>\n" + "\n".join(f"<script>{j}</script>" for j in js)),
        name="leaflet_inline")
    return m


def build_map(data: ReportData, *, curve_png: bytes | None = None, bars_png: bytes | None = None,
              binary_above_cells: int = BINARY_ABOVE_CELLS) -> folium.Map:
    """Assemble the report map (population layers in a binary block above ``binary_above_cells`` cells)."""
    language, g = data.language, data.gcj02
    t = _T[language]
    minx, miny, maxx, maxy = to_display(data.units, g).total_bounds
    m = folium.Map(location=((miny + maxy) / 2, (minx + maxx) / 2), zoom_start=14, tiles=None, control_scale=True,
                   prefer_canvas=True)
    inline_assets(m)
    title = data.summary.get("title") or data.summary.get("study") or ""
    m.get_root().header.add_child(RawHTML(f"<title>{_e(title)}</title>"), name="circles_title")
    if data.basemap not in BASEMAPS:
        raise ValueError(f"basemap {data.basemap!r}: use one of {', '.join(BASEMAPS)}")
    if data.basemap != "none":  # no base layer is offered that cannot load: none unless one was configured
        url, attr, sub = BASEMAPS[data.basemap]
        folium.TileLayer(url, attr=attr, name=data.basemap, subdomains=sub or "abc", overlay=False).add_to(m)
    # simplify to about a pixel at the zoom that fits the study area (5 m for a 7 km area)
    metric = projected_crs(data.units)
    x0, y0, x1, y1 = data.units.to_crs(metric).total_bounds
    page = _Page(m, tolerance_m=max(5.0, max(x1 - x0, y1 - y0) / 2000), binary_above_cells=binary_above_cells)
    page.binary = int(_populated(data.points).sum()) > binary_above_cells
    tm = max(data.summary["thresholds_min"])
    page.unit_names = dict(zip(data.units["unit_id"].astype(str), short_names(data.units)))
    add_units(page, data.units, cov.col("cov", "elderly", "any", tm),
              tr("rep.within_cov", language, g=t["elderly"], t=f"{tm:g}"), language, True, g, f"elderly_{tm:g}")
    add_units(page, data.units, cov.col("cov", "infants", "any", tm),
              tr("rep.within_cov", language, g=t["infants"], t=f"{tm:g}"), language, False, g, f"infants_{tm:g}")
    add_pass_fail(page, data.units, data.preset, language, g)
    add_population(page, data.points, "elderly", language, gcj02=g)
    add_population(page, data.points, "infants", language, gcj02=g)
    # at city scale the study-wide isochrones are a tangle over the coverage colours: off by default
    city = len(data.facilities) > CLUSTER_ABOVE
    add_isochrones(page, data.isochrones, language, show_kinds=() if city else ("daycare", "nursery"), gcj02=g)
    add_facilities(page, data.facilities, language, g)
    # with a what-if, its layer shows the suggested sites, clickable (circles/panels.py); this one
    # (popups with capacity and gain) stays in the layer list, off
    add_sites(page, data.sites, language, g, show=not (data.whatif and data.whatif.get("candidates")))
    whatif = _packed_whatif(page, data.whatif)
    page.finish()
    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    # leave room for the summary panel (left) and the layer list (right)
    m.fit_bounds([[miny, minx], [maxy, maxx]], padding_top_left=(420, 10), padding_bottom_right=(330, 10))
    m.get_root().html.add_child(RawHTML(summary_html(data.summary, data.preset, language, curve_png, bars_png,
                                                  units=data.units)))
    present = set(data.facilities["kind"]) if "kind" in data.facilities else set()
    wi = (data.whatif or {}).get("candidates") or {}
    ctx = [k for k, g in (("water", data.water), ("roads", data.roads), ("outlines", data.outlines))
           if g is not None and len(g)]
    m.get_root().html.add_child(RawHTML(legend_html(
        language, kinds=[k for k in KINDS if k in present], sites=bool(len(data.sites)) or any(wi.get("suggested", [])),
        candidates=not all(wi.get("suggested", [True])), tm=tm,
        iso_minutes=sorted(set(data.isochrones["minutes"])) if len(data.isochrones) else (), context=ctx)))
    # the planner's panel: offline context, what-if, equity, speed band, methods, credits
    add_panels(m, planner_data(data.summary, data.preset, language, whatif, roads=data.roads, water=data.water,
                               outlines=data.outlines, sites=data.sites, units=data.units, gcj02=g),
               control=control)
    return m


def _packed_whatif(page: _Page, whatif: dict | None) -> dict | None:
    """The what-if payload for the page: above ``page.binary_above_cells`` cells its arrays (times,
    weights, 2SFCA figures, the candidate matrix) move into the page's binary block and planner.js
    puts them back (``whatif.json`` keeps the plain base64 form :func:`circles.whatif.evaluate` reads)."""
    if not whatif or not whatif.get("matrix") or not page.binary:
        return whatif
    w = dict(whatif)
    for group, dtype in (("weights", "f4"), ("times", "u2"), ("sfca", "f4")):
        w[group] = {k: page.packed_raw(v, dtype) for k, v in whatif[group].items()}
    w["point_unit"] = page.packed_raw(whatif["point_unit"], "i4")
    m = whatif["matrix"]
    w["matrix"] = {"ptr": page.packed_raw(m["ptr"], "i4", delta=True), "idx": page.packed_raw(m["idx"], "i4", delta=True),
                   "t": page.packed_raw(m["t"], "u2")}
    w["bin"] = "circles-data-bin"
    return w


def map_context(res) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The map context that needs no internet, from a run result: water (raster nodata) and street outlines."""
    water = context.nodata_polygons(res.study, res.area, res.crs)
    return water, context.outlines(res.units, res.study, res.area)


def report_data(res, *, water=None, outlines=None) -> ReportData:
    """The report's data from a run's :class:`circles.results.RunResult` (what ``analyse`` returns).

    ``water`` and ``outlines`` are made from the run (:func:`map_context`) when not given,
    so ``analyse`` alone feeds a full report.
    """
    if water is None or outlines is None:
        w, o = map_context(res)
        water = w if water is None else water
        outlines = o if outlines is None else outlines
    return ReportData(units=res.units, points=res.points, facilities=res.facilities, isochrones=res.isochrones,
                      sites=res.sites, summary=res.summary, preset=res.preset, language=res.study.language,
                      basemap=res.study.report.basemap, whatif=getattr(res, "whatif", None) or None,
                      roads=res.edges, water=water, outlines=outlines)


def read_report_data(folder: str | Path, *, language: str | None = None, basemap: str | None = None) -> ReportData:
    """Read a run's saved outputs (``coverage.gpkg``, ``summary.json``) back for :func:`write_report`."""
    folder = Path(folder)
    gpkg, sj = folder / "coverage.gpkg", folder / "summary.json"
    for f in (gpkg, sj):
        if not f.exists():
            raise InputFileError(f"{f}: not found; run `circles run STUDY` first (the report is rebuilt from its outputs)")
    summary = json.loads(sj.read_text(encoding="utf-8"))
    layers = set(gpd.list_layers(gpkg)["name"])

    def layer(name):
        if name in layers:
            return gpd.read_file(gpkg, layer=name)
        return gpd.GeoDataFrame({"kind": []}, geometry=[], crs=4326)

    units = layer("units")
    units["parent"] = units["parent"].fillna("")
    wf = folder / "whatif.json"
    whatif = json.loads(wf.read_text(encoding="utf-8")) if wf.exists() else None
    return ReportData(units=units, points=layer("population_points"), facilities=layer("facilities"),
                      isochrones=layer("isochrones"), sites=layer("suggested_sites"), summary=summary,
                      preset=summary["targets"]["preset_data"], language=language or summary.get("language", "zh"),
                      basemap=basemap or summary.get("basemap", "none"), whatif=whatif,
                      roads=layer("network_edges") if "network_edges" in layers else None,
                      water=layer("water") if "water" in layers else None,
                      outlines=layer("outlines") if "outlines" in layers else None)


def write_report(data: ReportData, folder: Path, *, binary_above_cells: int = BINARY_ABOVE_CELLS) -> Path:
    """Write ``report.html`` and the PNG figures (coverage curve, unit bars, two print maps) into ``folder``."""
    curve, bars = write_figures(data, folder)
    return write_page(data, folder, curve_png=curve, bars_png=bars, binary_above_cells=binary_above_cells)


def write_figures(data: ReportData, folder: Path, *, ready=None) -> tuple[bytes, bytes]:
    """Write the PNG figures into ``folder``; returns the coverage curve's and the unit bars' bytes (the
    page shows both). ``ready()``, when given, is called once those two files are written (the print
    maps follow): :func:`circles.export.write_outputs` builds the page meanwhile in another process."""
    folder = Path(folder)
    tm = max(data.summary["thresholds_min"])
    walk = (data.summary.get("methods") or {}).get("profile", "walk") == "walk"
    curve = figures.coverage_curve_png(data.points, data.summary["thresholds_min"], data.language,
                                       walk_speed_mps=data.summary.get("walk_speed_mps") if walk else None,
                                       limit_min=(data.summary.get("travel") or {}).get("search_limit_min"))
    bars = figures.unit_bars_png(data.units, tm, data.language)
    (folder / "coverage_curve.png").write_bytes(curve)
    (folder / "units_left_out.png").write_bytes(bars)
    if ready is not None:
        ready()
    metric = projected_crs(data.units)
    for group in ("elderly", "infants"):
        png = figures.coverage_map_png(data.units.to_crs(metric), data.facilities.to_crs(metric),
                                       data.sites.to_crs(metric) if len(data.sites) else None,
                                       cov.col("cov", group, "any", tm), group, tm, data.language,
                                       districts=data.units)
        (folder / f"map_{group}_{tm:g}min.png").write_bytes(png)
    return curve, bars


def write_page(data: ReportData, folder: Path, *, curve_png: bytes | None, bars_png: bytes | None,
               binary_above_cells: int = BINARY_ABOVE_CELLS) -> Path:
    """Write ``report.html`` into ``folder`` (the figures as :func:`write_figures` made them)."""
    m = build_map(data, curve_png=curve_png, bars_png=bars_png, binary_above_cells=binary_above_cells)
    out = Path(folder) / "report.html"
    m.save(str(out))
    return out
