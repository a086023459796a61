"""Plan targets: presets as data files, pass/fail per unit with the gap in people, beds or slots.

A preset is a TOML file (built-ins in ``circles/presets/``: national, fuzhou 抚州,
taizhou 泰州, ganzi 甘孜, shaoyang 邵阳, mengzi 蒙自) with one ``[[indicator]]`` per
target: the coverage-table column it reads (``metric``), ``op`` (``>=``), ``value``, the
population ``group`` it is measured on, how its gap is expressed (``gap``: ``people``,
``beds`` or ``slots``), labels in Chinese and English, and ``source`` (plan and clause).

Gaps (rounded up, so "needs 420 more slots" is enough to pass):

- share targets: ``people = value x group population - people covered``;
- per-1,000 targets: ``beds/slots = (value - measured) x group population / 1,000``.

- community counts (``group = "communities"`` or ``"streets"``, ``gap = "communities"`` /
  ``"streets"``): ``communities = value x communities - communities with one``.

A unit with no people of the indicator's group is ``no population``, neither pass nor fail.
An indicator whose facility kind is absent from every gazetteer, or that needs inputs the
study does not give (community polygons, a unit attribute), is ``not assessable`` with the
reason, never 0 % (see :func:`needed_kinds`).

Optional keys of an ``[[indicator]]``: ``scores`` (``"literal"`` for the plan's count of
communities, ``"walk"`` for the walk-based share of people; the report shows both and says
which one the preset scores), ``where = {column = "urban_rural", values = ["rural", ...]}``
(the indicator applies to the units whose attribute is one of ``values``; the study-level
figure is computed over those units only) and ``[preset] catchment_min`` (the 2SFCA
catchment, default 15: the plans' 15-minute circle).

Composition and size (issue 25):

- shares of capacity (``group = "affordable"`` / ``"public"`` / ``"nursing"``, metrics
  ``affordable_share_slots``, ``public_share_slots``, ``nursing_share_beds``): the gap is in
  places that would have to change, the total held: ``ceil(value x base - part)``, base = the
  capacity whose part cell is known (:data:`circles.coverage.COMPOSITION`); a composition
  column in no gazetteer makes the indicator not assessable (:data:`NEEDS_FIELD`);
- city-wide totals (``total = true``, ``group = "count"``, id ending in ``_total``; metrics
  ``slots_inside``, ``beds_inside``, ``n_meal_points_inside``): scored for the study only,
  against :func:`city_target`; the gap is the count itself;
- ``[preset] min_nursery_slots`` / ``min_floor_m2_per_slot`` / ``sizing_source``: the sizing a
  suggested nursery must respect (:mod:`circles.stages.siting`).
"""

from __future__ import annotations

import math
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from circles import i18n
from circles.coverage import COMMUNITY_INDICATORS
from circles.errors import StudyError
from circles.io.facilities import OPTIONAL_FIELDS
from circles.kinds import KINDS, kinds_serving

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_INDICATOR_KEYS = {"id", "metric", "op", "value", "gap", "group", "label_zh", "label_en", "source", "scores", "where",
                   "pair", "total"}
_GAP_WORDS = ("people", "beds", "slots", "communities", "streets",  # words in circles/i18n.py (gap.<kind>)
              "affordable_slots", "public_slots", "nursing_beds", "meal_points")
#: The column a group's gap is scaled by: the composition shares' base (slots or beds whose part is known).
_GROUP_COLUMN = {"communities": "n_communities", "streets": "n_streets", "affordable": "slots_affordable_known",
                 "public": "slots_ownership_known", "nursing": "beds_nursing_known"}

#: Composition and count metrics -> the facility kinds they need present in a gazetteer.
_COMPOSITION_KINDS = {"affordable_share_slots": ("nursery", "kindergarten"),
                      "public_share_slots": ("nursery", "kindergarten"),
                      "nursing_share_beds": ("nursing_home",), "n_meal_points_inside": ("meal_point",)}

#: Composition metrics -> the optional gazetteer field they read (circles.io.facilities.OPTIONAL_FIELDS).
NEEDS_FIELD = {"affordable_share_slots": "affordable_slots", "public_share_slots": "ownership",
               "nursing_share_beds": "nursing_beds"}

#: What each capacity measure needs present in a gazetteer (facility kinds).
_MEASURE_KINDS = {"beds": ("nursing_home",), "daycare_places": ("daycare", "elderly_centre"),
                  "slots": ("nursery", "kindergarten")}


def builtin_presets() -> list[str]:
    """Names of the presets shipped with circles."""
    return sorted(p.name[:-5] for p in resources.files("circles.presets").iterdir() if p.name.endswith(".toml"))


def load_preset(name_or_path: str | Path) -> dict:
    """Read a preset by built-in name (``"national"``) or from a TOML file path."""
    p = Path(str(name_or_path))
    if p.suffix == ".toml" and p.exists():
        text, where = p.read_text(encoding="utf-8"), str(p)
    elif str(name_or_path) in builtin_presets():
        text = resources.files("circles.presets").joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
        where = f"preset {name_or_path}"
    else:
        raise StudyError(
            f"targets.preset = {str(name_or_path)!r}: not a built-in preset ({', '.join(builtin_presets())}) "
            "nor an existing .toml file"
        )
    data = tomllib.loads(text)
    indicators = data.get("indicator", [])
    if not indicators:
        raise StudyError(f"{where}: no [[indicator]] entries")
    for i, ind in enumerate(indicators):
        unknown = set(ind) - _INDICATOR_KEYS
        missing = {"id", "metric", "op", "value", "gap", "group"} - set(ind)
        if unknown or missing:
            raise StudyError(f"{where}: indicator #{i + 1} has unknown keys {sorted(unknown)} / lacks {sorted(missing)}")
        if ind["op"] != ">=":
            raise StudyError(f"{where}: indicator {ind['id']}: only op '>=' is supported")
        if ind["gap"] not in _GAP_WORDS:
            raise StudyError(f"{where}: indicator {ind['id']}: gap must be one of {', '.join(_GAP_WORDS)}")
        pair = ind.get("pair")
        if pair is not None and (not isinstance(pair, dict) or set(pair) != {"metric", "group", "gap"}):
            raise StudyError(f"{where}: indicator {ind['id']}: pair must be {{metric = ..., group = ..., gap = ...}}")
        if ind.get("total") and (ind["group"] != "count" or not str(ind["id"]).endswith("_total")):
            raise StudyError(f"{where}: indicator {ind['id']}: a total (total = true) needs group = \"count\" and an id "
                             "ending in _total (the report shows it as a count)")
        w = ind.get("where")
        if w is not None and (not isinstance(w, dict) or set(w) != {"column", "values"}):
            raise StudyError(f"{where}: indicator {ind['id']}: where must be {{column = \"...\", values = [...]}}")
    return {"preset": data.get("preset", {}), "indicators": indicators}


def needed_kinds(metric: str) -> tuple[str, ...] | None:
    """Facility kinds an indicator column measures (None: not tied to a kind).

    An "any" share (``cov_elderly_any_15min``) needs at least one of the kinds serving its group.

    ``needed_kinds("cov_elderly_daycare_15min") == ("daycare",)``;
    ``needed_kinds("sfca_beds_per_1000_elderly") == ("nursing_home",)``.
    """
    if metric in COMMUNITY_INDICATORS:
        return COMMUNITY_INDICATORS[metric][0]
    if metric in _COMPOSITION_KINDS:
        return _COMPOSITION_KINDS[metric]
    for measure, kinds in _MEASURE_KINDS.items():
        if f"{measure}_per_1000" in metric or metric == f"{measure}_inside":
            return kinds
    if metric.startswith("cov_"):
        for group in ("elderly", "infants"):  # "any" facility of a group needs at least one kind serving it
            if metric.startswith(f"cov_{group}_any_"):
                return tuple(kinds_serving(group))
        for k in sorted(KINDS, key=len, reverse=True):
            if f"_{k}_" in metric:
                return (k,)
    return None


def not_assessable_code(ind: dict, facilities: pd.DataFrame, unit_columns, communities: bool,
                        missing_fields=frozenset(), *, streets: bool = True) -> dict | None:
    """Why ``ind`` cannot be measured on this study, as a code (None: it can be).

    ``{"indicator", "code", "kinds", "names", "column"}``: ``code`` is the catalogue key's tail
    (``na.<code>``: ``no_kind``, ``no_nursery_class``, ``no_nursery_class_nor``, ``needs_polygons``,
    ``needs_streets``, ``no_column``, ``no_attribute``); ``streets``: whether any unit has its
    street (``parent``): a count over streets (``group = "streets"``) needs them, else it would read
    "no population". ``kinds`` the facility kinds whose building makes the indicator assessable
    (the pipeline's after-state then counts the kind as present; ``[]`` when no site can help);
    ``names`` the kinds the reason names; ``column`` the missing unit attribute. The page's what-if
    reads ``kinds`` (``summary.json`` ``targets.not_assessable_codes``), never the translated text;
    :func:`reason_text` makes the words from the code.
    """
    present = set(facilities.loc[facilities["serves"] != "", "kind"])
    need = needed_kinds(ind["metric"])
    where = ind.get("where")
    out = {"indicator": ind["id"], "kinds": [], "names": [], "column": None}
    if need is not None and not present.intersection(need):
        # kindergartens listing no 托班 places serve no under-3s: say so, not "no kindergarten"
        kg = "kindergarten" in need and bool((facilities["kind"] == "kindergarten").any())
        others = [k for k in need if not (kg and k == "kindergarten")]
        code = ("no_nursery_class_nor" if others else "no_nursery_class") if kg else "no_kind"
        return {**out, "code": code, "kinds": list(need), "names": others}
    if ind["metric"] in COMMUNITY_INDICATORS and not communities:
        return {**out, "code": "needs_polygons"}
    if ind.get("group") == "streets" and not streets:
        return {**out, "code": "needs_streets"}
    if where is not None and f"attr_{where['column']}" not in unit_columns:
        return {**out, "code": "no_attribute", "column": where["column"]}
    if NEEDS_FIELD.get(ind["metric"]) in missing_fields:  # a composition column in no gazetteer (no site adds it)
        return {**out, "code": "no_column", "column": OPTIONAL_FIELDS[NEEDS_FIELD[ind["metric"]]]}
    return None


def reason_text(code: dict, language: str = "en") -> str:
    """The words of a :func:`not_assessable_code` in ``language`` (the ``na.<code>`` catalogue entry)."""
    names = "/".join(f"{i18n.kind_name(k, language)} ({k})" for k in code.get("names") or [])
    return i18n.t(f"na.{code['code']}", language, names=names, column=code.get("column") or "")


def evaluate(table: pd.DataFrame, preset: dict, *, language: str = "zh",
             not_assessable: dict | None = None) -> pd.DataFrame:
    """Pass/fail of every indicator on every row of a coverage table.

    Returns a long table (one row per table row and indicator) with the table's index,
    ``indicator``, ``measured``, ``target``, ``status`` (``pass``/``fail``/``no population``/
    ``not assessable``), ``gap`` (number, 0 when passing) and ``gap_text`` ("needs 420 more
    slots", or why the indicator is not assessable). ``not_assessable`` maps indicator ids
    to that reason.
    """
    not_assessable = not_assessable or {}
    rows = []
    for ind in preset["indicators"]:
        metric, value, group = ind["metric"], float(ind["value"]), ind["group"]
        reason = not_assessable.get(ind["id"])
        if reason is None and metric not in table:
            raise StudyError(f"preset indicator {ind['id']}: column {metric!r} is not computed; "
                             "check the metric name and that travel.thresholds_min holds the indicator's minutes")
        pop_col = _GROUP_COLUMN.get(group, f"pop_{group}")
        pop = table[pop_col].to_numpy(dtype=float) if pop_col in table else np.full(len(table), np.nan)
        if group == "count":  # a total (slots, beds, meal points): the gap is the count itself
            pop = np.ones(len(table))
        measured = table[metric].to_numpy(dtype=float) if metric in table else np.full(len(table), np.nan)
        for key, m, p in zip(table.index, measured, pop):
            if reason is not None:
                status, gap, m = "not assessable", 0.0, np.nan
            elif not p > 0 or np.isnan(m):
                status, gap = "no population", 0.0
            elif m >= value - 1e-12:
                status, gap = "pass", 0.0
            else:
                status = "fail"
                scale = p / 1000.0 if ind["gap"] in ("beds", "slots") and group != "count" else p
                gap = float(math.ceil((value - m) * scale - 1e-9))
            rows.append({table.index.name or "key": key, "indicator": ind["id"], "measured": m,
                         "target": value, "status": status, "gap": gap,
                         "gap_text": gap_text(gap, ind["gap"], language) if status == "fail"
                         else (reason if status == "not assessable" else "")})
    return pd.DataFrame(rows, columns=[table.index.name or "key", "indicator", "measured", "target", "status",
                                       "gap", "gap_text"])


def city_target(ind: dict, study_population: float, *, whole_city: bool, city_population: float | None,
                language: str = "zh") -> tuple[float | None, str]:
    """The target a study is held to for a city-wide total (``total = true``), and how it was made.

    The plans' 托位数, 养老床位 and 助餐点 totals are for the whole city. Returns
    ``(target, note)``: the plan's value when the study is the whole city (``[targets]
    whole_city = true``); ``value x study residents / city_population`` when the study file gives
    ``[targets] city_population`` (the study's share of the city's residents); otherwise
    ``(None, reason)``: not comparable.

    ``city_target({"value": 3400}, 110_740, whole_city=False, city_population=1_107_400)[0] == 340.0``
    """
    value = float(ind["value"])
    if whole_city:
        return value, i18n.t("total.whole_city", language)
    if city_population:
        share = study_population / float(city_population)
        return value * share, i18n.t("total.scaled", language, value=f"{value:,.0f}", pop=f"{study_population:,.0f}",
                                     city=f"{float(city_population):,.0f}", share=f"{share:.2%}")
    return None, i18n.t("na.not_comparable", language)


def gap_text(gap: float, kind: str, language: str = "zh") -> str:
    """``gap_text(420, "slots", "en") == "needs 420 more slots"``."""
    return i18n.gap_text(gap, kind, language)


def wide(results: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per key: ``status_<id>`` and ``gap_<id>`` columns, plus ``n_fail``."""
    status = results.pivot(index=key, columns="indicator", values="status").add_prefix("status_")
    gap = results.pivot(index=key, columns="indicator", values="gap").add_prefix("gap_")
    out = status.join(gap)
    out["n_fail"] = (status == "fail").sum(axis=1)
    return out
