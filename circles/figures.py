"""Static figures for the written plan (matplotlib, PNG): coverage curves, unit bars, maps.

Chinese labels need a CJK font: :func:`cjk_font` looks for one installed on the machine
(Noto Sans/Serif CJK, Source Han, WenQuanYi, SimHei, Microsoft YaHei, PingFang ...). When
none is found, figures fall back to English labels and say so (``figure_language``), rather
than printing empty boxes.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

_CJK_HINTS = ("Noto Sans CJK", "Noto Serif CJK", "Source Han", "WenQuanYi", "SimHei", "Microsoft YaHei",
              "PingFang", "Heiti", "Droid Sans Fallback", "AR PL")
GROUP_COLOURS = {"elderly": "#7570b3", "infants": "#1b9e77"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@lru_cache(maxsize=1)
def cjk_font():
    """A FontProperties for an installed CJK font, or None."""
    from matplotlib import font_manager

    fonts = sorted(font_manager.fontManager.ttflist, key=lambda f: ("Sans" not in f.name, f.name))
    for f in fonts:
        if any(h.lower() in f.name.lower() for h in _CJK_HINTS):
            return font_manager.FontProperties(fname=f.fname)
    # matplotlib's font cache may predate a font installed later: look at the files too
    files = sorted(font_manager.findSystemFonts(fontext="ttf") + font_manager.findSystemFonts(fontext="otf"),
                   key=lambda p: ("Sans" not in p, p))
    for path in files:
        name = path.lower().replace(" ", "").replace("-", "")
        if any(h in name for h in ("notosanscjk", "notoserifcjk", "sourcehan", "wqy", "simhei", "msyh", "pingfang")):
            return font_manager.FontProperties(fname=path)
    return None


def figure_language(language: str) -> str:
    """``language``, or ``"en"`` when Chinese is asked for but no CJK font is installed."""
    if language == "zh" and cjk_font() is None:
        log.warning("no CJK font found (install fonts-noto-cjk): figures use English labels")
        return "en"
    return language


_L = {
    "zh": {"xlabel": "步行到最近服务设施的时间（分钟）", "ylabel": "覆盖人口比例", "elderly": "老年人(60+)",
           "infants": "婴幼儿(0-3岁)", "before": "现状", "after": "新建后", "left": "{t:g}分钟外的人数",
           "bars": "覆盖缺口最大的单元", "north": "北", "map": "{g}{t:g}分钟步行覆盖率"},
    "en": {"xlabel": "walking time to the nearest service (min)", "ylabel": "share of people reached",
           "elderly": "elderly (60+)", "infants": "infants (0-3)", "before": "now", "after": "with new sites",
           "left": "people beyond {t:g} min", "bars": "Units leaving the most people out",
           "north": "N", "map": "{g} within a {t:g}-min walk"},
}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    return buf.getvalue()


def coverage_curve_png(points: pd.DataFrame, thresholds_min, language: str = "zh") -> bytes:
    """Share of elderly and infants reached within t minutes (t = 0..30), now and with the new sites."""
    plt = _plt()
    lang = figure_language(language)
    L, fp = _L[lang], (cjk_font() if lang == "zh" else None)
    fig, ax = plt.subplots(figsize=(4.4, 2.6), dpi=110)
    minutes = np.linspace(0, 30, 121)
    for group in ("elderly", "infants"):
        w = points[group].to_numpy(dtype=float)
        for suffix, style in (("", "-"), ("_after", "--")):
            col = f"time_s_{group}_any{suffix}"
            if col not in points or not w.sum():
                continue
            t = points[col].to_numpy(dtype=float) / 60.0
            share = [w[t <= m].sum() / w.sum() for m in minutes]
            ax.plot(minutes, share, style, color=GROUP_COLOURS[group],
                    label=f"{L[group]} {L['after'] if suffix else L['before']}")
    for x in thresholds_min:
        ax.axvline(x, color="#999", lw=0.6, ls=":")
    ax.set_xlabel(L["xlabel"], fontproperties=fp)
    ax.set_ylabel(L["ylabel"], fontproperties=fp)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=7, prop=fp and _sized(fp, 7))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _sized(fp, size):
    f = fp.copy()
    f.set_size(size)
    return f


def unit_bars_png(units: pd.DataFrame, tmax: float, language: str = "zh", n: int = 12) -> bytes:
    """Horizontal bars: the units leaving the most elderly and infants beyond the longest threshold."""
    plt = _plt()
    lang = figure_language(language)
    L, fp = _L[lang], (cjk_font() if lang == "zh" else None)
    be, bi = f"beyond_elderly_{tmax:g}min", f"beyond_infants_{tmax:g}min"
    u = units.assign(_left=units[be].fillna(0) + units[bi].fillna(0)).nlargest(n, "_left")[::-1]
    fig, ax = plt.subplots(figsize=(4.4, 0.28 * len(u) + 0.9), dpi=110)
    y = np.arange(len(u))
    ax.barh(y, u[be], color=GROUP_COLOURS["elderly"], label=L["elderly"])
    ax.barh(y, u[bi], left=u[be], color=GROUP_COLOURS["infants"], label=L["infants"])
    # names in the data are often Chinese whatever the page language: use the CJK font if any
    data_fp = cjk_font()
    labels = [f"{a} {b}" if data_fp is not None else str(a) for a, b in zip(u["unit_id"], u["parent"])]
    ax.set_yticks(y, labels, fontsize=7)
    if data_fp is not None:
        for tick in ax.get_yticklabels():
            tick.set_fontproperties(_sized(data_fp, 7))
    ax.set_xlabel(L["left"].format(t=tmax), fontproperties=fp)
    ax.set_title(L["bars"], fontproperties=fp)
    ax.legend(fontsize=7, prop=fp and _sized(fp, 7))
    fig.tight_layout()
    return _png(fig)


def coverage_map_png(units, facilities, sites, column: str, group: str, tmax: float, language: str = "zh",
                     districts: pd.DataFrame | None = None) -> bytes:
    """A print map: units coloured by a coverage share, facilities and new sites, unit codes,
    district names, a 1 km scale bar and a north arrow. Drawn in the study's metric CRS."""
    plt = _plt()
    from matplotlib.colors import LinearSegmentedColormap

    lang = figure_language(language)
    L, fp = _L[lang], (cjk_font() if lang == "zh" else None)
    cmap = LinearSegmentedColormap.from_list("cov", ["#d73027", "#fee08b", "#1a9850"])
    fig, ax = plt.subplots(figsize=(6.4, 6.4), dpi=120)
    units.plot(ax=ax, column=column, cmap=cmap, vmin=0, vmax=1, edgecolor="#555", linewidth=0.4,
               missing_kwds={"color": "#d9d9d9"})
    for _, r in units.iterrows():
        p = r.geometry.representative_point()
        ax.annotate(str(r["unit_id"]), (p.x, p.y), ha="center", va="center", fontsize=5, color="#333")
    if districts is not None and len(districts):
        for name, g in units.groupby("parent"):
            if not name:
                continue
            c = g.union_all().representative_point()
            ax.annotate(name if lang == "zh" else "", (c.x, c.y), ha="center", fontsize=11, color="#222",
                        fontproperties=fp and _sized(fp, 11), alpha=0.8)
    serving = facilities[facilities["serves"] == group]
    if len(serving):
        serving.plot(ax=ax, color="#222", markersize=10, marker="o")
    if sites is not None and len(sites):
        s = sites[sites["group"].isin([group, "both"])]
        if len(s):
            s.plot(ax=ax, color="#2166ac", markersize=60, marker="*", edgecolor="white", linewidth=0.5)
    minx, miny, maxx, maxy = units.total_bounds
    # scale bar: 1 km (the map is in metres)
    x0, y0 = minx + 0.05 * (maxx - minx), miny + 0.04 * (maxy - miny)
    ax.plot([x0, x0 + 1000], [y0, y0], color="black", lw=3)
    ax.annotate("1 km", (x0 + 500, y0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)
    # north arrow (UTM grid north; within a degree of true north here)
    xa, ya = maxx - 0.06 * (maxx - minx), maxy - 0.12 * (maxy - miny)
    ax.annotate(L["north"], xy=(xa, ya + 0.07 * (maxy - miny)), xytext=(xa, ya), ha="center", fontsize=10,
                fontproperties=fp and _sized(fp, 10), arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})
    ax.set_title(L["map"].format(g=L[group], t=tmax), fontproperties=fp)
    ax.set_axis_off()
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, fraction=0.03, pad=0.02, format=lambda v, _: f"{v:.0%}")
    fig.tight_layout()
    return _png(fig)
