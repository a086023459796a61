"""Static figures for the written plan (matplotlib, PNG): coverage curves, unit bars, maps.

Chinese labels need a CJK font. circles depends on one from the package registry
(``cvttf-NotoSansCJK-Regular``: Noto Sans CJK, SIL Open Font License 1.1) and uses that
file explicitly (:func:`cjk_font`), so figures are Chinese on a fresh machine with no
system font. Data names (communities, districts) are drawn with it in either language.
Every word comes from the catalogue in :mod:`circles.i18n`.
"""

from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from circles.i18n import t
from circles.io.units import display_names, short_names
from circles.rules import SPEEDS_MPS

log = logging.getLogger(__name__)

GROUP_COLOURS = {"elderly": "#7570b3", "infants": "#1b9e77"}
#: the walking speeds of the sensitivity band on the coverage curve (m/s)
SPEED_BAND_MPS = (SPEEDS_MPS[0], SPEEDS_MPS[-1])


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class FontMissingError(RuntimeError):
    """The CJK font package is not installed."""


def cjk_font_path() -> Path:
    """The Noto Sans CJK file shipped by the ``cvttf-NotoSansCJK-Regular`` package."""
    try:
        import cvttf_NotoSansCJK_Regular as pkg
    except ImportError as exc:
        raise FontMissingError("the CJK font package is missing: pip install cvttf-NotoSansCJK-Regular "
                               "(a dependency of circles; it draws Chinese in the figures)") from exc
    folder = Path(pkg.__file__).resolve().parent
    fonts = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".otf", ".ttf", ".ttc"))
    if not fonts:
        raise FontMissingError(f"{folder}: no font file in the CJK font package; reinstall cvttf-NotoSansCJK-Regular")
    return fonts[0]


@lru_cache(maxsize=1)
def cjk_font():
    """A FontProperties for the packaged Noto Sans CJK font (registered with matplotlib)."""
    from matplotlib import font_manager

    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path))


def figure_language(language: str) -> str:
    """The language figures are drawn in: always the one asked for (the font is a dependency)."""
    cjk_font()
    return language


@contextmanager
def _cjk():
    """Draw every text of the figure with the CJK font (it has Latin letters and digits too)."""
    plt = _plt()
    name = cjk_font().get_name()
    # text.parse_math off: a name from the data is text, never mathtext ("$x^2$" would be typeset, and
    # an unbalanced "$" would fail the figure)
    with plt.rc_context({"font.family": [name], "axes.unicode_minus": False, "text.parse_math": False}):
        yield plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    return buf.getvalue()


def share_within(times_s: np.ndarray, weights: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """Share of ``weights`` whose time is at most each of ``minutes``."""
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if not total:
        return np.zeros(len(minutes))
    tm = np.asarray(times_s, dtype=float) / 60.0
    order = np.argsort(tm, kind="stable")
    cum = np.r_[0.0, np.cumsum(w[order])]
    return cum[np.searchsorted(tm[order], minutes, side="right")] / total


def coverage_curve_png(points: pd.DataFrame, thresholds_min, language: str = "zh", *,
                       walk_speed_mps: float | None = None, band_mps=SPEED_BAND_MPS,
                       limit_min: float | None = None) -> bytes:
    """Share of elderly and infants reached within t minutes (t = 0..30), now and with the new sites.

    With ``walk_speed_mps`` (walk profile), a shaded band shows the curve at the speeds of
    ``band_mps``: every leg is walked, so a time at speed v is the time at the study's
    speed x ``walk_speed_mps / v`` (see :mod:`circles.travel`). With a search limit
    (``limit_min``: times past it are unknown), the band stops where the fastest speed would
    need a time past the limit.
    """
    with _cjk() as plt:
        fig, ax = plt.subplots(figsize=(4.4, 2.6), dpi=110)
        minutes = np.linspace(0, 30, 121)
        for group in ("elderly", "infants"):
            w = points[group].to_numpy(dtype=float)
            base = f"time_s_{group}_any"
            if base in points and w.sum() and walk_speed_mps and band_mps:
                t0 = points[base].to_numpy(dtype=float)
                lo, hi = (share_within(t0 * walk_speed_mps / v, w, minutes) for v in band_mps)
                known = minutes <= (np.inf if limit_min is None else limit_min * walk_speed_mps / max(band_mps))
                ax.fill_between(minutes[known], lo[known], hi[known], color=GROUP_COLOURS[group], alpha=0.15, lw=0)
            for suffix, style in (("", "-"), ("_after", "--")):
                col = f"time_s_{group}_any{suffix}"
                if col not in points or not w.sum():
                    continue
                share = share_within(points[col].to_numpy(dtype=float), w, minutes)
                ax.plot(minutes, share, style, color=GROUP_COLOURS[group],
                        label=f"{t(f'group.{group}', language)} {t('fig.after' if suffix else 'fig.before', language)}")
        if walk_speed_mps and band_mps:
            ax.fill_between([], [], [], color="#888", alpha=0.3,
                            label=t("fig.band", language, lo=f"{band_mps[0]:g}", hi=f"{band_mps[1]:g}"))
        for x in thresholds_min:
            ax.axvline(x, color="#999", lw=0.6, ls=":")
        ax.set_xlabel(t("fig.xlabel", language))
        ax.set_ylabel(t("fig.ylabel", language))
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right", fontsize=6)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return _png(fig)


#: a name longer than this many characters is shortened with an ellipsis on a figure (the tables keep it whole)
LABEL_MAX_CHARS = 24


def plain(text, limit: int = LABEL_MAX_CHARS) -> str:
    """A name from the data as figure text: shortened with an ellipsis past ``limit`` characters (the
    tables keep it whole). Figures are drawn with ``text.parse_math`` off (:func:`_cjk`), so ``$`` is
    an ordinary character."""
    text = "" if text is None else str(text)
    return text[: limit - 1] + "…" if len(text) > limit else text


def unit_bars_png(units: pd.DataFrame, tmax: float, language: str = "zh", n: int = 12) -> bytes:
    """Horizontal bars: the units leaving the most elderly and infants beyond the longest threshold,
    labelled by name (community, street or district) as the data give it."""
    be, bi = f"beyond_elderly_{tmax:g}min", f"beyond_infants_{tmax:g}min"
    u = units.assign(_left=units[be].fillna(0) + units[bi].fillna(0)).nlargest(n, "_left")[::-1]
    with _cjk() as plt:
        fig, ax = plt.subplots(figsize=(4.4, 0.28 * len(u) + 0.9), dpi=110)
        y = np.arange(len(u))
        ax.barh(y, u[be], color=GROUP_COLOURS["elderly"], label=t("group.elderly", language))
        ax.barh(y, u[bi], left=u[be], color=GROUP_COLOURS["infants"], label=t("group.infants", language))
        ax.set_yticks(y, [plain(x) for x in display_names(u)], fontsize=7)
        ax.set_xlabel(t("fig.left", language, t=f"{tmax:g}"))
        ax.set_title(t("fig.bars", language))
        ax.legend(fontsize=7)
        fig.tight_layout()
        return _png(fig)


def _no_draw(*args, **kwargs) -> None:
    """A canvas' ``draw_idle`` that draws nothing (:func:`coverage_map_png`)."""


#: a print map names every unit up to this many; above it only this many least-covered units
MAP_LABELS_MAX = 150


def coverage_map_png(units, facilities, sites, column: str, group: str, tmax: float, language: str = "zh",
                     districts: pd.DataFrame | None = None) -> bytes:
    """A print map: units coloured by a coverage share, facilities and new sites, unit names,
    district names, a 1 km scale bar and a north arrow. Drawn in the study's metric CRS."""
    from matplotlib.colors import LinearSegmentedColormap


    with _cjk() as plt:
        cmap = LinearSegmentedColormap.from_list("cov", ["#d73027", "#fee08b", "#1a9850"])
        fig, ax = plt.subplots(figsize=(6.4, 6.4), dpi=120)
        # geopandas' plot asks the canvas for a full draw after each layer (three a map, the most
        # costly part of the print maps on Agg); the PNG is drawn once, by savefig
        fig.canvas.draw_idle = _no_draw
        units.plot(ax=ax, column=column, cmap=cmap, vmin=0, vmax=1, edgecolor="#555", linewidth=0.4,
                   missing_kwds={"color": "#d9d9d9"})
        names = pd.Series(list(short_names(units)), index=units.index)
        if len(units) > MAP_LABELS_MAX and column in units:
            # a city's hundreds of 5-pt names overprint each other (and cost seconds to lay out):
            # name only the least covered units, the ones a reader looks for
            names = names.loc[units[column].fillna(np.inf).nsmallest(MAP_LABELS_MAX).index]
        pts = units.geometry.loc[names.index].representative_point()
        for name, p in zip(names, pts):
            ax.text(p.x, p.y, plain(name), ha="center", va="center", fontsize=5, color="#333")
        if districts is not None and len(districts):
            for name, g in units.groupby("parent"):
                if not name:
                    continue
                c = g.union_all().representative_point()
                ax.annotate(plain(name), (c.x, c.y), ha="center", fontsize=11, color="#222", alpha=0.8)
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
        ax.annotate(t("fig.north", language), xy=(xa, ya + 0.07 * (maxy - miny)), xytext=(xa, ya), ha="center",
                    fontsize=10, arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})
        ax.set_title(t("fig.map", language, g=t(f"group.{group}", language), t=f"{tmax:g}"))
        ax.set_axis_off()
        # a key for every symbol drawn, and only those (issue 22): dots, stars, grey units
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        keys = []
        if len(serving):
            keys.append(Line2D([], [], ls="", marker="o", ms=4, color="#222",
                               label=t("fig.key_facilities", language, g=t(f"group.{group}", language))))
        if sites is not None and len(sites) and sites["group"].isin([group, "both"]).any():
            keys.append(Line2D([], [], ls="", marker="*", ms=10, color="#2166ac", markeredgecolor="white",
                               label=t("fig.key_sites", language)))
        if column in units and units[column].isna().any():
            keys.append(Patch(facecolor="#d9d9d9", edgecolor="#555", label=t("fig.key_nopop", language)))
        if keys:
            ax.legend(handles=keys, loc="lower right", fontsize=7, framealpha=0.9)
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
        fig.colorbar(sm, ax=ax, fraction=0.03, pad=0.02, format=lambda v, _: f"{v:.0%}")
        fig.tight_layout()
        return _png(fig)
