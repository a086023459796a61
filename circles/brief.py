"""The printed brief: ``report.pdf`` beside ``report.html``, built from a run's saved outputs.

A planning bureau hands leadership paper as often as a link. :func:`write_brief` reads the
files a run wrote (``summary.json``, ``units.csv``, ``targets.csv``, the PNG figures and the
``suggested_sites`` layer of ``coverage.gpkg``) and lays them out on A4 portrait pages with
matplotlib's ``PdfPages``; nothing is recomputed, so the brief says exactly what the page says.

Pages: a title page with the headline figures; the plan's targets with their gaps (and the
number of units failing each, counted from ``targets.csv``); the worst-covered units by name;
the suggested sites with names, capacity, gain and WGS84 coordinates; the figures (one per
page); the methods; the credits.

Decisions:

- Every text is drawn with the packaged Noto Sans CJK font (:func:`circles.figures.cjk_font`)
  embedded as a TrueType subset (``pdf.fonttype`` 42), so Chinese prints on any machine and the
  PDF's text can be searched and copied.
- Tables are laid out row by row: a row whose wrapped cells do not fit on the page starts the
  next page (with the header again), so no row is ever cut.
- Wrapping counts display width (a CJK character is two Latin ones wide, per Unicode's East
  Asian Width), since the font is proportional for Latin and square for CJK.
- Numbers are written as on the page (``circles/report.py``): shares with one decimal
  (``59.9%``), ratios per 1,000 with two, gaps and people as whole numbers with thousands
  separators. Texts the run saved in its own language (why a unit is among the worst) are made
  again from the numbers when the brief is in the other language.

Example::

    >>> from circles.brief import write_brief
    >>> write_brief("maps/hankou-demo")  # doctest: +SKIP
    PosixPath('maps/hankou-demo/report.pdf')
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd

from circles import i18n
from circles.credits import credit_lines
from circles.display import fmt_measured, fmt_pct  # the one rounding rule, as the page
from circles.errors import InputFileError
from circles.figures import cjk_font
from circles.i18n import kind_name, site_label, t
from circles.methods import method_lines

#: A4 portrait, inches
PAGE_IN = (8.27, 11.69)
#: page margins, as a fraction of the page width / height
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 0.07, 0.06, 0.06
#: body text size, points (10 pt reads at A4)
BODY_PT = 9.5
#: line height as a fraction of the page height for a given font size (1.45 x the size)
_LINE = 1.45 / 72 / PAGE_IN[1]
#: characters (Latin widths) of body text per page line
LINE_CHARS = 100



def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in s)


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` display columns (CJK characters count two), broken at spaces
    between Latin words and between any two CJK characters (a Latin word longer than a line is
    broken between letters)."""
    out: list[str] = []
    for para in str(text).split("\n"):
        line = ""
        for tok in _TOKENS.findall(para):
            if _width(line + tok) <= width or not line.strip():
                line += tok
            else:
                out.append(line.rstrip())
                line = tok.lstrip()
            while _width(line) > width:  # one token wider than the line
                cut = next(k for k in range(len(line), 0, -1) if _width(line[:k]) <= width)
                out.append(line[:cut])
                line = line[cut:]
        out.append(line.rstrip())
    return out


#: a CJK character (or full-width punctuation), a run of other non-space characters, or spaces
_TOKENS = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[^\s\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+|\s+")


class _Pages:
    """A flow of text lines and tables onto A4 pages (the only state: the page and the cursor)."""

    def __init__(self, pdf, plt, footer: str, lang: str):
        self.pdf, self.plt, self.footer, self.lang = pdf, plt, footer, lang
        self.fig, self.y, self.n = None, 0.0, 0

    def new_page(self) -> None:
        self.close_page()
        self.fig = self.plt.figure(figsize=PAGE_IN)
        self.n += 1
        self.y = 1 - MARGIN_TOP

    def close_page(self) -> None:
        if self.fig is None:
            return
        self.fig.text(MARGIN_X, MARGIN_BOTTOM / 2, self.footer, fontsize=7, color="#777")
        self.fig.text(1 - MARGIN_X, MARGIN_BOTTOM / 2, t("brief.page", self.lang, n=self.n), fontsize=7,
                      color="#777", ha="right")
        self.pdf.savefig(self.fig)
        self.plt.close(self.fig)
        self.fig = None

    def room(self, height: float) -> None:
        if self.fig is None or self.y - height < MARGIN_BOTTOM:
            self.new_page()

    def text(self, s: str, size: float = BODY_PT, bold: bool = False, colour: str = "#000", indent: float = 0.0,
             gap_after: float = 0.0) -> None:
        chars = int(LINE_CHARS * BODY_PT / size * (1 - indent / (1 - 2 * MARGIN_X)))
        for line in wrap(s, chars):
            self.room(size * _LINE)
            self.fig.text(MARGIN_X + indent, self.y, line, fontsize=size, weight="normal",
                          color=colour, va="top")
            self.y -= size * _LINE
        self.y -= gap_after

    def heading(self, s: str) -> None:
        self.room(14 * _LINE + 3 * BODY_PT * _LINE)  # a heading never ends a page
        self.y -= 0.3 * 13 * _LINE
        self.text(s, size=13, bold=True, gap_after=0.3 * BODY_PT * _LINE)

    def table(self, header: list[str], rows: list[list[str]], widths: list[float], size: float = 8.5) -> None:
        """Columns of ``widths`` (fractions of the text width); a row that does not fit goes whole
        to the next page, under the header again."""
        span = 1 - 2 * MARGIN_X
        chars = [max(4, int(LINE_CHARS * BODY_PT / size * w)) for w in widths]
        lh = size * _LINE

        def draw(cells, bold=False, colour="#000"):
            wrapped = [wrap(c, n) for c, n in zip(cells, chars)]
            h = max(len(w) for w in wrapped) * lh
            x = MARGIN_X
            for lines, w in zip(wrapped, widths):
                for k, line in enumerate(lines):
                    self.fig.text(x, self.y - k * lh, line, fontsize=size, va="top",
                                  weight="normal", color=colour)
                x += w * span
            self.y -= h
            self.fig.add_artist(self.plt.Line2D([MARGIN_X, 1 - MARGIN_X], [self.y + lh * 0.15] * 2, lw=0.3,
                                                color="#bbb"))
            self.y -= lh * 0.3

        def height(cells):
            return (max(len(wrap(c, n)) for c, n in zip(cells, chars)) + 0.3) * lh

        self.room(height(header) + (height(rows[0]) if rows else 0))
        draw(header, bold=True)
        for r in rows:
            if self.y - height(r) < MARGIN_BOTTOM:
                self.new_page()
                draw(header, bold=True)
            draw(r)
        self.y -= lh * 0.5

    def image(self, path: Path, caption: str) -> None:
        """A figure on a page of its own, as wide as the text, under its caption."""
        img = self.plt.imread(str(path))
        self.new_page()
        self.text(caption, size=12, bold=True, gap_after=BODY_PT * _LINE)
        h_px, w_px = img.shape[:2]
        w = 1 - 2 * MARGIN_X
        h = min(self.y - MARGIN_BOTTOM, w * PAGE_IN[0] / PAGE_IN[1] * h_px / w_px)
        w = h * PAGE_IN[1] / PAGE_IN[0] * w_px / h_px
        ax = self.fig.add_axes([MARGIN_X, self.y - h, w, h])
        ax.imshow(img)
        ax.set_axis_off()
        self.y -= h


def read_brief_data(folder: str | Path, *, sites: gpd.GeoDataFrame | None = None) -> dict:
    """The saved outputs a brief is made from: ``summary``, ``units`` (units.csv), ``targets``
    (targets.csv, per unit) and ``sites`` (the ``suggested_sites`` layer, WGS84; empty when
    no site was suggested). Raises :class:`circles.errors.InputFileError` naming a missing file.

    ``sites``: the rows of that layer as the caller is writing them (``circles run`` writes the
    brief while another process still writes ``coverage.gpkg``; a second process opening the
    GeoPackage then could find it locked); the brief reads them in WGS84 as from the file."""
    folder = Path(folder)
    for name in ("summary.json", "units.csv", "targets.csv") + (() if sites is not None else ("coverage.gpkg",)):
        if not (folder / name).is_file():
            raise InputFileError(f"{folder / name}: not found; the brief is made from a run's outputs: "
                                 f"run `circles run STUDY` first (or give the run's folder)")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    units = pd.read_csv(folder / "units.csv", encoding="utf-8-sig", dtype={"unit_id": str, "unit_name": str})
    targets = pd.read_csv(folder / "targets.csv", encoding="utf-8-sig", dtype={"unit_id": str})
    if sites is not None:
        sites = sites.reset_index(drop=True).to_crs(4326) if len(sites) else \
            gpd.GeoDataFrame({"kind": []}, geometry=[], crs=4326)
    else:
        layers = set(gpd.list_layers(folder / "coverage.gpkg")["name"])
        sites = gpd.read_file(folder / "coverage.gpkg", layer="suggested_sites").to_crs(4326) \
            if "suggested_sites" in layers else gpd.GeoDataFrame({"kind": []}, geometry=[], crs=4326)
    return {"summary": summary, "units": units, "targets": targets, "sites": sites}


def _unit_name(units: pd.DataFrame, uid: str) -> str:
    row = units.loc[units["unit_id"] == uid]
    if row.empty:
        return uid
    name = row["unit_name"].iloc[0]
    return str(name) if isinstance(name, str) and name.strip() else uid


def target_rows(summary: dict, targets: pd.DataFrame, lang: str, key: str = "study") -> list[list[str]]:
    """The targets table: indicator, measured, target, status, gap, units failing."""
    preset = summary["targets"]["preset_data"]
    labels = i18n.indicator_labels(preset, lang)
    gap_kind = {i["id"]: i["gap"] for i in preset["indicators"]}
    failing = targets[targets["status"] == "fail"].groupby("indicator").size()
    rows = []
    for r in summary["targets"]["study"] if key == "study" else summary.get("targets_after") or []:
        ind = r["indicator"]
        gap = i18n.gap_text(r["gap"], gap_kind[ind], lang) if r["status"] == "fail" and r.get("gap") else ""
        rows.append([labels.get(ind, ind), fmt_measured(r["measured"], ind), fmt_measured(r["target"], ind),
                     t(f"status.{r['status']}", lang), gap,
                     str(int(failing.get(ind, 0))) if key == "study" else ""])
    return rows


def worst_rows(summary: dict, units: pd.DataFrame, lang: str) -> list[list[str]]:
    """The worst-covered units: name, code, parent, why (made again in ``lang`` when the run's differs)."""
    tm = max(summary["thresholds_min"])
    limit = (summary.get("travel") or {}).get("search_limit_min")
    by_id = units.set_index("unit_id")
    rows = []
    for w in summary["worst_units"]:
        uid = str(w["unit_id"])
        why = w["why"] if lang == summary.get("language") or uid not in by_id.index else \
            i18n.worst_why(by_id.loc[uid].to_dict(), tm, lang, limit)
        rows.append([_unit_name(units, uid), uid, str(w.get("parent") or ""), why])
    return rows


def site_rows(summary: dict, sites: gpd.GeoDataFrame, lang: str) -> list[list[str]]:
    """The suggested sites: rank, kind, name (a generated name worded in ``lang``), capacity,
    gain (people newly covered; the joint model's objective share with four decimals), lon/lat WGS84."""
    rows = []
    if sites.empty or "rank" not in sites:  # `circles score` sites nothing: an empty layer without columns
        return rows
    joint = "joint" in (summary.get("siting") or {})
    for _, r in sites.sort_values(["kind", "rank"]).iterrows():
        name = str(r.get("name") or "")
        road, unit = r.get("near_road"), r.get("in_unit")
        if bool(r.get("generated", False)) and (isinstance(road, str) or isinstance(unit, str)):
            name = site_label(road if isinstance(road, str) else "", unit if isinstance(unit, str) else "", lang)
        gain = f"{r['gain']:.4f}" if joint else f"{r['gain']:,.0f}"
        rows.append([str(int(r["rank"])), kind_name(str(r["kind"]), lang), name, f"{r['capacity']:,.0f}", gain,
                     f"{r.geometry.x:.5f}, {r.geometry.y:.5f}"])
    return rows


def headline_lines(summary: dict, lang: str) -> list[str]:
    """The title page's figures: population, coverage at the longest threshold, targets met, sites."""
    tm = max(summary["thresholds_min"])
    pop = summary["population"]
    lines = [t("brief.pop_line", lang, total=f"{pop['total']:,.0f}", e=f"{pop['elderly']:,.0f}",
                                  i=f"{pop['infants']:,.0f}")]
    for g in ("elderly", "infants"):
        lines.append(t("brief.cov_line", lang, g=t(f"group.{g}", lang), t=f"{tm:g}",
                                          v=fmt_pct(summary["coverage"][g][f"{tm:g}min"])))
    rows = summary["targets"]["study"]
    lines.append(f"{t('brief.targets_pass', lang)}: {sum(r['status'] == 'pass' for r in rows)} / {len(rows)}")
    siting = summary.get("siting") or {}
    n = sum(int(i.get("n_sites") or 0) for i in siting.values())
    if n:
        kinds = ", ".join(f"{t('rep.joint', lang) if k == 'joint' else kind_name(k, lang)} +{i.get('n_sites', 0)}"
                          f" ({fmt_pct(i.get('share_before', i.get('share_before_elderly')))} → "
                          f"{fmt_pct(i.get('share_after', i.get('share_after_elderly')))})"
                          for k, i in siting.items() if i.get("n_sites"))
        lines.append(t("brief.sites_n", lang, n=n, kinds=kinds))
    return lines


def _figures(folder: Path, summary: dict, lang: str) -> list[tuple[Path, str]]:
    tm = f"{max(summary['thresholds_min']):g}"
    out = [(folder / "coverage_curve.png", t("brief.figure.coverage_curve", lang)),
           (folder / "units_left_out.png", t("brief.figure.units_left_out", lang)),
           (folder / f"map_elderly_{tm}min.png", t("brief.figure.map_elderly", lang, t=tm)),
           (folder / f"map_infants_{tm}min.png", t("brief.figure.map_infants", lang, t=tm))]
    return [(p, c) for p, c in out if p.is_file()]


def write_brief(folder: str | Path, language: str | None = None, *, today: date | None = None,
                sites: gpd.GeoDataFrame | None = None) -> Path:
    """Write ``report.pdf`` (A4 portrait) into a run's output ``folder`` from its saved outputs.

    Parameters
    ----------
    folder : str or Path
        A folder written by ``circles run`` / ``score`` / ``suggest``.
    language : {"zh", "en"}, optional
        The brief's language; default the study's (``summary.json`` ``language``).
    today : date, optional
        The date printed on the title page (default: today).
    sites : GeoDataFrame, optional
        The suggested sites as written to ``coverage.gpkg`` (default: read from it; see
        :func:`read_brief_data`).

    Returns
    -------
    Path
        ``folder / "report.pdf"``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    data = read_brief_data(folder, sites=sites)
    s = data["summary"]
    lang = language or s.get("language") or "zh"
    if lang not in i18n.CATALOGUE:
        raise ValueError(f"language {lang!r}: use zh or en")
    title = s.get("title") or s.get("study") or ""
    made = (today or date.today()).isoformat()
    out = folder / "report.pdf"
    tmp = folder / "report.pdf.part"
    # text.parse_math off: every string from the data is text, never mathtext ("$x^2$" would be typeset)
    # ps.fonttype 42 too: matplotlib's PDF writer sizes its font subsets by ps.fonttype (256 glyphs
    # a subset under the default 3), and each subset is one fontTools pass over the 16 MB CJK font;
    # one CID subset (up to 65,536 glyphs) halves the brief's time (issue 21)
    rc = {"font.family": [cjk_font().get_name()], "axes.unicode_minus": False, "pdf.fonttype": 42,
          "ps.fonttype": 42, "text.parse_math": False}
    try:
        _write_pages(tmp, plt, rc, s, data, folder, title, made, lang)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a partial report.pdf.part behind
        raise
    tmp.replace(out)
    return out


def _write_pages(tmp, plt, rc, s, data, folder, title, made, lang) -> None:
    """The brief's pages, in order (see :func:`write_brief`)."""
    from matplotlib.backends.backend_pdf import PdfPages

    with plt.rc_context(rc), PdfPages(tmp, metadata={"Title": title, "Creator": "circles"}) as pdf:
        p = _Pages(pdf, plt, f"{title} · {t('brief.brief', lang)} · {made}", lang)
        p.new_page()
        p.y = 0.8
        p.text(title, size=20, bold=True, gap_after=0.01)
        p.text(f"{t('brief.brief', lang)} · {t('brief.date', lang)} {made}", size=11, colour="#555", gap_after=0.04)
        p.text(t("brief.headline", lang), size=13, bold=True, gap_after=0.005)
        for line in headline_lines(s, lang):
            p.text("• " + line, size=11)
        if s.get("illustrative_facilities"):
            p.text(t("rep.illustrative", lang), size=10, bold=True, colour="#b2182b")
        p.new_page()
        p.heading(f"{t('rep.targets', lang)}: {s['targets']['title']}")
        head = [t("brief.indicator", lang), t("rep.measured", lang), t("rep.target", lang), t("rep.status", lang),
                t("brief.gap", lang), t("brief.units_fail", lang)]
        widths = [0.34, 0.11, 0.1, 0.12, 0.2, 0.13]
        p.table(head, target_rows(s, data["targets"], lang), widths)
        after = target_rows(s, data["targets"], lang, key="after")
        if after:
            p.text(t("brief.after", lang), bold=True)
            p.table(head[:5], [r[:5] for r in after], widths[:5])
        tm = max(s["thresholds_min"])
        p.heading(f"{t('rep.worst', lang)} ({t('rep.within', lang, t=f'{tm:g}')})")
        p.table([t(f"brief.{k}", lang) for k in ("unit", "code", "parent", "why")], worst_rows(s, data["units"], lang),
                [0.2, 0.13, 0.12, 0.55])
        p.heading(t("rep.sites", lang))
        sites = site_rows(s, data["sites"], lang)
        if sites:
            p.table([t("brief.rank", lang), t("brief.kind", lang), t("rep.name", lang), t("brief.capacity", lang), t("rep.gain", lang), t("brief.lonlat", lang)],
                    sites, [0.06, 0.15, 0.34, 0.09, 0.13, 0.23])
        else:
            p.text(t("brief.none", lang))
        for path, caption in _figures(folder, s, lang):
            p.image(path, caption)
        p.new_page()
        if s.get("methods"):
            p.heading(t("methods.title", lang))
            for line in method_lines(s["methods"], lang):
                p.text("• " + line, gap_after=0.002)
        p.heading(t("rep.credits", lang))
        for line in credit_lines(s.get("credits") or [], lang):
            p.text("• " + line, gap_after=0.002)
        p.close_page()
