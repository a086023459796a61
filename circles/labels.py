"""Human column labels (Chinese or English) for the tables a bureau files.

Column names follow one scheme (made by :func:`circles.coverage.col`), so labels are
derived from the name: ``cov_elderly_daycare_15min`` -> "15分钟内可达日间照料中心的老年人比例" /
"Share of elderly within 15 min of a elderly day-care centre". The words come from the
catalogue in :mod:`circles.i18n`. Unknown columns keep their name.
"""

from __future__ import annotations

import re

from circles.i18n import CATALOGUE, kind_name, t


def _kind(k: str, lang: str) -> str:
    return t("kind.any", lang) if k == "any" else kind_name(k, lang, lower=True)


def label(column: str, language: str = "zh", *, estimated=None) -> str:
    """The human label of an output column.

    ``estimated``: the population groups the run estimated (``summary.json`` ``population.estimated``:
    ``total``, ``elderly``, ``infants``); with it, ``pop_<group>`` is labelled measured or estimated
    as the run made it (a total raster is measured). Without it, the generic label.
    """
    lang = "zh" if language == "zh" else "en"
    m = re.fullmatch(r"pop_(total|elderly|infants)", column)
    if m and estimated is not None:
        return t(f"col.{column}.{'estimated' if m.group(1) in estimated else 'measured'}", lang)
    if f"col.{column}" in CATALOGUE[lang]:
        return t(f"col.{column}", lang)
    m = re.fullmatch(r"cov_(elderly|infants)_(\w+?)_(\d+(?:\.\d+)?)min(_after|_flat)?", column)
    if m:
        g, k, mins, after = m.groups()
        return t("col.cov", lang, t=mins, kind=_kind(k, lang), group=t(f"group.{g}", lang),
                 after=t(f"col.{after[1:]}_suffix", lang) if after else "")
    m = re.fullmatch(r"(lost_to_slope|gained_by_slope)_(elderly|infants)_(\d+(?:\.\d+)?)min", column)
    if m:
        what, g, mins = m.groups()
        return t(f"col.{what}", lang, group=t(f"group.{g}", lang), t=mins)
    m = re.fullmatch(r"time_(elderly|infants)_(mean|median|p90)_min", column)
    if m:
        g, stat = m.groups()
        return t("col.time", lang, group=t(f"group.{g}", lang), stat=t(f"stat.{stat}", lang))
    m = re.fullmatch(r"(beyond|unreached)_(elderly|infants)(?:_(\d+(?:\.\d+)?)min)?", column)
    if m:
        what, g, mins = m.groups()
        return t(f"col.{what}", lang, group=t(f"group.{g}", lang), t=mins)
    m = re.fullmatch(r"(status|gap)_(\w+)", column)
    if m:
        what, ind = m.groups()
        return t(f"col.{what}", lang, indicator=ind)
    return column


def labelled(df, language: str = "zh", *, estimated=None):
    """A copy of ``df`` with human column labels (for XLSX and printed tables); ``estimated`` as in :func:`label`."""
    return df.rename(columns={c: label(c, language, estimated=estimated) for c in df.columns})
