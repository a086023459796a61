"""Human column labels (Chinese or English) for the tables a bureau files.

Column names follow one scheme (made by :func:`circles.coverage.col`), so labels are
derived from the name: ``cov_elderly_daycare_15min`` -> "15分钟内可达日间照料中心的老年人比例" /
"Share of elderly within 15 min of a elderly day-care centre". Unknown columns keep their name.
"""

from __future__ import annotations

import re

from circles.io.facilities import KINDS

_GROUP = {"elderly": ("老年人(60+)", "elderly (60+)"), "infants": ("婴幼儿(0-3岁)", "infants (0-3)"),
          "total": ("常住人口", "residents")}
_FIXED = {
    "unit_id": ("单元编号", "Unit"), "unit_name": ("单元名称", "Unit name"), "parent": ("所属街道/区", "Street / district"),
    "pop_total": ("常住人口（估算）", "Residents (estimated)"), "pop_elderly": ("老年人口(60+)", "Elderly (60+)"),
    "pop_infants": ("婴幼儿(0-3岁，估算)", "Infants 0-3 (estimated)"), "n_cells": ("人口网格数", "Population cells"),
    "beds_inside": ("单元内养老床位", "Elderly beds inside"), "slots_inside": ("单元内托位", "Nursery slots inside"),
    "beds_per_1000_elderly": ("每千名老年人床位（单元内）", "Beds per 1,000 elderly (inside unit)"),
    "slots_per_1000_total": ("每千人口托位（单元内）", "Slots per 1,000 residents (inside unit)"),
    "sfca_beds_per_1000_elderly": ("每千名老年人可达床位（2SFCA）", "Reachable beds per 1,000 elderly (2SFCA)"),
    "e2sfca_beds_per_1000_elderly": ("每千名老年人可达床位（高斯E2SFCA）", "Reachable beds per 1,000 elderly (Gaussian E2SFCA)"),
    "sfca_slots_per_1000_total": ("每千人口可达托位（2SFCA）", "Reachable slots per 1,000 residents (2SFCA)"),
    "e2sfca_slots_per_1000_total": ("每千人口可达托位（高斯E2SFCA）", "Reachable slots per 1,000 residents (Gaussian E2SFCA)"),
    "n_fail": ("未达标指标数", "Targets failed"),
}


def _kind(k: str, i: int) -> str:
    if k == "any":
        return ("任一相应服务设施", "any service for the group")[i]
    return (KINDS[k].zh, KINDS[k].en.lower())[i] if k in KINDS else k


def label(column: str, language: str = "zh") -> str:
    """The human label of an output column."""
    i = 0 if language == "zh" else 1
    if column in _FIXED:
        return _FIXED[column][i]
    m = re.fullmatch(r"cov_(elderly|infants)_(\w+?)_(\d+(?:\.\d+)?)min(_after)?", column)
    if m:
        g, k, t, after = m.groups()
        suffix = ("（新建后）", " (after new sites)")[i] if after else ""
        return (f"{t}分钟内可达{_kind(k, 0)}的{_GROUP[g][0]}比例{suffix}" if i == 0
                else f"Share of {_GROUP[g][1]} within {t} min of {_kind(k, 1)}{suffix}")
    m = re.fullmatch(r"time_(elderly|infants)_(mean|median|p90)_min", column)
    if m:
        g, stat = m.groups()
        zh = {"mean": "平均", "median": "中位", "p90": "90%分位"}[stat]
        return (f"{_GROUP[g][0]}到最近设施{zh}时间（分钟）" if i == 0
                else f"{stat} time of {_GROUP[g][1]} to the nearest service (min)")
    m = re.fullmatch(r"(beyond|unreached)_(elderly|infants)(?:_(\d+(?:\.\d+)?)min)?", column)
    if m:
        what, g, t = m.groups()
        if what == "beyond":
            return f"{t}分钟外的{_GROUP[g][0]}" if i == 0 else f"{_GROUP[g][1]} beyond {t} min"
        return f"无法到达任何设施的{_GROUP[g][0]}" if i == 0 else f"{_GROUP[g][1]} who reach no service"
    m = re.fullmatch(r"(status|gap)_(\w+)", column)
    if m:
        what, ind = m.groups()
        return (f"{'达标情况' if what == 'status' else '缺口'}：{ind}" if i == 0 else f"{what}: {ind}")
    return column


def labelled(df, language: str = "zh"):
    """A copy of ``df`` with human column labels (for XLSX and printed tables)."""
    return df.rename(columns={c: label(c, language) for c in df.columns})
